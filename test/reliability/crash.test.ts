// Power cut in miniature: a child gateway is killed with SIGKILL while a client posts readings.
// Every reading that got a 202 must be in the buffer after the kill and must reach the EHR.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { LevelDbBuffer } from '../../gateway/buffer/leveldb-buffer.ts';
import { parseBufferKey } from '../../gateway/buffer/seal.ts';
import {
  TEST_BUFFER_KEY,
  freePort,
  heartRateReading,
  spawnGateway,
  startReceiver,
  tempDir,
  waitFor,
  writeConfigFile,
} from '../support/harness.ts';

const CYCLES = Number(process.env.GW_CRASH_CYCLES ?? 20);
const CLIENTS = 8;

describe('a gateway killed with SIGKILL keeps every reading it acknowledged', () => {
  it(`holds and delivers every 202'd reading across ${CYCLES} kill/restart cycles`, { timeout: 600_000 }, async (t) => {
    const tmp = tempDir('crash');
    const mllpPort = await freePort();
    const receiver = await startReceiver(mllpPort);
    const configFile = writeConfigFile(tmp.dir, {
      site: { id: 'crash-test' },
      dataDir: join(tmp.dir, 'data'),
      http: { host: '127.0.0.1', port: 0 },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port: mllpPort, receivingApplication: 'EHR', receivingFacility: 'CLINIC' }],
      bindings: [{ device: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
      dispatch: { backoffInitialMs: 20, backoffMaxMs: 200 },
    });
    const acknowledged = new Set<string>();
    let n = 0;
    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const gw = spawnGateway(configFile);
        const url = await gw.url;
        let killed = false;
        const client = async (): Promise<void> => {
          while (!killed) {
            const body = JSON.stringify(heartRateReading(n++));
            try {
              const res = await fetch(`${url}/v1/readings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
              const json = (await res.json()) as { observations?: Array<{ id: string }> };
              if (res.status === 202) acknowledged.add(json.observations![0]!.id);
            } catch {
              // the process died mid-request: no 202, so the client (a kiosk) keeps the reading and retries later
            }
          }
        };
        const clients = Array.from({ length: CLIENTS }, client);
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 600));
        gw.child.kill('SIGKILL');
        killed = true;
        await gw.exited;
        await Promise.all(clients);

        // After the power cut: open the buffer as the next start would, and look for every acknowledged id.
        const buffer = new LevelDbBuffer({
          dir: join(tmp.dir, 'data', 'buffer'),
          key: parseBufferKey(TEST_BUFFER_KEY),
          destinations: ['ehr'],
          quotaBytes: 2 * 1024 ** 3,
          highWaterRatio: 0.9,
          retentionMs: 7 * 24 * 3600_000,
        });
        await buffer.open();
        const missing: string[] = [];
        for (const id of acknowledged) if ((await buffer.lookup(id)) === undefined) missing.push(id);
        await buffer.close();
        assert.deepEqual(missing, [], `cycle ${cycle}: acknowledged readings missing after SIGKILL`);
      }
      assert.ok(acknowledged.size > CYCLES * 10, `the client got readings acknowledged (${acknowledged.size})`);
      t.diagnostic(`${acknowledged.size} readings acknowledged with 202 across ${CYCLES} SIGKILLs, all found after each kill`);

      // A last, clean start drains whatever the kills left behind.
      const gw = spawnGateway(configFile);
      await gw.url;
      const want = [...acknowledged].map((id) => id.slice(0, 20));
      await waitFor('every acknowledged reading at the receiver', () => {
        const got = new Set(receiver.messages.map((m) => m.controlId));
        return want.every((c) => got.has(c));
      }, 60_000, 100);
      gw.child.kill('SIGTERM');
      assert.equal(await gw.exited, 0, 'SIGTERM shuts down cleanly');
    } finally {
      await receiver.stop();
      tmp.cleanup();
    }
  });
});
