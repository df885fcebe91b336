// Device and admin passwords are stored as scrypt hashes only: `scrypt$N$r$p$salt$hash` (salt and hash in
// base64). `gw hash-password` makes them; verification is constant-time (RFC 7914 scrypt, node:crypto).
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { issue } from '../../gateway/errors.ts';
import type { Result } from '../../gateway/types.ts';

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** OWASP-style interactive parameters: 16 MiB of memory per check, ~50 ms on a Pi 4. */
export const DEFAULT_SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function derive(password: string | Buffer, salt: Buffer, N: number, r: number, p: number, keyLength: number): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, params.N, params.r, params.p, KEY_LENGTH);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

export function parsePasswordHash(text: string): Result<ScryptHash> {
  const parts = text.split('$');
  const bad = (why: string): Result<ScryptHash> => ({ ok: false, issues: [issue('GW_ERR_MQTT_PASSWORD_HASH', undefined, why)] });
  if (parts.length !== 6 || parts[0] !== 'scrypt') return bad('expected 6 fields separated by $, the first "scrypt"');
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  // RFC 7914 §2: N is a power of two greater than 1; r·p < 2^30
  if (!Number.isInteger(N) || N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20) return bad('N must be a power of two from 2 to 2^20');
  if (!Number.isInteger(r) || r < 1 || r > 32 || !Number.isInteger(p) || p < 1 || p > 16) return bad('r must be 1–32 and p 1–16');
  if (!B64.test(parts[4]!) || !B64.test(parts[5]!)) return bad('salt and hash must be base64');
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16) return bad('salt must be ≥ 8 bytes and hash ≥ 16 bytes');
  return { ok: true, value: { N, r, p, salt, hash } };
}

/** Constant-time comparison of the derived key; the work is the same for right and wrong passwords. */
export async function verifyPassword(password: string | Buffer, stored: ScryptHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored.N, stored.r, stored.p, stored.hash.length);
  return timingSafeEqual(derived, stored.hash);
}

let dummy: Promise<ScryptHash> | undefined;
/** For unknown user names: spend the same scrypt work as a real check so timing does not reveal which names exist. */
export async function burnPasswordCheck(password: string | Buffer): Promise<false> {
  dummy ??= hashPassword('unknown-user').then((h) => (parsePasswordHash(h) as { ok: true; value: ScryptHash }).value);
  await verifyPassword(password, await dummy);
  return false;
}
