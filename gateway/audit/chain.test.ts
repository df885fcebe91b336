import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, hashRecord, verifyChain } from './chain.ts';
import { GENESIS_HASH, type AuditRecord } from './types.ts';

function chain(n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prevHash = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const base = { seq, time: '2026-11-23T08:00:00.000Z', kind: 'observation-stored' as const, actor: 'gateway', subject: { observationIds: [`obs-${seq}`] }, detail: { seq: String(seq) }, prevHash };
    const record = { ...base, hash: hashRecord(base) };
    prevHash = record.hash;
    out.push(record);
  }
  return out;
}

describe('audit chain', () => {
  it('canonical JSON does not depend on key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' } }), canonicalJson({ a: { c: 'x', d: [1, { x: 1, y: 2 }] }, b: 1 }));
  });

  it('an intact chain verifies and counts its records', () => {
    const result = verifyChain(chain(5));
    assert.deepEqual(result.ok && result.value.count, 5);
  });

  it('an edited, a removed or a reordered record is named', () => {
    const edited = chain(4);
    edited[2] = { ...edited[2]!, detail: { seq: '99' } };
    const removed = chain(4).filter((r) => r.seq !== 2);
    const relinked = chain(4);
    relinked[1] = { ...relinked[1]!, prevHash: GENESIS_HASH };
    for (const [records, seq, why] of [
      [edited, 3, /content does not match its hash/],
      [removed, 3, /expected seq 2/],
      [relinked, 2, /prevHash/],
    ] as const) {
      const result = verifyChain(records);
      assert.equal(result.ok, false);
      if (!result.ok) {
        assert.equal(result.issues[0]!.code, 'GW_ERR_AUDIT_CHAIN_BROKEN');
        assert.match(result.issues[0]!.message, new RegExp(`audit record ${seq} `));
        assert.match(result.issues[0]!.message, why);
      }
    }
  });
});
