// AES-256-GCM sealing of buffer values (DESIGN "The buffer's promise": values are sealed, keys hold no PHI).
// Sealed layout: [format version 1 byte][IV 12 bytes][GCM tag 16 bytes][ciphertext]. The AAD is the
// record's key, so a sealed value copied under another key (or into another sublevel) fails to open.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { GatewayError } from '../errors.ts';

export const SEAL_FORMAT_VERSION = 1;
const IV_BYTES = 12; // NIST SP 800-38D §8.2.2: 96-bit random IVs
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;
const KEY_BYTES = 32;

/**
 * Used when GW_BUFFER_KEY is absent, so a developer's laptop starts without ceremony. It is public
 * (it is in this file): the caller must log a loud warning, and a production gateway must never use it.
 */
export const DEVELOPMENT_BUFFER_KEY: Buffer = Buffer.from('d3v3l0pm3nt-0nly-n0t-f0r-PHI-!!!', 'latin1');

/** Parse GW_BUFFER_KEY: 64 hex characters or base64 (standard or url-safe) of exactly 32 bytes. */
export function parseBufferKey(text: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === KEY_BYTES) return bytes;
    // Never echo the key itself, not even a wrong one.
    throw new GatewayError('GW_ERR_BUFFER_KEY', [`base64 decodes to ${bytes.length} bytes`]);
  }
  throw new GatewayError('GW_ERR_BUFFER_KEY', [`neither 64 hex characters nor base64 (${trimmed.length} characters)`]);
}

// Random IVs drawn in bulk: one randomFillSync per 4096 seals instead of one per value.
const IV_POOL_SIZE = IV_BYTES * 4096;
const ivPool = Buffer.allocUnsafe(IV_POOL_SIZE);
let ivOffset = IV_POOL_SIZE;

function nextIv(): Buffer {
  if (ivOffset + IV_BYTES > IV_POOL_SIZE) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

/** Checks the key length once, so a bad key fails at construction and not on the first reading. */
export function assertBufferKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
    throw new GatewayError('GW_ERR_BUFFER_KEY', [`key is ${Buffer.isBuffer(key) ? key.length : typeof key} bytes`]);
  }
}

/** Seal `plaintext` under `key`, bound to `aad` (the record's full key). Synchronous on purpose: hot path. */
export function seal(key: Buffer, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + plaintext.length);
  out[0] = SEAL_FORMAT_VERSION;
  const iv = nextIv();
  iv.copy(out, 1);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  // GCM is a stream mode: update() returns exactly as many bytes as it was given.
  const body = cipher.update(plaintext);
  body.copy(out, HEADER_BYTES);
  cipher.final();
  cipher.getAuthTag().copy(out, 1 + IV_BYTES);
  return out;
}

/**
 * Open a sealed value. Throws GW_ERR_BUFFER_DECRYPT when the key is wrong, the value was tampered with
 * or moved to another key. `label` names the record in the error (never its content).
 */
export function unseal(key: Buffer, aad: Uint8Array, sealed: Uint8Array, label: string): Buffer {
  if (sealed.length < HEADER_BYTES || sealed[0] !== SEAL_FORMAT_VERSION) {
    throw new GatewayError('GW_ERR_BUFFER_DECRYPT', [`${label} (unknown seal format ${sealed[0] ?? 'empty'})`]);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(1 + IV_BYTES, HEADER_BYTES));
    const body = decipher.update(sealed.subarray(HEADER_BYTES));
    decipher.final();
    return body;
  } catch (cause) {
    throw new GatewayError('GW_ERR_BUFFER_DECRYPT', [label], { cause });
  }
}

/** Bytes a sealed value adds on top of its plaintext. */
export const SEAL_OVERHEAD_BYTES = HEADER_BYTES;
