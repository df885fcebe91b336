import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBuffer } from './buffer/memory-buffer.ts';
import { DeliveryRate, DestinationDispatcher, drainEtaSeconds, type DispatchOptions } from './dispatch.ts';
import { createMemoryLogger } from './logger.ts';
import type { BufferedObservation, Destination, LinkState, Observation, SendOutcome } from './types.ts';

const FAST: DispatchOptions = { batchSize: 10, backoffInitialMs: 5, backoffMaxMs: 20, breakerThreshold: 100, breakerOpenMs: 50, idlePollMs: 20 };

function obs(n: number): Observation {
  return { resourceType: 'Observation', id: `obs-${String(n).padStart(4, '0')}`, status: 'final', code: { text: `n${n}` } };
}

/** A destination scripted per observation id: how to answer each attempt. */
class ScriptedDestination implements Destination {
  readonly id: string;
  readonly type = 'mllp' as const;
  readonly attempts: string[] = [];
  readonly batches: number[] = [];
  constructor(
    id: string,
    readonly answer: (observationId: string, attempt: number) => SendOutcome | 'throw' = () => ({ kind: 'delivered', receipt: { id: 'x' } }),
  ) {
    this.id = id;
  }
  async send(batch: readonly BufferedObservation[]): Promise<SendOutcome[]> {
    this.batches.push(batch.length);
    const out: SendOutcome[] = [];
    for (const item of batch) {
      const id = item.observation.id!;
      const attempt = this.attempts.filter((a) => a === id).length + 1;
      this.attempts.push(id);
      const a = this.answer(id, attempt);
      if (a === 'throw') throw new Error('bridge bug');
      out.push(a);
      if (a.kind === 'retry') {
        while (out.length < batch.length) out.push({ kind: 'retry', code: a.code, reason: 'not sent: an earlier item must go first' });
        break;
      }
    }
    return out;
  }
  linkState(): LinkState {
    return 'connected';
  }
  async close(): Promise<void> {}
}

async function setup(destinations: ScriptedDestination[], options: Partial<DispatchOptions> = {}) {
  const buffer = new MemoryBuffer({ destinations: destinations.map((d) => d.id) });
  await buffer.open();
  const { logger, lines } = createMemoryLogger();
  const dispatchers = destinations.map((destination) => new DestinationDispatcher({ destination, buffer, logger, options: { ...FAST, ...options } }));
  return { buffer, dispatchers, lines };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('dispatch', () => {
  it('delivers everything in buffer order, in batches, and moves the durable cursor to the end', async () => {
    const dest = new ScriptedDestination('ehr');
    const { buffer, dispatchers } = await setup([dest]);
    await buffer.append(Array.from({ length: 25 }, (_, i) => obs(i)));
    dispatchers[0]!.start();
    await until('cursor at 25', () => buffer.cursor('ehr') === 25n);
    await dispatchers[0]!.stop();
    assert.deepEqual(dest.attempts, Array.from({ length: 25 }, (_, i) => `obs-${String(i).padStart(4, '0')}`));
    assert.deepEqual(dest.batches, [10, 10, 5]);
  });

  it('retries from the first item that failed, keeping order, and never skips it', async () => {
    const dest = new ScriptedDestination('ehr', (id, attempt) =>
      id === 'obs-0002' && attempt < 3 ? { kind: 'retry', code: 'GW_ERR_MLLP_ACK_ERROR', reason: 'AE' } : { kind: 'delivered', receipt: { id } },
    );
    const { buffer, dispatchers } = await setup([dest]);
    await buffer.append([obs(0), obs(1), obs(2), obs(3)]);
    dispatchers[0]!.start();
    await until('cursor at 4', () => buffer.cursor('ehr') === 4n);
    await dispatchers[0]!.stop();
    assert.deepEqual(dest.attempts, ['obs-0000', 'obs-0001', 'obs-0002', 'obs-0002', 'obs-0002', 'obs-0003']);
    assert.equal(dispatchers[0]!.status().consecutiveFailures, 0);
  });

  it('moves a rejected item to the dead-letter store with its reason and carries on', async () => {
    const dest = new ScriptedDestination('ehr', (id) =>
      id === 'obs-0001' ? { kind: 'rejected', code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR: unknown patient' } : { kind: 'delivered', receipt: { id } },
    );
    const { buffer, dispatchers } = await setup([dest]);
    await buffer.append([obs(0), obs(1), obs(2)]);
    dispatchers[0]!.start();
    await until('cursor at 3', () => buffer.cursor('ehr') === 3n);
    await dispatchers[0]!.stop();
    const letters = await buffer.deadLetters('ehr');
    assert.deepEqual(letters.map((l) => [l.observationId, l.code, l.reason]), [['obs-0001', 'GW_ERR_MLLP_ACK_REJECT', 'AR: unknown patient']]);
    assert.deepEqual(dest.attempts, ['obs-0000', 'obs-0001', 'obs-0002']);
  });

  it('opens the circuit after repeated failures, then probes with a single item', async () => {
    let up = false;
    const dest = new ScriptedDestination('ehr', (id) => (up ? { kind: 'delivered', receipt: { id } } : { kind: 'retry', code: 'GW_ERR_MLLP_CONNECT', reason: 'ECONNREFUSED' }));
    const { buffer, dispatchers } = await setup([dest], { breakerThreshold: 3, breakerOpenMs: 100 });
    await buffer.append([obs(0), obs(1), obs(2)]);
    dispatchers[0]!.start();
    await until('circuit open', () => dispatchers[0]!.status().state === 'open');
    const attemptsWhenOpened = dest.attempts.length;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(dest.attempts.length, attemptsWhenOpened, 'no sends while the circuit is open');
    up = true;
    await until('cursor at 3', () => buffer.cursor('ehr') === 3n);
    await dispatchers[0]!.stop();
    assert.equal(dest.batches[3], 1, 'the first send after the pause is a single-item probe');
  });

  it('treats a destination that throws as a retry and loses nothing', async () => {
    let broken = true;
    const dest = new ScriptedDestination('ehr', (id) => (broken ? 'throw' : { kind: 'delivered', receipt: { id } }));
    const { buffer, dispatchers, lines } = await setup([dest]);
    await buffer.append([obs(0), obs(1)]);
    dispatchers[0]!.start();
    await until('a failed attempt', () => dispatchers[0]!.status().consecutiveFailures >= 2);
    assert.equal(buffer.cursor('ehr'), 0n);
    broken = false;
    await until('cursor at 2', () => buffer.cursor('ehr') === 2n);
    await dispatchers[0]!.stop();
    assert.ok(lines.some((l) => l.msg === 'destination threw instead of answering outcomes'));
  });

  it('keeps each destination on its own cursor: one down does not hold back the other', async () => {
    const up = new ScriptedDestination('cloud');
    const down = new ScriptedDestination('ehr', () => ({ kind: 'retry', code: 'GW_ERR_MLLP_CONNECT', reason: 'down' }));
    const { buffer, dispatchers } = await setup([down, up]);
    await buffer.append([obs(0), obs(1)]);
    dispatchers.forEach((d) => d.start());
    await until('cloud cursor at 2', () => buffer.cursor('cloud') === 2n);
    assert.equal(buffer.cursor('ehr'), 0n);
    await Promise.all(dispatchers.map((d) => d.stop()));
  });

  it('sends a replayed dead letter only to the destination it was replayed for', async () => {
    let reject = true;
    const ehr = new ScriptedDestination('ehr', (id) => (reject ? { kind: 'rejected', code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' } : { kind: 'delivered', receipt: { id } }));
    const cloud = new ScriptedDestination('cloud');
    const { buffer, dispatchers } = await setup([ehr, cloud]);
    await buffer.append([obs(0)]);
    dispatchers.forEach((d) => d.start());
    await until('both cursors at 1', () => buffer.cursor('ehr') === 1n && buffer.cursor('cloud') === 1n);
    reject = false;
    assert.equal(await buffer.replayDeadLetters('ehr'), 1);
    dispatchers.forEach((d) => d.wake());
    await until('both cursors at 2', () => buffer.cursor('ehr') === 2n && buffer.cursor('cloud') === 2n);
    await Promise.all(dispatchers.map((d) => d.stop()));
    assert.deepEqual(ehr.attempts, ['obs-0000', 'obs-0000']);
    assert.deepEqual(cloud.attempts, ['obs-0000'], 'the other destination does not get it again');
  });

  it("skips what a destination's routing filter does not take: no delivery, no dead letter, its cursor moves on", async () => {
    const even = (o: Observation) => Number(o.id!.slice(-1)) % 2 === 0;
    const cloud = Object.assign(new ScriptedDestination('cloud'), { accepts: even });
    const ehr = new ScriptedDestination('ehr');
    const { buffer, dispatchers } = await setup([cloud, ehr]);
    await buffer.append(Array.from({ length: 6 }, (_, i) => obs(i)));
    dispatchers.forEach((d) => d.start());
    await until('both cursors at 6', () => buffer.cursor('cloud') === 6n && buffer.cursor('ehr') === 6n);
    await Promise.all(dispatchers.map((d) => d.stop()));
    assert.deepEqual(cloud.attempts, ['obs-0000', 'obs-0002', 'obs-0004']);
    assert.equal(ehr.attempts.length, 6, 'each destination filters on its own cursor');
    assert.equal((await buffer.deadLetters('cloud')).length, 0);
    assert.equal(dispatchers[0]!.status().skipped, 3, 'each skipped entry counted once');
  });

  it('counts a filtered entry once even when the batch around it is retried', async () => {
    const cloud = Object.assign(
      new ScriptedDestination('cloud', (id, attempt) => (id === 'obs-0002' && attempt === 1 ? { kind: 'retry', code: 'GW_ERR_FHIR_HTTP', reason: '503' } : { kind: 'delivered', receipt: { id } })),
      { accepts: (o: Observation) => o.id !== 'obs-0001' },
    );
    const { buffer, dispatchers } = await setup([cloud]);
    await buffer.append([obs(0), obs(1), obs(2)]);
    dispatchers[0]!.start();
    await until('cursor at 3', () => buffer.cursor('cloud') === 3n);
    await dispatchers[0]!.stop();
    assert.deepEqual(cloud.attempts, ['obs-0000', 'obs-0002', 'obs-0002']);
    assert.equal(dispatchers[0]!.status().skipped, 1);
  });

  it('reports a delivery rate from which /v1/status derives the drain ETA', async () => {
    let now = 0;
    const rate = new DeliveryRate(60, () => now);
    assert.equal(rate.perSecond(), 0);
    assert.equal(drainEtaSeconds(100, rate.perSecond()), undefined, 'unknown while nothing is delivered');
    rate.record(50);
    now = 1000;
    rate.record(50);
    assert.equal(rate.perSecond(), 50);
    assert.equal(drainEtaSeconds(1000, rate.perSecond()), 20);
    assert.equal(drainEtaSeconds(0, 0), 0);
    now = 120_000;
    assert.equal(rate.perSecond(), 0, 'old deliveries leave the window');
  });

  it('counts failed attempts of the last minute for the status page, and forgets older ones', async () => {
    const dest = new ScriptedDestination('ehr', (id) => (id === 'obs-0000' ? { kind: 'rejected', code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' } : { kind: 'delivered', receipt: { id } }));
    const { buffer, dispatchers } = await setup([dest]);
    await buffer.append([obs(0), obs(1)]);
    dispatchers[0]!.start();
    await until('cursor at 2', () => buffer.cursor('ehr') === 2n);
    await dispatchers[0]!.stop();
    assert.equal(dispatchers[0]!.status().errorsLastMinute, 1);
    assert.equal(dispatchers[0]!.status().lastReceipt, 'obs-0001');
    let now = 0;
    const errors = new DeliveryRate(60, () => now);
    errors.record(2);
    now = 30_000;
    errors.record(1);
    assert.equal(errors.count(), 3);
    now = 61_000;
    assert.equal(errors.count(), 1);
  });
});

describe('what dispatch says about receiver errors', () => {
  it('keeps the receiver words (which may quote patient data) out of warn logs and status, but in the dead-letter store', async () => {
    const dest = new ScriptedDestination('ehr', () => ({ kind: 'rejected', code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR: unknown patient MRN4242 DOE^JANE' }));
    const { buffer, dispatchers, lines } = await setup([dest]);
    await buffer.append([obs(0)]);
    dispatchers[0]!.start();
    await until('cursor at 1', () => buffer.cursor('ehr') === 1n);
    await dispatchers[0]!.stop();
    const atWarn = lines.filter((l) => l.level === 'warn' || l.level === 'info' || l.level === 'error');
    assert.ok(atWarn.some((l) => l.code === 'GW_ERR_MLLP_ACK_REJECT'), 'the refusal is logged with its code');
    assert.ok(!JSON.stringify(atWarn).includes('MRN4242'), 'no receiver text above debug');
    assert.match((await buffer.deadLetters('ehr'))[0]!.reason, /MRN4242/, 'the dead-letter store keeps the receiver words');
  });
});
