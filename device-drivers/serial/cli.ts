// `gw decode serial <profile-id> '<text|hex>'`: one frame → { reading, observations }, no side effects.
// Text may use \xNN, \r, \n, \t escapes (STX is \x02); a binary-framed profile takes hex bytes.
import { resolve } from 'node:path';
import { loadConfig } from '../../gateway/config.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { normalize } from '../../gateway/normalize.ts';
import { loadProfileSet } from '../../gateway/profiles/registry.ts';
import type { FirmwareProfile } from '../../gateway/profiles/schema.ts';
import type { Reading } from '../../gateway/types.ts';
import { decodeWireFrame } from './decode-record.ts';

const HEX = /^(?:0x)?(?:[0-9A-Fa-f]{2}[\s:]?)+$/;

/** The input as bytes: hex for binary framing or a pure-hex STX/ETX frame, else text with escapes. */
export function inputBytes(profile: FirmwareProfile, input: string): Buffer {
  const compact = input.replace(/^0x/, '').replace(/[\s:]/g, '');
  if (profile.framing.kind === 'fixed' || (profile.framing.kind === 'stx-etx' && HEX.test(input.trim()) && compact.length % 2 === 0)) {
    return Buffer.from(compact, 'hex');
  }
  const text = input.replace(/\\(x[0-9A-Fa-f]{2}|r|n|t|\\)/g, (_m, e: string) =>
    e === 'r' ? '\r' : e === 'n' ? '\n' : e === 't' ? '\t' : e === '\\' ? '\\' : String.fromCharCode(Number.parseInt(e.slice(1), 16)),
  );
  return Buffer.from(text, 'latin1');
}

export function decodeSerialCommand(
  args: string[],
  print: (value: unknown) => void,
  fail: (code: string, message: string, issues?: unknown) => number,
): number {
  const [profileId, input] = args;
  if (profileId === undefined || input === undefined) {
    return fail('GW_ERR_INVALID_READING', "gw decode serial <profile-id> '<text|hex>': the profile id or the frame is missing");
  }
  let config;
  try {
    config = loadConfig(process.env).config; // bindings, site id, profilesDir; no buffer, no port
  } catch (err) {
    return fail(err instanceof GatewayError ? err.code : 'GW_ERR_CONFIG_INVALID', (err as Error).message);
  }
  const dir = resolve(process.env.GW_PROFILES_DIR ?? config.serial?.profilesDir ?? 'firmware-profiles');
  const set = loadProfileSet(dir);
  const loaded = set.profiles.get(profileId);
  if (!loaded) {
    const why = set.problems.filter((p) => p.file.includes(profileId)).map((p) => `${p.path}: ${p.reason}`);
    return fail('GW_ERR_FIRMWARE_PROFILE_UNKNOWN', `unknown firmware profile "${profileId}" in ${dir}${why.length ? ` (${why.join('; ')})` : ''}; known: ${[...set.profiles.keys()].join(', ')}`);
  }
  const profile = loaded.profile;
  const bytes = inputBytes(profile, input);
  const decoded = decodeWireFrame(profile, bytes);
  if (!decoded.ok) return fail(decoded.issues[0]!.code, decoded.issues[0]!.message, decoded.issues);
  if (decoded.value.kind === 'skipped') {
    print({ skipped: decoded.value.reason, observations: [] });
    return 0;
  }
  const reading: Reading = {
    deviceId: `serial:${profile.id}`,
    profileId: profile.id,
    transport: 'serial',
    components: decoded.value.components,
    receivedAt: new Date().toISOString(),
    raw: decoded.value.frame.toString('base64'),
  };
  if (decoded.value.deviceTime !== undefined) reading.deviceTime = decoded.value.deviceTime;
  const deviceForBinding = config.serial?.ports.find((p) => p.profile === profile.id)?.deviceId;
  if (deviceForBinding) reading.deviceId = deviceForBinding;
  const bindings = new Map(config.bindings.map((b) => [b.device, b.patient]));
  const outcome = normalize(reading, {
    siteId: config.site.id,
    bindingFor: (deviceId) => bindings.get(deviceId),
    clockSkewToleranceMs: config.clock.skewToleranceSeconds * 1000,
    defaultPatientSystem: config.patients.defaultSystem,
  });
  switch (outcome.kind) {
    case 'refused':
      return fail(outcome.issues[0]!.code, outcome.issues[0]!.message, outcome.issues);
    case 'quarantine':
      print({ reading, observations: [], quarantine: { reason: outcome.reason } });
      return 0;
    case 'observations':
      print(outcome.refused.length > 0 ? { reading, observations: outcome.observations, refused: outcome.refused } : { reading, observations: outcome.observations });
      return 0;
    default:
      return outcome satisfies never;
  }
}
