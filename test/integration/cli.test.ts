// `gw decode` shows what a reading becomes without side effects; `gw sink mllp` answers like an EHR.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MllpDestination } from '../../ehr-bridge/hl7v2/mllp-destination.ts';
import { mllpDestinationSchema } from '../../ehr-bridge/hl7v2/config.ts';
import { normalize } from '../../gateway/normalize.ts';
import { parseKioskReading } from '../../device-drivers/kiosk/reading.ts';
import { ROOT, freePort, waitFor } from '../support/harness.ts';

function gw(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/gw.mjs'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('gw decode kiosk', () => {
  it('prints the Reading and the FHIR Observations it becomes', () => {
    const input = { deviceId: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' }, measuredAt: '2026-11-23T09:00:00Z', components: [{ metric: 'bp-systolic', value: 120, unit: 'mmHg' }, { metric: 'bp-diastolic', value: 80, unit: 'mmHg' }] };
    const run = gw(['decode', 'kiosk', JSON.stringify(input)]);
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as { reading: { deviceId: string }; observations: Array<{ code: { coding: Array<{ code: string }> }; component: unknown[]; subject: unknown }> };
    assert.equal(out.reading.deviceId, 'kiosk-1');
    assert.equal(out.observations.length, 1);
    assert.equal(out.observations[0]!.code.coding[0]!.code, '85354-9');
    assert.equal(out.observations[0]!.component.length, 2);
  });

  it('gives the same Observation id the gateway would (no hidden state)', () => {
    const input = { deviceId: 'kiosk-1', patient: { mrn: 'MRN0001' }, measuredAt: '2026-11-23T09:00:00Z', components: [{ metric: 'heart-rate', value: 64, unit: '/min' }] };
    const a = JSON.parse(gw(['decode', 'kiosk', JSON.stringify(input)]).stdout) as { observations: Array<{ id: string }> };
    const parsed = parseKioskReading(input, new Date());
    assert.ok(parsed.ok);
    const outcome = normalize(parsed.value, { siteId: 'demo-clinic', bindingFor: () => undefined, clockSkewToleranceMs: 300_000, defaultPatientSystem: 'urn:rpm-gateway:mrn' });
    assert.equal(outcome.kind, 'observations');
    assert.equal(a.observations[0]!.id, outcome.kind === 'observations' ? outcome.observations[0]!.id : '');
  });

  it('prints an error object and exits non-zero on bad input', () => {
    for (const [input, code] of [
      ['{not json', 'GW_ERR_MALFORMED_BODY'],
      [JSON.stringify({ deviceId: 'kiosk-1', patient: { mrn: 'M1' }, components: [{ metric: 'heart-rate', value: 'NaN', unit: '/min' }] }), 'GW_ERR_'],
      [JSON.stringify({ deviceId: 'kiosk-1', components: [{ metric: 'pulse', value: 60, unit: '/min' }] }), 'GW_ERR_UNKNOWN_METRIC'],
    ] as const) {
      const run = gw(['decode', 'kiosk', input]);
      assert.notEqual(run.status, 0);
      const out = JSON.parse(run.stdout) as { error: { code: string; message: string } };
      assert.ok(out.error.code.startsWith(code), `${input}: ${run.stdout}`);
      assert.ok(out.error.message.length > 0);
    }
  });
});

describe('gw sink mllp', () => {
  it('prints each ORU it receives and answers AA', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [join(ROOT, 'bin/gw.mjs'), 'sink', 'mllp', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    try {
      await waitFor('the sink to listen', () => err.includes('listening'));
      const parsed = parseKioskReading({ deviceId: 'kiosk-1', patient: { mrn: 'MRN0001' }, measuredAt: '2026-11-23T09:00:00Z', components: [{ metric: 'spo2', value: 97, unit: '%' }] }, new Date());
      assert.ok(parsed.ok);
      const outcome = normalize(parsed.value, { siteId: 's', bindingFor: () => undefined, clockSkewToleranceMs: 300_000, defaultPatientSystem: 'urn:rpm-gateway:mrn' });
      assert.equal(outcome.kind, 'observations');
      if (outcome.kind !== 'observations') return;
      const destination = new MllpDestination(
        mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp', host: '127.0.0.1', port, receivingApplication: 'EHR', receivingFacility: 'CLINIC' }),
        { siteId: 's' },
      );
      const [result] = await destination.send([{ seq: 1n, observation: outcome.observations[0]!, appendedAt: Date.now() }]);
      await destination.close();
      assert.equal(result!.kind, 'delivered');
      await waitFor('the ORU on stdout', () => out.includes('ORU^R01'));
      assert.match(out, /OBX\|1\|NM\|(2708-6|59408-5)\^/);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
