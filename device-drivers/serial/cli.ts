// `gw decode serial <profile-id> '<text|hex>'`: one frame → { reading, observations }, no side effects.
// Text may use \xNN, \r, \n, \t escapes (STX is \x02); a binary-framed profile takes hex bytes.
import { resolve } from 'node:path';
import type { GatewayConfig } from '../../gateway/config.ts';
import { loadProfileSet } from '../../gateway/profiles/registry.ts';
import { isSerialProfile, type SerialFirmwareProfile } from '../../gateway/profiles/schema.ts';
import type { Issue, Reading } from '../../gateway/types.ts';
import { decodeWireFrame } from './decode-record.ts';

const HEX = /^(?:0x)?(?:[0-9A-Fa-f]{2}[\s:]?)+$/;

/** The input as bytes: hex for binary framing or a pure-hex STX/ETX frame, else text with escapes. */
export function inputBytes(profile: SerialFirmwareProfile, input: string): Buffer {
  const compact = input.replace(/^0x/, '').replace(/[\s:]/g, '');
  if (profile.framing.kind === 'fixed' || (profile.framing.kind === 'stx-etx' && HEX.test(input.trim()) && compact.length % 2 === 0)) {
    return Buffer.from(compact, 'hex');
  }
  const text = input.replace(/\\(x[0-9A-Fa-f]{2}|r|n|t|\\)/g, (_m, e: string) =>
    e === 'r' ? '\r' : e === 'n' ? '\n' : e === 't' ? '\t' : e === '\\' ? '\\' : String.fromCharCode(Number.parseInt(e.slice(1), 16)),
  );
  return Buffer.from(text, 'latin1');
}

/**
 * One serial frame as the Reading the driver would submit: `skipped` when the profile says the record
 * carries nothing to submit (an unstable scale reading), issues when the frame or profile is wrong.
 */
export function serialReadingFromInput(
  args: string[],
  config: GatewayConfig,
): { ok: true; reading: Reading } | { ok: true; skipped: string } | { ok: false; issues: Issue[] } {
  const [profileId, input] = args;
  if (profileId === undefined || input === undefined) {
    return { ok: false, issues: [{ code: 'GW_ERR_INVALID_READING', message: "gw decode serial <profile-id> '<text|hex>': the profile id or the frame is missing" }] };
  }
  const dir = resolve(process.env.GW_PROFILES_DIR ?? config.serial?.profilesDir ?? 'firmware-profiles');
  const set = loadProfileSet(dir);
  const loaded = set.profiles.get(profileId);
  if (!loaded) {
    const why = set.problems.filter((p) => p.file.includes(profileId)).map((p) => `${p.path}: ${p.reason}`);
    const message = `unknown firmware profile "${profileId}" in ${dir}${why.length ? ` (${why.join('; ')})` : ''}; known: ${[...set.profiles.keys()].join(', ')}`;
    return { ok: false, issues: [{ code: 'GW_ERR_FIRMWARE_PROFILE_UNKNOWN', message }] };
  }
  const profile = loaded.profile;
  if (!isSerialProfile(profile)) {
    return { ok: false, issues: [{ code: 'GW_ERR_FIRMWARE_PROFILE_UNKNOWN', message: `firmware profile "${profileId}" is an ${profile.transport.kind} profile; gw decode serial takes a serial one` }] };
  }
  const decoded = decodeWireFrame(profile, inputBytes(profile, input));
  if (!decoded.ok) return { ok: false, issues: decoded.issues };
  if (decoded.value.kind === 'skipped') return { ok: true, skipped: decoded.value.reason };
  const reading: Reading = {
    deviceId: config.serial?.ports.find((p) => p.profile === profile.id)?.deviceId ?? `serial:${profile.id}`,
    profileId: profile.id,
    transport: 'serial',
    components: decoded.value.components,
    receivedAt: new Date().toISOString(),
    raw: decoded.value.frame.toString('base64'),
  };
  if (decoded.value.deviceTime !== undefined) reading.deviceTime = decoded.value.deviceTime;
  return { ok: true, reading };
}
