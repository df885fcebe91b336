import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket, laneOf } from './pacing.ts';

describe('the per-destination rate limit (token bucket)', () => {
  it('allows one second worth of requests at once, then one per 1/rate seconds', () => {
    let now = 0;
    const bucket = new TokenBucket(4, () => now);
    for (let i = 0; i < 4; i++) assert.equal(bucket.tryTake(), 0);
    assert.equal(bucket.tryTake(), 250, 'the fifth waits for a quarter second');
    now += 250;
    assert.equal(bucket.tryTake(), 0);
    assert.equal(bucket.tryTake(), 250);
  });
  it('refills no further than its capacity after a quiet spell', () => {
    let now = 0;
    const bucket = new TokenBucket(2, () => now);
    now += 60_000;
    assert.equal(bucket.tryTake(), 0);
    assert.equal(bucket.tryTake(), 0);
    assert.ok(bucket.tryTake() > 0);
  });
  it('handles rates below one per second', () => {
    let now = 0;
    const bucket = new TokenBucket(0.5, () => now);
    assert.equal(bucket.tryTake(), 0);
    assert.equal(bucket.tryTake(), 2000);
    now += 2000;
    assert.equal(bucket.tryTake(), 0);
  });
});

describe('lanes for concurrent bundles', () => {
  it('always puts one patient in the same lane', () => {
    assert.equal(laneOf('urn:x|MRN1', 4), laneOf('urn:x|MRN1', 4));
    const lanes = new Set(Array.from({ length: 50 }, (_, i) => laneOf(`urn:x|MRN${i}`, 4)));
    assert.ok(lanes.size > 1, 'patients spread over lanes');
    for (const l of lanes) assert.ok(l >= 0 && l < 4);
  });
});
