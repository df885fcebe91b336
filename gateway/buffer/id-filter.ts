// A Bloom filter over the Observation ids in the buffer's idx, so an append only asks LevelDB about ids
// that may already be there (retransmits, ~1% false positives) instead of every id: getMany was ~3 µs
// of main-thread time per id plus a thread-pool round trip on every batch.
// Never a false negative as long as every id is added before (or when) its idx row is written;
// deletions are not supported, so a deleted id stays "maybe present" until the next rebuild.

const BITS_PER_ID = 10; // with 7 probes: ~0.8% false positives at capacity
const PROBES = 7;
const MIN_BITS = 1 << 20; // 128 KiB

export class IdFilter {
  readonly #bits: Uint32Array;
  readonly #mask: number;
  /** Ids added; past `capacity` the false-positive rate climbs and the owner should rebuild. */
  #count = 0;

  constructor(expectedIds: number) {
    let size = MIN_BITS;
    // At least BITS_PER_ID bits per expected id, rounded up to a power of two (so 1–2× that).
    while (size < expectedIds * BITS_PER_ID) size *= 2;
    this.#bits = new Uint32Array(size / 32);
    this.#mask = size - 1;
  }

  get capacity(): number {
    return (this.#mask + 1) / BITS_PER_ID;
  }

  get full(): boolean {
    return this.#count > this.capacity;
  }

  add(id: string): void {
    let [h1, h2] = hashes(id);
    for (let i = 0; i < PROBES; i++) {
      const bit = h1 & this.#mask;
      this.#bits[bit >>> 5] = (this.#bits[bit >>> 5] as number) | (1 << (bit & 31));
      h1 = (h1 + h2) >>> 0;
    }
    this.#count++;
  }

  /** False means certainly absent; true means "look it up". */
  mayContain(id: string): boolean {
    let [h1, h2] = hashes(id);
    for (let i = 0; i < PROBES; i++) {
      const bit = h1 & this.#mask;
      if (((this.#bits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
      h1 = (h1 + h2) >>> 0;
    }
    return true;
  }
}

/** Two independent 32-bit FNV-1a-style hashes for double hashing (Kirsch–Mitzenmacher). */
function hashes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 13;
  a = Math.imul(a, 0xc2b2ae35);
  a ^= a >>> 16;
  return [a >>> 0, (b | 1) >>> 0];
}
