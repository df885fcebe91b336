// Line-delimited ASCII records (CR, LF or CRLF), bounded: a line longer than maxLength is dropped with
// an error value and the framer recovers at the next line end.
import { issue } from '../../../gateway/errors.ts';
import type { Framer, FramerEvent } from './types.ts';

const CR = 0x0d;
const LF = 0x0a;

export interface LineFramerOptions {
  delimiter: 'CR' | 'LF' | 'CRLF' | 'any';
  maxLength: number;
}

export function createLineFramer(options: LineFramerOptions): Framer {
  const { delimiter, maxLength } = options;
  let pending = Buffer.alloc(0);
  /** True while dropping the rest of an over-long line until its end. */
  let discarding = false;

  const isEnd = (buf: Buffer, i: number): number => {
    // Returns the delimiter's length at i, 0 when none, -1 when undecidable yet (CRLF mode, CR last byte).
    const b = buf[i];
    switch (delimiter) {
      case 'CR':
        return b === CR ? 1 : 0;
      case 'LF':
        return b === LF ? 1 : 0;
      case 'any':
        return b === CR || b === LF ? 1 : 0; // CRLF yields an empty line in between, which is skipped
      case 'CRLF':
        if (b !== CR) return 0;
        if (i + 1 >= buf.length) return -1;
        return buf[i + 1] === LF ? 2 : 0;
      default:
        return delimiter satisfies never;
    }
  };

  const emitLine = (line: Buffer, events: FramerEvent[]): void => {
    if (line.length === 0) return;
    for (const b of line) {
      // ASCII records are printable text and TAB; anything else is line noise or a wrong baud rate.
      if ((b < 0x20 && b !== 0x09) || b > 0x7e) {
        events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_GARBAGE', undefined, line.length), dropped: line.length, frame: line });
        return;
      }
    }
    events.push({ kind: 'frame', frame: line, payload: line });
  };

  return {
    maxBuffered: maxLength + 1,
    buffered: () => pending.length,
    push(chunk) {
      const events: FramerEvent[] = [];
      const buf = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      let start = 0;
      let i = 0;
      while (i < buf.length) {
        const end = isEnd(buf, i);
        if (end === -1) break; // wait for the byte after CR
        if (end > 0) {
          if (discarding) discarding = false;
          else emitLine(buf.subarray(start, i), events);
          i += end;
          start = i;
          continue;
        }
        i++;
        if (!discarding && i - start > maxLength) {
          events.push({ kind: 'error', issue: issue('GW_ERR_SERIAL_FRAME_TOO_LONG', undefined, maxLength, i - start), dropped: i - start });
          discarding = true;
        }
        if (discarding) start = i;
      }
      pending = Buffer.from(buf.subarray(start)); // copy: never pin the whole chunk
      return events;
    },
  };
}
