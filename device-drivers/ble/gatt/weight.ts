// Weight Measurement 0x2A9D (Weight Scale Service 0x181D, GSS §3.246) and Body Composition Measurement
// 0x2A9C (Body Composition Service 0x181B, GSS §3.33). Weight, height and BMI become components; the
// body-composition fields the vitals catalog has no metric for are reported as `not-carried` notes.
import type { ReadingComponent, Result } from '../../../gateway/types.ts';
import { NoteKind, buildReading, decodeFrame, isoFromWall, type Decoded, type FieldReader, type GattDecodeContext } from './frame.ts';

const WM = 'Weight Measurement';
const BCM = 'Body Composition Measurement';
/** GSS §3.246: Weight 0xFFFF (and Body Fat Percentage 0xFFFF in §3.33) = "Measurement Unsuccessful". */
const UNSUCCESSFUL = 0xffff;

type System = 'si' | 'imperial';

/** Mass: SI resolution 0.005 kg, imperial 0.01 lb (GSS §3.246 Weight field). Integer arithmetic, then one division. */
function mass(raw: number, system: System): { value: number; unit: 'kg' | '[lb_av]' } {
  return system === 'si' ? { value: (raw * 5) / 1000, unit: 'kg' } : { value: raw / 100, unit: '[lb_av]' };
}

/** Height: SI resolution 0.001 m, imperial 0.1 in (GSS §3.246 Height field). */
function height(raw: number, system: System): { value: number; unit: 'm' | '[in_i]' } {
  return system === 'si' ? { value: raw / 1000, unit: 'm' } : { value: raw / 10, unit: '[in_i]' };
}

function timeStamp(r: FieldReader, ctx: GattDecodeContext): string | undefined {
  const wall = r.dateTime('timeStamp');
  return wall === undefined ? undefined : isoFromWall(wall.wallMs, ctx);
}

// GSS §3.246.1 Flags
const W_IMPERIAL = 0x01; // bit 0: 0 = SI (kg, m), 1 = imperial (lb, in)
const W_TIME_STAMP = 0x02; // bit 1
const W_USER_ID = 0x04; // bit 2
const W_BMI_HEIGHT = 0x08; // bit 3: BMI and Height present

export function decodeWeightMeasurement(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, WM, (r) => {
    const flags = r.u8('flags');
    r.reservedFlags(flags, 0x0f);
    const system: System = (flags & W_IMPERIAL) !== 0 ? 'imperial' : 'si';
    const raw = r.u16('weight');
    if (raw === UNSUCCESSFUL) r.fail('GW_ERR_BLE_MEASUREMENT_UNSUCCESSFUL', 'weight', WM, 'weight 0xFFFF');
    const w = mass(raw, system);
    const components: ReadingComponent[] = [{ metric: 'body-weight', value: w.value, unit: w.unit }];
    const deviceTime = (flags & W_TIME_STAMP) !== 0 ? timeStamp(r, ctx) : undefined;
    const userId = (flags & W_USER_ID) !== 0 ? r.u8('userId') : undefined;
    if ((flags & W_BMI_HEIGHT) !== 0) {
      const bmi = r.u16('bmi'); // kg/m², resolution 0.1
      const h = height(r.u16('height'), system);
      components.push({ metric: 'bmi', value: bmi / 10, unit: 'kg/m2' }, { metric: 'body-height', value: h.value, unit: h.unit });
    }
    r.end();
    return { readings: [buildReading(ctx, bytes, { components, deviceTime, userId })], notes: r.notes };
  });
}

// GSS §3.33.1 Flags (uint16)
const B_IMPERIAL = 0x0001; // bit 0
const B_TIME_STAMP = 0x0002; // bit 1
const B_USER_ID = 0x0004; // bit 2
const B_BASAL_METABOLISM = 0x0008; // bit 3 (uint16, kJ)
const B_MUSCLE_PERCENTAGE = 0x0010; // bit 4 (uint16, 0.1 %)
const B_MUSCLE_MASS = 0x0020; // bit 5 (mass)
const B_FAT_FREE_MASS = 0x0040; // bit 6 (mass)
const B_SOFT_LEAN_MASS = 0x0080; // bit 7 (mass)
const B_BODY_WATER_MASS = 0x0100; // bit 8 (mass)
const B_IMPEDANCE = 0x0200; // bit 9 (uint16, 0.1 Ω)
const B_WEIGHT = 0x0400; // bit 10 (mass)
const B_HEIGHT = 0x0800; // bit 11 (length)
const B_MULTIPLE_PACKET = 0x1000; // bit 12: the measurement is split over several values

/**
 * Fields the catalog does not carry (reported as `not-carried` notes, counted, never an error):
 * body fat percentage, basal metabolism, muscle percentage, muscle mass, fat free mass, soft lean mass,
 * body water mass, impedance. Weight and height, when present, become components.
 */
export function decodeBodyCompositionMeasurement(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, BCM, (r) => {
    const flags = r.u16('flags');
    r.reservedFlags(flags, 0x1fff);
    const system: System = (flags & B_IMPERIAL) !== 0 ? 'imperial' : 'si';
    const fat = r.u16('bodyFatPercentage');
    if (fat === UNSUCCESSFUL) r.fail('GW_ERR_BLE_MEASUREMENT_UNSUCCESSFUL', 'bodyFatPercentage', BCM, 'body fat percentage 0xFFFF');
    r.note(NoteKind.notCarried, 'bodyFatPercentage', `${fat / 10} %`);
    const deviceTime = (flags & B_TIME_STAMP) !== 0 ? timeStamp(r, ctx) : undefined;
    const userId = (flags & B_USER_ID) !== 0 ? r.u8('userId') : undefined;
    const massNote = (field: string): void => {
      const m = mass(r.u16(field), system);
      r.note(NoteKind.notCarried, field, `${m.value} ${m.unit}`);
    };
    if ((flags & B_BASAL_METABOLISM) !== 0) r.note(NoteKind.notCarried, 'basalMetabolism', `${r.u16('basalMetabolism')} kJ`);
    if ((flags & B_MUSCLE_PERCENTAGE) !== 0) r.note(NoteKind.notCarried, 'musclePercentage', `${r.u16('musclePercentage') / 10} %`);
    if ((flags & B_MUSCLE_MASS) !== 0) massNote('muscleMass');
    if ((flags & B_FAT_FREE_MASS) !== 0) massNote('fatFreeMass');
    if ((flags & B_SOFT_LEAN_MASS) !== 0) massNote('softLeanMass');
    if ((flags & B_BODY_WATER_MASS) !== 0) massNote('bodyWaterMass');
    if ((flags & B_IMPEDANCE) !== 0) r.note(NoteKind.notCarried, 'impedance', `${r.u16('impedance') / 10} Ω`);
    const components: ReadingComponent[] = [];
    if ((flags & B_WEIGHT) !== 0) {
      const w = mass(r.u16('weight'), system);
      components.push({ metric: 'body-weight', value: w.value, unit: w.unit });
    }
    if ((flags & B_HEIGHT) !== 0) {
      const h = height(r.u16('height'), system);
      components.push({ metric: 'body-height', value: h.value, unit: h.unit });
    }
    if ((flags & B_MULTIPLE_PACKET) !== 0) r.note(NoteKind.ignored, 'flags', 'multiple packet measurement: the other packets carry the remaining fields');
    r.end();
    const readings = components.length > 0 ? [buildReading(ctx, bytes, { components, deviceTime, userId })] : [];
    return { readings, notes: r.notes };
  });
}
