// An in-memory ObservationBuffer with the LevelDB buffer's semantics (same contract suite), for fast
// unit tests elsewhere. Nothing is sealed; "disk bytes" are the JSON bytes held. Pass the same
// MemoryBufferStore to a new instance to simulate a restart.
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import { GatewayError, errorMessage } from '../errors.ts';
import type { AppendResult, BufferedObservation, Observation } from '../types.ts';
import { LogIndex } from './log-index.ts';
import type {
  BufferOptions,
  BufferStats,
  CursorCommit,
  DeadLetter,
  ObservationBuffer,
  QuarantinedReading,
} from './types.ts';

interface MemoryEntry {
  json: string;
  appendedAt: number;
  observationId: string;
  bytes: number;
}

/** What survives a "restart": hand it to the next MemoryBuffer. */
export class MemoryBufferStore {
  readonly log = new Map<bigint, MemoryEntry>();
  readonly idx = new Map<string, bigint>();
  readonly cursors = new Map<string, bigint>();
  /** destination → seq → DeadLetter as JSON (seq as a string). */
  readonly dead = new Map<string, Map<bigint, string>>();
  readonly quarantine = new Map<string, string>();
  readonly state = new Map<string, string>();
  head = 0n;
  tail = 1n;
  /** idx rows of entries deleted early for space, kept until their retention passes. */
  readonly orphans: Array<{ id: string; seq: bigint; expiresAt: number }> = [];
  bytes = 0;
}

export type MemoryBufferOptions = Pick<BufferOptions, 'destinations'> &
  Partial<Omit<BufferOptions, 'destinations'>>;

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class MemoryBuffer implements ObservationBuffer {
  readonly #destinations: ReadonlySet<string>;
  readonly #quotaBytes: number;
  readonly #highWater: number;
  readonly #retentionMs: number;
  readonly #store: MemoryBufferStore;
  readonly #log: Logger;
  #index = new LogIndex();
  #open = false;
  #closed = false;
  #inflight = 0;

  constructor(options: MemoryBufferOptions, logger?: Logger, store: MemoryBufferStore = new MemoryBufferStore()) {
    this.#destinations = new Set(options.destinations);
    this.#quotaBytes = options.quotaBytes ?? Number.MAX_SAFE_INTEGER;
    this.#highWater = this.#quotaBytes * (options.highWaterRatio ?? 1);
    this.#retentionMs = options.retentionMs ?? 24 * 3600_000;
    this.#store = store;
    // Used as given: the composition root hands in a child carrying { stage: 'buffer' } (CONVENTIONS 10).
    this.#log = logger ?? pino({ level: 'silent' });
  }

  get store(): MemoryBufferStore {
    return this.#store;
  }

  async open(): Promise<void> {
    if (this.#closed) throw new GatewayError('GW_ERR_BUFFER_CLOSED');
    if (this.#open) return;
    const s = this.#store;
    for (const d of this.#destinations) if (!s.cursors.has(d)) s.cursors.set(d, 0n);
    this.#index = new LogIndex();
    for (const [seq, e] of [...s.log].sort(([a], [b]) => (a < b ? -1 : 1))) this.#index.push(Number(seq), e.appendedAt, e.bytes);
    this.#open = true;
  }

  async append(observations: readonly Observation[]): Promise<AppendResult[]> {
    this.#assertOpen();
    for (const [i, o] of observations.entries()) {
      if (typeof o?.id !== 'string' || o.id.length === 0) {
        throw new TypeError(`observations[${i}] has no id: normalize must derive one before the buffer`);
      }
    }
    if (observations.length === 0) return [];
    const s = this.#store;
    if (s.bytes >= this.#highWater) {
      await this.compact();
      if (s.bytes >= this.#highWater) {
        const reason = errorMessage('GW_ERR_BUFFER_FULL', s.bytes, this.#quotaBytes);
        return observations.map(() => ({ kind: 'refused', code: 'GW_ERR_BUFFER_FULL', reason }));
      }
    }
    await this.#tick(); // an append is never synchronous, as with the durable buffer
    const appendedAt = Date.now();
    return observations.map((observation): AppendResult => {
      const id = observation.id as string;
      const known = s.idx.get(id);
      if (known !== undefined) return { kind: 'duplicate', seq: known, observationId: id };
      const seq = this.#put(observation, appendedAt);
      return { kind: 'stored', seq, observationId: id };
    });
  }

  #put(observation: Observation, appendedAt: number, only?: readonly string[]): bigint {
    const s = this.#store;
    const seq = ++s.head;
    const json = JSON.stringify(only === undefined ? { appendedAt, observation } : { appendedAt, only, observation });
    const bytes = Buffer.byteLength(json);
    s.log.set(seq, { json, appendedAt, observationId: observation.id as string, bytes });
    s.idx.set(observation.id as string, seq);
    s.bytes += bytes;
    this.#index.push(Number(seq), appendedAt, bytes);
    return seq;
  }

  async read(afterSeq: bigint, limit: number): Promise<BufferedObservation[]> {
    this.#assertOpen();
    const s = this.#store;
    const out: BufferedObservation[] = [];
    for (let seq = afterSeq + 1n > s.tail ? afterSeq + 1n : s.tail; seq <= s.head && out.length < limit; seq++) {
      const e = s.log.get(seq);
      if (e === undefined) continue;
      const record = JSON.parse(e.json) as { appendedAt: number; only?: string[]; observation: Observation };
      const entry: BufferedObservation = { seq, observation: record.observation, appendedAt: record.appendedAt };
      if (record.only !== undefined) entry.only = record.only;
      out.push(entry);
    }
    return out;
  }

  cursor(destination: string): bigint {
    this.#assertDestination(destination);
    return this.#store.cursors.get(destination) ?? 0n;
  }

  async commit(commit: CursorCommit): Promise<void> {
    this.#assertOpen();
    const { destination, cursor, deadLetters } = commit;
    this.#assertDestination(destination);
    const s = this.#store;
    const before = s.cursors.get(destination) ?? 0n;
    assert.equal(typeof cursor, 'bigint', 'cursor must be a bigint');
    assert.ok(cursor >= before, `cursor of "${destination}" may only move forward (${before} → ${cursor})`);
    assert.ok(cursor <= s.head, `cursor of "${destination}" is past the head (${cursor} > ${s.head})`);
    for (const d of deadLetters) {
      assert.ok(d.seq > before && d.seq <= cursor, `dead letter ${d.seq} of "${destination}" is outside (${before}, ${cursor}]`);
      assert.equal(typeof d.observation?.id, 'string', `dead letter ${d.seq} has no observation id`);
    }
    await this.#tick();
    const at = new Date().toISOString();
    const letters = s.dead.get(destination) ?? new Map<bigint, string>();
    s.dead.set(destination, letters);
    for (const d of deadLetters) {
      const json = JSON.stringify({
        destination,
        seq: d.seq.toString(),
        observationId: d.observation.id,
        code: d.code,
        reason: d.reason,
        at,
        observation: d.observation,
      });
      letters.set(d.seq, json);
      s.bytes += Buffer.byteLength(json);
    }
    s.cursors.set(destination, cursor);
  }

  async deadLetters(destination: string, limit?: number): Promise<DeadLetter[]> {
    this.#assertOpen();
    this.#assertDestination(destination);
    const letters = [...(this.#store.dead.get(destination) ?? new Map<bigint, string>())]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .slice(0, limit ?? Infinity);
    return letters.map(([, json]) => {
      const stored = JSON.parse(json) as Omit<DeadLetter, 'seq'> & { seq: string };
      return { ...stored, seq: BigInt(stored.seq) };
    });
  }

  async replayDeadLetters(destination: string, seqs?: readonly bigint[]): Promise<number> {
    this.#assertOpen();
    this.#assertDestination(destination);
    await this.#tick();
    const s = this.#store;
    const letters = s.dead.get(destination);
    if (letters === undefined) return 0;
    const chosen = [...letters.keys()].filter((seq) => seqs === undefined || seqs.includes(seq)).sort((a, b) => (a < b ? -1 : 1));
    const appendedAt = Date.now();
    for (const seq of chosen) {
      const json = letters.get(seq) as string;
      const letter = JSON.parse(json) as { observation: Observation };
      this.#put(letter.observation, appendedAt, [destination]);
      letters.delete(seq);
      s.bytes -= Buffer.byteLength(json);
    }
    return chosen.length;
  }

  async discardDeadLetters(destination: string, seqs: readonly bigint[]): Promise<number> {
    this.#assertOpen();
    this.#assertDestination(destination);
    await this.#tick();
    const letters = this.#store.dead.get(destination);
    if (letters === undefined) return 0;
    let discarded = 0;
    for (const seq of new Set(seqs)) {
      const json = letters.get(seq);
      if (json === undefined) continue;
      letters.delete(seq);
      this.#store.bytes -= Buffer.byteLength(json);
      discarded++;
    }
    return discarded;
  }

  readonly quarantine = {
    add: async (entry: QuarantinedReading): Promise<void> => {
      this.#assertOpen();
      assert.equal(typeof entry.id, 'string', 'quarantined reading needs an id');
      await this.#tick();
      const s = this.#store;
      const old = s.quarantine.get(entry.id);
      const json = JSON.stringify(entry);
      s.bytes += Buffer.byteLength(json) - (old === undefined ? 0 : Buffer.byteLength(old));
      s.quarantine.set(entry.id, json);
    },
    list: async (deviceId?: string): Promise<QuarantinedReading[]> => {
      this.#assertOpen();
      return [...this.#store.quarantine]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([, json]) => JSON.parse(json) as QuarantinedReading)
        .filter((q) => deviceId === undefined || q.deviceId === deviceId);
    },
    remove: async (ids: readonly string[]): Promise<void> => {
      this.#assertOpen();
      await this.#tick();
      const s = this.#store;
      for (const id of ids) {
        const old = s.quarantine.get(id);
        if (old === undefined) continue;
        s.bytes -= Buffer.byteLength(old);
        s.quarantine.delete(id);
      }
    },
  };

  readonly state = {
    get: async (key: string): Promise<unknown> => {
      this.#assertOpen();
      const json = this.#store.state.get(key);
      return json === undefined ? undefined : JSON.parse(json);
    },
    put: async (key: string, value: unknown): Promise<void> => {
      this.#assertOpen();
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError(`state "${key}": value is not JSON-serialisable`);
      await this.#tick();
      const s = this.#store;
      const old = s.state.get(key);
      s.bytes += Buffer.byteLength(json) - (old === undefined ? 0 : Buffer.byteLength(old));
      s.state.set(key, json);
    },
    del: async (key: string): Promise<void> => {
      this.#assertOpen();
      await this.#tick();
      const s = this.#store;
      const old = s.state.get(key);
      if (old !== undefined) s.bytes -= Buffer.byteLength(old);
      s.state.delete(key);
    },
    entries: async (prefix: string): Promise<Array<[string, unknown]>> => {
      this.#assertOpen();
      // LevelDB orders keys bytewise; compare the same way so both buffers list alike.
      return [...this.#store.state]
        .filter(([key]) => key.startsWith(prefix))
        .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        .map(([key, json]): [string, unknown] => [key, JSON.parse(json)]);
    },
  };

  async lookup(observationId: string): Promise<bigint | undefined> {
    this.#assertOpen();
    return this.#store.idx.get(observationId);
  }

  stats(): BufferStats {
    const s = this.#store;
    return {
      headSeq: s.head,
      entries: this.#index.count,
      diskBytes: s.bytes,
      quotaBytes: this.#quotaBytes,
      intakeRefused: s.bytes >= this.#highWater,
      destinations: [...this.#destinations].map((destination) => {
        const cursor = s.cursors.get(destination) ?? 0n;
        return { destination, cursor, ...this.#index.backlogAfter(Number(cursor)), deadLetters: s.dead.get(destination)?.size ?? 0 };
      }),
      quarantined: s.quarantine.size,
    };
  }

  /** Same rules as LevelDbBuffer.compact(); with zero destinations nothing is ever delivered, so nothing goes. */
  async compact(): Promise<{ deleted: number }> {
    this.#assertOpen();
    const s = this.#store;
    const now = Date.now();
    let deleted = 0;
    if (this.#destinations.size > 0) {
      const minCursor = [...this.#destinations].map((d) => s.cursors.get(d) ?? 0n).reduce((a, b) => (b < a ? b : a));
      const overHighWater = s.bytes >= this.#highWater;
      const cutoff = now - this.#retentionMs;
      for (let seq = s.tail; seq <= minCursor; seq++) {
        const e = s.log.get(seq);
        if (e !== undefined) {
          const expired = e.appendedAt <= cutoff;
          if (!expired && !overHighWater) break;
          s.log.delete(seq);
          s.bytes -= e.bytes;
          if (s.idx.get(e.observationId) === seq) {
            if (expired) s.idx.delete(e.observationId);
            else s.orphans.push({ id: e.observationId, seq, expiresAt: e.appendedAt + this.#retentionMs });
          }
          deleted++;
        }
        s.tail = seq + 1n;
      }
      this.#index.dropThrough(Number(s.tail - 1n));
    }
    for (let i = s.orphans.length - 1; i >= 0; i--) {
      const o = s.orphans[i] as { id: string; seq: bigint; expiresAt: number };
      if (o.expiresAt > now) continue;
      if (s.idx.get(o.id) === o.seq) s.idx.delete(o.id);
      s.orphans.splice(i, 1);
    }
    if (deleted > 0) this.#log.debug({ deleted }, 'buffer compacted');
    return { deleted };
  }

  /** Waits for writes already accepted, like the durable buffer's close. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inflight > 0) await tick();
    this.#open = false;
  }

  /** A write's hop through the event loop, counted so close() can wait for it. */
  async #tick(): Promise<void> {
    this.#inflight++;
    try {
      await tick();
    } finally {
      this.#inflight--;
    }
  }

  #assertOpen(): void {
    if (!this.#open || this.#closed) throw new GatewayError('GW_ERR_BUFFER_CLOSED');
  }

  #assertDestination(destination: string): void {
    if (!this.#destinations.has(destination)) {
      throw new GatewayError('GW_ERR_NOT_FOUND', [`destination "${destination}" (configured: ${[...this.#destinations].join(', ') || 'none'})`]);
    }
  }
}
