// `gw decode ble <characteristic-uuid> <hex>`: one captured notification/indication value → the Reading
// the BLE driver would submit, with the decoder's notes (status bits, context, fields not carried).
import { parseArgs } from 'node:util';
import type { Issue, Reading } from '../../../gateway/types.ts';
import type { DecodeNote } from './frame.ts';
import { decodeGattValue } from './index.ts';

const HEX = /^(?:[0-9a-f]{2})*$/;

export function bleReadingFromInput(
  args: string[],
  now: Date = new Date(),
): { ok: true; reading: Reading; notes: DecodeNote[] } | { ok: true; skipped: string; notes: DecodeNote[] } | { ok: false; issues: Issue[] } {
  const usage = 'gw decode ble [--device <id>] [--utc-offset <minutes>] <characteristic-uuid> <hex>';
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { device: { type: 'string' }, 'utc-offset': { type: 'string' } } });
  } catch (err) {
    return { ok: false, issues: [{ code: 'GW_ERR_INVALID_READING', message: `${usage}: ${(err as Error).message}` }] };
  }
  const [uuid, ...hexParts] = parsed.positionals;
  if (uuid === undefined || hexParts.length === 0) {
    return { ok: false, issues: [{ code: 'GW_ERR_INVALID_READING', message: `${usage}: the characteristic or the value is missing` }] };
  }
  const offsetText = parsed.values['utc-offset'];
  const offset = offsetText === undefined ? undefined : Number(offsetText);
  if (offset !== undefined && (!Number.isInteger(offset) || Math.abs(offset) > 14 * 60)) {
    return { ok: false, issues: [{ code: 'GW_ERR_INVALID_READING', message: `--utc-offset must be whole minutes east of UTC (-840..840), got "${offsetText}"` }] };
  }
  const compact = hexParts.join('').toLowerCase().replace(/^0x/, '').replace(/[\s:-]/g, '');
  if (!HEX.test(compact)) {
    return { ok: false, issues: [{ code: 'GW_ERR_INVALID_READING', message: `"${hexParts.join(' ')}" is not hex bytes (e.g. "1E 8A00 5800 …" or 1e8a005800)` }] };
  }
  const bytes = Uint8Array.from(Buffer.from(compact, 'hex'));
  const decoded = decodeGattValue(uuid, bytes, {
    deviceId: parsed.values.device ?? 'ble:cli',
    profileId: 'ble-standard',
    receivedAt: now.toISOString(),
    ...(offset === undefined ? {} : { deviceUtcOffsetMinutes: offset }),
  });
  if (!decoded.ok) return decoded;
  const { readings, notes } = decoded.value;
  const [reading] = readings;
  if (reading === undefined) {
    const why = notes.filter((n) => n.kind === 'ignored').map((n) => `${n.characteristic}: ${n.detail}`);
    return { ok: true, skipped: why.length > 0 ? why.join('; ') : 'the value carries no measurement the catalog has a metric for', notes };
  }
  return { ok: true, reading, notes };
}
