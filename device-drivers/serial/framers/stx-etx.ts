// STX … ETX framed records with an optional checksum after ETX (ASCII control characters, ISO 646 /
// ANSI X3.4: STX 0x02 start of text, ETX 0x03 end of text). No DLE stuffing: payloads are ASCII or
// binary without 0x02/0x03. Resynchronises on the next STX after garbage, a cut or a bad frame.
import type { ChecksumKind } from '../../../gateway/profiles/schema.ts';
import { issue } from '../../../gateway/errors.ts';
import { checksumWidth, computeChecksum, hex, readChecksum } from './checksum.ts';
import type { Framer, FramerEvent } from './types.ts';

export const STX = 0x02;
export const ETX = 0x03;

export interface StxEtxFramerOptions {
  checksum: ChecksumKind;
  checksumEncoding: 'binary' | 'ascii-hex';
  checksumCovers: 'payload' | 'payload-etx' | 'stx-payload-etx';
  /** Longest whole frame, STX to the last checksum byte. */
  maxLength: number;
}

/** The bytes a checksum covers, given a whole frame `STX payload ETX`. */
export function coveredBytes(frameToEtx: Buffer, covers: StxEtxFramerOptions['checksumCovers']): Buffer {
  switch (covers) {
    case 'payload':
      return frameToEtx.subarray(1, frameToEtx.length - 1);
    case 'payload-etx':
      return frameToEtx.subarray(1);
    case 'stx-payload-etx':
      return frameToEtx;
    default:
      return covers satisfies never;
  }
}

/** Encode a payload as a whole frame (simulators, tests, `gw decode`). */
export function encodeStxEtx(payload: Uint8Array, options: Omit<StxEtxFramerOptions, 'maxLength'>): Buffer {
  const toEtx = Buffer.concat([Buffer.from([STX]), payload, Buffer.from([ETX])]);
  if (options.checksum === 'none') return toEtx;
  const value = computeChecksum(options.checksum, coveredBytes(toEtx, options.checksumCovers));
  const width = checksumWidth(options.checksum);
  const tail =
    options.checksumEncoding === 'ascii-hex'
      ? Buffer.from(hex(value, width), 'ascii')
      : width === 2 && options.checksum === 'crc16-modbus'
        ? Buffer.from([value & 0xff, value >>> 8])
        : width === 2
          ? Buffer.from([value >>> 8, value & 0xff])
          : Buffer.from([value]);
  return Buffer.concat([toEtx, tail]);
}

export function createStxEtxFramer(options: StxEtxFramerOptions): Framer {
  const width = checksumWidth(options.checksum);
  const tailLength = options.checksumEncoding === 'ascii-hex' ? width * 2 : width;
  const maxLength = options.maxLength;
  let pending = Buffer.alloc(0);

  return {
    maxBuffered: maxLength,
    buffered: () => pending.length,
    push(chunk) {
      const events: FramerEvent[] = [];
      let buf = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      for (;;) {
        const stx = buf.indexOf(STX);
        if (stx < 0) {
          if (buf.length > 0) events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_GARBAGE', undefined, buf.length), dropped: buf.length });
          buf = Buffer.alloc(0);
          break;
        }
        if (stx > 0) {
          events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_GARBAGE', undefined, stx), dropped: stx });
          buf = buf.subarray(stx);
        }
        // buf[0] is STX. Find ETX, noticing a new STX first (cut frame) or the length bound.
        let etx = -1;
        let cut = -1;
        const limit = Math.min(buf.length, maxLength - tailLength);
        for (let i = 1; i < limit; i++) {
          if (buf[i] === ETX) {
            etx = i;
            break;
          }
          if (buf[i] === STX) {
            cut = i;
            break;
          }
        }
        if (cut > 0) {
          events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_CUT_FRAME', undefined, cut), dropped: cut });
          buf = buf.subarray(cut);
          continue;
        }
        if (etx < 0) {
          if (buf.length >= maxLength - tailLength) {
            // No ETX within the bound: drop this STX and look for the next one.
            const next = buf.indexOf(STX, 1);
            const dropped = next < 0 ? buf.length : next;
            events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_FRAME_TOO_LONG', undefined, maxLength, dropped), dropped });
            buf = buf.subarray(dropped);
            continue;
          }
          break; // wait for more bytes
        }
        if (buf.length < etx + 1 + tailLength) break; // checksum not here yet
        const frame = Buffer.from(buf.subarray(0, etx + 1 + tailLength));
        const payload = frame.subarray(1, etx);
        if (width > 0) {
          const expected = computeChecksum(options.checksum, coveredBytes(frame.subarray(0, etx + 1), options.checksumCovers));
          const tail = frame.subarray(etx + 1);
          const carried = options.checksumEncoding === 'ascii-hex' ? parseHex(tail) : readChecksum(options.checksum, tail);
          if (carried !== expected) {
            const shown = options.checksumEncoding === 'ascii-hex' ? JSON.stringify(tail.toString('latin1')) : hex(readChecksum(options.checksum, tail), width);
            events.push({
              kind: 'error',
              issue: issue('GW_ERR_SERIAL_CHECKSUM', undefined, options.checksum, shown, hex(expected, width)),
              dropped: 1,
              frame,
            });
            // Drop only the STX: the bytes we took for a checksum may be the start of the next frame.
            buf = buf.subarray(1);
            continue;
          }
        }
        events.push({ kind: 'frame', frame, payload });
        buf = buf.subarray(frame.length);
      }
      pending = Buffer.from(buf);
      return events;
    },
  };
}

function parseHex(bytes: Buffer): number {
  const text = bytes.toString('latin1');
  return /^[0-9A-Fa-f]+$/.test(text) ? Number.parseInt(text, 16) : -1;
}
