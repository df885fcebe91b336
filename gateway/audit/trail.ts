// The audit trail: hash-chained records in the buffer's sealed state store under `audit/<seq>`, with an
// index `audit-by-obs/<observationId>/<seq>` so a trace never scans.
//
// Durability trade-off (decided): records are written in their own group-committed batches AFTER the
// reading's own synced batch, never inside it, so a device acknowledgement never waits for the audit.
// `record()` only queues; a flush on the next turn of the event loop writes every queued record, its
// index rows and the new head in one tick, which the buffer's commit queue writes as one synced batch
// (two if it hits groupCommitMaxEntries; the head goes last, so a head on disk implies its records are).
// A crash between a reading's batch and its audit batch loses those audit records, not the reading.
import type { ObservationBuffer } from '../buffer/types.ts';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { hashRecord } from './chain.ts';
import {
  AUDIT_BY_OBS_PREFIX,
  AUDIT_HEAD_KEY,
  AUDIT_PREFIX,
  GENESIS_HASH,
  auditByObsKey,
  auditKey,
  type AuditEvent,
  type AuditRecord,
  type AuditSink,
} from './types.ts';

type StateStore = ObservationBuffer['state'];

export class AuditTrail implements AuditSink {
  readonly #state: StateStore;
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics | undefined;
  #pending: AuditEvent[] = [];
  #seq = 0;
  #head = GENESIS_HASH;
  #flushing: Promise<void> | undefined;
  #closed = false;

  private constructor(state: StateStore, logger: Logger, metrics?: GatewayMetrics) {
    this.#state = state;
    this.#log = logger.child({ stage: 'audit' });
    this.#metrics = metrics;
  }

  /** Open over a buffer's state store, resuming the chain after its last durable record. */
  static async open(state: StateStore, logger: Logger, metrics?: GatewayMetrics): Promise<AuditTrail> {
    const trail = new AuditTrail(state, logger, metrics);
    const head = (await state.get(AUDIT_HEAD_KEY)) as { seq: number; hash: string } | undefined;
    let seq = head?.seq ?? 0;
    let hash = head?.hash ?? GENESIS_HASH;
    // Records of a group whose head write did not land (crash, split batch): follow them forward.
    for (;;) {
      const next = (await state.get(auditKey(seq + 1))) as AuditRecord | undefined;
      if (next === undefined) break;
      seq = next.seq;
      hash = next.hash;
    }
    trail.#seq = seq;
    trail.#head = hash;
    return trail;
  }

  get headSeq(): number {
    return this.#seq;
  }

  record(event: AuditEvent): void {
    if (this.#closed) {
      this.#metrics?.auditFailures.inc({ reason: 'GW_ERR_AUDIT_WRITE' });
      this.#log.error({ kind: event.kind }, 'audit record after close dropped');
      return;
    }
    this.#pending.push(event);
    if (this.#pending.length === 1 && this.#flushing === undefined) setImmediate(() => void this.flush());
  }

  /** Write everything queued so far; resolves once it is durable (or its failure logged). */
  async flush(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
    if (this.#pending.length === 0) return;
    const group = this.#pending;
    this.#pending = [];
    this.#flushing = this.#write(group).finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
    if (this.#pending.length > 0) await this.flush();
  }

  async #write(events: AuditEvent[]): Promise<void> {
    const time = new Date().toISOString();
    let seq = this.#seq;
    let prevHash = this.#head;
    const records: AuditRecord[] = events.map((e) => {
      seq += 1;
      const base = { seq, time, kind: e.kind, actor: e.actor, subject: e.subject, detail: e.detail ?? {}, prevHash };
      const record = { ...base, hash: hashRecord(base) };
      prevHash = record.hash;
      return record;
    });
    // All puts are issued in this tick, so the buffer's commit queue writes them as one synced batch.
    const writes: Array<Promise<void>> = [];
    for (const r of records) {
      writes.push(this.#state.put(auditKey(r.seq), r));
      for (const id of r.subject.observationIds ?? []) writes.push(this.#state.put(auditByObsKey(id, r.seq), r.seq));
    }
    writes.push(this.#state.put(AUDIT_HEAD_KEY, { seq, hash: prevHash }));
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // The chain stays where it was durable; the next group overwrites any part of this one that landed.
      const code = failed.reason instanceof GatewayError ? failed.reason.code : 'GW_ERR_AUDIT_WRITE';
      this.#metrics?.auditFailures.inc({ reason: code }, records.length);
      this.#log.error({ err: failed.reason, code, records: records.length }, 'audit records could not be written');
      return;
    }
    this.#seq = seq;
    this.#head = prevHash;
    for (const r of records) this.#metrics?.auditRecords.inc({ kind: r.kind });
  }

  /** Everything recorded about one Observation, in order (index rows, then one get per record). */
  async trace(observationId: string): Promise<AuditRecord[]> {
    await this.flush();
    const rows = await this.#state.entries(`${AUDIT_BY_OBS_PREFIX}${observationId}/`);
    const out: AuditRecord[] = [];
    for (const [, seq] of rows) {
      const record = (await this.#state.get(auditKey(seq as number))) as AuditRecord | undefined;
      // A row left by a failed group may point at a seq reused by a later record about something else.
      if (record?.subject.observationIds?.includes(observationId)) out.push(record);
    }
    return out;
  }

  /** The last `limit` records, oldest first (one get per record, no scan). */
  async recent(limit: number): Promise<AuditRecord[]> {
    await this.flush();
    const out: AuditRecord[] = [];
    for (let seq = Math.max(1, this.#seq - limit + 1); seq <= this.#seq; seq++) {
      const record = (await this.#state.get(auditKey(seq))) as AuditRecord | undefined;
      if (record !== undefined) out.push(record);
    }
    return out;
  }

  /** Flush and stop taking records; call before the buffer closes. */
  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }
}

/** Every record in seq order, for `gw audit verify` (reads the whole trail). */
export async function readAuditRecords(state: StateStore): Promise<AuditRecord[]> {
  return (await state.entries(AUDIT_PREFIX)).map(([, v]) => v as AuditRecord);
}
