// Frame + firmware profile → Reading components, pure (no I/O). The record grammar extracts named text
// fields; the profile's mappings turn them into metric/value/unit, special markers into IEEE-11073
// special values (never numbers), and apply known firmware unit bugs.
import { issue } from '../../gateway/errors.ts';
import { buildTime, isoDeviceTime, mapMeasurement, mapUnitText } from '../../gateway/profiles/map-fields.ts';
import type { FieldMapping, SerialFirmwareProfile } from '../../gateway/profiles/schema.ts';
import type { Issue, ReadingComponent, Result } from '../../gateway/types.ts';
import { createFramer } from './framers/index.ts';

export type DecodedRecord =
  | { kind: 'reading'; components: ReadingComponent[]; deviceTime?: string }
  /** A well-formed record without a measurement to submit (unstable weight, status line). */
  | { kind: 'skipped'; reason: string };

type Fields = Map<string, string>;

const fail = (...issues: Issue[]): { ok: false; issues: Issue[] } => ({ ok: false, issues });

/** Named text fields of a payload per the profile's record grammar. */
export function extractFields(profile: SerialFirmwareProfile, payload: Buffer): Result<Fields> {
  const record = profile.record;
  const fields: Fields = new Map();
  switch (record.kind) {
    case 'regex': {
      const m = new RegExp(record.pattern).exec(payload.toString('latin1'));
      if (!m) return fail(issue('GW_ERR_RECORD_MISMATCH', 'record', profile.id, 'the record pattern does not match'));
      for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) fields.set(k, v);
      return { ok: true, value: fields };
    }
    case 'key-value': {
      const text = payload.toString('latin1');
      const pairs = record.pairSeparator === undefined ? text.trim().split(/\s+/) : text.split(record.pairSeparator);
      for (const pair of pairs) {
        const at = pair.indexOf(record.keyValueSeparator);
        if (at <= 0) continue; // free text between pairs (a date, a serial banner) is not a field
        fields.set(pair.slice(0, at).trim(), pair.slice(at + record.keyValueSeparator.length).trim());
      }
      if (fields.size === 0) return fail(issue('GW_ERR_RECORD_MISMATCH', 'record', profile.id, 'no key/value pairs in the record'));
      return { ok: true, value: fields };
    }
    case 'columns': {
      const text = payload.toString('latin1');
      if (record.separator !== undefined) {
        const parts = text.split(record.separator);
        for (const c of record.columns) {
          const v = parts[c.index!];
          if (v === undefined) return fail(issue('GW_ERR_RECORD_MISMATCH', 'record', profile.id, `column ${c.index} ("${c.name}") is missing; the record has ${parts.length}`));
          fields.set(c.name, v);
        }
      } else {
        for (const c of record.columns) {
          if (text.length < c.start! + c.length!) {
            return fail(issue('GW_ERR_RECORD_MISMATCH', 'record', profile.id, `the record has ${text.length} characters; column "${c.name}" needs ${c.start! + c.length!}`));
          }
          fields.set(c.name, text.slice(c.start!, c.start! + c.length!));
        }
      }
      return { ok: true, value: fields };
    }
    case 'binary': {
      for (const f of record.fields) {
        const size = f.type === 'u8' || f.type === 'i8' || f.type === 'bcd8' ? 1 : f.type.startsWith('u32') ? 4 : 2;
        if (f.offset + size > payload.length) {
          return fail(issue('GW_ERR_RECORD_MISMATCH', 'record', profile.id, `field "${f.name}" at offset ${f.offset} lies past the ${payload.length}-byte record`));
        }
        let v: number;
        switch (f.type) {
          case 'u8':
            v = payload.readUInt8(f.offset);
            break;
          case 'i8':
            v = payload.readInt8(f.offset);
            break;
          case 'u16be':
            v = payload.readUInt16BE(f.offset);
            break;
          case 'u16le':
            v = payload.readUInt16LE(f.offset);
            break;
          case 'i16be':
            v = payload.readInt16BE(f.offset);
            break;
          case 'i16le':
            v = payload.readInt16LE(f.offset);
            break;
          case 'u32be':
            v = payload.readUInt32BE(f.offset);
            break;
          case 'u32le':
            v = payload.readUInt32LE(f.offset);
            break;
          case 'bcd8': {
            const b = payload.readUInt8(f.offset);
            if ((b >> 4) > 9 || (b & 0x0f) > 9) return fail(issue('GW_ERR_RECORD_FIELD', f.name, f.name, `0x${b.toString(16)} is not packed BCD`));
            v = (b >> 4) * 10 + (b & 0x0f);
            break;
          }
          default:
            return f.type satisfies never;
        }
        fields.set(f.name, String(v));
      }
      return { ok: true, value: fields };
    }
    default:
      return record satisfies never;
  }
}

function unitOf(profile: SerialFirmwareProfile, m: FieldMapping, fields: Fields): Result<string> {
  let unit = m.unit;
  if (unit === undefined) {
    const text = fields.get(m.unitField!);
    if (text === undefined) return fail(issue('GW_ERR_RECORD_FIELD', m.unitField, m.unitField, 'the unit field is missing'));
    const mapped = mapUnitText(text, m.unitMap, m.unitField!);
    if (!mapped.ok) return mapped;
    unit = mapped.value;
  }
  // A known firmware bug: the unit the device claims is not the unit it measured in.
  const override = profile.unitOverrides.find((o) => o.field === m.field && o.from === unit);
  return { ok: true, value: override ? override.to : unit };
}

function componentOf(profile: SerialFirmwareProfile, m: FieldMapping, raw: string, fields: Fields): Result<ReadingComponent> {
  const unit = unitOf(profile, m, fields);
  if (!unit.ok) return unit;
  const markers = profile.specialValues.filter((s) => s.fields === undefined || s.fields.includes(m.field));
  return mapMeasurement(m, raw, unit.value, markers, m.field);
}

/** The device's time as ISO 8601 with offset, per the profile's format and the clock's UTC offset. */
export function deviceTimeOf(profile: SerialFirmwareProfile, fields: Fields): Result<string | undefined> {
  const spec = profile.deviceTime;
  if (spec === undefined || spec.trust === 'ignore') return { ok: true, value: undefined };
  const values = spec.fields.map((f) => fields.get(f)?.trim());
  const missing = spec.fields.find((_f, i) => values[i] === undefined);
  if (missing !== undefined) return fail(issue('GW_ERR_RECORD_FIELD', missing, missing, 'the device time field is missing'));
  const text = values[0]!;
  const bad = (): Result<string | undefined> => fail(issue('GW_ERR_RECORD_FIELD', spec.fields[0], spec.fields.join('+'), `"${values.join(' ')}" is not a ${spec.format} time`));
  let out: string | undefined;
  switch (spec.format) {
    case 'iso8601':
      out = isoDeviceTime(text, spec.utcOffset);
      break;
    case 'MM/dd/yy HH:mm:ss': {
      const m = /^(\d\d)\/(\d\d)\/(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
      if (m) out = buildTime(2000 + +m[3]!, +m[1]!, +m[2]!, +m[4]!, +m[5]!, +m[6]!, spec.utcOffset);
      break;
    }
    case 'yyyy-MM-dd HH:mm:ss': {
      const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)$/.exec(text);
      if (m) out = buildTime(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!, spec.utcOffset);
      break;
    }
    case 'yyMMddHHmm': {
      const m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)$/.exec(text);
      if (m) out = buildTime(2000 + +m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, 0, spec.utcOffset);
      break;
    }
    case 'parts': {
      const n = values.map((v) => (/^\d+$/.test(v!) ? Number(v) : Number.NaN));
      if (n.length >= 5 && n.every(Number.isFinite)) {
        const year = n[0]! < 100 ? 2000 + n[0]! : n[0]!;
        out = buildTime(year, n[1]!, n[2]!, n[3]!, n[4]!, n[5] ?? 0, spec.utcOffset);
      }
      break;
    }
    case 'epoch-s':
      if (/^\d{1,12}$/.test(text)) out = new Date(Number(text) * 1000).toISOString().replace('.000Z', 'Z');
      break;
    default:
      return spec.format satisfies never;
  }
  return out === undefined ? bad() : { ok: true, value: out };
}

/** Decode one frame's payload. Issues carry a code from gateway/errors.ts and the field as path. */
export function decodeRecord(profile: SerialFirmwareProfile, payload: Buffer): Result<DecodedRecord> {
  const extracted = extractFields(profile, payload);
  if (!extracted.ok) return extracted;
  const fields = extracted.value;
  if (profile.filter) {
    const v = fields.get(profile.filter.field)?.trim();
    if (v === undefined || !profile.filter.in.includes(v)) {
      return { ok: true, value: { kind: 'skipped', reason: `${profile.filter.field} is "${v ?? ''}", not one of ${profile.filter.in.join(', ')}` } };
    }
  }
  const components: ReadingComponent[] = [];
  const issues: Issue[] = [];
  for (const m of profile.fields) {
    const raw = fields.get(m.field);
    if (raw === undefined) {
      if (!m.optional) issues.push(issue('GW_ERR_RECORD_FIELD', m.field, m.field, 'missing from the record'));
      continue;
    }
    const c = componentOf(profile, m, raw, fields);
    if (c.ok) components.push(c.value);
    else issues.push(...c.issues);
  }
  const time = deviceTimeOf(profile, fields);
  if (!time.ok) issues.push(...time.issues);
  if (issues.length > 0) return { ok: false, issues };
  if (components.length === 0) return { ok: true, value: { kind: 'skipped', reason: 'no mapped field present' } };
  const value: DecodedRecord = { kind: 'reading', components };
  if (time.ok && time.value !== undefined) value.deviceTime = time.value;
  return { ok: true, value };
}

/**
 * Decode bytes as they arrive on the wire (one frame): run the profile's framer, then the record.
 * A line frame without its terminator gets one, so a lint test or `gw decode` may omit it.
 */
export function decodeWireFrame(profile: SerialFirmwareProfile, bytes: Buffer): Result<DecodedRecord & { frame: Buffer }> {
  let input = bytes;
  if (profile.framing.kind === 'line' && !(bytes.at(-1) === 0x0a || bytes.at(-1) === 0x0d)) {
    input = Buffer.concat([bytes, Buffer.from(profile.framing.delimiter === 'CR' ? '\r' : profile.framing.delimiter === 'LF' ? '\n' : '\r\n')]);
  }
  const events = createFramer(profile.framing).push(input);
  const errors = events.flatMap((e) => (e.kind === 'error' ? [e.issue] : []));
  const frames = events.flatMap((e) => (e.kind === 'frame' ? [e] : []));
  if (errors.length > 0) return { ok: false, issues: errors };
  if (frames.length !== 1) {
    return fail(issue('GW_ERR_RECORD_MISMATCH', 'frame', profile.id, frames.length === 0 ? `no complete ${profile.framing.kind} frame in the bytes` : `${frames.length} frames where one was expected`));
  }
  const decoded = decodeRecord(profile, frames[0]!.payload);
  if (!decoded.ok) return decoded;
  return { ok: true, value: { ...decoded.value, frame: frames[0]!.frame } };
}

/** Profile test/CLI input: `{ text }` with escapes already applied by YAML, or `{ hex }`. */
export function frameBytes(frame: { text: string } | { hex: string }): Buffer {
  return 'hex' in frame ? Buffer.from(frame.hex, 'hex') : Buffer.from(frame.text, 'latin1');
}
