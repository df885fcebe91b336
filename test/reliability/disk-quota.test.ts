// A full disk in miniature: at the quota's high-water mark intake is refused with 503 (the device keeps
// its reading), nothing unsent is evicted, and intake resumes once the EHR has drained the backlog.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, gatewayConfig, heartRateReading, postReading, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

describe('the buffer at its disk quota', () => {
  it('refuses intake with 503 at the high-water mark, keeps every accepted reading, and resumes after the drain', { timeout: 120_000 }, async (t) => {
    const tmp = tempDir('quota');
    const port = await freePort();
    const gateway = await startTestGateway(
      gatewayConfig({ dataDir: tmp.dir, mllpPort: port, buffer: { quotaBytes: 1024 * 1024, highWaterRatio: 0.9, retentionHours: 0 } }),
    );
    try {
      const accepted: string[] = [];
      let refusal: { status: number; json: Record<string, unknown> } | undefined;
      for (let n = 0; n < 20_000 && refusal === undefined; n++) {
        const res = await postReading(gateway.url, heartRateReading(n));
        if (res.status === 202) accepted.push((res.json.observations as Array<{ id: string }>)[0]!.id);
        else refusal = res;
      }
      assert.ok(refusal, 'intake was refused before 20,000 readings');
      assert.equal(refusal.status, 503);
      assert.equal(refusal.json.code, 'GW_ERR_BUFFER_FULL');
      assert.ok(accepted.length > 100, `${accepted.length} accepted before the mark`);
      t.diagnostic(`${accepted.length} readings accepted under a 1 MiB quota before the 503`);

      assert.equal((await fetch(`${gateway.url}/readyz`)).status, 503, 'not ready while intake is refused');
      const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
      assert.match(metrics, /gateway_buffer_intake_refused\{[^}]*\} 1/);
      assert.ok(gateway.logs.some((l) => /high-water mark/.test(String(l.msg))), 'a log line says why');
      for (const id of accepted) assert.notEqual(await gateway.buffer.lookup(id), undefined, 'nothing accepted was evicted');

      const receiver = await startReceiver(port);
      try {
        const want = new Set(accepted.map((id) => id.slice(0, 20)));
        await waitFor('every accepted reading delivered', () => [...want].every((c) => receiver.messages.some((m) => m.controlId === c)), 60_000, 100);
        const resumed = await waitFor('intake to resume', async () => {
          const res = await postReading(gateway.url, heartRateReading(1_000_000));
          return res.status === 202 && res;
        }, 30_000, 250);
        assert.equal(resumed.status, 202);
      } finally {
        await receiver.stop();
      }
    } finally {
      await gateway.close();
      tmp.cleanup();
    }
  });
});
