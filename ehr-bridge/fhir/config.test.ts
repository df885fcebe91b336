import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../gateway/config.ts';
import { parseFhirDestinationConfig, resolveSecret } from './config.ts';

const base = { id: 'cloud', type: 'fhir', baseUrl: 'https://fhir.example.org/R4/' };

describe('FHIR destination configuration', () => {
  it('takes the README example and fills the defaults', () => {
    const r = parseFhirDestinationConfig({
      ...base,
      auth: { type: 'client_credentials', tokenUrl: 'https://auth.example.org/token', clientId: 'hub-17', clientSecret: 'x' },
      batchSize: 100,
    });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
    assert.equal(r.value.baseUrl, 'https://fhir.example.org/R4', 'trailing slash dropped');
    assert.equal(r.value.concurrency, 1);
    assert.equal(r.value.bundleType, 'auto');
    assert.equal(r.value.requestTimeoutMs, 30_000);
    assert.deepEqual(r.value.resources, { device: false, patient: false });
  });

  it('takes every auth type of the contract', () => {
    for (const auth of [
      { type: 'none' },
      { type: 'bearer', tokenEnv: 'GW_FHIR_TOKEN' },
      { type: 'smart_backend', tokenUrl: 'https://a/token', clientId: 'c', privateKeyFile: '/k.pem', kid: 'k1', alg: 'ES384', jku: 'https://a/jwks' },
    ]) {
      const r = parseFhirDestinationConfig({ ...base, auth });
      assert.ok(r.ok, `${auth.type}: ${JSON.stringify(!r.ok && r.issues)}`);
    }
  });

  it('refuses a secret given twice or not at all, and unknown keys, naming the path', () => {
    const twice = parseFhirDestinationConfig({ ...base, auth: { type: 'bearer', token: 'a', tokenFile: '/t' } });
    assert.ok(!twice.ok && twice.issues.some((i) => i.path === 'auth.token'));
    const none = parseFhirDestinationConfig({ ...base, auth: { type: 'client_credentials', tokenUrl: 'https://a/t', clientId: 'c' } });
    assert.ok(!none.ok && none.issues.some((i) => i.path === 'auth.clientSecret'));
    const typo = parseFhirDestinationConfig({ ...base, batchsize: 5 });
    assert.ok(!typo.ok);
    const alg = parseFhirDestinationConfig({ ...base, auth: { type: 'smart_backend', tokenUrl: 'https://a/t', clientId: 'c', privateKeyFile: 'k', kid: 'k', alg: 'HS256' } });
    assert.ok(!alg.ok && alg.issues.some((i) => i.path === 'auth.alg'));
  });

  it('refuses a batch size above 1000 and a client certificate without its key', () => {
    assert.equal(parseFhirDestinationConfig({ ...base, batchSize: 5000 }).ok, false);
    assert.equal(parseFhirDestinationConfig({ ...base, tls: { certFile: '/c.pem' } }).ok, false);
  });

  it('is a destination type of the gateway config, and GW_FHIR_BASE_URL creates the "cloud" destination', () => {
    const cfg = parseConfig({ destinations: [] }, { GW_FHIR_BASE_URL: 'https://fhir.example.org/R4', GW_FHIR_BATCH_SIZE: '250' });
    const cloud = cfg.destinations.find((d) => d.id === 'cloud');
    assert.equal(cloud?.type, 'fhir');
    assert.equal(cloud?.type === 'fhir' && cloud.batchSize, 250);
    assert.throws(() => parseConfig({ destinations: [{ ...base, type: 'fihr' }] }), /expected one of: mllp, mqtt, fhir/);
  });

  it('reads a secret inline, from a file or from the environment, and never puts it in an issue', () => {
    assert.deepEqual(resolveSecret({ token: 'abc' }, 'token', 'auth'), { ok: true, value: 'abc' });
    assert.deepEqual(resolveSecret({ tokenFile: '/run/secrets/t' }, 'token', 'auth', {}, () => 'from-file\n'), { ok: true, value: 'from-file' });
    assert.deepEqual(resolveSecret({ tokenEnv: 'T' }, 'token', 'auth', { T: 'from-env' }), { ok: true, value: 'from-env' });
    const missing = resolveSecret({ tokenEnv: 'T' }, 'token', 'auth', {});
    assert.ok(!missing.ok && missing.issues[0]!.code === 'GW_ERR_FHIR_CONFIG' && missing.issues[0]!.message.includes('T is not set'));
    const unreadable = resolveSecret({ clientSecretFile: '/nope' }, 'clientSecret', 'auth', {}, () => {
      throw new Error('ENOENT: /nope');
    });
    assert.ok(!unreadable.ok && unreadable.issues[0]!.path === 'auth.clientSecretFile');
  });
});
