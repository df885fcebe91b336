import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../config.ts';
import { GatewayError } from '../../errors.ts';

const HASH = 'ab'.repeat(32);

describe('access-control configuration', () => {
  it('GW_KIOSK_TOKENS sets kiosk tokens as id:hash pairs', () => {
    const config = parseConfig({}, { GW_KIOSK_TOKENS: `lobby:${HASH}, room-2:${HASH.toUpperCase().replace(/^AB/, 'cd')}` });
    assert.deepEqual(config.kiosk.tokens, [{ id: 'lobby', tokenHash: HASH }, { id: 'room-2', tokenHash: 'cd' + HASH.slice(2) }]);
  });

  it('a kiosk token hash that is not SHA-256 hex is refused, naming the key and the env variable', () => {
    assert.throws(
      () => parseConfig({}, { GW_KIOSK_TOKENS: 'lobby:secret-token' }),
      (err: GatewayError) => err.code === 'GW_ERR_CONFIG_INVALID' && /kiosk\.tokens\[0\]\.tokenHash \(from GW_KIOSK_TOKENS\): the SHA-256/.test(err.message),
    );
  });

  it('an admin.users password that is not a gw hash-password hash is refused', () => {
    assert.throws(
      () => parseConfig({ admin: { users: [{ name: 'lead', role: 'admin', passwordHash: 'hunter2' }] } }),
      (err: GatewayError) => /admin\.users\[0\]\.passwordHash: not a `gw hash-password` hash/.test(err.message) && !err.message.includes('hunter2'),
    );
  });

  it('protections are off by default and GW_PROTECT_METRICS turns /metrics protection on', () => {
    const config = parseConfig({});
    assert.deepEqual([config.http.protectMetrics, config.http.protectHealth, config.http.protectStatus], [false, false, false]);
    assert.equal(parseConfig({}, { GW_PROTECT_METRICS: '1' }).http.protectMetrics, true);
  });
});
