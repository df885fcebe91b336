// Shared by the decoder tests: frames from hex, a fixed decode context, and normalize with a bound patient.
import { normalize, type NormalizeOutcome } from '../../../gateway/normalize.ts';
import type { Reading } from '../../../gateway/types.ts';
import type { DecodeNote, GattDecodeContext } from './frame.ts';

/** '1E 8A 00' / '1e8a00' → bytes. */
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'));

export function testContext(extra: Partial<GattDecodeContext> = {}): GattDecodeContext & { notes: DecodeNote[] } {
  const notes: DecodeNote[] = [];
  return {
    deviceId: 'ble:C0:FF:EE:00:00:01',
    profileId: 'ble-standard',
    receivedAt: '2026-11-23T09:31:00.000Z',
    deviceUtcOffsetMinutes: 60,
    onNote: (n) => notes.push(n),
    notes,
    ...extra,
  };
}

export function normalizeBound(reading: Reading): NormalizeOutcome {
  return normalize(reading, {
    siteId: 'test-site',
    bindingFor: () => ({ mrn: 'MRN-1', system: 'urn:oid:1.2.3.4' }),
    clockSkewToleranceMs: 10 * 365 * 24 * 3600 * 1000,
  });
}
