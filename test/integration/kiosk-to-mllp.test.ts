// End to end in one process: kiosk HTTP → normalize → LevelDB buffer → dispatch → MLLP → an
// independent receiver (@medplum/hl7's Hl7Server), with its ACKs steering the cursor.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heartRateReading, postReading, startGatewayWithReceiver, startReceiver, startTestGateway, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

/** OBX-3.1 (LOINC), OBX-5, OBX-6.1 of each OBX segment. */
function obxSummary(obx: string[][]): Array<{ loinc: string; value: string; unit: string }> {
  return obx.map((f) => ({ loinc: f[3]!.split('^')[0]!, value: f[5]!, unit: f[6]!.split('^')[0]! }));
}

describe('a reading from the kiosk reaches the EHR over MLLP', () => {
  let receiver: Receiver;
  let gateway: TestGateway;
  // The receiver answers by heart-rate value (OBX-5), so a test decides before it posts.
  const script = new Map<string, (count: number) => 'AA' | 'AE' | 'AR'>();
  const hrValue = (text: string): string => /OBX\|[^\r]*\|8867-4[^|]*\|[^|]*\|([^|]*)\|/.exec(text)?.[1] ?? '';

  let stop: () => Promise<void>;

  before(async () => {
    ({ gateway, receiver, stop } = await startGatewayWithReceiver('e2e', (_controlId, count, text) => script.get(hrValue(text))?.(count) ?? 'AA'));
  });

  after(() => stop());

  it('arrives as ORU^R01 whose OBX carry the right LOINC codes, values and UCUM units, and the AA moves the cursor', async () => {
    const res = await postReading(gateway.url, {
      deviceId: 'kiosk-1',
      measuredAt: '2026-11-23T09:30:00+01:00',
      components: [
        { metric: 'bp-systolic', value: 128, unit: 'mm[Hg]' },
        { metric: 'bp-diastolic', value: 82, unit: 'mmHg' },
        { metric: 'heart-rate', value: 71, unit: '/min' },
        { metric: 'body-temperature', value: 98.6, unit: '[degF]' },
      ],
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const ids = (res.json.observations as Array<{ id: string }>).map((o) => o.id);
    assert.equal(ids.length, 3, 'blood pressure panel, heart rate, temperature');
    const controlIds = ids.map((id) => id.slice(0, 20));
    await waitFor('three ORU messages', () => controlIds.every((c) => receiver.messages.some((m) => m.controlId === c)));

    const byControl = new Map(receiver.messages.map((m) => [m.controlId, m]));
    const all = controlIds.map((c) => byControl.get(c)!);
    for (const m of all) {
      assert.match(m.text, /^MSH\|\^~\\&\|[^|]*\|[^|]*\|EHR\|CLINIC\|[^|]*\|\|ORU\^R01/);
      assert.equal(m.pid[3]!.split('^')[0], 'MRN0001');
    }
    const obx = all.flatMap((m) => obxSummary(m.obx));
    assert.deepEqual(
      obx.sort((a, b) => a.loinc.localeCompare(b.loinc)),
      [
        { loinc: '8310-5', value: '37', unit: 'Cel' },
        { loinc: '8462-4', value: '82', unit: 'mm[Hg]' },
        { loinc: '8480-6', value: '128', unit: 'mm[Hg]' },
        { loinc: '8867-4', value: '71', unit: '/min' },
      ],
    );
    await waitFor('the cursor to pass all three', () => gateway.buffer.stats().destinations[0]!.pending === 0);
  });

  it('retries an AE with the same control id until the receiver accepts it', async () => {
    script.set('188', (count) => (count < 3 ? 'AE' : 'AA'));
    const res = await postReading(gateway.url, { ...heartRateReading(1001), components: [{ metric: 'heart-rate', value: 188, unit: '/min' }] });
    assert.equal(res.status, 202);
    const controlId = (res.json.observations as Array<{ id: string }>)[0]!.id.slice(0, 20);
    const arrivals = await waitFor('a third attempt accepted', () => {
      const got = receiver.messages.filter((m) => m.controlId === controlId);
      return got.some((m) => m.ackCode === 'AA') && got;
    });
    assert.deepEqual(arrivals.map((m) => m.ackCode), ['AE', 'AE', 'AA']);
    await waitFor('the cursor to pass it', () => gateway.buffer.stats().destinations[0]!.pending === 0);
    assert.equal(gateway.buffer.stats().destinations[0]!.deadLetters, 0);
  });

  it('sends an AR to the dead-letter store with its reason, and the next reading still flows', async () => {
    script.set('199', () => 'AR');
    const rejected = await postReading(gateway.url, { ...heartRateReading(2001), components: [{ metric: 'heart-rate', value: 199, unit: '/min' }] });
    const rejectedId = (rejected.json.observations as Array<{ id: string }>)[0]!.id;
    const next = await postReading(gateway.url, heartRateReading(2002));
    const nextControl = (next.json.observations as Array<{ id: string }>)[0]!.id.slice(0, 20);
    await waitFor('the next reading delivered', () => receiver.messages.some((m) => m.controlId === nextControl && m.ackCode === 'AA'));
    const letters = await gateway.buffer.deadLetters('ehr');
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.observationId, rejectedId);
    assert.equal(letters[0]!.code, 'GW_ERR_MLLP_ACK_REJECT');
    assert.match(letters[0]!.reason, /AR/);
    assert.equal(receiver.messages.filter((m) => m.controlId === rejectedId.slice(0, 20)).length, 1, 'a rejected message is not resent');

    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    assert.match(metrics, /gateway_dispatch_rejected_total\{[^}]*destination="ehr"[^}]*\} 1/);
    assert.match(metrics, /gateway_dead_letters\{[^}]*destination="ehr"[^}]*\} 1/);
  });

  it('gives the same reading posted twice one Observation id and one delivery', async () => {
    const body = heartRateReading(3001);
    const first = await postReading(gateway.url, body);
    const second = await postReading(gateway.url, body);
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    const a = (first.json.observations as Array<{ id: string; status: string }>)[0]!;
    const b = (second.json.observations as Array<{ id: string; status: string }>)[0]!;
    assert.equal(a.id, b.id);
    assert.equal(a.status, 'stored');
    assert.equal(b.status, 'duplicate');
    const after = await postReading(gateway.url, heartRateReading(3002));
    const afterControl = (after.json.observations as Array<{ id: string }>)[0]!.id.slice(0, 20);
    await waitFor('a later reading delivered', () => receiver.messages.some((m) => m.controlId === afterControl));
    assert.equal(receiver.messages.filter((m) => m.controlId === a.id.slice(0, 20)).length, 1);
  });

  it('reports the destination, its backlog and last delivery on /v1/status and readiness on /readyz', async () => {
    const status = (await (await fetch(`${gateway.url}/v1/status`)).json()) as {
      destinations: Array<{ id: string; link: string; pending: number; lastDeliveryAt?: string; deadLetters: number }>;
    };
    const ehr = status.destinations.find((d) => d.id === 'ehr')!;
    assert.equal(ehr.link, 'connected');
    assert.equal(ehr.pending, 0);
    assert.ok(ehr.lastDeliveryAt);
    const ready = await fetch(`${gateway.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
  });
});
