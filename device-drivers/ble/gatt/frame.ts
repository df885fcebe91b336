// What every GATT decoder shares: a bounds-checked little-endian field reader (GATT values are
// little-endian, Core Spec Vol 3 Part G §3.3.3.3 / GATT Specification Supplement §2.2), the 7-byte
// Date Time (0x2A08), the decode context, notes, and the Reading builder.
import { issue, type ErrorCode } from '../../../gateway/errors.ts';
import type { Issue, Reading, ReadingComponent, Result, SpecialValue } from '../../../gateway/types.ts';
import { decodeFloat, decodeSfloat } from './ieee11073.ts';

export interface GattDecodeContext {
  deviceId: string;
  profileId: string;
  /** Gateway clock when the value arrived, ISO 8601 UTC. */
  receivedAt: string;
  /**
   * BLE Date Time (0x2A08) has no zone: the device keeps the hub's local time (the central writes
   * Current Time 0x2A2B). Default: the hub's offset at that date.
   */
  deviceUtcOffsetMinutes?: number;
  /** Receives what a decoder kept but no Observation carries (status bits, context, fields not in the catalog). Debug level only: notes can hold clinical values. */
  onNote?: (note: DecodeNote) => void;
}

/** Why a decoded field did not become a Reading component. Closed set. */
export const NoteKind = {
  /** Measurement / sensor status bits that did not refuse the reading (e.g. irregular pulse). */
  status: 'status',
  /** A measured field the vitals catalog has no metric for (body fat %, RR intervals, HbA1c …). */
  notCarried: 'not-carried',
  /** Measurement context (temperature type, glucose sample type, meal, tester …). */
  context: 'context',
  /** Device time not used (not known, clock not set, time fault). */
  time: 'time',
  /** A value that never becomes an Observation (intermediate cuff pressure, an orphan glucose context). */
  ignored: 'ignored',
} as const;
export type NoteKind = (typeof NoteKind)[keyof typeof NoteKind];

export interface DecodeNote {
  kind: NoteKind;
  /** Characteristic name, e.g. `Blood Pressure Measurement`. */
  characteristic: string;
  field: string;
  detail: string;
}

/** A decoder's success: the Readings and what was kept for the log. */
export interface Decoded {
  readings: Reading[];
  notes: DecodeNote[];
}

/** Thrown by FieldReader inside a decoder and turned into issues at its boundary; never escapes. */
class FrameFault {
  constructor(readonly issue: Issue) {}
}

export class FieldReader {
  offset = 0;
  readonly notes: DecodeNote[] = [];

  constructor(
    readonly bytes: Uint8Array,
    readonly characteristic: string,
  ) {}

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  private take(n: number, field: string): number {
    if (this.offset + n > this.bytes.length) {
      throw new FrameFault(issue('GW_ERR_BLE_FRAME_SHORT', field, this.characteristic, field, n, this.offset, this.bytes.length));
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(field: string): number {
    return this.bytes[this.take(1, field)]!;
  }

  u16(field: string): number {
    const at = this.take(2, field);
    return this.bytes[at]! | (this.bytes[at + 1]! << 8);
  }

  s16(field: string): number {
    const v = this.u16(field);
    return v >= 0x8000 ? v - 0x10000 : v;
  }

  u24(field: string): number {
    const at = this.take(3, field);
    return this.bytes[at]! | (this.bytes[at + 1]! << 8) | (this.bytes[at + 2]! << 16);
  }

  u32(field: string): number {
    const at = this.take(4, field);
    return (this.bytes[at]! | (this.bytes[at + 1]! << 8) | (this.bytes[at + 2]! << 16) | (this.bytes[at + 3]! << 24)) >>> 0;
  }

  sfloat(field: string): number | SpecialValue {
    return decodeSfloat(this.u16(field));
  }

  float(field: string): number | SpecialValue {
    return decodeFloat(this.u32(field));
  }

  /** Refuse the frame: a reserved value, a status that makes it no measurement … */
  fail(code: ErrorCode, field: string, ...args: unknown[]): never {
    throw new FrameFault(issue(code, field, ...args));
  }

  note(kind: NoteKind, field: string, detail: string): void {
    this.notes.push({ kind, characteristic: this.characteristic, field, detail });
  }

  /** Bytes after the last field the flags announce: later spec versions append fields, so they are kept for the log, not refused. */
  end(): void {
    if (this.remaining > 0) this.note(NoteKind.ignored, 'trailing', `${this.remaining} byte(s) after the last field the flags announce`);
  }

  /** Flag bits this decoder does not know (RFU): kept for the log; fields they may add come after the known ones. */
  reservedFlags(flags: number, known: number, field = 'flags'): void {
    const rfu = flags & ~known;
    if (rfu !== 0) this.note(NoteKind.ignored, field, `reserved-for-future-use bits set: 0x${rfu.toString(16)}`);
  }

  /**
   * Date Time 0x2A08 (GATT Specification Supplement §3.70): year uint16 (1582–9999, 0 = not known),
   * month uint8 (1–12, 0 = not known), day uint8 (1–31, 0 = not known), hours 0–23, minutes 0–59,
   * seconds 0–59. Returns the device's wall clock as epoch-like ms (UTC fields = wall fields), or
   * undefined when the date is not known.
   */
  dateTime(field: string): WallClock | undefined {
    const year = this.u16(`${field}.year`);
    const month = this.u8(`${field}.month`);
    const day = this.u8(`${field}.day`);
    const hours = this.u8(`${field}.hours`);
    const minutes = this.u8(`${field}.minutes`);
    const seconds = this.u8(`${field}.seconds`);
    if (year === 0 || month === 0 || day === 0) {
      this.note(NoteKind.time, field, 'the device does not know the date (year, month or day is 0): no device time');
      return undefined;
    }
    const wall = Date.UTC(year, month - 1, day, hours, minutes, seconds);
    const back = new Date(wall);
    if (
      year < 1582 || year > 9999 || month > 12 || hours > 23 || minutes > 59 || seconds > 59 ||
      back.getUTCDate() !== day || back.getUTCMonth() !== month - 1
    ) {
      this.fail('GW_ERR_BLE_RESERVED_VALUE', field, this.characteristic, field, `${year}-${month}-${day} ${hours}:${minutes}:${seconds}`);
    }
    return { wallMs: wall, year, month, day, hours, minutes, seconds };
  }
}

export interface WallClock {
  /** The wall-clock fields read as if UTC (Date.UTC), so minutes can be added without a zone. */
  wallMs: number;
  year: number;
  month: number;
  day: number;
  hours: number;
  minutes: number;
  seconds: number;
}

/** Run a decoder body; a FrameFault becomes `{ ok: false, issues }`. Anything else is a bug and propagates. */
export function decodeFrame<T>(bytes: Uint8Array, characteristic: string, body: (r: FieldReader) => T): Result<T> {
  const reader = new FieldReader(bytes, characteristic);
  try {
    return { ok: true, value: body(reader) };
  } catch (err) {
    if (err instanceof FrameFault) return { ok: false, issues: [err.issue] };
    throw err;
  }
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** The hub's UTC offset (minutes east) for a local wall-clock time. */
export function hubOffsetMinutes(wallMs: number): number {
  const d = new Date(wallMs);
  return -new Date(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()).getTimezoneOffset();
}

/** ISO 8601 with the zone the device clock keeps (`Z` for UTC), e.g. `2026-11-23T09:30:00+01:00`. */
export function isoFromWall(wallMs: number, ctx: GattDecodeContext): string {
  const offset = ctx.deviceUtcOffsetMinutes ?? hubOffsetMinutes(wallMs);
  const d = new Date(wallMs);
  const zone = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${zone}`;
}

export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export interface ReadingParts {
  components: ReadingComponent[];
  deviceTime?: string | undefined;
  /** User ID field (0xFF = unknown user: no userIndex). */
  userId?: number | undefined;
  sequence?: number | undefined;
}

/** BLE user index 0xFF means "unknown user" (Weight Scale / Blood Pressure / Body Composition User ID field). */
export const UNKNOWN_USER = 0xff;

export function buildReading(ctx: GattDecodeContext, bytes: Uint8Array, parts: ReadingParts): Reading {
  const reading: Reading = {
    deviceId: ctx.deviceId,
    profileId: ctx.profileId,
    transport: 'ble',
    components: parts.components,
    receivedAt: ctx.receivedAt,
    raw: base64(bytes),
  };
  if (parts.deviceTime !== undefined) reading.deviceTime = parts.deviceTime;
  const context: NonNullable<Reading['context']> = {};
  if (parts.userId !== undefined && parts.userId !== UNKNOWN_USER) context.userIndex = parts.userId;
  if (parts.sequence !== undefined) context.sequence = parts.sequence;
  if (Object.keys(context).length > 0) reading.context = context;
  return reading;
}

/** Names of the set bits of `value` from a bit → name table. */
export function setBits(value: number, names: Readonly<Record<number, string>>): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    if (((value >>> bit) & 1) === 1) out.push(names[bit] ?? `reserved bit ${bit}`);
  }
  return out;
}
