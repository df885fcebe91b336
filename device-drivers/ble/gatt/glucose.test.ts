import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGattSession, decodeCharacteristic, decodeRacpResponse, encodeRacpReportAll, encodeRacpReportSince } from './index.ts';
import { hex, normalizeBound, testContext } from './testing.ts';

// Built from GSS §3.106: flags 0x03 (time offset, concentration in kg/L), sequence 7, 2026-11-23 09:30:00,
// offset +5 min, 95 × 10^-5 kg/L = 95 mg/dL (SFLOAT 0xB05F), capillary whole blood at the finger (0x11).
const RECORD_7 = '03 0700 EA07 0B 17 09 1E 00 0500 5FB0 11';
const withContextFlag = (frame: string): string => `${(Number.parseInt(frame.slice(0, 2), 16) | 0x10).toString(16).padStart(2, '0')}${frame.slice(2)}`;

describe('Glucose Measurement 0x2A18', () => {
  it('decodes sequence number, base time + offset and a kg/L concentration that becomes 95 mg/dL', () => {
    const r = decodeCharacteristic('2a18', hex(RECORD_7), testContext());
    assert.ok(r.ok);
    const reading = r.value[0]!;
    assert.deepEqual(reading.components, [{ metric: 'glucose', value: 0.00095, unit: 'kg/L' }]);
    assert.deepEqual(reading.context, { sequence: 7 });
    assert.equal(reading.deviceTime, '2026-11-23T09:35:00+01:00');
    const out = normalizeBound(reading);
    assert.equal(out.kind, 'observations');
    if (out.kind === 'observations') assert.deepEqual([out.observations[0]!.valueQuantity?.value, out.observations[0]!.valueQuantity?.code], [95, 'mg/dL']);
  });

  it('decodes mol/L (flags bit 2): 55 × 10^-4 mol/L is 5.5 mmol/L, 99 mg/dL', () => {
    const r = decodeCharacteristic('2a18', hex('06 0800 EA07 0B 17 09 1E 00 37C0 11'), testContext());
    assert.ok(r.ok);
    assert.equal(r.value[0]!.components[0]!.unit, 'mol/L');
    const out = normalizeBound(r.value[0]!);
    if (out.kind === 'observations') assert.equal(out.observations[0]!.valueQuantity?.value, 99);
    else assert.fail(out.kind);
  });

  it('parses the Nordic vector (sequence 1, offset −5 min, status 0x0105) and refuses it for its sensor status', () => {
    // Nordic Android-BLE-Common-Library glucose/GlucoseMeasurementDataCallbackTest onGlucoseMeasurementReceived
    const r = decodeCharacteristic('2a18', hex('1B 0100 E307 02 1B 0B 0A 1E FBFF 1E00 12 0501'), testContext());
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_MEASUREMENT_STATUS');
    assert.match(r.issues[0]!.message, /sample size .* insufficient; sensor temperature too low/);
    // Nordic onInvalidDataReceived: time offset announced but missing
    const short = decodeCharacteristic('2a18', hex('1B 0000 E207 04 1A 0B 09 1E 1E00 12 0501'), testContext());
    assert.ok(!short.ok);
    assert.equal(short.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
  });

  it('never lets a control-solution test become a patient Observation (type 0xA or location 4)', () => {
    for (const typeLocation of ['1A', '41']) {
      const r = decodeCharacteristic('2a18', hex(`03 0900 EA07 0B 17 09 1E 00 0000 5FB0 ${typeLocation}`), testContext());
      assert.ok(!r.ok, typeLocation);
      assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_CONTROL_SOLUTION');
    }
  });

  it('refuses a reserved sample type, and keeps battery-low as a note', () => {
    const reserved = decodeCharacteristic('2a18', hex('02 0900 EA07 0B 17 09 1E 00 5FB0 1B'), testContext());
    assert.ok(!reserved.ok);
    assert.equal(reserved.issues[0]!.code, 'GW_ERR_BLE_RESERVED_VALUE');
    const ctx = testContext();
    assert.ok(decodeCharacteristic('2a18', hex('0A 0900 EA07 0B 17 09 1E 00 5FB0 11 0100'), ctx).ok);
    assert.match(ctx.notes.map((n) => n.detail).join('|'), /battery low/);
  });

  it('drops the device time on a time fault and gives no Reading without a concentration', () => {
    const fault = decodeCharacteristic('2a18', hex('0A 0900 EA07 0B 17 09 1E 00 5FB0 11 0008'), testContext());
    assert.ok(fault.ok);
    assert.equal(fault.value[0]!.deviceTime, undefined);
    assert.deepEqual(decodeCharacteristic('2a18', hex('00 0900 EA07 0B 17 09 1E 00'), testContext()), { ok: true, value: [] });
  });

  it('refuses every sensor status that voids the result (bits 1–10)', () => {
    for (let bit = 1; bit <= 10; bit++) {
      const status = Buffer.from(Uint16Array.of(1 << bit).buffer).toString('hex');
      const r = decodeCharacteristic('2a18', hex(`0A 0900 EA07 0B 17 09 1E 00 5FB0 11 ${status}`), testContext());
      assert.ok(!r.ok, `bit ${bit}`);
    }
  });
});

describe('a glucose session pairs each record with its context', () => {
  it('holds a record whose flags say a context follows until the context with the same sequence arrives', () => {
    const ctx = testContext();
    const session = createGattSession(ctx);
    const held = session.accept('2a18', hex(withContextFlag(RECORD_7)));
    assert.deepEqual(held, { ok: true, value: [] });
    // Context for record 7: meal postprandial (flags 0x02), tester self / no health issues (0x04)
    const paired = session.accept('2a34', hex('06 0700 02 51'));
    assert.ok(paired.ok);
    assert.equal(paired.value[0]!.context?.sequence, 7);
    assert.match(ctx.notes.map((n) => n.detail).join('|'), /postprandial.*tester self, no health issues/);
    assert.deepEqual(session.flush(), []);
  });

  it('releases a held record when the next record arrives or on flush', () => {
    const session = createGattSession(testContext());
    session.accept('2a18', hex(withContextFlag(RECORD_7)));
    const next = session.accept('2a18', hex(withContextFlag(RECORD_7.replace('0700', '0800'))));
    assert.ok(next.ok);
    assert.deepEqual(next.value.map((r) => r.context?.sequence), [7]);
    assert.deepEqual(session.flush().map((r) => r.context?.sequence), [8]);
  });

  it('still releases the held record when the next value is refused', () => {
    const session = createGattSession(testContext());
    session.accept('2a18', hex(withContextFlag(RECORD_7)));
    const control = session.accept('2a18', hex('03 0800 EA07 0B 17 09 1E 00 0000 5FB0 1A'));
    assert.ok(!control.ok);
    assert.equal(control.issues[0]!.code, 'GW_ERR_BLE_CONTROL_SOLUTION');
    assert.deepEqual(control.released.map((r) => r.context?.sequence), [7]);
  });

  it('decodes the full Nordic context vector, and a context for another record releases the held one', () => {
    // Field layout of Nordic GlucoseMeasurementContextDataCallbackTest _full (flags 0xFF, seq 0, extended 0xB3, dinner,
    // 100 kg, casual, 0x12, 60 s, 50 %, long acting insulin); SFLOATs encoded here: 12.3 = 0xF07B, HbA1c 34.5 = 0xF159
    const ctx = testContext();
    const session = createGattSession(ctx);
    session.accept('2a18', hex(withContextFlag(RECORD_7)));
    const other = session.accept('2a34', hex('FF 0000 B3 03 6400 04 12 3C00 32 04 7BF0 59F1'));
    assert.ok(other.ok);
    assert.deepEqual(other.value.map((r) => r.context?.sequence), [7]);
    const details = ctx.notes.map((n) => n.detail).join('|');
    assert.match(details, /dinner: 100 kg\|casual\|tester health care professional, minor health issues\|60 s at 50 %\|long acting insulin: 12.3 L/); // flags bit 5 set: litres
    assert.match(details, /34.5 %/);
    assert.match(details, /matches no held measurement/);
  });

  it('answers a corrupt context with issues (and the held record released)', () => {
    const session = createGattSession(testContext());
    session.accept('2a18', hex(withContextFlag(RECORD_7)));
    const bad = session.accept('2a34', hex('FF 0000 B3 03')); // Nordic onInvalidDataReceived (cut)
    assert.ok(!bad.ok);
    assert.equal(bad.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
    assert.equal(bad.released.length, 1);
  });

  it('passes every other characteristic straight through', () => {
    const r = createGattSession(testContext()).accept('2a37', hex('00 48'));
    assert.ok(r.ok);
    assert.equal(r.value[0]!.components[0]!.value, 72);
  });
});

describe('Record Access Control Point 0x2A52', () => {
  it('asks for records since a sequence number and for all records', () => {
    // GSS §3.177 / GLP 1.0 §4.10.2: op 0x01 report stored records, operator 0x03 ≥, filter 0x01 sequence number
    assert.deepEqual([...encodeRacpReportSince(0x0107)], [0x01, 0x03, 0x01, 0x07, 0x01]);
    assert.deepEqual([...encodeRacpReportAll()], [0x01, 0x01]);
  });

  it('reads the response code and number-of-records indications', () => {
    // GSS §3.177.3: 06 00 <request op code> <response code>; 05 00 <uint16 count>
    assert.deepEqual(decodeRacpResponse(hex('06 00 01 01')), { ok: true, value: { kind: 'response', requestOpcode: 1, code: 1, codeName: 'success' } });
    assert.deepEqual(decodeRacpResponse(hex('06 00 01 06')), { ok: true, value: { kind: 'response', requestOpcode: 1, code: 6, codeName: 'no records found' } });
    assert.deepEqual(decodeRacpResponse(hex('05 00 0A 01')), { ok: true, value: { kind: 'count', records: 266 } });
  });

  it('refuses RACP values that are no response', () => {
    for (const frame of ['06', '06 00 01', '01 01', '06 01 01 01']) {
      const r = decodeRacpResponse(hex(frame));
      assert.ok(!r.ok, frame);
      assert.match(r.issues[0]!.code, /GW_ERR_BLE_(FRAME_SHORT|RACP)/);
    }
  });
});
