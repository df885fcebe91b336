import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCharacteristic } from './index.ts';
import { hex, normalizeBound, testContext } from './testing.ts';

const le16 = (v: number): string => Buffer.from(Uint16Array.of(v).buffer).toString('hex');
const le24 = (v: number): string => le16(v & 0xffff) + (v >> 16).toString(16).padStart(2, '0');

// Frames built from GSS §3.171 (Spot-Check) and §3.170 (Continuous); SpO2 97 % = 0x0061, PR 72 = 0x0048.
describe('PLX Spot-Check Measurement 0x2A5E', () => {
  it('decodes SpO2 and pulse rate with time stamp and pulse amplitude index', () => {
    const ctx = testContext();
    const r = decodeCharacteristic('2a5e', hex(`09 6100 4800 EA07 0B 17 09 1E 00 ${le16(0xf024)}`), ctx);
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components, [
      { metric: 'spo2', value: 97, unit: '%' },
      { metric: 'heart-rate', value: 72, unit: '/min' },
    ]);
    assert.equal(r.value[0]!.deviceTime, '2026-11-23T09:30:00+01:00');
    assert.equal(ctx.notes.find((n) => n.field === 'pulseAmplitudeIndex')!.detail, '3.6 %');
    const out = normalizeBound(r.value[0]!);
    assert.equal(out.kind, 'observations');
  });

  it('drops the time stamp when the device says its clock is not set (flags bit 4)', () => {
    const ctx = testContext();
    const r = decodeCharacteristic('2a5e', hex('11 6100 4800 EA07 0B 17 09 1E 00'), ctx);
    assert.ok(r.ok);
    assert.equal(r.value[0]!.deviceTime, undefined);
    assert.equal(ctx.notes[0]!.kind, 'time');
  });

  it('refuses readings flagged ongoing, questionable, invalid, unavailable, demo, test or calibrating', () => {
    for (const bit of [5, 10, 11, 12, 13, 14, 15]) {
      const r = decodeCharacteristic('2a5e', hex(`02 6100 4800 ${le16(1 << bit)}`), testContext());
      assert.ok(!r.ok, `bit ${bit}`);
      assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_MEASUREMENT_STATUS');
    }
  });

  it('keeps validated / fully qualified status as notes', () => {
    const ctx = testContext();
    assert.ok(decodeCharacteristic('2a5e', hex(`02 6100 4800 ${le16((1 << 7) | (1 << 8))}`), ctx).ok);
    assert.equal(ctx.notes[0]!.detail, 'validated data; fully qualified data');
  });

  it('refuses a reading from a disconnected, displaced or malfunctioning sensor and keeps low perfusion as a note', () => {
    for (const bit of [1, 2, 8, 11, 12, 13, 14, 15]) {
      const r = decodeCharacteristic('2a5e', hex(`04 6100 4800 ${le24(1 << bit)}`), testContext());
      assert.ok(!r.ok, `bit ${bit}`);
      assert.match(r.issues[0]!.message, /refused by its status bits/);
    }
    const ctx = testContext();
    assert.ok(decodeCharacteristic('2a5e', hex(`04 6100 4800 ${le24(1 << 5)}`), ctx).ok);
    assert.equal(ctx.notes[0]!.detail, 'low perfusion detected');
  });

  it('refuses a device status cut short', () => {
    const r = decodeCharacteristic('2a5e', hex('04 6100 4800 0000'), testContext());
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
  });
});

describe('PLX Continuous Measurement 0x2A5F', () => {
  it('takes SpO2PR-Normal and keeps Fast and Slow as notes', () => {
    const ctx = testContext();
    const r = decodeCharacteristic('2a5f', hex('03 6100 4800 6000 4A00 6200 4600'), ctx);
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components.map((c) => c.value), [97, 72]);
    assert.equal(r.value[0]!.deviceTime, undefined);
    assert.deepEqual(ctx.notes.map((n) => n.field), ['spo2prFast', 'spo2prSlow']);
  });

  it('applies measurement and device status like the spot check, with PAI last', () => {
    const bad = decodeCharacteristic('2a5f', hex(`0C 6100 4800 ${le16(1 << 14)} ${le24(0)}`), testContext());
    assert.ok(!bad.ok);
    const ok = decodeCharacteristic('2a5f', hex(`1C 6100 4800 ${le16(0)} ${le24(0)} ${le16(0xf024)}`), testContext());
    assert.ok(ok.ok);
  });

  it('carries a NaN SpO2 by name: normalize keeps the pulse rate and gives SpO2 no value', () => {
    const r = decodeCharacteristic('2a5f', hex('00 FF07 4800'), testContext());
    assert.ok(r.ok);
    assert.equal(r.value[0]!.components[0]!.value, 'NaN');
    const out = normalizeBound(r.value[0]!);
    assert.equal(out.kind, 'observations');
    if (out.kind === 'observations') {
      assert.deepEqual(out.observations.filter((o) => o.valueQuantity !== undefined).map((o) => o.code?.coding?.[0]?.code), ['8867-4']);
    }
  });
});
