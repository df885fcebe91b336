// A week-long outage in miniature: the EHR is down while 10,000 readings arrive; when it comes up,
// every one of them arrives, in order, exactly once.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, gatewayConfig, heartRateReading, postReading, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const READINGS = 10_000;
const CONCURRENCY = 32;

describe('an EHR outage loses nothing', () => {
  it('accepts 10,000 readings while the receiver is down, then delivers all of them in order, each exactly once', { timeout: 300_000 }, async () => {
    const tmp = tempDir('outage');
    const port = await freePort();
    const gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: port }));
    try {
      const accepted: string[] = new Array(READINGS);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let n = next++; n < READINGS; n = next++) {
          const res = await postReading(gateway.url, heartRateReading(n));
          assert.equal(res.status, 202, JSON.stringify(res.json));
          accepted[n] = (res.json.observations as Array<{ id: string }>)[0]!.id;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      assert.equal(new Set(accepted).size, READINGS, 'each reading is its own Observation');
      assert.equal(gateway.buffer.stats().destinations[0]!.pending, READINGS, 'all of them wait for the EHR');

      const receiver = await startReceiver(port);
      try {
        await waitFor('10,000 messages at the receiver', () => receiver.messages.length >= READINGS, 240_000, 200);
        await waitFor('the cursor at the head', () => gateway.buffer.stats().destinations[0]!.pending === 0, 10_000);
        const received = receiver.messages.map((m) => m.controlId);
        assert.equal(received.length, READINGS, 'no message twice');
        assert.equal(new Set(received).size, READINGS, 'each control id once');

        // In order: the receiver sees them in buffer sequence order.
        const seqOf = new Map<string, bigint>();
        for (const id of accepted) seqOf.set(id.slice(0, 20), (await gateway.buffer.lookup(id))!);
        const seqs = received.map((c) => seqOf.get(c));
        assert.ok(seqs.every((s) => s !== undefined), 'every received control id is one we accepted');
        for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `message ${i} arrived out of order`);
      } finally {
        await receiver.stop();
      }
    } finally {
      await gateway.close();
      tmp.cleanup();
    }
  });
});
