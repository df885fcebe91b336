// A vendor's own JSON payload + an mqtt firmware profile → Reading components, pure (no I/O). The profile's
// `json` section names where each measurement, its unit, the device time and the sequence number sit; values
// go through the same mapping as serial fields (gateway/profiles/map-fields.ts).
import { issue } from '../../gateway/errors.ts';
import { jsonTypeOf, parseJsonPath, readJsonPath, type JsonLookup } from '../../gateway/profiles/json-path.ts';
import { epochDeviceTime, isoDeviceTime, mapMeasurement, mapUnitText, specialFor, type SpecialMarker } from '../../gateway/profiles/map-fields.ts';
import type { JsonFieldMapping, MqttFirmwareProfile } from '../../gateway/profiles/schema.ts';
import type { Issue, ReadingComponent, Result } from '../../gateway/types.ts';

export interface DecodedVendorJson {
  components: ReadingComponent[];
  deviceTime?: string;
  sequence?: number;
}

const fieldIssue = (path: string, reason: string): Issue => issue('GW_ERR_RECORD_FIELD', path, path, reason);

function lookup(payload: unknown, path: string): JsonLookup {
  const parsed = parseJsonPath(path);
  // The profile schema validated every path; a bad one here is a bug, not a payload problem.
  if (!parsed.ok) throw new Error(`invalid JSON path in a validated profile: ${parsed.reason}`);
  return readJsonPath(payload, parsed.segments);
}

const missing = (l: { missing: string; last: boolean }): string => (l.last ? 'missing from the payload' : `missing from the payload (no "${l.missing}")`);

function markersOf(f: JsonFieldMapping): SpecialMarker[] {
  return f.special.map((s) => (typeof s === 'object' && s !== null ? { match: String(s.match), value: s.value } : { match: String(s), value: 'NaN' }));
}

function unitOf(f: JsonFieldMapping, payload: unknown): Result<string> {
  if (f.unit !== undefined) return { ok: true, value: f.unit };
  const at = f.unitPath!;
  const found = lookup(payload, at);
  if (!found.found) return { ok: false, issues: [fieldIssue(at, `the unit is ${missing(found)}`)] };
  if (typeof found.value !== 'string') return { ok: false, issues: [fieldIssue(at, `the unit must be a string, got ${jsonTypeOf(found.value)}`)] };
  return mapUnitText(found.value, f.unitMap, at);
}

function componentOf(f: JsonFieldMapping, payload: unknown): Result<ReadingComponent | undefined> {
  const found = lookup(payload, f.path);
  if (!found.found) return f.optional ? { ok: true, value: undefined } : { ok: false, issues: [fieldIssue(f.path, missing(found))] };
  const raw = found.value;
  const markers = markersOf(f);
  const isScalar = raw === null || typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean';
  // A number is a measurement; anything else only as a declared "no measurement" marker. A numeric string is
  // refused too: a vendor sending "128" where it documented 128 has changed its format, and we should hear of it.
  if (typeof raw !== 'number' && !(isScalar && specialFor(markers, raw) !== undefined)) {
    const shown = typeof raw === 'string' ? ` "${raw.slice(0, 32)}"` : '';
    return { ok: false, issues: [fieldIssue(f.path, `expected a number, got ${jsonTypeOf(raw)}${shown}`)] };
  }
  const unit = unitOf(f, payload);
  if (!unit.ok) return unit;
  return mapMeasurement(f, typeof raw === 'number' ? raw : String(raw), unit.value, markers, f.path);
}

function deviceTimeOf(profile: MqttFirmwareProfile, payload: unknown): Result<string | undefined> {
  const spec = profile.json.deviceTime;
  if (spec === undefined) return { ok: true, value: undefined };
  const found = lookup(payload, spec.path);
  if (!found.found) return { ok: false, issues: [fieldIssue(spec.path, `the device time is ${missing(found)}`)] };
  const v = found.value;
  let out: string | undefined;
  switch (spec.format) {
    case 'iso8601':
      if (typeof v === 'string') out = isoDeviceTime(v, spec.utcOffset);
      break;
    case 'epoch-s':
      if (typeof v === 'number') out = epochDeviceTime(v * 1000);
      break;
    case 'epoch-ms':
      if (typeof v === 'number') out = epochDeviceTime(v);
      break;
    default:
      return spec.format satisfies never;
  }
  if (out !== undefined) return { ok: true, value: out };
  const want = spec.format === 'iso8601' ? 'an ISO 8601 string' : `a number of ${spec.format === 'epoch-s' ? 'seconds' : 'milliseconds'} since 1970`;
  return { ok: false, issues: [fieldIssue(spec.path, `the device time must be ${want} (${spec.format}), got ${jsonTypeOf(v)}${typeof v === 'string' || typeof v === 'number' ? ` ${JSON.stringify(v).slice(0, 40)}` : ''}`)] };
}

/** The profile's sequence number in the payload; `undefined` when the profile has none or the payload's is unusable. */
export function sequenceOf(profile: MqttFirmwareProfile, payload: unknown): Result<number | undefined> {
  const spec = profile.json.sequence;
  if (spec === undefined) return { ok: true, value: undefined };
  const found = lookup(payload, spec.path);
  if (!found.found) return { ok: false, issues: [fieldIssue(spec.path, `the sequence number is ${missing(found)}`)] };
  const v = found.value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 32 - 1) {
    return { ok: false, issues: [fieldIssue(spec.path, `the sequence number must be an integer 0–4294967295, got ${jsonTypeOf(v)} ${JSON.stringify(v)?.slice(0, 40) ?? ''}`.trimEnd())] };
  }
  return { ok: true, value: v };
}

/** Map one parsed payload. Every problem is reported (with the JSON path), not only the first. */
export function decodeVendorJson(profile: MqttFirmwareProfile, payload: unknown): Result<DecodedVendorJson> {
  const components: ReadingComponent[] = [];
  const issues: Issue[] = [];
  for (const f of profile.json.fields) {
    const c = componentOf(f, payload);
    if (!c.ok) issues.push(...c.issues);
    else if (c.value !== undefined) components.push(c.value);
  }
  const time = deviceTimeOf(profile, payload);
  if (!time.ok) issues.push(...time.issues);
  const seq = sequenceOf(profile, payload);
  if (!seq.ok) issues.push(...seq.issues);
  if (issues.length > 0) return { ok: false, issues };
  if (components.length === 0) return { ok: false, issues: [issue('GW_ERR_RECORD_MISMATCH', undefined, profile.id, 'no mapped measurement is present in the payload')] };
  const value: DecodedVendorJson = { components };
  if (time.ok && time.value !== undefined) value.deviceTime = time.value;
  if (seq.ok && seq.value !== undefined) value.sequence = seq.value;
  return { ok: true, value };
}
