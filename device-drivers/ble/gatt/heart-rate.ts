// Heart Rate Measurement 0x2A37 (Heart Rate Service 0x180D), GATT Specification Supplement §3.113.
import type { Result } from '../../../gateway/types.ts';
import { NoteKind, buildReading, decodeFrame, type Decoded, type GattDecodeContext } from './frame.ts';

const HRM = 'Heart Rate Measurement';
const FLAG_UINT16 = 0x01; // bit 0: Heart Rate Value Format, 0 = uint8, 1 = uint16
const FLAG_CONTACT_DETECTED = 0x02; // bit 1: Sensor Contact detected (meaningful only when bit 2 is set)
const FLAG_CONTACT_SUPPORTED = 0x04; // bit 2: Sensor Contact feature supported
const FLAG_ENERGY = 0x08; // bit 3: Energy Expended present (uint16, kJ)
const FLAG_RR = 0x10; // bit 4: RR-Interval present (uint16 each, 1/1024 s)
const KNOWN_FLAGS = 0x1f;

export function decodeHeartRateMeasurement(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, HRM, (r) => {
    const flags = r.u8('flags');
    r.reservedFlags(flags, KNOWN_FLAGS);
    const bpm = (flags & FLAG_UINT16) !== 0 ? r.u16('heartRate') : r.u8('heartRate');
    if ((flags & FLAG_ENERGY) !== 0) r.note(NoteKind.notCarried, 'energyExpended', `${r.u16('energyExpended')} kJ`);
    if ((flags & FLAG_RR) !== 0) {
      // GSS §3.113: one or more RR-Intervals fill the rest of the value, 2 bytes each.
      const rr: string[] = [];
      do rr.push(`${((r.u16(`rrInterval[${rr.length}]`) * 1000) / 1024).toFixed(1)} ms`);
      while (r.remaining > 0);
      r.note(NoteKind.notCarried, 'rrIntervals', rr.join(', '));
    }
    // Bits 1–2: 0b10 = contact supported but not detected: the strap is not on the skin, the value is noise.
    if ((flags & FLAG_CONTACT_SUPPORTED) !== 0 && (flags & FLAG_CONTACT_DETECTED) === 0) r.fail('GW_ERR_BLE_NO_CONTACT', 'flags', HRM);
    r.end();
    return { readings: [buildReading(ctx, bytes, { components: [{ metric: 'heart-rate', value: bpm, unit: '/min' }] })], notes: r.notes };
  });
}
