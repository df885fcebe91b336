// Blood Pressure Measurement 0x2A35 and Intermediate Cuff Pressure 0x2A36 (Blood Pressure Service 0x1810),
// GATT Specification Supplement §3.31 / §3.137 (Blood Pressure Profile 1.1).
import type { ReadingComponent, Result, SpecialValue } from '../../../gateway/types.ts';
import { NoteKind, buildReading, decodeFrame, isoFromWall, setBits, type Decoded, type FieldReader, type GattDecodeContext } from './frame.ts';

const BPM = 'Blood Pressure Measurement';
const ICP = 'Intermediate Cuff Pressure';

// GSS §3.31.1 Flags field
const FLAG_KPA = 0x01; // bit 0: 0 = mmHg, 1 = kPa
const FLAG_TIME_STAMP = 0x02; // bit 1: Time Stamp present
const FLAG_PULSE_RATE = 0x04; // bit 2: Pulse Rate present
const FLAG_USER_ID = 0x08; // bit 3: User ID present
const FLAG_STATUS = 0x10; // bit 4: Measurement Status present
const KNOWN_FLAGS = 0x1f;

/** GSS §3.31.2 Measurement Status field: bit → meaning when set. Bits 3–4 are the pulse rate range (2 bits). */
export const BP_STATUS_BITS: Readonly<Record<number, string>> = {
  0: 'body movement detected during measurement',
  1: 'cuff too loose',
  2: 'irregular pulse detected',
  5: 'improper measurement position',
};
const PULSE_RANGE = ['pulse rate within range', 'pulse rate exceeds upper limit', 'pulse rate is less than lower limit', 'pulse rate range reserved value 3'] as const;

export interface BloodPressureStatus {
  bodyMovement: boolean;
  cuffTooLoose: boolean;
  irregularPulse: boolean;
  pulseRateRange: 'within' | 'above-upper-limit' | 'below-lower-limit' | 'reserved';
  improperPosition: boolean;
  /** Human-readable list of the set conditions (for the debug log). */
  conditions: string[];
}

export function decodeBloodPressureStatus(raw: number): BloodPressureStatus {
  const range = (raw >> 3) & 0x3;
  const conditions = setBits(raw & ~0x18, BP_STATUS_BITS);
  if (range !== 0) conditions.push(PULSE_RANGE[range]!);
  return {
    bodyMovement: (raw & 0x01) !== 0,
    cuffTooLoose: (raw & 0x02) !== 0,
    irregularPulse: (raw & 0x04) !== 0,
    pulseRateRange: (['within', 'above-upper-limit', 'below-lower-limit', 'reserved'] as const)[range]!,
    improperPosition: (raw & 0x20) !== 0,
    conditions,
  };
}

interface BpFields {
  unit: 'mm[Hg]' | 'kPa';
  first: number | SpecialValue;
  second: number | SpecialValue;
  third: number | SpecialValue;
  deviceTime?: string;
  pulseRate?: number | SpecialValue;
  userId?: number;
  status?: BloodPressureStatus;
}

/** The layout 0x2A35 and 0x2A36 share (GSS §3.31: 0x2A36 "has the same format"). */
function readBpFields(r: FieldReader, ctx: GattDecodeContext, names: [string, string, string]): BpFields {
  const flags = r.u8('flags');
  r.reservedFlags(flags, KNOWN_FLAGS);
  const out: BpFields = {
    unit: (flags & FLAG_KPA) !== 0 ? 'kPa' : 'mm[Hg]', // bit 0: 0 = mmHg, 1 = kPa
    first: r.sfloat(names[0]),
    second: r.sfloat(names[1]),
    third: r.sfloat(names[2]),
  };
  if ((flags & FLAG_TIME_STAMP) !== 0) {
    const wall = r.dateTime('timeStamp');
    if (wall !== undefined) out.deviceTime = isoFromWall(wall.wallMs, ctx);
  }
  if ((flags & FLAG_PULSE_RATE) !== 0) out.pulseRate = r.sfloat('pulseRate');
  if ((flags & FLAG_USER_ID) !== 0) out.userId = r.u8('userId'); // 0xFF = unknown user
  if ((flags & FLAG_STATUS) !== 0) out.status = decodeBloodPressureStatus(r.u16('measurementStatus'));
  r.end();
  return out;
}

/** 0x2A35 → one Reading: systolic, diastolic, mean arterial pressure, and the pulse rate as heart-rate. */
export function decodeBloodPressureMeasurement(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, BPM, (r) => {
    const f = readBpFields(r, ctx, ['systolic', 'diastolic', 'meanArterialPressure']);
    const components: ReadingComponent[] = [
      { metric: 'bp-systolic', value: f.first, unit: f.unit },
      { metric: 'bp-diastolic', value: f.second, unit: f.unit },
      { metric: 'bp-mean', value: f.third, unit: f.unit },
    ];
    if (f.pulseRate !== undefined) components.push({ metric: 'heart-rate', value: f.pulseRate, unit: '/min' });
    // Measurement status bits qualify the reading but do not void it (the cuff still measured): kept for the log.
    if (f.status !== undefined && f.status.conditions.length > 0) r.note(NoteKind.status, 'measurementStatus', f.status.conditions.join('; '));
    return { readings: [buildReading(ctx, bytes, { components, deviceTime: f.deviceTime, userId: f.userId })], notes: r.notes };
  });
}

export interface IntermediateCuffPressure {
  /** The cuff's current inflation pressure: a live-display value, never an Observation. */
  cuffPressure: number | SpecialValue;
  unit: 'mm[Hg]' | 'kPa';
  pulseRate?: number | SpecialValue;
  userId?: number;
  deviceTime?: string;
  status?: BloodPressureStatus;
}

/** 0x2A36 for a live display ("cuff inflating: 142 mmHg"). decodeCharacteristic returns no Reading for it. */
export function decodeIntermediateCuffPressure(bytes: Uint8Array, ctx: GattDecodeContext): Result<IntermediateCuffPressure> {
  return decodeFrame(bytes, ICP, (r) => {
    // GSS §3.137: Current Cuff Pressure in the systolic position; diastolic and MAP are unused (NaN).
    const f = readBpFields(r, ctx, ['currentCuffPressure', 'diastolic(unused)', 'meanArterialPressure(unused)']);
    const out: IntermediateCuffPressure = { cuffPressure: f.first, unit: f.unit };
    if (f.pulseRate !== undefined) out.pulseRate = f.pulseRate;
    if (f.userId !== undefined) out.userId = f.userId;
    if (f.deviceTime !== undefined) out.deviceTime = f.deviceTime;
    if (f.status !== undefined) out.status = f.status;
    return out;
  });
}

/** 0x2A36 through the Reading path: validated like any frame, but the cuff's inflation pressure is not a result. */
export function decodeIntermediateCuffPressureAsReadings(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  const live = decodeIntermediateCuffPressure(bytes, ctx);
  if (!live.ok) return live;
  return {
    ok: true,
    value: { readings: [], notes: [{ kind: NoteKind.ignored, characteristic: ICP, field: 'currentCuffPressure', detail: 'cuff inflation pressure during a measurement: live display only, never an Observation' }] },
  };
}
