// `gw decode mqtt <topic> '<json>'`: a publish on rpm/<deviceId>/reading → the Reading the broker would submit,
// no broker, no side effects. A device whose mqtt.devices entry names a profile is decoded with that profile.
import { resolve } from 'node:path';
import type { GatewayConfig } from '../../gateway/config.ts';
import { errorMessage } from '../../gateway/errors.ts';
import { loadProfileSet } from '../../gateway/profiles/registry.ts';
import { isMqttProfile } from '../../gateway/profiles/schema.ts';
import type { Issue, Reading } from '../../gateway/types.ts';
import { decodeMqttPublish, readingTopicDevice } from './payload.ts';

export function mqttReadingFromInput(args: string[], config: GatewayConfig): { ok: true; reading: Reading } | { ok: false; issues: Issue[] } {
  const [topic, payload] = args;
  if (topic === undefined) return { ok: false, issues: [{ code: 'GW_ERR_INVALID_READING', message: "gw decode mqtt <topic> '<json>': the topic is missing" }] };
  const device = readingTopicDevice(topic);
  const profileId = device.ok ? config.mqtt?.devices.find((d) => d.id === device.value)?.profile : undefined;
  let profile;
  if (profileId !== undefined) {
    const dir = resolve(process.env.GW_PROFILES_DIR ?? config.mqtt?.profilesDir ?? 'firmware-profiles');
    const set = loadProfileSet(dir);
    const loaded = set.profiles.get(profileId)?.profile;
    if (!loaded || !isMqttProfile(loaded)) {
      const why = loaded ? `it is a ${loaded.transport.kind} profile` : set.problems.filter((p) => p.file.includes(profileId)).map((p) => `${p.path}: ${p.reason}`).join('; ') || `not in ${dir}`;
      return { ok: false, issues: [{ code: 'GW_ERR_FIRMWARE_PROFILE_UNKNOWN', message: `${errorMessage('GW_ERR_FIRMWARE_PROFILE_UNKNOWN', profileId)} for device ${device.ok ? device.value : ''}: ${why}` }] };
    }
    profile = loaded;
  }
  const parsed = decodeMqttPublish(topic, payload, new Date(), profile);
  return parsed.ok ? { ok: true, reading: parsed.value } : parsed;
}
