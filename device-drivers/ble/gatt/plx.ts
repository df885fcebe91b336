// PLX Spot-Check Measurement 0x2A5E and PLX Continuous Measurement 0x2A5F (Pulse Oximeter Service 0x1822),
// GATT Specification Supplement §3.171 / §3.170 (Pulse Oximeter Profile 1.0). SpO2 and pulse rate are SFLOAT.
import type { ReadingComponent, Result } from '../../../gateway/types.ts';
import { NoteKind, buildReading, decodeFrame, isoFromWall, setBits, type Decoded, type FieldReader, type GattDecodeContext } from './frame.ts';

const SPOT = 'PLX Spot-Check Measurement';
const CONT = 'PLX Continuous Measurement';

/** GSS §3.171.3 Measurement Status (uint16); bits 0–4 RFU. */
export const PLX_MEASUREMENT_STATUS: Readonly<Record<number, string>> = {
  5: 'measurement ongoing',
  6: 'early estimated data',
  7: 'validated data',
  8: 'fully qualified data',
  9: 'data from measurement storage',
  10: 'data for demonstration',
  11: 'data for testing',
  12: 'calibration ongoing',
  13: 'measurement unavailable',
  14: 'questionable measurement detected',
  15: 'invalid measurement detected',
};
/** Measurement status bits that make the value no patient measurement: refused with the reason. */
const REFUSING_MEASUREMENT_STATUS = (1 << 5) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

/** GSS §3.171.4 Device and Sensor Status (uint24); bits 16–23 RFU. */
export const PLX_DEVICE_SENSOR_STATUS: Readonly<Record<number, string>> = {
  0: 'extended display update ongoing',
  1: 'equipment malfunction detected',
  2: 'signal processing irregularity detected',
  3: 'inadequate signal detected',
  4: 'poor signal detected',
  5: 'low perfusion detected',
  6: 'erratic signal detected',
  7: 'nonpulsatile signal detected',
  8: 'questionable pulse detected',
  9: 'signal analysis ongoing',
  10: 'sensor interference detected',
  11: 'sensor unconnected to user',
  12: 'unknown sensor connected',
  13: 'sensor displaced',
  14: 'sensor malfunctioning',
  15: 'sensor disconnected',
};
/** Device/sensor conditions under which SpO2 is not the patient's: refused. Signal-quality hints (3–7, 9, 10) are kept as notes. */
const REFUSING_DEVICE_STATUS = (1 << 1) | (1 << 2) | (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

function checkStatus(r: FieldReader, measurementStatus: number | undefined, deviceStatus: number | undefined): void {
  const refused: string[] = [];
  if (measurementStatus !== undefined) {
    refused.push(...setBits(measurementStatus & REFUSING_MEASUREMENT_STATUS, PLX_MEASUREMENT_STATUS));
    const kept = setBits(measurementStatus & ~REFUSING_MEASUREMENT_STATUS & 0xffe0, PLX_MEASUREMENT_STATUS);
    if (kept.length > 0) r.note(NoteKind.status, 'measurementStatus', kept.join('; '));
  }
  if (deviceStatus !== undefined) {
    refused.push(...setBits(deviceStatus & REFUSING_DEVICE_STATUS, PLX_DEVICE_SENSOR_STATUS));
    const kept = setBits(deviceStatus & ~REFUSING_DEVICE_STATUS, PLX_DEVICE_SENSOR_STATUS);
    if (kept.length > 0) r.note(NoteKind.status, 'deviceAndSensorStatus', kept.join('; '));
  }
  if (refused.length > 0) r.fail('GW_ERR_BLE_MEASUREMENT_STATUS', 'status', r.characteristic, refused.join('; '));
}

// GSS §3.171.1 Spot-Check Flags
const S_TIME_STAMP = 0x01; // bit 0
const S_MEASUREMENT_STATUS = 0x02; // bit 1
const S_DEVICE_STATUS = 0x04; // bit 2
const S_PAI = 0x08; // bit 3: Pulse Amplitude Index present
const S_CLOCK_NOT_SET = 0x10; // bit 4: Device Clock is Not Set

export function decodePlxSpotCheck(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, SPOT, (r) => {
    const flags = r.u8('flags');
    r.reservedFlags(flags, 0x1f);
    const spo2 = r.sfloat('spo2');
    const pr = r.sfloat('pulseRate');
    let deviceTime: string | undefined;
    if ((flags & S_TIME_STAMP) !== 0) {
      const wall = r.dateTime('timeStamp');
      if (wall !== undefined && (flags & S_CLOCK_NOT_SET) !== 0) r.note(NoteKind.time, 'timeStamp', 'the device says its clock is not set: no device time');
      else if (wall !== undefined) deviceTime = isoFromWall(wall.wallMs, ctx);
    }
    const ms = (flags & S_MEASUREMENT_STATUS) !== 0 ? r.u16('measurementStatus') : undefined;
    const ds = (flags & S_DEVICE_STATUS) !== 0 ? r.u24('deviceAndSensorStatus') : undefined;
    if ((flags & S_PAI) !== 0) r.note(NoteKind.notCarried, 'pulseAmplitudeIndex', `${r.sfloat('pulseAmplitudeIndex')} %`);
    r.end();
    checkStatus(r, ms, ds);
    const components: ReadingComponent[] = [
      { metric: 'spo2', value: spo2, unit: '%' },
      { metric: 'heart-rate', value: pr, unit: '/min' },
    ];
    return { readings: [buildReading(ctx, bytes, { components, deviceTime })], notes: r.notes };
  });
}

// GSS §3.170.1 Continuous Flags
const C_FAST = 0x01; // bit 0: SpO2PR-Fast present
const C_SLOW = 0x02; // bit 1: SpO2PR-Slow present
const C_MEASUREMENT_STATUS = 0x04; // bit 2
const C_DEVICE_STATUS = 0x08; // bit 3
const C_PAI = 0x10; // bit 4

/** The SpO2PR-Normal pair becomes the Reading; Fast and Slow averages are kept as notes. No time stamp: receivedAt is the time. */
export function decodePlxContinuous(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, CONT, (r) => {
    const flags = r.u8('flags');
    r.reservedFlags(flags, 0x1f);
    const spo2 = r.sfloat('spo2Normal');
    const pr = r.sfloat('pulseRateNormal');
    if ((flags & C_FAST) !== 0) r.note(NoteKind.notCarried, 'spo2prFast', `SpO2 ${r.sfloat('spo2Fast')} %, PR ${r.sfloat('pulseRateFast')} /min`);
    if ((flags & C_SLOW) !== 0) r.note(NoteKind.notCarried, 'spo2prSlow', `SpO2 ${r.sfloat('spo2Slow')} %, PR ${r.sfloat('pulseRateSlow')} /min`);
    const ms = (flags & C_MEASUREMENT_STATUS) !== 0 ? r.u16('measurementStatus') : undefined;
    const ds = (flags & C_DEVICE_STATUS) !== 0 ? r.u24('deviceAndSensorStatus') : undefined;
    if ((flags & C_PAI) !== 0) r.note(NoteKind.notCarried, 'pulseAmplitudeIndex', `${r.sfloat('pulseAmplitudeIndex')} %`);
    r.end();
    checkStatus(r, ms, ds);
    const components: ReadingComponent[] = [
      { metric: 'spo2', value: spo2, unit: '%' },
      { metric: 'heart-rate', value: pr, unit: '/min' },
    ];
    return { readings: [buildReading(ctx, bytes, { components })], notes: r.notes };
  });
}
