// Dead-letter and quarantine operations: list with filters, replay chosen letters, discard with a reason
// (audited), discard a quarantined reading.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { heartRateReading, postReading, startGatewayWithReceiver, waitFor } from '../support/harness.ts';

const ADMIN = { authorization: 'Bearer test-admin-token' };
const api = async (url: string, path: string, init: { method?: string; body?: unknown } = {}) => {
  const res = await fetch(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...ADMIN, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};
type Letter = { destination: string; seq: string; observationId: string; deviceId: string; code: string; at: string };

describe('dead-letter and quarantine operations', () => {
  let ctx: Awaited<ReturnType<typeof startGatewayWithReceiver>>;
  let url: string;
  let accept = false; // the receiver refuses heart rates above 120 until a test says otherwise
  before(async () => {
    ctx = await startGatewayWithReceiver('ops', (_c, _n, text) => {
      const hr = Number(/OBX\|[^\r]*\|8867-4[^|]*\|[^|]*\|([^|]*)\|/.exec(text)?.[1]);
      return hr > 120 && !accept ? 'AR' : 'AA';
    });
    url = ctx.gateway.url;
    for (const [n, device] of [[1, 'kiosk-1'], [2, 'kiosk-1'], [3, 'kiosk-2']] as const) {
      const res = await postReading(url, heartRateReading(n, { deviceId: device, patient: { mrn: 'MRN0002' }, components: [{ metric: 'heart-rate', value: 120 + n, unit: '/min' }] }));
      assert.equal(res.status, 202);
    }
    await waitFor('three dead letters', async () => ((await api(url, '/v1/dead-letters')).json.deadLetters as Letter[]).length === 3);
  });
  after(() => ctx.stop());

  it('lists dead letters across destinations, filtered by device, code, destination and time', async () => {
    const all = (await api(url, '/v1/dead-letters')).json.deadLetters as Letter[];
    assert.deepEqual(all.map((l) => [l.destination, l.deviceId, l.code]), [
      ['ehr', 'kiosk-1', 'GW_ERR_MLLP_ACK_REJECT'],
      ['ehr', 'kiosk-1', 'GW_ERR_MLLP_ACK_REJECT'],
      ['ehr', 'kiosk-2', 'GW_ERR_MLLP_ACK_REJECT'],
    ]);
    assert.equal(((await api(url, '/v1/dead-letters?deviceId=kiosk-2')).json.deadLetters as Letter[]).length, 1);
    assert.equal(((await api(url, '/v1/dead-letters/ehr?code=GW_ERR_MLLP_ACK_ERROR')).json.deadLetters as Letter[]).length, 0);
    assert.equal(((await api(url, `/v1/dead-letters?since=${encodeURIComponent(all[0]!.at)}&limit=2`)).json.deadLetters as Letter[]).length, 2);
    assert.equal(((await api(url, '/v1/dead-letters?until=2000-01-01T00:00:00Z')).json.deadLetters as Letter[]).length, 0);
    const bad = await api(url, '/v1/dead-letters?since=yesterday');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'GW_ERR_INVALID_REQUEST');
    assert.equal((await api(url, '/v1/dead-letters?destination=nowhere')).status, 404);
  });

  it('replays one letter chosen by observation id and leaves the others', async () => {
    const [first] = (await api(url, '/v1/dead-letters?deviceId=kiosk-2')).json.deadLetters as Letter[];
    accept = true;
    const res = await api(url, '/v1/dead-letters/ehr/replay', { method: 'POST', body: { observationIds: [first!.observationId] } });
    assert.deepEqual(res.json, { replayed: 1 });
    await waitFor('the replayed letter delivered', () => ctx.receiver.messages.some((m) => m.controlId === first!.observationId.slice(0, 20) && m.ackCode === 'AA'));
    accept = false;
    assert.deepEqual(((await api(url, '/v1/dead-letters')).json.deadLetters as Letter[]).map((l) => l.deviceId), ['kiosk-1', 'kiosk-1']);
    assert.equal((await api(url, '/v1/dead-letters/ehr/replay', { method: 'POST', body: { seqs: ['x'] } })).status, 400);
  });

  it('discards a letter with a reason: gone from the list, kept in the log, audited with the reason', async () => {
    const letters = (await api(url, '/v1/dead-letters')).json.deadLetters as Letter[];
    const res = await api(url, '/v1/dead-letters/ehr/discard', { method: 'POST', body: { observationIds: [letters[0]!.observationId], reason: 'test reading taken by a nurse' } });
    assert.equal(res.status, 200);
    assert.equal(res.json.discarded, 1);
    assert.deepEqual(((await api(url, '/v1/dead-letters')).json.deadLetters as Letter[]).map((l) => l.seq), [letters[1]!.seq]);
    assert.equal(await ctx.gateway.buffer.lookup(letters[0]!.observationId), BigInt(letters[0]!.seq), 'the Observation stays in the log until retention');
    const trace = (await api(url, `/v1/trace/${letters[0]!.observationId}`)).json.events as Array<{ kind: string; actor: string; detail: Record<string, unknown> }>;
    const discarded = trace.find((e) => e.kind === 'discarded');
    assert.deepEqual([discarded?.actor, discarded?.detail.reason, discarded?.detail.what], ['admin', 'test reading taken by a nurse', 'dead-letter']);
    const nothing = await api(url, '/v1/dead-letters/ehr/discard', { method: 'POST', body: { reason: 'everything' } });
    assert.equal(nothing.status, 400, 'discard names its letters');
  });

  it('discards a quarantined reading with a reason', async () => {
    const q = await postReading(url, heartRateReading(9, { deviceId: 'kiosk-unbound' }));
    const id = (q.json.quarantined as { id: string }).id;
    assert.equal((await api(url, `/v1/quarantine/${id}/discard`, { method: 'POST', body: {} })).status, 400, 'a reason is required');
    const res = await api(url, `/v1/quarantine/${id}/discard`, { method: 'POST', body: { reason: 'kiosk demo button' } });
    assert.deepEqual(res.json, { discarded: id, deviceId: 'kiosk-unbound' });
    assert.deepEqual((await api(url, '/v1/quarantine?deviceId=kiosk-unbound')).json.quarantine, []);
    assert.equal((await api(url, `/v1/quarantine/${id}/discard`, { method: 'POST', body: { reason: 'again' } })).status, 404);
    const events = (await api(url, '/v1/audit?limit=100')).json.events as Array<{ kind: string; subject: { quarantineId?: string }; detail: Record<string, unknown> }>;
    const audited = events.find((e) => e.kind === 'discarded' && e.subject.quarantineId === id);
    assert.equal(audited?.detail.reason, 'kiosk demo button');
  });
});
