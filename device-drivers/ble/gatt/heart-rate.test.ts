import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCharacteristic } from './index.ts';
import { hex, testContext } from './testing.ts';

// Vectors: Nordic Android-BLE-Common-Library hr/HeartRateMeasurementDataCallbackTest.
describe('Heart Rate Measurement 0x2A37', () => {
  it('decodes the simple uint8 frame (no contact feature)', () => {
    const r = decodeCharacteristic('2a37', hex('00 55'), testContext());
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components, [{ metric: 'heart-rate', value: 85, unit: '/min' }]);
  });

  it('decodes uint8 with contact detected, energy expended and one RR interval', () => {
    const ctx = testContext();
    const r = decodeCharacteristic('2a37', hex('1E 55 3200 2100'), ctx);
    assert.ok(r.ok);
    assert.equal(r.value[0]!.components[0]!.value, 85);
    assert.equal(ctx.notes.find((n) => n.field === 'energyExpended')!.detail, '50 kJ');
    assert.equal(ctx.notes.find((n) => n.field === 'rrIntervals')!.detail, '32.2 ms'); // 33/1024 s
  });

  it('decodes uint16 with energy and three RR intervals in 1/1024 s', () => {
    const ctx = testContext();
    const r = decodeCharacteristic('2a37', hex('1F 0101 3201 0100 0201 FFFF'), ctx);
    assert.ok(r.ok);
    assert.equal(r.value[0]!.components[0]!.value, 257);
    assert.equal(ctx.notes.find((n) => n.field === 'energyExpended')!.detail, '306 kJ');
    assert.equal(ctx.notes.find((n) => n.field === 'rrIntervals')!.detail, '1.0 ms, 252.0 ms, 63999.0 ms');
  });

  it('refuses a value sent while the sensor has no skin contact (flags bits 1–2 = 0b10)', () => {
    const r = decodeCharacteristic('2a37', hex('04 FF'), testContext());
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_NO_CONTACT');
  });

  it('accepts contact supported and detected (0b11) and contact not supported (0b01 and 0b00)', () => {
    for (const flags of ['06', '02', '00']) assert.ok(decodeCharacteristic('2a37', hex(`${flags} 48`), testContext()).ok, flags);
  });

  it('refuses a uint16 value cut short and an odd RR-interval byte', () => {
    for (const frame of ['17 01 01', '01 48', '10 48 2100 21']) {
      const r = decodeCharacteristic('2a37', hex(frame), testContext());
      assert.ok(!r.ok, frame);
      assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
    }
  });
});
