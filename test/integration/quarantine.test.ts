// Readings of an unbound device wait in quarantine (durably, acknowledged) and go out when a binding appears.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heartRateReading, postReading, startGatewayWithReceiver, startReceiver, startTestGateway, waitFor } from '../support/harness.ts';

type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

describe('quarantine for unbound devices', () => {
  let gateway: TestGateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  let stop: () => Promise<void>;

  before(async () => {
    ({ gateway, receiver, stop } = await startGatewayWithReceiver('quarantine'));
  });

  after(() => stop());

  it('holds a reading from an unbound device and releases it to the EHR when the device is bound', async () => {
    const res = await postReading(gateway.url, heartRateReading(7, { deviceId: 'kiosk-9' }));
    assert.equal(res.status, 202);
    assert.deepEqual(res.json.observations, []);
    assert.ok((res.json.quarantined as { id: string }).id);
    assert.equal(gateway.buffer.stats().quarantined, 1);

    const unauthorized = await fetch(`${gateway.url}/v1/bindings/kiosk-9`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patient: { mrn: 'MRN0009', system: 'urn:oid:1.2.3.4' } }),
    });
    assert.equal(unauthorized.status, 401, 'the admin API needs its token');
    assert.equal(gateway.buffer.stats().quarantined, 1);

    const bound = await fetch(`${gateway.url}/v1/bindings/kiosk-9`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-admin-token' },
      body: JSON.stringify({ patient: { mrn: 'MRN0009', system: 'urn:oid:1.2.3.4' } }),
    });
    assert.equal(bound.status, 200);
    const report = (await bound.json()) as { release: { released: number; observations: number } };
    assert.deepEqual({ released: report.release.released, observations: report.release.observations }, { released: 1, observations: 1 });
    assert.equal(gateway.buffer.stats().quarantined, 0);

    const message = await waitFor('the released reading at the EHR', () => receiver.messages.find((m) => m.pid[3]?.startsWith('MRN0009')));
    assert.equal(message.obx[0]![3]!.split('^')[0], '8867-4');

    const later = await postReading(gateway.url, heartRateReading(8, { deviceId: 'kiosk-9' }));
    assert.equal((later.json.observations as unknown[]).length, 1, 'the binding holds for later readings');
  });
});
