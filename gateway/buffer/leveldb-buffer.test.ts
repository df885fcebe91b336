// The LevelDB buffer against the storage contract, plus what only a disk can show: durability,
// ciphertext at rest, the wrong key, group commit, write failures, the high-water mark, compaction.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { createMemoryLogger } from '../logger.ts';
import { CONTRACT_DEFAULTS, makeObservation, makeQuarantined, runBufferContract } from './contract.ts';
import { LevelDbBuffer } from './leveldb-buffer.ts';
import type { BufferOptions } from './types.ts';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'gw-buffer-'));
}

runBufferContract('leveldb', async (overrides) => {
  const dir = await tempDir();
  const options: BufferOptions = { dir, key: randomBytes(32), ...CONTRACT_DEFAULTS, ...overrides };
  let current = new LevelDbBuffer(options);
  await current.open();
  return {
    buffer: current,
    reopen: async () => {
      current = new LevelDbBuffer(options);
      await current.open();
      return current;
    },
    cleanup: async () => {
      await current.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** Every byte LevelDB wrote (tables, write-ahead log, manifest) as one latin1 string. */
async function everythingOnDisk(dir: string): Promise<string> {
  const names = await readdir(dir);
  const files = await Promise.all(names.map((n) => readFile(join(dir, n))));
  return Buffer.concat(files).toString('latin1');
}

type ChainedBatch = ReturnType<ClassicLevel<Buffer, Buffer>['batch']>;

/** Wrap the database's chained batches so a test can watch or fail their writes. */
function interceptWrites(buffer: LevelDbBuffer, onWrite: (options: { sync?: boolean } | undefined) => void): void {
  const db = buffer.db;
  const realBatch = db.batch.bind(db) as (...args: unknown[]) => unknown;
  (db as unknown as { batch: (...args: unknown[]) => unknown }).batch = (...args: unknown[]) => {
    const batch = realBatch(...args);
    if (args.length === 0) {
      const chained = batch as ChainedBatch;
      const realWrite = chained.write.bind(chained) as (o?: { sync?: boolean }) => Promise<void>;
      (chained as unknown as { write: (o?: { sync?: boolean }) => Promise<void> }).write = async (o) => {
        onWrite(o);
        return realWrite(o);
      };
    }
    return batch;
  };
}

describe('leveldb buffer', () => {
  let dir: string;
  let options: BufferOptions;
  let buffer: LevelDbBuffer;

  beforeEach(async () => {
    dir = await tempDir();
    options = { dir, key: randomBytes(32), ...CONTRACT_DEFAULTS };
    buffer = new LevelDbBuffer(options);
    await buffer.open();
  });
  afterEach(async () => {
    await buffer.close();
    await rm(dir, { recursive: true, force: true });
  });

  const reopen = async (overrides: Partial<BufferOptions> = {}): Promise<LevelDbBuffer> => {
    await buffer.close();
    buffer = new LevelDbBuffer({ ...options, ...overrides });
    await buffer.open();
    return buffer;
  };

  describe('group commit', () => {
    it('two hundred concurrent appends share a handful of synced batches', async () => {
      const syncs: Array<boolean | undefined> = [];
      interceptWrites(buffer, (o) => syncs.push(o?.sync));
      const before = buffer.batchesWritten;
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => buffer.append([makeObservation(i)])));
      assert.ok(results.every(([r]) => r?.kind === 'stored'));
      const batches = buffer.batchesWritten - before;
      assert.ok(batches >= 1 && batches <= 5, `${batches} batches for 200 appends`);
      assert.ok(syncs.length === batches && syncs.every((s) => s === true), 'every batch is written with sync');
      assert.equal(buffer.stats().entries, 200);
    });

    it('a batch never holds more than groupCommitMaxEntries entries', async () => {
      await reopen({ groupCommitMaxEntries: 10 });
      const before = buffer.batchesWritten;
      await Promise.all(Array.from({ length: 100 }, (_, i) => buffer.append([makeObservation(i)])));
      assert.ok(buffer.batchesWritten - before >= 10);
    });

    it('groupCommitMaxDelayMs holds a batch open for companions', async () => {
      await reopen({ groupCommitMaxDelayMs: 200 });
      const before = buffer.batchesWritten;
      const first = buffer.append([makeObservation(1)]);
      await new Promise((r) => setTimeout(r, 5));
      const second = buffer.append([makeObservation(2)]);
      await Promise.all([first, second]);
      assert.equal(buffer.batchesWritten - before, 1);
    });
  });

  describe('write failures', () => {
    it('a failed write rejects only its own appends, and later appends land', async () => {
      let failNext = true;
      interceptWrites(buffer, () => {
        if (failNext) {
          failNext = false;
          throw Object.assign(new Error('IO error: No space left on device'), { code: 'LEVEL_IO_ERROR' });
        }
      });
      const failed = Promise.all([buffer.append([makeObservation(1)]), buffer.append([makeObservation(2)])]);
      await assert.rejects(failed, (err: Error & { code?: string; cause?: Error }) => {
        assert.equal(err.code, 'GW_ERR_BUFFER_IO');
        assert.match(err.message, /No space left on device/);
        assert.match(String(err.cause?.message), /No space left/);
        return true;
      });
      assert.equal(buffer.stats().entries, 0);
      const [later] = await buffer.append([makeObservation(3)]);
      const [retried] = await buffer.append([makeObservation(1)]);
      assert.equal(later?.kind, 'stored');
      assert.equal(retried?.kind, 'stored', 'the failed one was never stored, so its retry is not a duplicate');
      assert.deepEqual((await buffer.read(0n, 10)).map((e) => e.observation.id), ['obs-00000003', 'obs-00000001']);
      const seqs = (await buffer.read(0n, 10)).map((e) => e.seq);
      assert.ok((seqs[0] as bigint) < (seqs[1] as bigint));
      await reopen();
      assert.equal(buffer.stats().entries, 2);
    });
  });

  describe('durability and encryption at rest', () => {
    it('everything survives close and reopen: head, cursors, dedupe, dead letters, quarantine, state and compaction', async () => {
      await reopen({ retentionMs: 0 });
      await buffer.append(Array.from({ length: 5 }, (_, i) => makeObservation(i)));
      await buffer.commit({ destination: 'ehr', cursor: 3n, deadLetters: [{ seq: 3n, observation: makeObservation(2), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' }] });
      await buffer.commit({ destination: 'fhir', cursor: 2n, deadLetters: [] });
      assert.deepEqual(await buffer.compact(), { deleted: 2 });
      await buffer.quarantine.add(makeQuarantined('q1', 'cuff-1'));
      await buffer.state.put('binding:cuff-2', { mrn: 'MRN-2' });
      const { diskBytes: _, ...before } = buffer.stats();
      await reopen({ retentionMs: 0 });
      const { diskBytes: __, ...after } = buffer.stats();
      assert.deepEqual(after, before, 'counters rebuilt at open match the ones kept while running');
      assert.deepEqual((await buffer.read(0n, 10)).map((e) => e.seq), [3n, 4n, 5n]);
      assert.equal(await buffer.lookup('obs-00000000'), undefined, 'compacted past retention');
      assert.equal(await buffer.lookup('obs-00000004'), 5n);
      assert.equal((await buffer.deadLetters('ehr'))[0]?.seq, 3n);
      assert.equal((await buffer.quarantine.list())[0]?.id, 'q1');
      assert.deepEqual(await buffer.state.entries('binding:'), [['binding:cuff-2', { mrn: 'MRN-2' }]]);
      assert.equal((await buffer.append([makeObservation(9)]))[0]?.kind === 'stored' && buffer.stats().headSeq, 6n);
    });

    it('no patient identifier is readable in the database files', async () => {
      const mrn = 'MRN-PLAINTEXT-4242';
      await buffer.append([makeObservation(1, mrn), makeObservation(2, mrn)]);
      await buffer.commit({ destination: 'ehr', cursor: 2n, deadLetters: [{ seq: 2n, observation: makeObservation(2, mrn), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' }] });
      await buffer.quarantine.add({ ...makeQuarantined('q1', 'cuff-1'), reading: { ...makeQuarantined('q1', 'cuff-1').reading, patient: { mrn } } });
      await buffer.state.put('binding:cuff-1', { mrn });
      await buffer.close();
      const onDisk = await everythingOnDisk(dir);
      assert.ok(onDisk.includes('obs-00000001'), 'keys are in the clear, as designed (they hold no PHI)');
      assert.ok(!onDisk.includes(mrn), 'the MRN must only exist sealed');
      assert.ok(!onDisk.includes('85354-9'), 'nor any other part of an Observation');

      // The control: the same search does find a value LevelDB stores in the clear.
      const controlDir = await tempDir();
      const control = new ClassicLevel(controlDir);
      await control.put('k', JSON.stringify({ mrn }), { sync: true });
      await control.close();
      assert.ok((await everythingOnDisk(controlDir)).includes(mrn));
      await rm(controlDir, { recursive: true, force: true });
    });

    it('opening with the wrong key fails with an error that says so', async () => {
      await buffer.append([makeObservation(1)]);
      await buffer.close();
      const wrong = new LevelDbBuffer({ ...options, key: randomBytes(32) });
      await assert.rejects(wrong.open(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'GW_ERR_BUFFER_WRONG_KEY');
        assert.match(err.message, /different GW_BUFFER_KEY/);
        return true;
      });
      await wrong.close();
      await reopen();
      assert.equal(buffer.stats().entries, 1, 'the right key still opens it (the failed open left it intact)');
    });

    it('opening does not decrypt the log: with every log value corrupted on disk it still opens with the right stats, and fails only on read', async () => {
      await buffer.append(Array.from({ length: 5 }, (_, i) => makeObservation(i)));
      await buffer.commit({ destination: 'ehr', cursor: 2n, deadLetters: [] });
      const { diskBytes: _, ...before } = buffer.stats();
      await buffer.close();

      // Flip every byte of every sealed log value, in place, behind the buffer's back.
      const raw = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      const logPrefix = Buffer.from('!log!');
      let corrupted = 0;
      for await (const [key, value] of raw.iterator({ gte: logPrefix, lt: Buffer.from('!log"') })) {
        await raw.put(key, Buffer.from(value.map((b) => b ^ 0xff)), { sync: true });
        corrupted++;
      }
      await raw.close();
      assert.equal(corrupted, 5);

      await reopen();
      const { diskBytes: __, ...after } = buffer.stats();
      assert.deepEqual(after, before, 'entries, backlog, oldest pending and pending bytes come from the clear age rows');
      await assert.rejects(buffer.read(0n, 10), { code: 'GW_ERR_BUFFER_DECRYPT' });
    });

    it('compaction deletes the age rows along with the log entries', async () => {
      await reopen({ retentionMs: 0 });
      await buffer.append(Array.from({ length: 10 }, (_, i) => makeObservation(i)));
      await buffer.commit({ destination: 'ehr', cursor: 6n, deadLetters: [] });
      await buffer.commit({ destination: 'fhir', cursor: 6n, deadLetters: [] });
      assert.deepEqual(await buffer.compact(), { deleted: 6 });
      const ages = await buffer.db.keys({ gte: Buffer.from('!age!'), lt: Buffer.from('!age"') }).all();
      assert.deepEqual(ages.map((k) => k.readBigUInt64BE(k.length - 8)), [7n, 8n, 9n, 10n]);
      await reopen({ retentionMs: 0 });
      assert.equal(buffer.stats().entries, 4);
    });

    it('a key that is not 32 bytes is refused before anything is opened', () => {
      assert.throws(() => new LevelDbBuffer({ ...options, key: randomBytes(16) }), { code: 'GW_ERR_BUFFER_KEY' });
    });
  });

  describe('disk quota', () => {
    it('intake is refused at the high-water mark, logged once, and resumes once the backlog is delivered', async () => {
      await buffer.close();
      const { logger, lines } = createMemoryLogger('info');
      buffer = new LevelDbBuffer({ ...options, destinations: ['ehr'], quotaBytes: 80_000, highWaterRatio: 0.5 }, logger);
      await buffer.open();
      let n = 0;
      while ((await buffer.append([makeObservation(n)]))[0]?.kind === 'stored') n++;
      assert.ok(n > 10 && n < 80, `${n} observations fit`);
      const [refused] = await buffer.append([makeObservation(1000)]);
      assert.equal(refused?.kind, 'refused');
      assert.equal((refused as { code: string }).code, 'GW_ERR_BUFFER_FULL');
      assert.match((refused as { reason: string }).reason, /high-water mark/);
      assert.equal(buffer.stats().intakeRefused, true);
      assert.equal(buffer.stats().entries, n, 'unsent data is never evicted');
      assert.equal(lines.filter((l) => String(l.msg).includes('intake refused')).length, 1);

      await buffer.commit({ destination: 'ehr', cursor: buffer.stats().headSeq, deadLetters: [] });
      const [accepted] = await buffer.append([makeObservation(1000)]);
      assert.equal(accepted?.kind, 'stored');
      assert.equal(buffer.stats().intakeRefused, false);
      assert.ok(buffer.stats().diskBytes < 40_000, `${buffer.stats().diskBytes} bytes after reclaiming`);
      assert.equal((await buffer.append([makeObservation(0)]))[0]?.kind, 'duplicate', 'dedupe outlives an early compaction');
      assert.ok(lines.some((l) => String(l.msg).includes('intake resumed')));
    });
  });

  describe('compaction', () => {
    it('compaction deletes delivered entries past retention and reads start after them', async () => {
      await reopen({ retentionMs: 0 });
      for (let i = 0; i < 10; i++) await buffer.append(Array.from({ length: 100 }, (_, j) => makeObservation(i * 100 + j)));
      await buffer.commit({ destination: 'ehr', cursor: 900n, deadLetters: [] });
      await buffer.commit({ destination: 'fhir', cursor: 950n, deadLetters: [] });
      assert.deepEqual(await buffer.compact(), { deleted: 900 });
      const stats = buffer.stats();
      assert.equal(stats.entries, 100);
      assert.deepEqual(
        stats.destinations.map((d) => [d.destination, d.pending]),
        [['ehr', 100], ['fhir', 50]],
      );
      assert.equal((await buffer.read(0n, 1))[0]?.seq, 901n);
      assert.equal(await buffer.lookup('obs-00000899'), undefined);
      assert.equal(await buffer.lookup('obs-00000900'), 901n);
      assert.deepEqual(await buffer.compact(), { deleted: 0 }, 'nothing left that every destination passed');
    });
  });
});
