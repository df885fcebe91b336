// Which `ble` firmware profile a device gets: the config's `profile` if set, else the one whose manufacturer,
// model and firmware range match the device's Device Information (0x180A); else none (standard GATT behaviour).
import { inRange } from '../../../gateway/profiles/firmware-range.ts';
import { isBleProfile, type BleFirmwareProfile, type FirmwareProfile } from '../../../gateway/profiles/schema.ts';
import { issue } from '../../../gateway/errors.ts';
import type { Result } from '../../../gateway/types.ts';

/** Device Information Service 0x180A strings (each optional: DIS characteristics are all optional). */
export interface DeviceInformation {
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
}

/** Profile id used in Reading.profileId when no firmware profile matches: the standard GATT profiles as specified. */
export const STANDARD_PROFILE_ID = 'ble-standard';

export function selectBleProfile(
  profiles: readonly FirmwareProfile[],
  info: DeviceInformation,
  configured: string | undefined,
  deviceId: string,
): Result<BleFirmwareProfile | undefined> {
  if (configured !== undefined) {
    const p = profiles.find((x) => x.id === configured);
    if (!p) return { ok: false, issues: [issue('GW_ERR_BLE_PROFILE', 'profile', deviceId, `firmware profile "${configured}" is not loaded`)] };
    if (!isBleProfile(p)) return { ok: false, issues: [issue('GW_ERR_BLE_PROFILE', 'profile', deviceId, `firmware profile "${configured}" is a ${p.transport.kind} profile, not a ble one`)] };
    return { ok: true, value: p };
  }
  if (info.model === undefined) return { ok: true, value: undefined };
  const same = (a: string, b: string): boolean => a.trim().localeCompare(b.trim(), undefined, { sensitivity: 'accent' }) === 0;
  const match = profiles.filter(isBleProfile).find(
    (p) =>
      same(p.model, info.model!) &&
      (info.manufacturer === undefined || same(p.manufacturer, info.manufacturer)) &&
      (p.firmware === '*' || (info.firmware !== undefined && inRange(firmwareVersion(info.firmware), p.firmware))),
  );
  return { ok: true, value: match };
}

/** "fw 2.1.3", "V2.10", "2.1-b7" → "2.1.3", "2.10", "2.1": the first dotted number, which firmware ranges compare. */
export function firmwareVersion(text: string): string {
  return /\d+(?:\.\d+){0,2}/.exec(text)?.[0] ?? text;
}
