// Hashing and verifying the audit chain: hash = SHA-256 over the canonical JSON (sorted keys, no
// whitespace, in the spirit of RFC 8785 JCS) of the record without its `hash`, `prevHash` included.
import { createHash } from 'node:crypto';
import { errorMessage } from '../errors.ts';
import type { Issue, Result } from '../types.ts';
import { GENESIS_HASH, type AuditRecord } from './types.ts';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  const { hash: _ignored, ...rest } = record as AuditRecord;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Walks records in seq order: each must follow its predecessor, link to its hash and hash to itself. */
export function verifyChain(records: Iterable<AuditRecord>): Result<{ count: number; headHash: string }> {
  let prevHash = GENESIS_HASH;
  let prevSeq = 0;
  let count = 0;
  for (const record of records) {
    const broken = (why: string): Result<{ count: number; headHash: string }> => {
      const found: Issue = { code: 'GW_ERR_AUDIT_CHAIN_BROKEN', message: errorMessage('GW_ERR_AUDIT_CHAIN_BROKEN', record.seq, why), path: `audit/${record.seq}` };
      return { ok: false, issues: [found] };
    };
    if (record.seq !== prevSeq + 1) return broken(`expected seq ${prevSeq + 1}`);
    if (record.prevHash !== prevHash) return broken('prevHash does not match the previous record');
    if (hashRecord(record) !== record.hash) return broken('content does not match its hash');
    prevHash = record.hash;
    prevSeq = record.seq;
    count += 1;
  }
  return { ok: true, value: { count, headHash: prevHash } };
}
