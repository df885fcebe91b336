// Dispatch: one loop per destination reading from its durable cursor, in order (DESIGN "Destination.send").
// Dispatch alone owns cursors, back-off, the circuit breaker and dead-lettering; bridges own only their protocol.
import type { AuditEvent, AuditSink } from './audit/types.ts';
import type { Logger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { CursorCommit, ObservationBuffer } from './buffer/types.ts';
import type { BufferedObservation, Destination, SendOutcome } from './types.ts';

export interface DispatchOptions {
  batchSize: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  breakerThreshold: number;
  breakerOpenMs: number;
  /** How often an idle loop looks at the buffer even without a wake-up (covers replays and restarts). */
  idlePollMs?: number;
  random?: () => number;
}

export const DispatchState = {
  idle: 'idle',
  sending: 'sending',
  backoff: 'backoff',
  /** Circuit open: no sends until breakerOpenMs has passed, then one probe item (half-open). */
  open: 'open',
  stopped: 'stopped',
} as const;
export type DispatchState = (typeof DispatchState)[keyof typeof DispatchState];

export interface DispatchStatus {
  destination: string;
  state: DispatchState;
  consecutiveFailures: number;
  lastError?: { code: string; reason: string; at: string };
  lastDeliveryAt?: string;
  lastReceipt?: string;
  nextAttemptAt?: string;
  /** Items delivered per second over the last minute (drain ETA = pending / this); 0 when none. */
  deliveryRatePerSecond: number;
  /** Failed attempts (retries and rejections) in the last minute: the status page's error rate. */
  errorsLastMinute: number;
  /** Entries passed over by this destination's routing filter since start. */
  skipped: number;
}

/** Deliveries per second over a sliding window of one-second slots (no timer; read on demand). */
export class DeliveryRate {
  readonly #slots = new Map<number, number>();
  constructor(
    readonly windowSeconds = 60,
    readonly now: () => number = Date.now,
  ) {}
  record(count: number): void {
    const slot = Math.floor(this.now() / 1000);
    this.#slots.set(slot, (this.#slots.get(slot) ?? 0) + count);
    for (const key of this.#slots.keys()) if (key <= slot - this.windowSeconds) this.#slots.delete(key);
  }
  /** Everything recorded within the window. */
  count(): number {
    const nowSlot = Math.floor(this.now() / 1000);
    let total = 0;
    for (const [slot, n] of this.#slots) if (slot > nowSlot - this.windowSeconds) total += n;
    return total;
  }
  perSecond(): number {
    const nowSlot = Math.floor(this.now() / 1000);
    let total = 0;
    let first = nowSlot;
    for (const [slot, n] of this.#slots) {
      if (slot <= nowSlot - this.windowSeconds) continue;
      total += n;
      first = Math.min(first, slot);
    }
    // Divide by the span actually observed (at least one second), so a fresh drain is not understated.
    return total / Math.max(1, nowSlot - first + 1);
  }
}

/** Seconds until `pending` items are delivered at `ratePerSecond`; undefined while nothing is being delivered. */
export function drainEtaSeconds(pending: number, ratePerSecond: number): number | undefined {
  if (pending === 0) return 0;
  if (!(ratePerSecond > 0)) return undefined;
  return Math.ceil(pending / ratePerSecond);
}

/**
 * Codes whose reason carries the receiver's own words (MSA-3, ERR), which may quote patient data.
 * Their text goes to the sealed dead-letter store and debug logs, never to info/warn logs or /v1/status.
 */
const RECEIVER_TEXT_CODES: ReadonlySet<string> = new Set([
  'GW_ERR_MLLP_ACK_ERROR',
  'GW_ERR_MLLP_ACK_REJECT',
  'GW_ERR_MLLP_ACK_MALFORMED',
  'GW_ERR_MLLP_ACK_MISMATCH',
  'GW_ERR_FHIR_ENTRY_REJECTED', // OperationOutcome diagnostics may quote the resource
]);

export function publicReason(code: string, reason: string): string {
  return RECEIVER_TEXT_CODES.has(code) ? `${code}: receiver text withheld (see the dead-letter store or the debug log)` : reason;
}

export class DestinationDispatcher {
  readonly #destination: Destination;
  readonly #buffer: ObservationBuffer;
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #opts: Required<DispatchOptions>;
  readonly #audit: AuditSink | undefined;
  #status: DispatchStatus;
  #running = false;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #wake: (() => void) | undefined;
  #woken = false;
  readonly #rate: DeliveryRate;
  /** Failed attempts, counted like deliveries. */
  readonly #errors: DeliveryRate;

  constructor(args: {
    destination: Destination;
    buffer: ObservationBuffer;
    logger: Logger;
    metrics?: GatewayMetrics;
    options: DispatchOptions;
    audit?: AuditSink;
  }) {
    this.#audit = args.audit;
    this.#destination = args.destination;
    this.#buffer = args.buffer;
    this.#log = args.logger.child({ stage: 'dispatch', destination: args.destination.id });
    this.#metrics = args.metrics;
    this.#opts = { idlePollMs: 1000, random: Math.random, ...args.options };
    this.#status = { destination: args.destination.id, state: 'idle', consecutiveFailures: 0, deliveryRatePerSecond: 0, errorsLastMinute: 0, skipped: 0 };
    this.#rate = new DeliveryRate();
    this.#errors = new DeliveryRate();
  }

  get id(): string {
    return this.#destination.id;
  }

  status(): DispatchStatus {
    return { ...this.#status, deliveryRatePerSecond: this.#rate.perSecond(), errorsLastMinute: this.#errors.count() };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((err: unknown) => {
      // A throw here is a bug or broken storage: say so loudly, the readiness probe reports it.
      this.#log.fatal({ err }, 'dispatch loop stopped by an unexpected error');
      this.#status.state = 'stopped';
      this.#status.lastError = { code: 'GW_ERR_BUFFER_IO', reason: (err as Error).message, at: new Date().toISOString() };
    });
  }

  /** New entries are in the buffer: stop waiting. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stop after the send in flight (aborting it between messages), leaving the cursor where it is durable. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    this.wake();
    await this.#loop;
    this.#status.state = 'stopped';
  }

  async #run(): Promise<void> {
    let cursor = this.#buffer.cursor(this.#destination.id);
    let probe = false; // half-open: after the circuit's pause, send a single item first
    while (this.#running) {
      const limit = probe ? 1 : (this.#destination.preferredBatchSize ?? this.#opts.batchSize);
      const entries = await this.#buffer.read(cursor, limit);
      if (entries.length === 0) {
        this.#status.state = 'idle';
        await this.#sleep(this.#opts.idlePollMs, true);
        continue;
      }
      const mine = entries.filter((e) => (e.only === undefined || e.only.includes(this.#destination.id)) && this.#routes(e));
      const lastSeq = entries.at(-1)!.seq;
      if (mine.length === 0) {
        const from = cursor;
        cursor = await this.#commit({ destination: this.#destination.id, cursor: lastSeq, deadLetters: [] });
        this.#countSkipped(entries, mine, from, cursor);
        continue;
      }
      this.#status.state = 'sending';
      const outcomes = await this.#send(mine);
      if (!this.#running && outcomes.every((o) => o.kind === 'retry')) break;
      const { commit, retry, audit } = this.#account(entries, mine, outcomes, cursor);
      if (commit.cursor > cursor) {
        const from = cursor;
        cursor = await this.#commit(commit);
        this.#countSkipped(entries, mine, from, cursor);
      }
      for (const event of audit) this.#audit?.record(event); // after the commit: delivered means durably past the cursor
      if (!retry) {
        probe = false;
        this.#status.consecutiveFailures = 0;
        this.#metrics?.breakerOpen.set({ destination: this.#destination.id }, 0);
        continue;
      }
      probe = await this.#backOff(retry);
    }
  }

  /** The destination's routing filter; an entry it does not take is skipped (cursor moves, no delivery, no dead letter). */
  #routes(entry: BufferedObservation): boolean {
    if (entry.only !== undefined || this.#destination.accepts === undefined) return true; // a replay names its destination
    return this.#destination.accepts(entry.observation);
  }

  /** Count (once) the filtered entries the cursor has just moved past. */
  #countSkipped(entries: BufferedObservation[], mine: BufferedObservation[], from: bigint, to: bigint): void {
    if (entries.length === mine.length) return;
    const taken = new Set(mine.map((e) => e.seq));
    for (const e of entries) {
      if (taken.has(e.seq) || e.only !== undefined || e.seq <= from || e.seq > to) continue;
      this.#status.skipped++;
      this.#metrics?.skipped.inc({ destination: this.#destination.id, reason: 'filter' });
      this.#log.debug({ observationId: e.observation.id }, 'skipped by the destination filter');
    }
  }

  async #send(batch: BufferedObservation[]): Promise<SendOutcome[]> {
    try {
      const outcomes = await this.#destination.send(batch, this.#abort.signal);
      if (outcomes.length !== batch.length) {
        throw new Error(`destination ${this.#destination.id} answered ${outcomes.length} outcomes for ${batch.length} items`);
      }
      return outcomes;
    } catch (err) {
      // A bridge must answer with values; a throw is its bug. Retry rather than lose or skip data.
      this.#log.error({ err }, 'destination threw instead of answering outcomes');
      return batch.map(() => ({ kind: 'retry', code: 'GW_ERR_MLLP_CONNECT', reason: (err as Error).message }));
    }
  }

  /** Walk outcomes in order: delivered and rejected move the cursor; the first retry stops the walk. */
  #account(
    entries: BufferedObservation[],
    mine: BufferedObservation[],
    outcomes: SendOutcome[],
    cursor: bigint,
  ): { commit: CursorCommit; retry?: Extract<SendOutcome, { kind: 'retry' }>; audit: AuditEvent[] } {
    const dest = this.#destination.id;
    const commit: CursorCommit = { destination: dest, cursor, deadLetters: [] };
    const audit: AuditEvent[] = [];
    const actor = `destination:${dest}`;
    const outcomeBySeq = new Map(mine.map((e, i) => [e.seq, outcomes[i]!]));
    for (const entry of entries) {
      const outcome = outcomeBySeq.get(entry.seq);
      if (outcome === undefined) {
        commit.cursor = entry.seq; // replayed entry meant for another destination
        continue;
      }
      const observationId = entry.observation.id;
      switch (outcome.kind) {
        case 'delivered':
          commit.cursor = entry.seq;
          this.#metrics?.delivered.inc({ destination: dest });
          this.#rate.record(1);
          if (outcome.receipt.latencyMs !== undefined) {
            this.#metrics?.ackLatency.observe({ destination: dest }, outcome.receipt.latencyMs / 1000);
          }
          this.#status.lastDeliveryAt = new Date().toISOString();
          this.#status.lastReceipt = outcome.receipt.id;
          this.#log.debug({ observationId, receipt: outcome.receipt }, 'delivered');
          audit.push({
            kind: 'delivered',
            actor,
            subject: { observationIds: [observationId ?? ''], destination: dest },
            detail: {
              seq: entry.seq.toString(),
              receiptId: outcome.receipt.id,
              ...(outcome.receipt.detail === undefined ? {} : { ackCode: outcome.receipt.detail }),
              ackedAt: new Date().toISOString(),
            },
          });
          break;
        case 'rejected':
          commit.cursor = entry.seq;
          commit.deadLetters.push({ seq: entry.seq, observation: entry.observation, code: outcome.code, reason: outcome.reason });
          this.#metrics?.rejected.inc({ destination: dest, code: outcome.code });
          this.#errors.record(1);
          this.#log.warn({ observationId, code: outcome.code, reason: publicReason(outcome.code, outcome.reason) }, 'rejected by destination; moved to dead-letter');
          this.#log.debug({ observationId, code: outcome.code, reason: outcome.reason }, 'receiver reason for the rejection');
          // The code only: the receiver's own text may quote patient data (see RECEIVER_TEXT_CODES).
          audit.push({ kind: 'dead-lettered', actor, subject: { observationIds: [observationId ?? ''], destination: dest }, detail: { seq: entry.seq.toString(), code: outcome.code } });
          break;
        case 'retry':
          this.#metrics?.retries.inc({ destination: dest, code: outcome.code });
          this.#errors.record(1);
          this.#status.lastError = { code: outcome.code, reason: publicReason(outcome.code, outcome.reason), at: new Date().toISOString() };
          {
            // First failure of a streak and every 50th after: a long outage must not flood the trail.
            const attempt = this.#status.consecutiveFailures + 1;
            if (attempt === 1 || attempt % 50 === 0) {
              audit.push({ kind: 'retried', actor, subject: { observationIds: [observationId ?? ''], destination: dest }, detail: { seq: entry.seq.toString(), code: outcome.code, attempt } });
            }
          }
          return { commit, retry: outcome, audit };
        default:
          outcome satisfies never;
      }
    }
    return { commit, audit };
  }

  async #commit(commit: CursorCommit): Promise<bigint> {
    await this.#buffer.commit(commit);
    return commit.cursor;
  }

  /** Exponential back-off with full jitter, capped; the circuit opens after `breakerThreshold` failures. Returns "probe next". */
  async #backOff(retry: Extract<SendOutcome, { kind: 'retry' }>): Promise<boolean> {
    const failures = ++this.#status.consecutiveFailures;
    const { backoffInitialMs, backoffMaxMs, breakerThreshold, breakerOpenMs, random } = this.#opts;
    const logAt = failures === 1 || failures === breakerThreshold || failures % 50 === 0 ? 'warn' : 'debug';
    this.#log[logAt]({ code: retry.code, reason: publicReason(retry.code, retry.reason), failures }, 'send failed; will retry');
    this.#log.debug({ code: retry.code, reason: retry.reason }, 'receiver reason for the retry');
    if (failures >= breakerThreshold) {
      this.#status.state = 'open';
      this.#metrics?.breakerOpen.set({ destination: this.#destination.id }, 1);
      const wait = Math.max(breakerOpenMs, retry.afterMs ?? 0);
      this.#status.nextAttemptAt = new Date(Date.now() + wait).toISOString();
      await this.#sleep(wait, false);
      return true;
    }
    this.#status.state = 'backoff';
    const ceiling = Math.min(backoffMaxMs, backoffInitialMs * 2 ** (failures - 1));
    const wait = Math.max(retry.afterMs ?? 0, Math.round(ceiling / 2 + (random() * ceiling) / 2));
    this.#status.nextAttemptAt = new Date(Date.now() + wait).toISOString();
    await this.#sleep(wait, false);
    return false;
  }

  /** Sleep; a wake() ends it early only when `wakeable` (idle), never a back-off. stop() always ends it. */
  #sleep(ms: number, wakeable: boolean): Promise<void> {
    if (wakeable && this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = () => {
        if (wakeable || !this.#running) done();
      };
    });
  }
}
