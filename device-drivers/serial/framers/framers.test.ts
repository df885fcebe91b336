// Framer behaviour a field tech would check: split chunks, CR/LF/CRLF, garbage, cut frames, bad
// checksums, oversized frames, and CRC check values from the CRC RevEng catalogue.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc16CcittFalse, crc16Modbus, sum8, xor8 } from './checksum.ts';
import { createFixedFramer, encodeFixed } from './fixed.ts';
import { createLineFramer } from './line.ts';
import { createStxEtxFramer, encodeStxEtx } from './stx-etx.ts';
import type { Framer, FramerEvent } from './types.ts';

const feed = (framer: Framer, ...chunks: Array<string | Buffer>): FramerEvent[] =>
  chunks.flatMap((c) => framer.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
const frames = (events: FramerEvent[]): string[] => events.flatMap((e) => (e.kind === 'frame' ? [e.payload.toString('latin1')] : []));
const errors = (events: FramerEvent[]): string[] => events.flatMap((e) => (e.kind === 'error' ? [e.issue.code] : []));

describe('checksums match the CRC catalogue check values', () => {
  const check = Buffer.from('123456789');
  it('CRC-16/CCITT-FALSE of "123456789" is 0x29B1', () => assert.equal(crc16CcittFalse(check), 0x29b1));
  it('CRC-16/MODBUS of "123456789" is 0x4B37', () => assert.equal(crc16Modbus(check), 0x4b37));
  it('sum-8 and XOR of "123456789" are 0xDD and 0x31', () => {
    assert.equal(sum8(check), 0xdd); // 0x31+…+0x39 = 477 = 0x1DD
    assert.equal(xor8(check), 0x31);
  });
});

describe('line framer', () => {
  it('finds lines ended by CR, LF or CRLF, even when a line arrives in pieces', () => {
    const f = createLineFramer({ delimiter: 'any', maxLength: 64 });
    const ev = feed(f, 'SPO2=9', '8 BPM=72\r', '\nST,+00070.50kg\n', 'T 2611230930 036.8 C\r\n');
    assert.deepEqual(frames(ev), ['SPO2=98 BPM=72', 'ST,+00070.50kg', 'T 2611230930 036.8 C']);
    assert.deepEqual(errors(ev), []);
  });

  it('with CRLF framing waits for the LF after a CR split across chunks', () => {
    const f = createLineFramer({ delimiter: 'CRLF', maxLength: 64 });
    assert.deepEqual(frames(feed(f, 'ST,+00070.50kg\r')), []);
    assert.deepEqual(frames(feed(f, '\nUS,+00070.40kg\r\n')), ['ST,+00070.50kg', 'US,+00070.40kg']);
  });

  it('refuses a line of binary noise and keeps the next line', () => {
    const f = createLineFramer({ delimiter: 'any', maxLength: 64 });
    const ev = feed(f, Buffer.from([0xff, 0x00, 0x13, 0x0a]), 'SPO2=97\n');
    assert.deepEqual(errors(ev), ['GW_ERR_SERIAL_GARBAGE']);
    assert.deepEqual(frames(ev), ['SPO2=97']);
  });

  it('drops an endless line with one error, holds no more than the bound, and recovers at the next line end', () => {
    const f = createLineFramer({ delimiter: 'any', maxLength: 32 });
    let ev: FramerEvent[] = [];
    for (let i = 0; i < 100; i++) {
      ev = ev.concat(feed(f, 'x'.repeat(50)));
      assert.ok(f.buffered() <= f.maxBuffered);
    }
    assert.deepEqual(errors(ev), ['GW_ERR_SERIAL_FRAME_TOO_LONG']);
    assert.deepEqual(frames(feed(f, 'tail of the endless line\r\nBPM=71\r\n')), ['BPM=71']);
  });
});

describe('STX/ETX framer', () => {
  const opts = { checksum: 'sum8', checksumEncoding: 'ascii-hex', checksumCovers: 'payload-etx', maxLength: 64 } as const;
  const good = encodeStxEtx(Buffer.from('SYS=120,DIA=80'), opts);

  it('finds a checksummed frame delivered one byte at a time', () => {
    const f = createStxEtxFramer(opts);
    const ev = [...good].flatMap((b) => f.push(Buffer.from([b])));
    assert.deepEqual(frames(ev), ['SYS=120,DIA=80']);
  });

  it('refuses a frame with a wrong checksum and still finds the next one', () => {
    const f = createStxEtxFramer(opts);
    const bad = Buffer.from(good);
    bad[3] = 0x39; // one digit changed in transit
    const ev = feed(f, bad, good);
    assert.deepEqual(errors(ev).filter((c) => c === 'GW_ERR_SERIAL_CHECKSUM'), ['GW_ERR_SERIAL_CHECKSUM']);
    assert.deepEqual(frames(ev), ['SYS=120,DIA=80']);
  });

  it('reports garbage before a frame and a frame cut off by the next STX', () => {
    const f = createStxEtxFramer(opts);
    const ev = feed(f, 'noise', Buffer.from('\x02SYS=1', 'latin1'), good);
    assert.deepEqual(errors(ev), ['GW_ERR_SERIAL_GARBAGE', 'GW_ERR_SERIAL_CUT_FRAME']);
    assert.deepEqual(frames(ev), ['SYS=120,DIA=80']);
  });

  it('drops a frame longer than the bound and resynchronises', () => {
    const f = createStxEtxFramer(opts);
    const ev = feed(f, Buffer.concat([Buffer.from([0x02]), Buffer.alloc(200, 0x41)]), good);
    assert.ok(errors(ev).includes('GW_ERR_SERIAL_FRAME_TOO_LONG'));
    assert.deepEqual(frames(ev), ['SYS=120,DIA=80']);
  });

  for (const checksum of ['xor', 'crc16-ccitt-false', 'crc16-modbus'] as const) {
    it(`round-trips a binary ${checksum} frame`, () => {
      const o = { checksum, checksumEncoding: 'binary', checksumCovers: 'payload', maxLength: 64 } as const;
      const f = createStxEtxFramer(o);
      assert.deepEqual(frames(feed(f, encodeStxEtx(Buffer.from('PR=64'), o))), ['PR=64']);
    });
  }

  it('sends a CRC-16/MODBUS low byte first', () => {
    const frame = encodeStxEtx(Buffer.from('123456789'), { checksum: 'crc16-modbus', checksumEncoding: 'binary', checksumCovers: 'payload' });
    assert.deepEqual([...frame.subarray(-2)], [0x37, 0x4b]);
  });
});

describe('fixed-length framer', () => {
  const opts = { sync: Buffer.from([0xfa, 0x5a]), length: 8, checksum: 'crc16-ccitt-false', checksumFrom: 2 } as const;
  const rec = encodeFixed(Buffer.from([1, 2, 3, 4]), opts);

  it('finds records after garbage and across chunk boundaries', () => {
    const f = createFixedFramer(opts);
    const ev = feed(f, Buffer.from([0x00, 0xfa]), rec.subarray(0, 3), rec.subarray(3), rec);
    assert.equal(frames(ev).length, 2);
    // 0x00 is dropped at once; the lone 0xFA is held (it may start a sync) and dropped when the real record follows.
    assert.deepEqual(errors(ev), ['GW_ERR_SERIAL_GARBAGE', 'GW_ERR_SERIAL_GARBAGE']);
  });

  it('refuses a record with a bad CRC and resynchronises inside it', () => {
    const f = createFixedFramer(opts);
    const bad = Buffer.from(rec);
    bad[4] = bad[4]! ^ 0xff;
    const ev = feed(f, bad, rec);
    assert.ok(errors(ev).includes('GW_ERR_SERIAL_CHECKSUM'));
    assert.deepEqual(frames(ev).length, 1);
    assert.ok(f.buffered() <= f.maxBuffered);
  });
});
