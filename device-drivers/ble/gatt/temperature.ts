// Temperature Measurement 0x2A1C (Health Thermometer Service 0x1809), GATT Specification Supplement §3.216;
// Temperature Type values from §3.219 (0x2A1D).
import type { Result } from '../../../gateway/types.ts';
import { NoteKind, buildReading, decodeFrame, isoFromWall, type Decoded, type GattDecodeContext } from './frame.ts';

const TM = 'Temperature Measurement';
const FLAG_FAHRENHEIT = 0x01; // bit 0: 0 = Celsius, 1 = Fahrenheit
const FLAG_TIME_STAMP = 0x02; // bit 1: Time Stamp present
const FLAG_TYPE = 0x04; // bit 2: Temperature Type present
const KNOWN_FLAGS = 0x07;

/** GSS §3.219 Temperature Type (0x2A1D); 0 and 10–255 are reserved. */
export const TEMPERATURE_TYPE: Readonly<Record<number, string>> = {
  1: 'armpit',
  2: 'body (general)',
  3: 'ear (usually earlobe)',
  4: 'finger',
  5: 'gastrointestinal tract',
  6: 'mouth',
  7: 'rectum',
  8: 'toe',
  9: 'tympanum (ear drum)',
};

export function decodeTemperatureMeasurement(bytes: Uint8Array, ctx: GattDecodeContext): Result<Decoded> {
  return decodeFrame(bytes, TM, (r) => {
    const flags = r.u8('flags');
    r.reservedFlags(flags, KNOWN_FLAGS);
    const value = r.float('temperature'); // medfloat32
    const unit = (flags & FLAG_FAHRENHEIT) !== 0 ? '[degF]' : 'Cel';
    let deviceTime: string | undefined;
    if ((flags & FLAG_TIME_STAMP) !== 0) {
      const wall = r.dateTime('timeStamp');
      if (wall !== undefined) deviceTime = isoFromWall(wall.wallMs, ctx);
    }
    if ((flags & FLAG_TYPE) !== 0) {
      const type = r.u8('temperatureType');
      r.note(NoteKind.context, 'temperatureType', TEMPERATURE_TYPE[type] ?? `reserved value ${type}`);
    }
    r.end();
    return { readings: [buildReading(ctx, bytes, { components: [{ metric: 'body-temperature', value, unit }], deviceTime })], notes: r.notes };
  });
}
