import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFloat, decodeSfloat, encodeFloat, encodeSfloat } from './ieee11073.ts';

describe('IEEE 11073-20601 SFLOAT and FLOAT', () => {
  it('decodes SFLOATs as mantissa × 10^exponent, negative mantissas and exponents included', () => {
    // Nordic Android-BLE-Common-Library BloodPressureMeasurementDataCallbackTest: 0xF0BD = 189 × 10^-1, 0x008A = 138
    assert.equal(decodeSfloat(0xf0bd), 18.9);
    assert.equal(decodeSfloat(0x008a), 138);
    assert.equal(decodeSfloat(0x003c), 60);
    // IEEE 11073-20601 Annex F.8 layout: exponent 0xF (-1), mantissa 0xFFF (-1) → -0.1
    assert.equal(decodeSfloat(0xffff), -0.1);
    assert.equal(decodeSfloat(0x1001), 10); // exponent +1
    assert.equal(decodeSfloat(encodeSfloat(-2045, 0)), -2045); // most negative ordinary mantissa (0x803; 0x802 is -INF)
    assert.equal(decodeSfloat(encodeSfloat(95, -5)), 95 / 100_000);
  });

  it('turns every SFLOAT special value into its name, never a number', () => {
    // IEEE 11073-20601 §F.8 table: NaN 0x07FF, NRes 0x0800, +INF 0x07FE, -INF 0x0802, reserved 0x0801
    assert.equal(decodeSfloat(0x07ff), 'NaN');
    assert.equal(decodeSfloat(0x0800), 'NRes');
    assert.equal(decodeSfloat(0x07fe), '+INF');
    assert.equal(decodeSfloat(0x0802), '-INF');
    assert.equal(decodeSfloat(0x0801), 'reserved');
    // the reserved mantissas stay special whatever the exponent nibble says
    assert.equal(decodeSfloat(0xf7ff), 'NaN');
    assert.equal(decodeSfloat(0x3802), '-INF');
  });

  it('decodes FLOATs: 0xFE000EB0 is 37.60 (Nordic TemperatureMeasurementDataCallbackTest vector B0 0E 00 FE)', () => {
    assert.equal(decodeFloat(0xfe000eb0), 37.6);
    assert.equal(decodeFloat(encodeFloat(-1, -1)), -0.1);
    assert.equal(decodeFloat(encodeFloat(9865, -2)), 98.65);
  });

  it('turns every FLOAT special value into its name, never a number', () => {
    // IEEE 11073-20601 §F.9: NaN 0x007FFFFF, NRes 0x00800000, +INF 0x007FFFFE, -INF 0x00800002, reserved 0x00800001
    assert.equal(decodeFloat(0x007fffff), 'NaN');
    assert.equal(decodeFloat(0x00800000), 'NRes');
    assert.equal(decodeFloat(0x007ffffe), '+INF');
    assert.equal(decodeFloat(0x00800002), '-INF');
    assert.equal(decodeFloat(0x00800001), 'reserved');
    assert.equal(decodeFloat(0xff7fffff), 'NaN');
  });
});
