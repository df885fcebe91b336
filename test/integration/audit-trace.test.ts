// The audit trail end to end: a kiosk reading's trace through a real MLLP receiver, an AR ending in the
// dead-letter store, and `gw audit verify` on the real data dir before and after one record is tampered with.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { LevelDbBuffer } from '../../gateway/buffer/leveldb-buffer.ts';
import { parseBufferKey } from '../../gateway/buffer/seal.ts';
import { createLogger } from '../../gateway/logger.ts';
import { auditKey, type AuditRecord } from '../../gateway/audit/types.ts';
import { ROOT, TEST_BUFFER_KEY, freePort, gatewayConfig, heartRateReading, postReading, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;
interface Trace {
  observationId: string;
  events: AuditRecord[];
}

function gwAuditVerify(dataDir: string): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/gw.mjs'), 'audit', 'verify', dataDir], {
    encoding: 'utf8',
    env: { ...process.env, GW_BUFFER_KEY: TEST_BUFFER_KEY },
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('the audit trail and per-reading trace', () => {
  const tmp = tempDir('audit');
  let receiver: Receiver;
  let gateway: TestGateway | undefined;
  // The receiver rejects (AR) a heart rate of 99 and accepts everything else.
  const decide = (_controlId: string, _count: number, text: string): 'AA' | 'AR' => (/\|8867-4[^\r]*?\|[^|]*\|99\|/.test(text) ? 'AR' : 'AA');

  before(async () => {
    const port = await freePort();
    receiver = await startReceiver(port, decide);
    gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: port }));
  });

  after(async () => {
    await gateway?.close();
    await receiver.stop();
    tmp.cleanup();
  });

  const trace = async (observationId: string, token = 'test-admin-token'): Promise<{ status: number; body: Trace }> => {
    const res = await fetch(`${gateway!.url}/v1/trace/${observationId}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Trace };
  };

  it('a delivered reading traces received → stored → delivered, with the MLLP control id and the AA', async () => {
    const res = await postReading(gateway!.url, heartRateReading(1));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const id = (res.json.observations as Array<{ id: string }>)[0]!.id;
    const controlId = id.slice(0, 20);
    await waitFor('the receiver to get it', () => receiver.messages.some((m) => m.controlId === controlId));
    const { status, body } = await waitFor('a delivered record', async () => {
      const t = await trace(id);
      return t.body.events?.some((e) => e.kind === 'delivered') && t;
    });
    assert.equal(status, 200);
    assert.deepEqual(body.events.map((e) => e.kind), ['reading-received', 'observation-stored', 'delivered']);
    const [received, stored, delivered] = body.events;
    assert.equal(received!.subject.deviceId, 'kiosk-1');
    assert.match(String(received!.detail.rawSha256), /^[0-9a-f]{64}$/);
    assert.equal(stored!.detail.seq, '1');
    assert.equal(delivered!.subject.destination, 'ehr');
    assert.equal(delivered!.detail.receiptId, controlId);
    assert.equal(delivered!.detail.ackCode, 'AA');
    assert.ok(body.events.every((e, i) => i === 0 || e.seq > body.events[i - 1]!.seq), 'in order');
    assert.ok(!JSON.stringify(body).includes('MRN0001'), 'no patient id in the trail');
  });

  it('a reading the EHR rejects with AR ends in dead-lettered with the reject code', async () => {
    const res = await postReading(gateway!.url, { ...heartRateReading(2), components: [{ metric: 'heart-rate', value: 99, unit: '/min' }] });
    assert.equal(res.status, 202);
    const id = (res.json.observations as Array<{ id: string }>)[0]!.id;
    const { body } = await waitFor('a dead-lettered record', async () => {
      const t = await trace(id);
      return t.body.events?.some((e) => e.kind === 'dead-lettered') && t;
    });
    assert.deepEqual(body.events.map((e) => e.kind), ['reading-received', 'observation-stored', 'dead-lettered']);
    assert.equal(body.events.at(-1)!.detail.code, 'GW_ERR_MLLP_ACK_REJECT');
  });

  it('the trace needs the admin token and says 404 for an observation it never saw', async () => {
    const refused = await trace('no-such-observation', 'wrong-token');
    assert.equal(refused.status, 401);
    const missing = await trace('no-such-observation');
    assert.equal(missing.status, 404);
    assert.equal((missing.body as unknown as { code: string }).code, 'GW_ERR_NOT_FOUND');
  });

  it('gw audit verify passes on the real data dir, then names the record someone tampered with', async () => {
    await gateway!.close(); // LevelDB allows one process: verify runs on a stopped gateway
    gateway = undefined;
    const ok = gwAuditVerify(tmp.dir);
    assert.equal(ok.status, 0, ok.stderr);
    const count = Number(/(\d+) records/.exec(ok.stdout)?.[1]);
    assert.ok(count >= 6, ok.stdout);

    // Rewrite record 2 through the state store with a changed detail but its old hash.
    const buffer = new LevelDbBuffer(
      { dir: join(tmp.dir, 'buffer'), key: parseBufferKey(TEST_BUFFER_KEY), destinations: [], quotaBytes: 1 << 30, highWaterRatio: 0.9, retentionMs: 3600_000 },
      createLogger('error'),
    );
    await buffer.open();
    const record = (await buffer.state.get(auditKey(2))) as AuditRecord;
    await buffer.state.put(auditKey(2), { ...record, detail: { ...record.detail, seq: '42' } });
    await buffer.close();

    const broken = gwAuditVerify(tmp.dir);
    assert.equal(broken.status, 1);
    assert.match(broken.stderr, /GW_ERR_AUDIT_CHAIN_BROKEN: audit record 2 is broken: content does not match its hash/);
  });
});
