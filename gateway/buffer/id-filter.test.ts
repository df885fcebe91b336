// The id filter may say "maybe" for an id it never saw, but never "no" for one it did.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdFilter } from './id-filter.ts';

describe('id filter', () => {
  it('never rules out an id it was given, and rarely lets an unknown one through', () => {
    const filter = new IdFilter(50_000);
    for (let i = 0; i < 50_000; i++) filter.add(`obs-${i}`);
    for (let i = 0; i < 50_000; i++) assert.ok(filter.mayContain(`obs-${i}`));
    let maybes = 0;
    for (let i = 50_000; i < 100_000; i++) if (filter.mayContain(`obs-${i}`)) maybes++;
    assert.ok(maybes < 1_000, `${maybes} false positives in 50000`);
    assert.equal(filter.full, false);
  });

  it('says when it is past its capacity', () => {
    const filter = new IdFilter(0);
    for (let i = 0; i <= filter.capacity; i++) filter.add(`id-${i}`);
    assert.equal(filter.full, true);
  });
});
