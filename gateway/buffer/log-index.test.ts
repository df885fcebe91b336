// The log index answers every destination's backlog exactly, whatever the seqs, clocks and sizes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LogIndex } from './log-index.ts';

interface Entry {
  seq: number;
  at: number;
  bytes: number;
}

/** The obvious answer, by scanning every entry. */
function naiveBacklog(entries: Entry[], cursor: number): { pending: number; oldestPendingAt?: number; pendingBytes: number } {
  const after = entries.filter((e) => e.seq > cursor);
  if (after.length === 0) return { pending: 0, pendingBytes: 0 };
  return { pending: after.length, oldestPendingAt: after[0]!.at, pendingBytes: after.reduce((a, e) => a + e.bytes, 0) };
}

describe('log index', () => {
  it('gives the same backlog as a scan of the log, across many chunks, seq gaps, clock jumps, huge entries and compactions', () => {
    const index = new LogIndex();
    let entries: Entry[] = [];
    let seq = 0;
    let at = Date.UTC(2026, 0, 1);
    let state = 42;
    const random = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    for (let round = 0; round < 40; round++) {
      const count = 1 + random(2000);
      for (let i = 0; i < count; i++) {
        seq += random(50) === 0 ? 2 ** 33 : 1 + random(3); // now and then a gap wider than 32 bits
        const jump = random(500);
        at += jump === 0 ? -40 * 86_400_000 : jump === 1 ? 60 * 86_400_000 : random(1000); // clock steps back and forth
        const bytes = random(100) === 0 ? 300_000_000 : 800 + random(800);
        index.push(seq, at, bytes);
        entries.push({ seq, at, bytes });
      }
      if (random(3) === 0 && entries.length > 0) {
        const through = entries[random(entries.length)]!.seq;
        assert.equal(index.dropThrough(through), entries.filter((e) => e.seq <= through).length);
        entries = entries.filter((e) => e.seq > through);
      }
      assert.equal(index.count, entries.length);
      assert.equal(index.bytes, entries.reduce((a, e) => a + e.bytes, 0));
      assert.equal(index.firstSeq(), entries[0]?.seq);
      for (const cursor of [0, seq, ...Array.from({ length: 20 }, () => entries[random(Math.max(1, entries.length))]?.seq ?? 0)]) {
        assert.deepEqual(index.backlogAfter(cursor), naiveBacklog(entries, cursor));
      }
    }
  });

  it('refuses entries out of seq order', () => {
    const index = new LogIndex();
    index.push(5, 1, 1);
    assert.throws(() => index.push(5, 1, 1), RangeError);
  });

  it('is empty again once everything is dropped', () => {
    const index = new LogIndex();
    for (let s = 1; s <= 20_000; s++) index.push(s, 1000 + s, 10);
    assert.equal(index.dropThrough(20_000), 20_000);
    assert.deepEqual({ count: index.count, bytes: index.bytes, first: index.firstSeq() }, { count: 0, bytes: 0, first: undefined });
    assert.deepEqual(index.backlogAfter(0), { pending: 0, pendingBytes: 0 });
    index.push(20_001, 5, 7);
    assert.deepEqual(index.backlogAfter(0), { pending: 1, oldestPendingAt: 5, pendingBytes: 7 });
  });
});
