// The in-memory buffer against the storage contract, plus its own high-water behaviour.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CONTRACT_DEFAULTS, makeObservation, runBufferContract } from './contract.ts';
import { MemoryBuffer, MemoryBufferStore } from './memory-buffer.ts';

runBufferContract('memory', async (overrides) => {
  const options = { ...CONTRACT_DEFAULTS, ...overrides };
  const store = new MemoryBufferStore();
  let current = new MemoryBuffer(options, undefined, store);
  await current.open();
  return {
    buffer: current,
    reopen: async () => {
      current = new MemoryBuffer(options, undefined, store);
      await current.open();
      return current;
    },
    cleanup: () => current.close(),
  };
});

describe('memory buffer', () => {
  it('refuses intake at the high-water mark and takes it again once the backlog is delivered', async () => {
    const buffer = new MemoryBuffer({ destinations: ['ehr'], quotaBytes: 4000, highWaterRatio: 0.5, retentionMs: 3600_000 });
    await buffer.open();
    let n = 0;
    while ((await buffer.append([makeObservation(n)]))[0]?.kind === 'stored') n++;
    const [refused] = await buffer.append([makeObservation(1000)]);
    assert.equal(refused?.kind, 'refused');
    assert.equal((refused as { code: string }).code, 'GW_ERR_BUFFER_FULL');
    assert.equal(buffer.stats().intakeRefused, true);
    await buffer.commit({ destination: 'ehr', cursor: buffer.stats().headSeq, deadLetters: [] });
    assert.equal((await buffer.append([makeObservation(1000)]))[0]?.kind, 'stored');
    assert.equal((await buffer.append([makeObservation(0)]))[0]?.kind, 'duplicate', 'dedupe outlives a compaction for space');
    await buffer.close();
  });
});
