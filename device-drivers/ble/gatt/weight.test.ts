import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCharacteristic } from './index.ts';
import { hex, normalizeBound, testContext } from './testing.ts';

const le16 = (v: number): string => Buffer.from(Uint16Array.of(v).buffer).toString('hex');

describe('Weight Measurement 0x2A9D', () => {
  it('decodes SI weight at 0.005 kg with time stamp, user, BMI 0.1 and height 0.001 m', () => {
    // Built from GSS §3.246: flags 0x0E, 14480 × 0.005 = 72.4 kg, 2026-11-23 07:05:00, user 2, BMI 23.6, 1.752 m
    const r = decodeCharacteristic('2a9d', hex(`0E ${le16(14480)} EA07 0B 17 07 05 00 02 ${le16(236)} ${le16(1752)}`), testContext({ deviceUtcOffsetMinutes: 0 }));
    assert.ok(r.ok);
    const reading = r.value[0]!;
    assert.deepEqual(reading.components, [
      { metric: 'body-weight', value: 72.4, unit: 'kg' },
      { metric: 'bmi', value: 23.6, unit: 'kg/m2' },
      { metric: 'body-height', value: 1.752, unit: 'm' },
    ]);
    assert.equal(reading.deviceTime, '2026-11-23T07:05:00Z');
    assert.deepEqual(reading.context, { userIndex: 2 });
    const out = normalizeBound(reading);
    assert.equal(out.kind, 'observations');
    if (out.kind === 'observations') {
      assert.deepEqual(out.observations.map((o) => [o.code?.coding?.[0]?.code, o.valueQuantity?.value, o.valueQuantity?.code]), [
        ['29463-7', 72.4, 'kg'],
        ['8302-2', 175.2, 'cm'],
        ['39156-5', 23.6, 'kg/m2'],
      ]);
    }
  });

  it('decodes imperial weight at 0.01 lb and height at 0.1 in', () => {
    // flags 0x09: imperial, BMI and height; 15962 × 0.01 = 159.62 lb, 24.1, 69.0 in
    const r = decodeCharacteristic('2a9d', hex(`09 ${le16(15962)} ${le16(241)} ${le16(690)}`), testContext());
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components.map((c) => [c.value, c.unit]), [[159.62, '[lb_av]'], [24.1, 'kg/m2'], [69, '[in_i]']]);
  });

  it('refuses 0xFFFF: measurement unsuccessful', () => {
    const r = decodeCharacteristic('2a9d', hex('00 FFFF'), testContext());
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_MEASUREMENT_UNSUCCESSFUL');
  });

  it('gives no userIndex for user 0xFF and refuses a frame missing its height', () => {
    const r = decodeCharacteristic('2a9d', hex(`04 ${le16(14480)} FF`), testContext());
    assert.ok(r.ok);
    assert.equal(r.value[0]!.context, undefined);
    const short = decodeCharacteristic('2a9d', hex(`08 ${le16(14480)} ${le16(236)}`), testContext());
    assert.ok(!short.ok);
    assert.equal(short.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
  });
});

describe('Body Composition Measurement 0x2A9C', () => {
  it('reports every field the catalog lacks as a not-carried note and keeps weight and height', () => {
    // Built from GSS §3.33: flags 0x0FFE (all but imperial/multi-packet), body fat 23.4 %
    const frame = [
      le16(0x0ffe), le16(234), 'EA07 0B 17 07 05 00', '01', le16(6500), le16(412), le16(5600), le16(11000), le16(10000),
      le16(8000), le16(5123), le16(14480), le16(1752),
    ].join('');
    const ctx = testContext();
    const r = decodeCharacteristic('2a9c', hex(frame), ctx);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.value[0]!.components, [
      { metric: 'body-weight', value: 72.4, unit: 'kg' },
      { metric: 'body-height', value: 1.752, unit: 'm' },
    ]);
    assert.deepEqual(r.value[0]!.context, { userIndex: 1 });
    assert.deepEqual(
      ctx.notes.filter((n) => n.kind === 'not-carried').map((n) => [n.field, n.detail]),
      [
        ['bodyFatPercentage', '23.4 %'],
        ['basalMetabolism', '6500 kJ'],
        ['musclePercentage', '41.2 %'],
        ['muscleMass', '28 kg'],
        ['fatFreeMass', '55 kg'],
        ['softLeanMass', '50 kg'],
        ['bodyWaterMass', '40 kg'],
        ['impedance', '512.3 Ω'],
      ],
    );
  });

  it('gives no Reading (only notes) for body fat alone, imperial masses in lb', () => {
    const ctx = testContext();
    const r = decodeCharacteristic('2a9c', hex(`${le16(0x0021)} ${le16(180)} ${le16(6200)}`), ctx);
    assert.deepEqual(r, { ok: true, value: [] });
    assert.equal(ctx.notes.find((n) => n.field === 'muscleMass')!.detail, '62 [lb_av]');
  });

  it('refuses body fat 0xFFFF (unsuccessful) and a multi-packet flag is noted', () => {
    const bad = decodeCharacteristic('2a9c', hex('0000 FFFF'), testContext());
    assert.ok(!bad.ok);
    assert.equal(bad.issues[0]!.code, 'GW_ERR_BLE_MEASUREMENT_UNSUCCESSFUL');
    const ctx = testContext();
    assert.ok(decodeCharacteristic('2a9c', hex(`${le16(0x1000)} ${le16(180)}`), ctx).ok);
    assert.ok(ctx.notes.some((n) => /multiple packet/.test(n.detail)));
  });
});
