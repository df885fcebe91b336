// The store-and-forward buffer's contract (DESIGN "The buffer's promise", CONVENTIONS 8).
// A record's state (in the log, delivered, dead-lettered) and a destination's outcome are separate.
import type { AppendResult, BufferedObservation, Observation, Reading } from '../types.ts';

export interface BufferOptions {
  /** Directory of the LevelDB database. */
  dir: string;
  /** 32-byte AES-256-GCM key sealing every value that may hold PHI. */
  key: Buffer;
  /** Destinations that each get a durable cursor. */
  destinations: readonly string[];
  /** Disk quota in bytes for the whole database directory. */
  quotaBytes: number;
  /** Fraction of the quota at which intake is refused (0..1), e.g. 0.9. */
  highWaterRatio: number;
  /** Delivered entries older than this are deleted by `compact()`. */
  retentionMs: number;
  /** Longest time an append waits for companions before its batch is written (group commit). 0 = next tick. */
  groupCommitMaxDelayMs?: number;
  /** Largest number of entries in one synced batch. */
  groupCommitMaxEntries?: number;
}

export interface DeadLetter {
  destination: string;
  seq: bigint;
  observationId: string;
  /** Error code from gateway/errors.ts and the receiver's words. */
  code: string;
  reason: string;
  at: string;
  observation: Observation;
}

export interface QuarantinedReading {
  /** Stable id of the quarantined reading (deterministic from its content, so retransmits dedupe). */
  id: string;
  deviceId: string;
  reason: string;
  at: string;
  reading: Reading;
}

export interface DestinationBacklog {
  destination: string;
  /** Last sequence delivered or dead-lettered for this destination (0n before the first). */
  cursor: bigint;
  /** Entries in the log after the cursor. */
  pending: number;
  /** appendedAt (epoch ms) of the oldest entry after the cursor, or undefined when nothing is pending. */
  oldestPendingAt?: number;
  /** Approximate sealed bytes pending. */
  pendingBytes: number;
  deadLetters: number;
}

export interface BufferStats {
  /** Last sequence assigned. */
  headSeq: bigint;
  /** Entries in the log (delivered ones not yet compacted included). */
  entries: number;
  /** Bytes the database directory takes on disk, as last measured. */
  diskBytes: number;
  quotaBytes: number;
  /** True while intake is refused at the high-water mark. */
  intakeRefused: boolean;
  destinations: DestinationBacklog[];
  quarantined: number;
}

/** What dispatch commits after a send: the cursor moves, rejected items become dead letters, atomically. */
export interface CursorCommit {
  destination: string;
  /** New cursor: every entry up to and including it is delivered or dead-lettered. */
  cursor: bigint;
  deadLetters: Array<{ seq: bigint; observation: Observation; code: string; reason: string }>;
}

export interface ObservationBuffer {
  open(): Promise<void>;
  /**
   * Append Observations. Resolves only after the synced LevelDB batch holding them is on disk;
   * concurrent calls share one batch (group commit). Duplicates (same Observation id) are not stored twice.
   * Throws only for broken infrastructure (GW_ERR_BUFFER_IO, GW_ERR_BUFFER_CLOSED).
   */
  append(observations: readonly Observation[]): Promise<AppendResult[]>;
  /** Entries after `afterSeq`, in sequence order, at most `limit`. Reads with a `gt` cursor, never from the head. */
  read(afterSeq: bigint, limit: number): Promise<BufferedObservation[]>;
  cursor(destination: string): bigint;
  /** Durably (synced) move a destination's cursor and write its dead letters in one batch. */
  commit(commit: CursorCommit): Promise<void>;
  deadLetters(destination: string, limit?: number): Promise<DeadLetter[]>;
  /**
   * Put dead letters back at the end of the log as new entries marked `only: [destination]` (other
   * destinations skip them), removing them from the dead-letter store in the same batch; returns how many.
   */
  replayDeadLetters(destination: string, seqs?: readonly bigint[]): Promise<number>;
  /**
   * Remove chosen dead letters from the dead-letter store for good (an operator's decision, audited by the
   * caller); the Observation stays in the log until retention. Unknown seqs are ignored; returns how many.
   */
  discardDeadLetters(destination: string, seqs: readonly bigint[]): Promise<number>;
  quarantine: {
    add(entry: QuarantinedReading): Promise<void>;
    list(deviceId?: string): Promise<QuarantinedReading[]>;
    remove(ids: readonly string[]): Promise<void>;
  };
  /** A small durable key/value store for other subsystems' state (bindings). Values are sealed. */
  state: {
    get(key: string): Promise<unknown>;
    put(key: string, value: unknown): Promise<void>;
    del(key: string): Promise<void>;
    entries(prefix: string): Promise<Array<[string, unknown]>>;
  };
  /** Look up where an Observation id sits in the log. */
  lookup(observationId: string): Promise<bigint | undefined>;
  stats(): BufferStats;
  /** Delete delivered entries past retention (and, above the high-water mark, delivered ones first). */
  compact(): Promise<{ deleted: number }>;
  close(): Promise<void>;
}
