// The Balena dashboard shows the container's stdout/stderr: at GW_LOG_LEVEL=info every line must be one JSON
// object, carry no colour codes, and hold no PHI — no MRN, encounter id, patient name or clinical value —
// through a realistic day: readings, a visit, quarantine, a rejected (AR) reading, a binding by the admin API.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { freePort, postReading, spawnGateway, startReceiver, tempDir, waitFor, writeConfigFile, type GatewayChild } from '../support/harness.ts';

const ADMIN = 'phi-test-admin-token';
const PHI = {
  boundMrn: 'PHIMRN515099',
  readingMrn: 'PHIMRN730021',
  visitMrn: 'PHIMRN662107',
  rejectedMrn: 'PHIMRN441044',
  adminBoundMrn: 'PHIMRN990288',
  encounterId: 'ENCPHI884213',
  family: 'Quixotemarchbanks',
  given: 'Zebulon',
  birthDate: '1931-07-04',
};
/** Distinctive clinical values, each with its metric: none may appear in a log line as a number beside its metric or unit. */
const VALUES = { 'heart-rate': 117, 'bp-systolic': 143, 'bp-diastolic': 91, 'body-weight': 83.7, spo2: 93 } as const;

let n = 0;
function reading(deviceId: string, metric: keyof typeof VALUES, extra: Record<string, unknown> = {}): Record<string, unknown> {
  n += 1;
  const units = { 'heart-rate': '/min', 'bp-systolic': 'mm[Hg]', 'bp-diastolic': 'mm[Hg]', 'body-weight': 'kg', spo2: '%' } as const;
  const components =
    metric === 'bp-systolic' || metric === 'bp-diastolic'
      ? [
          { metric: 'bp-systolic', value: VALUES['bp-systolic'], unit: units['bp-systolic'] },
          { metric: 'bp-diastolic', value: VALUES['bp-diastolic'], unit: units['bp-diastolic'] },
        ]
      : [{ metric, value: VALUES[metric], unit: units[metric] }];
  return { deviceId, measuredAt: new Date(Date.UTC(2026, 10, 23, 9, 0, 0) + n * 1000).toISOString(), components, ...extra };
}

const admin = (url: string, path: string, method = 'GET', body?: unknown): Promise<Response> =>
  fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('logs in the Balena dashboard', () => {
  const tmp = tempDir('phi-logs');
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gw: GatewayChild;
  const streams = { stdout: '', stderr: '' };

  before(async () => {
    const mllpPort = await freePort();
    // AR (HL7 v2.5.1 table 0008: application reject) for the one patient whose reading must be dead-lettered
    receiver = await startReceiver(mllpPort, (_id, _count, text) => (text.includes(PHI.rejectedMrn) ? 'AR' : 'AA'));
    const file = writeConfigFile(tmp.dir, {
      site: { id: 'phi-test' },
      dataDir: join(tmp.dir, 'data'),
      http: { host: '127.0.0.1', port: await freePort() },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port: mllpPort, receivingApplication: 'EHR', receivingFacility: 'CLINIC', ackTimeoutMs: 2000, connectTimeoutMs: 500 }],
      bindings: [{ device: 'kiosk-1', patient: { mrn: PHI.boundMrn, system: 'urn:oid:1.2.3.4' } }],
      dispatch: { backoffInitialMs: 20, backoffMaxMs: 200 },
    });
    gw = spawnGateway(file, { GW_LOG_LEVEL: 'info', GW_ADMIN_TOKEN: ADMIN, GW_SIMULATE: '0' });
    gw.child.stdout!.on('data', (c: Buffer) => (streams.stdout += c.toString()));
    gw.child.stderr!.on('data', (c: Buffer) => (streams.stderr += c.toString()));
  });

  after(async () => {
    if (gw.child.exitCode === null && gw.child.signalCode === null) {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
    await receiver?.stop();
    tmp.cleanup();
  });

  it('a day of readings, a visit, quarantine, a rejected reading and a binding logs one JSON object per line and no PHI', async () => {
    const url = await gw.url;

    // a bound kiosk; a reading naming its patient; a blood-pressure panel
    assert.equal((await postReading(url, reading('kiosk-1', 'heart-rate'))).status, 202);
    assert.equal((await postReading(url, reading('kiosk-1', 'body-weight', { patient: { mrn: PHI.readingMrn } }))).status, 202);
    assert.equal((await postReading(url, reading('kiosk-1', 'bp-systolic'))).status, 202);
    // refused readings: out of range, a wrong unit, a bad shape carrying an MRN
    assert.equal((await postReading(url, { ...reading('kiosk-1', 'heart-rate'), components: [{ metric: 'heart-rate', value: 391, unit: '/min' }] })).status, 400);
    assert.equal((await postReading(url, { ...reading('kiosk-1', 'spo2'), components: [{ metric: 'spo2', value: 93, unit: 'mmHg' }] })).status, 400);
    assert.equal((await postReading(url, { deviceId: 'kiosk-1', patient: { mrn: PHI.readingMrn, nickname: PHI.given }, components: [] })).status, 400);

    // a visit on a second kiosk: readings take its patient and encounter
    const visit = await fetch(`${url}/v1/visits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ encounterId: PHI.encounterId, deviceId: 'kiosk-2', patient: { mrn: PHI.visitMrn } }),
    });
    assert.equal(visit.status, 201);
    const visitId = ((await visit.json()) as { id: string }).id;
    assert.equal((await postReading(url, reading('kiosk-2', 'spo2'))).status, 202);
    assert.equal((await postReading(url, reading('kiosk-2', 'spo2', { encounterId: 'ENCPHI-OTHER-1' }))).status, 409);
    assert.equal((await fetch(`${url}/v1/visits/${visitId}/close`, { method: 'POST' })).status, 200);

    // quarantine: demographics no roster entry matches, and an unbound kiosk
    const byName = await postReading(url, reading('kiosk-3', 'heart-rate', { patient: { name: { family: PHI.family, given: PHI.given }, birthDate: PHI.birthDate } }));
    assert.equal(byName.status, 202);
    assert.ok(byName.json.quarantined, 'no roster match: quarantined');
    const unbound = await postReading(url, reading('kiosk-9', 'heart-rate'));
    assert.ok(unbound.json.quarantined);

    // the EHR rejects one patient's reading with AR: dead-lettered
    assert.equal((await postReading(url, reading('kiosk-1', 'heart-rate', { patient: { mrn: PHI.rejectedMrn } }))).status, 202);

    // a field tech binds the unbound kiosk; its quarantined reading is released
    const bound = await admin(url, '/v1/bindings/kiosk-9', 'PUT', { patient: { mrn: PHI.adminBoundMrn, system: 'urn:oid:1.2.3.4' } });
    assert.equal(bound.status, 200);

    await waitFor('every accepted reading at the receiver', () => receiver.messages.filter((m) => m.ackCode === 'AA').length >= 5);
    await waitFor('the AR reading dead-lettered', async () => {
      const res = await admin(url, '/v1/dead-letters/ehr');
      return ((await res.json()) as { deadLetters: unknown[] }).deadLetters.length === 1;
    });

    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);

    const lines = `${streams.stdout}${streams.stderr}`.split('\n').filter((l) => l !== '');
    assert.ok(lines.length > 10, `the gateway logged the day (${lines.length} lines)`);
    assert.equal(streams.stderr, '', 'nothing on stderr at info');
    for (const line of lines) {
      assert.doesNotMatch(line, /\x1b\[/, 'no ANSI colour codes');
      const parsed = JSON.parse(line) as Record<string, unknown>; // throws on a line that is not JSON
      assert.ok(typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed), 'one JSON object per line');
      assert.equal(typeof parsed.msg, 'string');
      assert.ok(['info', 'warn', 'error', 'fatal'].includes(String(parsed.level)), `level ${String(parsed.level)}`);
      for (const [what, value] of Object.entries(PHI)) assert.ok(!line.includes(value), `${what} (${value}) leaked in: ${line}`);
      assert.ok(!line.includes('ENCPHI-OTHER-1'), `the other encounter id leaked in: ${line}`);
      for (const [metric, value] of [...Object.entries(VALUES), ['heart-rate', 391]] as Array<[string, number]>) {
        const v = String(value).replace('.', '\\.');
        const beside = new RegExp(`(${metric}|value|valueQuantity)[^{}\\d]{0,40}[":\\s]${v}\\b(?![-:.\\d])|\\b${v}\\s*(/min|mm\\[Hg\\]|mmHg|kg|%)`);
        assert.doesNotMatch(line, beside, `${metric} value ${value} leaked in: ${line}`);
      }
    }
  });
});
