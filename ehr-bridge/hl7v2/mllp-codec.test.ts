import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CR, FS, MllpDecoder, VT, frame } from './mllp-codec.ts';

const A = 'MSH|^~\\&|A|||||||1|P|2.5.1\rPID|1';
const B = 'MSH|^~\\&|B|||||||2|P|2.5.1';

function messages(results: ReturnType<MllpDecoder['push']>): string[] {
  return results.map((r) => {
    assert.ok(r.ok, JSON.stringify(r));
    return r.value;
  });
}

describe('MLLP framing', () => {
  it('wraps a message in VT … FS CR as UTF-8', () => {
    const f = frame('MSH|é');
    assert.equal(f[0], VT);
    assert.equal(f[f.length - 2], FS);
    assert.equal(f[f.length - 1], CR);
    assert.equal(f.subarray(1, -2).toString('utf8'), 'MSH|é');
  });

  it('decodes a frame that arrives one byte at a time', () => {
    const d = new MllpDecoder();
    const out: string[] = [];
    for (const byte of frame(A)) out.push(...messages(d.push(Buffer.of(byte))));
    assert.deepEqual(out, [A]);
  });

  it('decodes a frame split between FS and CR', () => {
    const d = new MllpDecoder();
    const f = frame(A);
    assert.deepEqual(d.push(f.subarray(0, f.length - 1)), []);
    assert.deepEqual(messages(d.push(f.subarray(f.length - 1))), [A]);
  });

  it('decodes a multi-byte UTF-8 character split across chunks', () => {
    const d = new MllpDecoder();
    const f = frame('MSH|ü');
    const cut = f.indexOf(0xc3) + 1;
    assert.deepEqual([...messages(d.push(f.subarray(0, cut))), ...messages(d.push(f.subarray(cut)))], ['MSH|ü']);
  });

  it('returns several frames that arrive in one chunk, in order', () => {
    const d = new MllpDecoder();
    assert.deepEqual(messages(d.push(Buffer.concat([frame(A), frame(B), frame(A)]))), [A, B, A]);
  });

  it('discards garbage before and between frames', () => {
    const d = new MllpDecoder();
    const chunk = Buffer.concat([Buffer.from('noise\r\n'), frame(A), Buffer.from([0x00, 0x1c, 0x0d, 0x41]), frame(B)]);
    assert.deepEqual(messages(d.push(chunk)), [A, B]);
    assert.equal(d.discardedBytes, 7 + 4);
  });

  it('keeps a lone FS that is not followed by CR as content', () => {
    const d = new MllpDecoder();
    const body = `x${String.fromCharCode(FS)}y`;
    assert.deepEqual(messages(d.push(frame(body))), [body]);
  });

  it('resynchronises on a new VT when a frame lost its end', () => {
    const d = new MllpDecoder();
    const broken = Buffer.concat([Buffer.of(VT), Buffer.from('MSH|half')]);
    assert.deepEqual(messages(d.push(Buffer.concat([broken, frame(B)]))), [B]);
    assert.equal(d.discardedBytes, 'MSH|half'.length);
  });

  it('reports an over-long frame as an error value and recovers for the next frame', () => {
    const d = new MllpDecoder({ maxFrameBytes: 16 });
    const big = frame('MSH|'.padEnd(100, 'x'));
    const results = [...d.push(big.subarray(0, 40)), ...d.push(big.subarray(40)), ...d.push(frame('MSH|ok'))];
    assert.equal(results.length, 2);
    assert.equal(results[0]?.ok, false);
    assert.ok(results[0]?.ok === false && results[0].issues[0]?.code === 'GW_ERR_MLLP_FRAME_TOO_LARGE');
    assert.deepEqual(results[1], { ok: true, value: 'MSH|ok' });
    assert.equal(d.bufferedBytes, 0);
  });

  it('accepts a frame of exactly maxFrameBytes', () => {
    const d = new MllpDecoder({ maxFrameBytes: 8 });
    assert.deepEqual(messages(d.push(frame('12345678'))), ['12345678']);
  });

  it('forgets a partial frame on reset', () => {
    const d = new MllpDecoder();
    d.push(frame(A).subarray(0, 10));
    d.reset();
    assert.deepEqual(messages(d.push(frame(B))), [B]);
  });
});
