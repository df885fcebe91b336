import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, parseConfig, type GatewayConfig } from './config.ts';
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
