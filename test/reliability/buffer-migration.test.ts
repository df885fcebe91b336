// A hub updated from the first release opens the data directory that release left behind (buffer format 1,
// kept as a fixture) and carries on: nothing acknowledged is lost, nothing delivered is sent twice, and
// the format is migrated forwards once. A buffer from a newer gateway is refused, never downgraded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { ROOT, freePort, gatewayConfig, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const FIXTURE = join(ROOT, 'test/fixtures/buffer-format-1/data');

/** The MLLP receiver sees OBX-5 of each ORU^R01: the fixture's readings are heart rates 60 + n for n = 0..24. */
const heartRates = (n: readonly number[]): string[] => n.map((i) => String(60 + (i % 40)));

async function formatVersion(dataDir: string): Promise<unknown> {
  const db = new ClassicLevel<string, string>(join(dataDir, 'buffer'), { valueEncoding: 'utf8' });
  try {
    const meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' });
    return JSON.parse((await meta.get('version')) ?? 'null');
  } finally {
    await db.close();
  }
}

describe('a data directory written by buffer format 1 (the first release)', () => {
  it('is migrated at open: the 20 pending readings are delivered, the 5 delivered ones are not resent, quarantine is kept', async () => {
    const tmp = tempDir('migrate');
    cpSync(FIXTURE, tmp.dir, { recursive: true });
    assert.deepEqual(await formatVersion(tmp.dir), { version: 1 });
    const port = await freePort();
    const receiver = await startReceiver(port);
    const gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: port }));
    try {
      const migrated = gateway.logs.find((l) => l.msg === 'buffer format migrated');
      assert.ok(migrated, 'the migration is logged');
      assert.equal(migrated.from, 1);
      assert.equal(migrated.to, 2);
      assert.equal(migrated.ageRows, 25);
      // Before the migration this read 0: the backlog was invisible to status, quota and compaction.
      assert.equal(gateway.buffer.stats().destinations[0]?.pending, 20);

      await waitFor('the 20 pending readings at the receiver', () => receiver.messages.filter((m) => m.ackCode === 'AA').length >= 20);
      await new Promise((r) => setTimeout(r, 300)); // a resend of the delivered five would arrive now
      const values = receiver.messages.map((m) => /OBX\|1\|NM\|[^|]*\|[^|]*\|([^|]*)/.exec(m.text)?.[1]);
      assert.deepEqual(values.sort(), heartRates(Array.from({ length: 20 }, (_, i) => i + 5)).sort());
      assert.equal(new Set(receiver.messages.map((m) => m.controlId)).size, 20, 'each reading once');
      await waitFor('nothing pending', () => gateway.buffer.stats().destinations[0]?.pending === 0);

      const quarantined = await gateway.buffer.quarantine.list('kiosk-unbound');
      assert.equal(quarantined.length, 1, 'the quarantined reading survives the update');
    } finally {
      await gateway.close();
      await receiver.stop();
    }
    assert.deepEqual(await formatVersion(tmp.dir), { version: 2 });

    // Opened again: already format 2, no second migration, nothing sent again.
    const again = await startReceiver(port);
    const reopened = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: port }));
    try {
      assert.equal(reopened.logs.find((l) => l.msg === 'buffer format migrated'), undefined);
      assert.equal(reopened.buffer.stats().destinations[0]?.pending, 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(again.messages.length, 0);
    } finally {
      await reopened.close();
      await again.stop();
      tmp.cleanup();
    }
  });

  it('refuses a buffer written by a newer gateway, naming both versions, and leaves it untouched', async () => {
    const tmp = tempDir('migrate-newer');
    cpSync(FIXTURE, tmp.dir, { recursive: true });
    const db = new ClassicLevel<string, string>(join(tmp.dir, 'buffer'), { valueEncoding: 'utf8' });
    await db.sublevel<string, string>('meta', { valueEncoding: 'utf8' }).put('version', JSON.stringify({ version: 3 }));
    await db.close();
    try {
      await assert.rejects(
        startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: await freePort() })),
        (err: Error & { code?: string }) => err.code === 'GW_ERR_BUFFER_FORMAT' && /version 3/.test(err.message) && /reads 2/.test(err.message),
      );
      assert.deepEqual(await formatVersion(tmp.dir), { version: 3 });
    } finally {
      tmp.cleanup();
    }
  });
});
