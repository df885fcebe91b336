// Fixed-length binary records that start with sync bytes, with an optional checksum at a fixed offset.
// Resynchronises by searching the sync pattern again after garbage or a bad record.
import type { ChecksumKind } from '../../../gateway/profiles/schema.ts';
import { issue } from '../../../gateway/errors.ts';
import { checksumBytes, checksumWidth, computeChecksum, hex, readChecksum } from './checksum.ts';
import type { Framer, FramerEvent } from './types.ts';

export interface FixedFramerOptions {
  sync: Buffer;
  length: number;
  checksum: ChecksumKind;
  checksumFrom: number;
  /** The checksum covers [checksumFrom, checksumTo) and sits at checksumTo; default: the record's last bytes. */
  checksumTo?: number;
}

function checksumEnd(options: FixedFramerOptions): number {
  return options.checksumTo ?? options.length - checksumWidth(options.checksum);
}

/** Build a record: sync + body, with the checksum written in place (simulators, tests). */
export function encodeFixed(body: Uint8Array, options: FixedFramerOptions): Buffer {
  const record = Buffer.alloc(options.length);
  options.sync.copy(record, 0);
  Buffer.from(body).copy(record, options.sync.length);
  if (options.checksum !== 'none') {
    const to = checksumEnd(options);
    checksumBytes(options.checksum, computeChecksum(options.checksum, record.subarray(options.checksumFrom, to))).copy(record, to);
  }
  return record;
}

export function createFixedFramer(options: FixedFramerOptions): Framer {
  const { sync, length } = options;
  const width = checksumWidth(options.checksum);
  const to = checksumEnd(options);
  let pending = Buffer.alloc(0);

  return {
    maxBuffered: length - 1,
    buffered: () => pending.length,
    push(chunk) {
      const events: FramerEvent[] = [];
      let buf = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      for (;;) {
        const at = buf.indexOf(sync);
        if (at < 0) {
          // Keep a tail that may be the start of the sync pattern; the rest is garbage.
          const keep = Math.min(buf.length, sync.length - 1);
          const dropped = buf.length - keep;
          if (dropped > 0) events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_GARBAGE', undefined, dropped), dropped });
          buf = buf.subarray(dropped);
          break;
        }
        if (at > 0) {
          events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_GARBAGE', undefined, at), dropped: at });
          buf = buf.subarray(at);
        }
        if (buf.length < length) break;
        const frame = Buffer.from(buf.subarray(0, length));
        if (width > 0) {
          const expected = computeChecksum(options.checksum, frame.subarray(options.checksumFrom, to));
          const carried = readChecksum(options.checksum, frame.subarray(to, to + width));
          if (carried !== expected) {
            events.push({
              kind: 'error',
              issue: issue('GW_ERR_SERIAL_CHECKSUM', undefined, options.checksum, hex(carried, width), hex(expected, width)),
              dropped: 1,
              frame,
            });
            buf = buf.subarray(1); // the real record may start inside this one
            continue;
          }
        }
        events.push({ kind: 'frame', frame, payload: frame });
        buf = buf.subarray(length);
      }
      pending = Buffer.from(buf);
      return events;
    },
  };
}
