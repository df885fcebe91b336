// Sealing of buffer values: the key format operators type in, and what a sealed value refuses to do.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DEVELOPMENT_BUFFER_KEY, parseBufferKey, seal, unseal } from './seal.ts';

describe('buffer key and sealing', () => {
  const key = randomBytes(32);

  it('GW_BUFFER_KEY is accepted as 64 hex characters or as base64 of 32 bytes', () => {
    assert.deepEqual(parseBufferKey(key.toString('hex')), key);
    assert.deepEqual(parseBufferKey(key.toString('base64')), key);
    assert.deepEqual(parseBufferKey(` ${key.toString('base64url')}\n`), key);
    assert.equal(DEVELOPMENT_BUFFER_KEY.length, 32);
  });

  it('a key of the wrong size or shape is refused without echoing it', () => {
    for (const bad of ['', 'abc', key.subarray(0, 16).toString('hex'), randomBytes(31).toString('base64'), 'not a key at all!']) {
      assert.throws(() => parseBufferKey(bad), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'GW_ERR_BUFFER_KEY');
        if (bad.length > 3) assert.ok(!err.message.includes(bad.trim()), 'the message must not contain the key');
        return true;
      });
    }
  });

  it('a sealed value opens only with its key and under its own record key', () => {
    const aad = Buffer.from('!log!\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0001');
    const sealed = seal(key, aad, Buffer.from('{"mrn":"MRN-1"}'));
    assert.equal(sealed[0], 1, 'format version byte');
    assert.equal(sealed.length, 1 + 12 + 16 + 15);
    assert.equal(unseal(key, aad, sealed, 'log/1').toString(), '{"mrn":"MRN-1"}');
    assert.notDeepEqual(seal(key, aad, Buffer.from('{"mrn":"MRN-1"}')), sealed, 'a fresh IV each time');
    assert.throws(() => unseal(randomBytes(32), aad, sealed, 'log/1'), { code: 'GW_ERR_BUFFER_DECRYPT' });
    assert.throws(() => unseal(key, Buffer.from('!log!other'), sealed, 'log/1'), { code: 'GW_ERR_BUFFER_DECRYPT' });
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1] = (tampered.at(-1) as number) ^ 1;
    assert.throws(() => unseal(key, aad, tampered, 'log/1'), { code: 'GW_ERR_BUFFER_DECRYPT' });
    assert.throws(() => unseal(key, aad, Buffer.from([9, 1, 2]), 'log/1'), { code: 'GW_ERR_BUFFER_DECRYPT' });
  });
});
