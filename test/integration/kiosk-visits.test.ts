// Kiosk visits end to end: a visit gives the kiosk's readings their patient and encounter (PV1-19 at
// the MLLP receiver), GET /v1/visits/:id/live streams them as Server-Sent Events, Last-Event-ID resumes
// without gap or duplicate, closing the visit ends the stream, and an open visit survives a restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { freePort, gatewayConfig, heartRateReading, postReading, startGatewayWithReceiver, startReceiver, startTestGateway, tempDir, type ReceivedMessage, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** A tiny SSE client over node:http (WHATWG HTML §9.2.6 event stream interpretation, enough for tests). */
function openLive(baseUrl: string, visitId: string, lastEventId?: string) {
  const events: SseEvent[] = [];
  let response: IncomingMessage | undefined;
  let resolveEnded!: () => void;
  const ended = new Promise<void>((r) => (resolveEnded = r));
  const request = get(`${baseUrl}/v1/visits/${visitId}/live`, { headers: lastEventId ? { 'last-event-id': lastEventId } : {} });
  const opened = new Promise<{ status: number; type: string }>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (res) => {
      response = res;
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk: string) => {
        pending += chunk;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue; // comment / heartbeat
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'id') event.id = value;
            else if (field === 'event') event.event = value;
            else if (field === 'data') data.push(value);
          }
          if (data.length > 0) events.push({ ...event, data: data.join('\n') });
        }
      });
      res.once('end', resolveEnded);
      res.once('close', resolveEnded);
      resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) });
    });
  });
  return {
    events,
    opened,
    ended,
    observationIds: () => events.filter((e) => e.event === 'observation').map((e) => (JSON.parse(e.data) as { id: string }).id),
    lastId: () => events.filter((e) => e.id !== undefined).at(-1)?.id,
    disconnect: () => {
      request.destroy();
      response?.destroy();
    },
  };
}

async function openVisit(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown>; type: string | null }> {
  const res = await fetch(`${url}/v1/visits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, type: res.headers.get('content-type') };
}

async function closeVisit(url: string, id: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/v1/visits/${id}/close`, { method: 'POST' });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function segment(message: ReceivedMessage, name: string): string[] | undefined {
  return message.text.split('\r').map((s) => s.split('|')).find((s) => s[0] === name);
}

async function postAll(url: string, ns: number[], extra: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (const n of ns) {
    const res = await postReading(url, heartRateReading(n, extra));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    ids.push(...(res.json.observations as Array<{ id: string }>).map((o) => o.id));
  }
  return ids;
}

const PATIENT = { mrn: 'MRN-VISIT-7', system: 'urn:oid:1.2.3.4' };

describe('a kiosk visit gives its readings a patient and an encounter, live', () => {
  let receiver: Receiver;
  let gateway: TestGateway;
  let visitId: string;

  let stop: () => Promise<void>;

  before(async () => {
    ({ gateway, receiver, stop } = await startGatewayWithReceiver('visits'));
  });

  after(() => stop());

  it('opening a visit answers 201 with the visit, and GET returns it open', async () => {
    const res = await openVisit(gateway.url, { encounterId: 'ENC-1001', deviceId: 'kiosk-1', patient: PATIENT });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    assert.equal(res.json.encounterId, 'ENC-1001');
    assert.equal(res.json.status, 'open');
    visitId = String(res.json.id);
    const got = await fetch(`${gateway.url}/v1/visits/${visitId}`);
    assert.equal(got.status, 200);
    assert.deepEqual(await got.json(), res.json);
  });

  it('a second visit on the same kiosk, or a visit with an unknown field, is refused with a problem', async () => {
    const twice = await openVisit(gateway.url, { encounterId: 'ENC-2002', deviceId: 'kiosk-1', patient: PATIENT });
    assert.equal(twice.status, 409);
    assert.equal(twice.type, 'application/problem+json; charset=utf-8');
    assert.equal(twice.json.code, 'GW_ERR_VISIT_CONFLICT');
    const typo = await openVisit(gateway.url, { encounterId: 'ENC-3003', deviceId: 'kiosk-2', patient: PATIENT, room: 4 });
    assert.equal(typo.status, 400);
    assert.equal(typo.json.code, 'GW_ERR_INVALID_VISIT');
    const missing = await fetch(`${gateway.url}/v1/visits/no-such-visit`);
    assert.equal(missing.status, 404);
  });

  it("readings posted during the visit reach the EHR with PV1-19 = the encounter id and the visit's patient", async () => {
    const [id] = await postAll(gateway.url, [1]);
    const message = await waitFor('the ORU at the receiver', () => receiver.messages.find((m) => m.controlId === id!.slice(0, 20)));
    assert.equal(segment(message, 'PV1')?.[19], 'ENC-1001');
    assert.equal(message.pid[3]!.split('^')[0], 'MRN-VISIT-7', 'the visit patient, not the device binding');
  });

  it('a reading naming another encounter than the open visit is refused with a clear problem', async () => {
    const res = await postReading(gateway.url, heartRateReading(2, { encounterId: 'ENC-OTHER' }));
    assert.equal(res.status, 409);
    assert.equal(res.json.code, 'GW_ERR_VISIT_MISMATCH');
    assert.match(String(res.json.detail), /ENC-OTHER.*ENC-1001/);
    const same = await postReading(gateway.url, heartRateReading(3, { encounterId: 'ENC-1001' }));
    assert.equal(same.status, 202, 'naming the open encounter is fine');
  });

  it('an SSE client gets each reading of the visit live, with the buffer sequence as event id', async () => {
    const sse = openLive(gateway.url, visitId);
    const opened = await sse.opened;
    assert.equal(opened.status, 200);
    assert.match(opened.type, /^text\/event-stream/);
    // The stream first replays the visit so far (readings 1 and 3), then the live ones.
    await waitFor('the replay', () => sse.observationIds().length === 2);
    const ids = await postAll(gateway.url, [4, 5]);
    await waitFor('two live events', () => sse.observationIds().length === 4);
    assert.deepEqual(sse.observationIds().slice(2), ids);
    const seqs = sse.events.map((e) => BigInt(e.id!));
    assert.deepEqual([...seqs].sort((a, b) => (a < b ? -1 : 1)), seqs, 'ids ascend');
    assert.ok(sse.events.every((e) => e.event === 'observation'));
    sse.disconnect();
    await sse.ended;
  });

  it('a client that disconnects mid-visit and reconnects with Last-Event-ID gets every reading exactly once', async () => {
    const first = openLive(gateway.url, visitId);
    await waitFor('the replay', () => first.observationIds().length === 4);
    const before = await postAll(gateway.url, [6, 7]);
    await waitFor('two live events', () => first.observationIds().length === 6);
    first.disconnect();
    await first.ended;
    const missed = await postAll(gateway.url, [8, 9, 10]);

    const second = openLive(gateway.url, visitId, first.lastId());
    assert.equal((await second.opened).status, 200);
    await waitFor('the missed readings', () => second.observationIds().length === 3);
    const live = await postAll(gateway.url, [11]);
    await waitFor('the live one', () => second.observationIds().length === 4);

    const seen = [...first.observationIds(), ...second.observationIds()];
    assert.equal(new Set(seen).size, seen.length, 'no duplicate');
    for (const id of [...before, ...missed, ...live]) assert.ok(seen.includes(id), `${id} was streamed`);
    second.disconnect();
    await second.ended;
  });

  it('a Last-Event-ID that is not a sequence number, or an unknown visit, is refused with a problem', async () => {
    const bad = openLive(gateway.url, visitId, 'abc');
    assert.equal((await bad.opened).status, 400);
    const unknown = openLive(gateway.url, 'no-such-visit');
    assert.equal((await unknown.opened).status, 404);
    await Promise.all([bad.ended, unknown.ended]);
  });

  it('closing the visit ends the stream with a final closed event, and later readings carry no encounter', async () => {
    const sse = openLive(gateway.url, visitId);
    await waitFor('the replay of readings 1, 3–11', () => sse.observationIds().length === 10);
    const closed = await closeVisit(gateway.url, visitId);
    assert.equal(closed.status, 200);
    assert.equal(closed.json.status, 'closed');
    await sse.ended;
    assert.equal(sse.events.at(-1)?.event, 'closed');

    const [id] = await postAll(gateway.url, [12]);
    const message = await waitFor('the ORU', () => receiver.messages.find((m) => m.controlId === id!.slice(0, 20)));
    assert.equal(segment(message, 'PV1'), undefined);
    assert.equal(message.pid[3]!.split('^')[0], 'MRN0001', 'back to the device binding');

    const again = await openVisit(gateway.url, { encounterId: 'ENC-2002', deviceId: 'kiosk-1', patient: PATIENT });
    assert.equal(again.status, 201, 'a new visit may open once the first is closed');
    await closeVisit(gateway.url, String(again.json.id));
  });
});

describe('a restart of the gateway keeps the open visit', () => {
  let tmp: ReturnType<typeof tempDir>;

  before(() => {
    tmp = tempDir('visits-restart');
  });

  after(() => {
    tmp.cleanup();
  });

  it('the visit is still open after a restart and its readings still carry the encounter', async () => {
    const port = await freePort();
    const stopped = await startReceiver(port);
    const config = gatewayConfig({ dataDir: tmp.dir, mllpPort: port });
    const first = await startTestGateway(config);
    const opened = await openVisit(first.url, { encounterId: 'ENC-RESTART', deviceId: 'kiosk-1', patient: PATIENT });
    assert.equal(opened.status, 201);
    const sse = openLive(first.url, String(opened.json.id));
    assert.equal((await sse.opened).status, 200);
    await first.close(); // an open live stream must not hold the shutdown
    await sse.ended;
    await stopped.stop();

    const receiverAgain = await startReceiver(port);
    const second = await startTestGateway(config);
    try {
      const got = await fetch(`${second.url}/v1/visits/${String(opened.json.id)}`);
      assert.equal(got.status, 200);
      assert.equal(((await got.json()) as { status: string }).status, 'open');
      const [id] = await postAll(second.url, [20]);
      const message = await waitFor('the ORU', () => receiverAgain.messages.find((m) => m.controlId === id!.slice(0, 20)));
      assert.equal(segment(message, 'PV1')?.[19], 'ENC-RESTART');
    } finally {
      await second.close();
      await receiverAgain.stop();
    }
  });
});
