// MLLP framing (HL7 v2.5.1 Appendix C, "Minimal Lower Layer Protocol"): <VT> message <FS><CR>.
// Pure: no sockets here. Messages are UTF-8 on the wire.
import { issue } from '../../gateway/errors.ts';
import type { Result } from '../../gateway/types.ts';

export const VT = 0x0b; // start block
export const FS = 0x1c; // end block
export const CR = 0x0d; // carriage return, after FS

export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

export function frame(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}

type State = 'seeking' | 'inFrame' | 'skipping';

/**
 * Streaming decoder: push() bytes as they arrive, get back every message completed by them.
 * Bytes outside a frame are discarded (counted in `discardedBytes`); a VT inside a frame starts a
 * new frame (the broken one is discarded); a frame longer than maxFrameBytes yields one error value,
 * its remaining bytes are skipped up to its FS CR, and decoding carries on with the next frame.
 */
export class MllpDecoder {
  readonly maxFrameBytes: number;
  discardedBytes = 0;
  private state: State = 'seeking';
  private parts: Buffer[] = [];
  private size = 0;
  /** The previous chunk ended in FS: whether it ends the frame depends on the next byte. */
  private pendingFs = false;

  constructor(options: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Bytes of an unfinished frame held in memory. */
  get bufferedBytes(): number {
    return this.size;
  }

  push(chunk: Uint8Array): Array<Result<string>> {
    const out: Array<Result<string>> = [];
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let i = 0;

    if (this.pendingFs && buf.length > 0) {
      this.pendingFs = false;
      if (buf[0] === CR) {
        this.endFrame(out);
        i = 1;
      } else {
        this.append(Buffer.of(FS), out); // a lone FS is content
      }
    }

    while (i < buf.length) {
      if (this.state === 'seeking') {
        const start = buf.indexOf(VT, i);
        if (start === -1) {
          this.discardedBytes += buf.length - i;
          break;
        }
        this.discardedBytes += start - i;
        this.startFrame();
        i = start + 1;
        continue;
      }

      const j = nextMarker(buf, i);
      if (j === -1) {
        this.append(buf.subarray(i), out);
        break;
      }
      if (buf[j] === VT) {
        // A new start block before the end of this one: the sender lost the end; resynchronise.
        this.append(buf.subarray(i, j), out);
        this.discardedBytes += this.size;
        this.startFrame();
        i = j + 1;
        continue;
      }
      // buf[j] === FS
      if (j + 1 === buf.length) {
        this.append(buf.subarray(i, j), out);
        this.pendingFs = true;
        break;
      }
      if (buf[j + 1] === CR) {
        this.append(buf.subarray(i, j), out);
        this.endFrame(out);
        i = j + 2;
      } else {
        this.append(buf.subarray(i, j + 1), out);
        i = j + 1;
      }
    }
    return out;
  }

  /** Forget any partial frame (after the connection it came from is gone). */
  reset(): void {
    this.discardedBytes += this.size;
    this.state = 'seeking';
    this.parts = [];
    this.size = 0;
    this.pendingFs = false;
  }

  private startFrame(): void {
    this.state = 'inFrame';
    this.parts = [];
    this.size = 0;
  }

  private append(bytes: Buffer, out: Array<Result<string>>): void {
    if (bytes.length === 0) return;
    if (this.state === 'skipping') {
      this.discardedBytes += bytes.length;
      return;
    }
    this.size += bytes.length;
    if (this.size > this.maxFrameBytes) {
      out.push({ ok: false, issues: [issue('GW_ERR_MLLP_FRAME_TOO_LARGE', undefined, this.maxFrameBytes)] });
      this.discardedBytes += this.size;
      this.parts = [];
      this.size = 0;
      this.state = 'skipping';
      return;
    }
    this.parts.push(Buffer.from(bytes)); // copy: the socket may reuse its buffer
  }

  private endFrame(out: Array<Result<string>>): void {
    if (this.state === 'inFrame') {
      out.push({ ok: true, value: Buffer.concat(this.parts, this.size).toString('utf8') });
    }
    this.state = 'seeking';
    this.parts = [];
    this.size = 0;
  }
}

function nextMarker(buf: Buffer, from: number): number {
  for (let k = from; k < buf.length; k++) {
    const b = buf[k];
    if (b === FS || b === VT) return k;
  }
  return -1;
}
