// In-memory shadow of the log's order: per entry its seq, append time and sealed size, so stats() answers
// every destination's backlog by binary search (O(destinations · log n)) instead of scanning the log.
//
// 12 bytes per entry (10^6 entries ≈ 12 MB), exact: entries live in fixed-size chunks of three Uint32Arrays
// (seq − the chunk's first seq; appendedAt ms − the chunk's time base; sealed bytes summed within the
// chunk), and each chunk keeps its bases and the running byte total before it as plain numbers. Growth
// adds a chunk (nothing is ever copied, so two large copies never coexist); compaction drops whole
// chunks from the front. A value that does not fit its chunk's 32-bit range (a seq gap of 2^32, the
// clock moving ±24 days, a chunk holding 4 GiB) closes the chunk early and starts the next.

export interface Backlog {
  pending: number;
  oldestPendingAt?: number;
  pendingBytes: number;
}

/** Entries per chunk: 8,192 × 12 bytes = 96 KiB. */
const CHUNK_ENTRIES = 8192;
const U32_MAX = 0xffff_ffff;
/** appendedAt is stored relative to the chunk's first append time minus this, so the clock may step back too. */
const AT_SLACK_MS = 2 ** 31;

class Chunk {
  readonly firstSeq: number;
  readonly atBase: number;
  /** Bytes of every entry pushed before this chunk (since the index was last emptied). */
  readonly bytesBefore: number;
  seq: Uint32Array;
  at: Uint32Array;
  /** Sealed bytes of entries [0, j] of this chunk (inclusive running sum). */
  cum: Uint32Array;
  /** Live range [start, end). */
  start = 0;
  end = 0;

  constructor(firstSeq: number, firstAt: number, bytesBefore: number) {
    this.firstSeq = firstSeq;
    this.atBase = firstAt - AT_SLACK_MS;
    this.bytesBefore = bytesBefore;
    this.seq = new Uint32Array(CHUNK_ENTRIES);
    this.at = new Uint32Array(CHUNK_ENTRIES);
    this.cum = new Uint32Array(CHUNK_ENTRIES);
  }

  get count(): number {
    return this.end - this.start;
  }

  seqAt(j: number): number {
    return this.firstSeq + (this.seq[j] as number);
  }

  lastSeq(): number {
    return this.seqAt(this.end - 1);
  }

  /** Bytes of this chunk's entries before index j. */
  cumBefore(j: number): number {
    return j === 0 ? 0 : (this.cum[j - 1] as number);
  }

  /** Appends unless the entry does not fit this chunk; returns whether it did. */
  tryPush(seq: number, appendedAt: number, bytes: number): boolean {
    if (this.end === this.seq.length) return false;
    const seqOff = seq - this.firstSeq;
    const atOff = appendedAt - this.atBase;
    const cum = this.cumBefore(this.end) + bytes;
    if (seqOff > U32_MAX || atOff < 0 || atOff > U32_MAX || cum > U32_MAX) return false;
    this.seq[this.end] = seqOff;
    this.at[this.end] = atOff;
    this.cum[this.end] = cum;
    this.end++;
    return true;
  }

  /** A chunk closed early keeps only what it holds. */
  shrinkToFit(): void {
    if (this.end === this.seq.length) return;
    this.seq = this.seq.slice(0, this.end);
    this.at = this.at.slice(0, this.end);
    this.cum = this.cum.slice(0, this.end);
  }

  /** First index in [start, end) with seq > `seq` (binary search; seqs are strictly increasing). */
  firstAfter(seq: number): number {
    const off = seq - this.firstSeq;
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.seq[mid] as number) <= off) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class LogIndex {
  #chunks: Chunk[] = [];
  #count = 0;
  /** Bytes of every entry pushed since the index was last empty; differences give range sizes. */
  #totalBytes = 0;
  #lastSeq = 0;

  get count(): number {
    return this.#count;
  }

  /** Sealed bytes of every entry still indexed. */
  get bytes(): number {
    const first = this.#chunks[0];
    return first === undefined ? 0 : this.#totalBytes - first.bytesBefore - first.cumBefore(first.start);
  }

  firstSeq(): number | undefined {
    const first = this.#chunks[0];
    return first === undefined ? undefined : first.seqAt(first.start);
  }

  /** Entries must arrive in increasing seq order (the log's order); appendedAt is epoch ms. */
  push(seq: number, appendedAt: number, bytes: number): void {
    if (this.#count > 0 && seq <= this.#lastSeq) {
      throw new RangeError(`log index out of order: ${seq} after ${this.#lastSeq}`);
    }
    const at = Math.round(appendedAt);
    const size = Math.max(0, Math.round(bytes));
    const last = this.#chunks.at(-1);
    if (last === undefined || !last.tryPush(seq, at, size)) {
      last?.shrinkToFit();
      const chunk = new Chunk(seq, at, this.#totalBytes);
      if (!chunk.tryPush(seq, at, size)) throw new RangeError(`log entry ${seq} of ${bytes} bytes does not fit the index`);
      this.#chunks.push(chunk);
    }
    this.#totalBytes += size;
    this.#lastSeq = seq;
    this.#count++;
  }

  /** Forget entries with seq ≤ `seq` (they were compacted away); returns how many. */
  dropThrough(seq: number): number {
    let dropped = 0;
    while (this.#chunks.length > 0) {
      const first = this.#chunks[0] as Chunk;
      const cut = first.firstAfter(seq);
      dropped += cut - first.start;
      first.start = cut;
      if (first.start < first.end) break;
      this.#chunks.shift();
    }
    this.#count -= dropped;
    if (this.#count === 0) {
      this.#chunks = [];
      this.#totalBytes = 0;
    }
    return dropped;
  }

  /** The backlog of a destination whose cursor is `cursor`: entries with seq > cursor. */
  backlogAfter(cursor: number): Backlog {
    const chunks = this.#chunks;
    // The first chunk holding a seq > cursor (chunks are in seq order).
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((chunks[mid] as Chunk).lastSeq() <= cursor) lo = mid + 1;
      else hi = mid;
    }
    const chunk = chunks[lo];
    if (chunk === undefined) return { pending: 0, pendingBytes: 0 };
    const j = chunk.firstAfter(cursor);
    let pending = chunk.end - j;
    for (let k = lo + 1; k < chunks.length; k++) pending += (chunks[k] as Chunk).count;
    return {
      pending,
      oldestPendingAt: chunk.atBase + (chunk.at[j] as number),
      pendingBytes: this.#totalBytes - chunk.bytesBefore - chunk.cumBefore(j),
    };
  }
}
