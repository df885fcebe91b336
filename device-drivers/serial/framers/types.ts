// What every framer returns: frames and errors as values, never throws for bad bytes (CONVENTIONS 6).
import type { Issue } from '../../../gateway/types.ts';

export type FramerEvent =
  /** `frame` is the whole frame as it came off the wire (audit), `payload` what the record grammar reads. */
  | { kind: 'frame'; frame: Buffer; payload: Buffer }
  /** Bytes refused (garbage, cut or oversized frame, bad checksum); `dropped` says how many. */
  | { kind: 'error'; issue: Issue; dropped: number; frame?: Buffer };

/** A pure byte-stream → frame splitter. Keeps at most `maxBuffered` bytes between calls. */
export interface Framer {
  push(chunk: Uint8Array): FramerEvent[];
  /** Bytes held waiting for the rest of a frame. */
  buffered(): number;
  readonly maxBuffered: number;
}
