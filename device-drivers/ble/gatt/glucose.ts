// Glucose Measurement 0x2A18 and Glucose Measurement Context 0x2A34 (Glucose Service 0x1808),
// GATT Specification Supplement §3.106 / §3.107 (Glucose Profile 1.0). The concentration goes out in the
// SI unit the meter sent (kg/L or mol/L); the vitals catalog converts it exactly to mg/dL.
import type { Result } from '../../../gateway/types.ts';
import { NoteKind, buildReading, decodeFrame, isoFromWall, setBits, type DecodeNote, type Decoded, type GattDecodeContext } from './frame.ts';

const GM = 'Glucose Measurement';
const GMC = 'Glucose Measurement Context';

// GSS §3.106.1 Flags
const FLAG_TIME_OFFSET = 0x01; // bit 0: Time Offset present (sint16, minutes)
const FLAG_CONCENTRATION = 0x02; // bit 1: Glucose Concentration, Type and Sample Location present
const FLAG_MOL_PER_L = 0x04; // bit 2: concentration units, 0 = kg/L, 1 = mol/L
const FLAG_STATUS = 0x08; // bit 3: Sensor Status Annunciation present
const FLAG_CONTEXT_FOLLOWS = 0x10; // bit 4: Context Information follows (0x2A34 with the same sequence number)

/** GSS §3.106.4 Type (low nibble of the Type-Sample Location byte); 0 and 11–15 are reserved. */
export const GLUCOSE_TYPE: Readonly<Record<number, string>> = {
  1: 'capillary whole blood',
  2: 'capillary plasma',
  3: 'venous whole blood',
  4: 'venous plasma',
  5: 'arterial whole blood',
  6: 'arterial plasma',
  7: 'undetermined whole blood',
  8: 'undetermined plasma',
  9: 'interstitial fluid (ISF)',
  10: 'control solution',
};
const TYPE_CONTROL_SOLUTION = 0xa;

/** GSS §3.106.5 Sample Location (high nibble); 0 and 5–14 are reserved. */
export const GLUCOSE_SAMPLE_LOCATION: Readonly<Record<number, string>> = {
  1: 'finger',
  2: 'alternate site test (AST)',
  3: 'earlobe',
  4: 'control solution',
  15: 'sample location not available',
};
const LOCATION_CONTROL_SOLUTION = 4;

/** GSS §3.106.6 Sensor Status Annunciation (uint16); bits 12–15 RFU. */
export const GLUCOSE_SENSOR_STATUS: Readonly<Record<number, string>> = {
  0: 'device battery low at time of measurement',
  1: 'sensor malfunction or faulting at time of measurement',
  2: 'sample size for blood or control solution insufficient',
  3: 'strip insertion error',
  4: 'strip type incorrect for device',
  5: 'sensor result higher than the device can process',
  6: 'sensor result lower than the device can process',
  7: 'sensor temperature too high for valid test/result',
  8: 'sensor temperature too low for valid test/result',
  9: 'sensor read interrupted because strip was pulled too soon',
  10: 'general device fault has occurred in the sensor',
  11: 'time fault has occurred in the sensor and time may be inaccurate',
};
/** Bits 1–10 mean the concentration is not a valid result (ISO 15197 meters show no value or HI/LO): refused. */
const REFUSING_STATUS = 0x07fe;
const STATUS_TIME_FAULT = 1 << 11;

export interface GlucoseRecord {
  sequence: number;
  /** Flags bit 4: a Glucose Measurement Context with the same sequence number follows. */
  contextFollows: boolean;
  decoded: Decoded;
}

/** 0x2A18 → 0 or 1 Reading (`context.sequence` = the record's sequence number). */
export function decodeGlucoseRecord(bytes: Uint8Array, ctx: GattDecodeContext): Result<GlucoseRecord> {
  return decodeFrame(bytes, GM, (r) => {
    const flags = r.u8('flags');
    r.reservedFlags(flags, 0x1f);
    const sequence = r.u16('sequenceNumber');
    const base = r.dateTime('baseTime');
    const offsetMinutes = (flags & FLAG_TIME_OFFSET) !== 0 ? r.s16('timeOffset') : 0;
    let concentration: { value: ReturnType<typeof r.sfloat>; unit: 'kg/L' | 'mol/L'; type: number; location: number } | undefined;
    if ((flags & FLAG_CONCENTRATION) !== 0) {
      const value = r.sfloat('glucoseConcentration');
      const typeLocation = r.u8('typeSampleLocation');
      concentration = { value, unit: (flags & FLAG_MOL_PER_L) !== 0 ? 'mol/L' : 'kg/L', type: typeLocation & 0x0f, location: typeLocation >> 4 };
    }
    const status = (flags & FLAG_STATUS) !== 0 ? r.u16('sensorStatusAnnunciation') : 0;
    r.end();

    const contextFollows = (flags & FLAG_CONTEXT_FOLLOWS) !== 0;
    if (concentration === undefined) {
      r.note(NoteKind.ignored, 'flags', `record ${sequence} carries no concentration (flags bit 1 clear)`);
      return { sequence, contextFollows, decoded: { readings: [], notes: r.notes } };
    }
    // A control-solution test checks the meter, not the patient: never a patient Observation.
    if (concentration.type === TYPE_CONTROL_SOLUTION || concentration.location === LOCATION_CONTROL_SOLUTION) {
      r.fail('GW_ERR_BLE_CONTROL_SOLUTION', 'typeSampleLocation', sequence);
    }
    // A reserved type could be anything, a control solution included: refused rather than guessed.
    if (GLUCOSE_TYPE[concentration.type] === undefined) r.fail('GW_ERR_BLE_RESERVED_VALUE', 'typeSampleLocation.type', GM, 'type', concentration.type);
    const refusing = setBits(status & REFUSING_STATUS, GLUCOSE_SENSOR_STATUS);
    if (refusing.length > 0) r.fail('GW_ERR_BLE_MEASUREMENT_STATUS', 'sensorStatusAnnunciation', `${GM} ${sequence}`, refusing.join('; '));
    const kept = setBits(status & ~REFUSING_STATUS & 0xffff, GLUCOSE_SENSOR_STATUS);
    if (kept.length > 0) r.note(NoteKind.status, 'sensorStatusAnnunciation', kept.join('; '));
    r.note(NoteKind.context, 'typeSampleLocation', `${GLUCOSE_TYPE[concentration.type]}, ${GLUCOSE_SAMPLE_LOCATION[concentration.location] ?? `reserved sample location ${concentration.location}`}`);

    let deviceTime: string | undefined;
    if (base !== undefined && (status & STATUS_TIME_FAULT) !== 0) r.note(NoteKind.time, 'baseTime', 'the meter reports a time fault: no device time');
    else if (base !== undefined) deviceTime = isoFromWall(base.wallMs + offsetMinutes * 60_000, ctx); // GSS §3.106.3: base time + offset
    const reading = buildReading(ctx, bytes, {
      components: [{ metric: 'glucose', value: concentration.value, unit: concentration.unit }],
      deviceTime,
      sequence,
    });
    return { sequence, contextFollows, decoded: { readings: [reading], notes: r.notes } };
  });
}

export function decodeGlucoseMeasurement(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  const record = decodeGlucoseRecord(bytes, ctx);
  return record.ok ? { ok: true, value: record.value.decoded } : record;
}

// GSS §3.107.1 Context Flags
const C_CARBOHYDRATE = 0x01; // bit 0: Carbohydrate ID and Carbohydrate present
const C_MEAL = 0x02; // bit 1
const C_TESTER_HEALTH = 0x04; // bit 2
const C_EXERCISE = 0x08; // bit 3: Exercise Duration (uint16 s) and Intensity (uint8 %)
const C_MEDICATION = 0x10; // bit 4: Medication ID and Medication present
const C_MEDICATION_LITRES = 0x20; // bit 5: medication units, 0 = kilograms, 1 = litres
const C_HBA1C = 0x40; // bit 6
const C_EXTENDED = 0x80; // bit 7: Extended Flags present

const CARBOHYDRATE: Readonly<Record<number, string>> = { 1: 'breakfast', 2: 'lunch', 3: 'dinner', 4: 'snack', 5: 'drink', 6: 'supper', 7: 'brunch' };
const MEAL: Readonly<Record<number, string>> = { 1: 'preprandial (before meal)', 2: 'postprandial (after meal)', 3: 'fasting', 4: 'casual', 5: 'bedtime' };
const TESTER: Readonly<Record<number, string>> = { 1: 'self', 2: 'health care professional', 3: 'lab test', 15: 'tester not available' };
const HEALTH: Readonly<Record<number, string>> = { 1: 'minor health issues', 2: 'major health issues', 3: 'during menses', 4: 'under stress', 5: 'no health issues', 15: 'health not available' };
const MEDICATION: Readonly<Record<number, string>> = { 1: 'rapid acting insulin', 2: 'short acting insulin', 3: 'intermediate acting insulin', 4: 'long acting insulin', 5: 'pre-mixed insulin' };

const name = (table: Readonly<Record<number, string>>, v: number): string => table[v] ?? `reserved value ${v}`;

export interface GlucoseContext {
  sequence: number;
  /** Meal, tester, health, exercise, medication, HbA1c: kept for the log (no catalog metric carries them). */
  notes: DecodeNote[];
}

/** 0x2A34 → the context of the record with the same sequence number. */
export function decodeGlucoseContext(bytes: Uint8Array): Result<GlucoseContext> {
  return decodeFrame(bytes, GMC, (r) => {
    const flags = r.u8('flags');
    const sequence = r.u16('sequenceNumber');
    if ((flags & C_EXTENDED) !== 0) r.u8('extendedFlags'); // all RFU in Glucose Profile 1.0
    if ((flags & C_CARBOHYDRATE) !== 0) {
      const id = r.u8('carbohydrateId');
      r.note(NoteKind.context, 'carbohydrate', `${name(CARBOHYDRATE, id)}: ${r.sfloat('carbohydrate')} kg`);
    }
    if ((flags & C_MEAL) !== 0) r.note(NoteKind.context, 'meal', name(MEAL, r.u8('meal')));
    if ((flags & C_TESTER_HEALTH) !== 0) {
      const th = r.u8('testerHealth'); // tester: low nibble, health: high nibble
      r.note(NoteKind.context, 'testerHealth', `tester ${name(TESTER, th & 0x0f)}, ${name(HEALTH, th >> 4)}`);
    }
    if ((flags & C_EXERCISE) !== 0) {
      const seconds = r.u16('exerciseDuration');
      r.note(NoteKind.context, 'exercise', `${seconds === 0xffff ? 'overrun' : `${seconds} s`} at ${r.u8('exerciseIntensity')} %`);
    }
    if ((flags & C_MEDICATION) !== 0) {
      const id = r.u8('medicationId');
      r.note(NoteKind.context, 'medication', `${name(MEDICATION, id)}: ${r.sfloat('medication')} ${(flags & C_MEDICATION_LITRES) !== 0 ? 'L' : 'kg'}`);
    }
    if ((flags & C_HBA1C) !== 0) r.note(NoteKind.notCarried, 'hba1c', `${r.sfloat('hba1c')} %`);
    r.end();
    return { sequence, notes: r.notes };
  });
}
