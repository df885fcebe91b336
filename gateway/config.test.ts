import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, parseConfig, readSecrets, type GatewayConfig } from './config.ts';
import { GatewayError } from './errors.ts';

/** Destinations are a union (mllp | mqtt); these tests read MLLP fields. */
const mllp = (d: GatewayConfig['destinations'][number] | undefined): { host?: string; port?: number } => (d?.type === 'mllp' ? d : {});

describe('configuration', () => {
  it('runs the demo with no file: a simulated kiosk bound to a demo patient and one MLLP destination', () => {
    const { config, source } = loadConfig({});
    assert.equal(source, 'built-in default');
    assert.equal(config.simulate.enabled, true);
    assert.equal(config.dataDir, './data');
    assert.equal(config.http.port, 8080);
    assert.deepEqual(config.destinations.map((d) => [d.id, d.type, mllp(d).host, mllp(d).port]), [['ehr', 'mllp', '127.0.0.1', 2575]]);
    assert.equal(config.bindings[0]?.device, config.simulate.deviceId);
  });

  it('lets environment variables override single values, as Balena passes them', () => {
    const { config } = loadConfig({ GW_DATA_DIR: '/data', GW_HTTP_PORT: '9090', GW_MLLP_HOST: 'ehr.local', GW_MLLP_PORT: '6661', GW_SIMULATE: '0', GW_LOG_LEVEL: 'debug' });
    assert.equal(config.dataDir, '/data');
    assert.equal(config.http.port, 9090);
    assert.equal(mllp(config.destinations[0]).host, 'ehr.local');
    assert.equal(mllp(config.destinations[0]).port, 6661);
    assert.equal(config.simulate.enabled, false);
    assert.equal(config.log.level, 'debug');
  });

  it('creates the "ehr" destination from GW_MLLP_HOST when the file has none', () => {
    const config = parseConfig({ site: { id: 'c1' } }, { GW_MLLP_HOST: '10.0.0.5' });
    assert.deepEqual(config.destinations.map((d) => [d.id, mllp(d).host, mllp(d).port]), [['ehr', '10.0.0.5', 2575]]);
  });

  it('accepts the documented contract as written in the README', () => {
    const config = parseConfig({
      site: { id: 'clinic-1' },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port: 2575, receivingApplication: 'EHR', receivingFacility: 'CLINIC' }],
      bindings: [{ device: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
    });
    assert.equal(config.simulate.enabled, false, 'a real config does not simulate unless asked');
    assert.equal(config.bindings[0]?.patient.mrn, 'MRN0001');
  });

  it('collects every problem with its path before failing', () => {
    try {
      parseConfig({ site: { id: 'ok' }, destinations: [{ id: 'ehr', type: 'fhirz' }], bindings: [{ device: 'a', patient: { mrn: '' } }], typo: 1 });
      assert.fail('should throw');
    } catch (err) {
      assert.ok(err instanceof GatewayError && err.code === 'GW_ERR_CONFIG_INVALID');
      assert.match(err.message, /destinations\[0\]\.type: unknown destination type; expected one of: mllp/);
      assert.match(err.message, /bindings\[0\]\.patient\.mrn/);
      assert.match(err.message, /unknown key\(s\) "typo"/);
    }
  });

  it('refuses the same device bound twice and the same destination id twice', () => {
    const dest = { id: 'ehr', type: 'mllp', receivingApplication: 'EHR', receivingFacility: 'C' };
    assert.throws(
      () => parseConfig({ destinations: [dest, dest], bindings: [{ device: 'a', patient: { mrn: '1' } }, { device: 'a', patient: { mrn: '2' } }] }),
      (err: unknown) => err instanceof GatewayError && /duplicate destination id "ehr"/.test(err.message) && /device "a" is bound twice/.test(err.message),
    );
  });
});

describe('configuration from fleet and device variables', () => {
  const file = { site: { id: 'c1' }, destinations: [{ id: 'ehr', type: 'mllp', host: 'file.local', port: 2575, receivingApplication: 'EHR', receivingFacility: 'CLINIC' }] };
  const invalid = (fn: () => unknown, pattern: RegExp): void =>
    assert.throws(fn, (err: unknown) => err instanceof GatewayError && err.code === 'GW_ERR_CONFIG_INVALID' && pattern.test(err.message));

  it('sets the TLS and ACK keys of an MLLP destination through GW_CONFIG__ variables', () => {
    const config = parseConfig(file, {
      GW_CONFIG__destinations__ehr__tls__caFile: '/data/ca.pem',
      GW_CONFIG__destinations__ehr__tls__servername: 'ehr.hospital.example',
      GW_CONFIG__destinations__ehr__ackMode: 'original',
      GW_CONFIG__destinations__ehr__ackTimeoutMs: '15000',
    });
    const ehr = config.destinations[0];
    assert.ok(ehr?.type === 'mllp');
    assert.equal(ehr.tls?.caFile, '/data/ca.pem');
    assert.equal(ehr.tls?.servername, 'ehr.hospital.example');
    assert.equal(ehr.ackMode, 'original');
    assert.equal(ehr.ackTimeoutMs, 15000, 'a number in a variable becomes a number');
  });

  it('creates a FHIR destination whose auth secret comes from a file, all by variables', () => {
    const config = parseConfig(file, {
      GW_CONFIG__destinations__cloud__type: 'fhir',
      GW_CONFIG__destinations__cloud__baseUrl: 'https://fhir.example/r4',
      GW_CONFIG__destinations__cloud__auth: '{"type":"client_credentials","tokenUrl":"https://auth.example/token","clientId":"gw","clientSecretFile":"/run/secrets/fhir"}',
    });
    const cloud = config.destinations.find((d) => d.id === 'cloud');
    assert.ok(cloud?.type === 'fhir');
    assert.equal(cloud.auth.type, 'client_credentials');
    assert.equal('clientSecretFile' in cloud.auth ? cloud.auth.clientSecretFile : undefined, '/run/secrets/fhir');
  });

  it('addresses list elements by index and takes text that merely looks like a number as text where text is expected', () => {
    const config = parseConfig(file, { GW_CONFIG__destinations__0__port: '6661', GW_CONFIG__site__name: '0042', GW_CONFIG__bindings__kiosk7__patient: '{"mrn":"12345"}' });
    assert.equal(mllp(config.destinations[0]).port, 6661);
    assert.equal(config.site.name, '0042');
    assert.deepEqual(config.bindings.map((b) => [b.device, b.patient.mrn]), [['kiosk7', '12345']]);
  });

  it('names the variable and the config path when a variable is wrong', () => {
    invalid(() => parseConfig(file, { GW_CONFIG__destinations__ehr__ackTimeoutMs: 'soon' }), /destinations\[0\]\.ackTimeoutMs \(from GW_CONFIG__destinations__ehr__ackTimeoutMs\)/);
    invalid(() => parseConfig(file, { GW_CONFIG__http__protectMetricz: 'true' }), /http \(from GW_CONFIG__http__protectMetricz\): unknown key\(s\) "protectMetricz"/);
    invalid(() => parseConfig(file, { GW_CONFIG__destinations__5__port: '1' }), /GW_CONFIG__destinations__5__port: destinations has 1 element\(s\)/);
    invalid(() => parseConfig(file, { GW_CONFIG__site____id: 'x' }), /GW_CONFIG__site____id: an empty path segment/);
    invalid(() => parseConfig(file, { GW_HTTP_PORT: 'eighty' }), /http\.port \(from GW_HTTP_PORT\)/);
  });

  it('lets a friendly variable win over the generic form, and both win over the file', () => {
    const both = parseConfig(file, { GW_MLLP_HOST: 'device.local', GW_CONFIG__destinations__ehr__host: 'fleet.local' });
    assert.equal(mllp(both.destinations[0]).host, 'device.local');
    const generic = parseConfig(file, { GW_CONFIG__destinations__ehr__host: 'fleet.local' });
    assert.equal(mllp(generic.destinations[0]).host, 'fleet.local');
  });

  it('reads a whole config document from GATEWAY_CONFIG_YAML or GATEWAY_CONFIG_JSON, still under the variables', () => {
    const yaml = 'site:\n  id: yaml-site\ndestinations:\n  - { id: ehr, type: mllp, host: y.local, receivingApplication: EHR, receivingFacility: C }\n';
    const fromYaml = loadConfig({ GATEWAY_CONFIG_YAML: yaml, GW_MLLP_PORT: '7000' });
    assert.equal(fromYaml.source, 'GATEWAY_CONFIG_YAML');
    assert.equal(fromYaml.config.site.id, 'yaml-site');
    assert.equal(mllp(fromYaml.config.destinations[0]).port, 7000);
    const fromJson = loadConfig({ GATEWAY_CONFIG_JSON: JSON.stringify(file) });
    assert.equal(mllp(fromJson.config.destinations[0]).host, 'file.local');
    invalid(() => loadConfig({ GATEWAY_CONFIG_JSON: '{site: 1' }), /GATEWAY_CONFIG_JSON: /);
    invalid(() => loadConfig({ GATEWAY_CONFIG_JSON: '{}', GATEWAY_CONFIG_YAML: 'a: 1' }), /set only one of GATEWAY_CONFIG_YAML, GATEWAY_CONFIG_JSON/);
    invalid(() => loadConfig({ GATEWAY_CONFIG_YAML: 'site:\n  idd: x\n' }), /GATEWAY_CONFIG_YAML: .*site: unknown key/);
  });
});

describe('secrets from variables or files', () => {
  const files: Record<string, string> = { '/run/secrets/key': `${'b'.repeat(64)}\n`, '/run/secrets/empty': '\n' };
  const read = (path: string): string => {
    if (path in files) return files[path]!;
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  };

  it('reads GW_BUFFER_KEY_FILE and GW_ADMIN_TOKEN_FILE with the trailing newline trimmed', () => {
    const secrets = readSecrets({ GW_BUFFER_KEY_FILE: '/run/secrets/key', GW_ADMIN_TOKEN: 'tok' }, read);
    assert.deepEqual(secrets, { ok: true, value: { bufferKey: 'b'.repeat(64), adminToken: 'tok' } });
  });

  it('refuses a secret given both ways, and an unreadable or empty file, naming the variable and never the secret', () => {
    const both = readSecrets({ GW_BUFFER_KEY: 'c'.repeat(64), GW_BUFFER_KEY_FILE: '/run/secrets/key' }, read);
    assert.ok(!both.ok);
    assert.equal(both.issues[0]?.code, 'GW_ERR_CONFIG_SECRET');
    assert.match(both.issues[0]!.message, /both GW_BUFFER_KEY and GW_BUFFER_KEY_FILE are set/);
    const missing = readSecrets({ GW_ADMIN_TOKEN_FILE: '/run/secrets/nope', GW_BUFFER_KEY_FILE: '/run/secrets/empty' }, read);
    assert.ok(!missing.ok);
    assert.deepEqual(missing.issues.map((i) => i.path), ['GW_BUFFER_KEY_FILE', 'GW_ADMIN_TOKEN_FILE']);
    assert.match(missing.issues[1]!.message, /GW_ADMIN_TOKEN_FILE: cannot read \/run\/secrets\/nope \(ENOENT\)/);
    for (const i of [...both.issues, ...missing.issues]) assert.doesNotMatch(i.message, /bbbb|cccc/);
  });
});
