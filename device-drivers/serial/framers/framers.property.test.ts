// Property tests (fast-check) for every framer: arbitrary byte streams chunked arbitrarily never throw
// and never grow the buffer past its bound; valid frames embedded in garbage are still found.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createFixedFramer, encodeFixed } from './fixed.ts';
import { createLineFramer } from './line.ts';
import { createStxEtxFramer, encodeStxEtx, STX } from './stx-etx.ts';
import type { Framer } from './types.ts';

const RUNS = 300;

/** Split `bytes` at the given cut points. */
function chunk(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(bytes.subarray(at, p));
    at = p;
  }
  out.push(bytes.subarray(at));
  return out;
}

function run(framer: Framer, chunks: Buffer[]): Buffer[] {
  const found: Buffer[] = [];
  for (const c of chunks) {
    for (const e of framer.push(c)) if (e.kind === 'frame') found.push(e.payload);
    assert.ok(framer.buffered() <= framer.maxBuffered, `buffered ${framer.buffered()} > bound ${framer.maxBuffered}`);
  }
  return found;
}

const anyBytes = fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a));
const cuts = fc.array(fc.nat(), { maxLength: 20 });
const without = (...excluded: number[]) => fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a.filter((b) => !excluded.includes(b))));
const asciiText = fc.stringMatching(/^[ -~]{1,40}$/);

const lineOpts = { delimiter: 'any', maxLength: 48 } as const;
const stxOpts = [
  { checksum: 'sum8', checksumEncoding: 'ascii-hex', checksumCovers: 'payload-etx', maxLength: 96 },
  { checksum: 'crc16-modbus', checksumEncoding: 'binary', checksumCovers: 'payload', maxLength: 96 },
  { checksum: 'xor', checksumEncoding: 'binary', checksumCovers: 'stx-payload-etx', maxLength: 96 },
] as const;
const fixedOpts = { sync: Buffer.from([0xfa, 0x5a]), length: 12, checksum: 'crc16-ccitt-false', checksumFrom: 2 } as const;

describe('every framer survives arbitrary bytes in arbitrary chunks', () => {
  it('the line framer never throws and stays within its bound', () => {
    fc.assert(fc.property(anyBytes, cuts, (bytes, c) => void run(createLineFramer(lineOpts), chunk(bytes, c))), { numRuns: RUNS });
  });
  for (const o of stxOpts) {
    it(`the STX/ETX framer (${o.checksum}, ${o.checksumEncoding}) never throws and stays within its bound`, () => {
      fc.assert(fc.property(anyBytes, cuts, (bytes, c) => void run(createStxEtxFramer(o), chunk(bytes, c))), { numRuns: RUNS });
    });
  }
  it('the fixed-length framer never throws and stays within its bound', () => {
    fc.assert(fc.property(anyBytes, cuts, (bytes, c) => void run(createFixedFramer(fixedOpts), chunk(bytes, c))), { numRuns: RUNS });
  });
});

describe('valid frames embedded in garbage are still found', () => {
  it('line framer: good lines between garbage lines (including over-long ones) all come out', () => {
    const garbageLine = fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.concat([Buffer.from(a.filter((b) => b !== 0x0d && b !== 0x0a)), Buffer.from('\n')]));
    fc.assert(
      fc.property(fc.array(fc.tuple(garbageLine, asciiText.filter((t) => t.trim() !== '' && t.length <= 48)), { maxLength: 8 }), cuts, (parts, c) => {
        const stream = Buffer.concat(parts.flatMap(([g, t]) => [g, Buffer.from(`${t}\r\n`)]));
        const found = run(createLineFramer(lineOpts), chunk(stream, c)).map((b) => b.toString('latin1'));
        const want = parts.map(([, t]) => t);
        // Every good line is found, in order; garbage lines that happen to be printable may appear between them.
        let at = 0;
        for (const line of found) if (line === want[at]) at++;
        assert.equal(at, want.length, `found ${JSON.stringify(found)}`);
      }),
      { numRuns: RUNS },
    );
  });

  for (const o of stxOpts) {
    it(`STX/ETX framer (${o.checksum}): frames after garbage without STX are all found`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(without(STX), asciiText), { maxLength: 6 }), cuts, (parts, c) => {
          const stream = Buffer.concat(parts.flatMap(([g, t]) => [g, encodeStxEtx(Buffer.from(t), o)]));
          const found = run(createStxEtxFramer(o), chunk(stream, c)).map((b) => b.toString('latin1'));
          assert.deepEqual(found, parts.map(([, t]) => t));
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('fixed-length framer: records after garbage without the sync byte are all found', () => {
    const body = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.array(fc.tuple(without(0xfa), body), { maxLength: 6 }), cuts, (parts, c) => {
        const records = parts.map(([, b]) => encodeFixed(b, fixedOpts));
        const stream = Buffer.concat(parts.flatMap(([g], i) => [g, records[i]!]));
        const found = run(createFixedFramer(fixedOpts), chunk(stream, c));
        // A record whose body contains FA 5A can shadow nothing: we only require every record to be found.
        let at = 0;
        for (const f of found) if (records[at] && f.equals(records[at]!)) at++;
        assert.equal(at, records.length);
      }),
      { numRuns: RUNS },
    );
  });
});

