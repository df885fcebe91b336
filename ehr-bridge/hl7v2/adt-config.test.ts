import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../gateway/config.ts';
import { GatewayError } from '../../gateway/errors.ts';

describe('ADT listener configuration', () => {
  it('GW_MLLP_LISTEN_PORT turns the listener on with its defaults, and roster.required defaults to false', () => {
    const config = parseConfig({}, { GW_MLLP_LISTEN_PORT: '2576' });
    assert.equal(config.mllp?.listen.port, 2576);
    assert.equal(config.mllp?.listen.host, '0.0.0.0');
    assert.equal(config.mllp?.listen.maxFrameBytes, 1024 * 1024);
    assert.equal(config.roster.required, false);
    assert.equal(parseConfig({}).mllp, undefined);
    assert.equal(parseConfig({}, { GW_ROSTER_REQUIRED: '1' }).roster.required, true);
  });

  it('a bad listener setting names its path', () => {
    const bad = (raw: unknown, env: Record<string, string> = {}): string => {
      try {
        parseConfig(raw, env);
      } catch (err) {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'GW_ERR_CONFIG_INVALID');
        return err.message;
      }
      throw new Error('expected the config to be refused');
    };
    assert.match(bad({}, { GW_MLLP_LISTEN_PORT: '99999' }), /mllp\.listen\.port \(from GW_MLLP_LISTEN_PORT\)/);
    assert.match(bad({ mllp: { listen: { port: 1, tls: { certFile: 'c', keyFile: 'k', requestCert: true } } } }), /mllp\.listen\.tls\.caFile/);
    assert.match(bad({ mllp: { listen: { port: 1, prot: 2 } } }), /unknown key\(s\) "prot"/);
  });
});
