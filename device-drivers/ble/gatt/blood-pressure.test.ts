import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCharacteristic, decodeIntermediateCuffPressure } from './index.ts';
import { hex, normalizeBound, testContext } from './testing.ts';

describe('Blood Pressure Measurement 0x2A35', () => {
  it('decodes a full frame: mmHg, unknown-date time stamp, pulse rate, user 1 and every status condition', () => {
    // Nordic Android-BLE-Common-Library bps/BloodPressureMeasurementDataCallbackTest onBloodPressureMeasurementReceived_full
    const ctx = testContext();
    const r = decodeCharacteristic('2a35', hex('1E 8A00 5800 7800 0000 04 11 14 29 3B 3C00 01 2700'), ctx);
    assert.ok(r.ok, JSON.stringify(r));
    const [reading] = r.value;
    assert.deepEqual(reading!.components, [
      { metric: 'bp-systolic', value: 138, unit: 'mm[Hg]' },
      { metric: 'bp-diastolic', value: 88, unit: 'mm[Hg]' },
      { metric: 'bp-mean', value: 120, unit: 'mm[Hg]' },
      { metric: 'heart-rate', value: 60, unit: '/min' },
    ]);
    assert.equal(reading!.deviceTime, undefined, 'year 0 = not known: no device time');
    assert.deepEqual(reading!.context, { userIndex: 1 });
    assert.equal(reading!.transport, 'ble');
    const status = ctx.notes.find((n) => n.field === 'measurementStatus');
    assert.match(status!.detail, /body movement.*cuff too loose.*irregular pulse.*improper measurement position/);
  });

  it('decodes kPa with pulse rate and status, no user id and no time stamp', () => {
    // Nordic ..._some: flags 0x15, 18.9 / 11 / 15.9 kPa, PR 60, status 0b010010
    const ctx = testContext();
    const r = decodeCharacteristic('0x2A35', hex('15 BDF0 0B00 9FF0 3C00 1200'), ctx);
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components.slice(0, 3).map((c) => [c.value, c.unit]), [[18.9, 'kPa'], [11, 'kPa'], [15.9, 'kPa']]);
    assert.equal(r.value[0]!.context, undefined);
    assert.match(ctx.notes.find((n) => n.field === 'measurementStatus')!.detail, /cuff too loose; pulse rate is less than lower limit/);
  });

  it('decodes the minimal frame (flags 0: mmHg, nothing optional)', () => {
    // Nordic ..._minimal
    const r = decodeCharacteristic('00002a35-0000-1000-8000-00805f9b34fb', hex('00 BDF0 0B00 9FF0'), testContext());
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components.map((c) => c.unit), ['mm[Hg]', 'mm[Hg]', 'mm[Hg]']);
  });

  it('keeps a known time stamp with the hub offset, and user 0xFF (unknown user) gives no userIndex', () => {
    // Built from GSS §3.31: flags 0x0A (time stamp, user id), 120/80/93 mmHg, 2026-11-23 09:30:00, user 0xFF
    const r = decodeCharacteristic('2a35', hex('0A 7800 5000 5D00 EA07 0B 17 09 1E 00 FF'), testContext({ deviceUtcOffsetMinutes: -300 }));
    assert.ok(r.ok);
    assert.equal(r.value[0]!.deviceTime, '2026-11-23T09:30:00-05:00');
    assert.equal(r.value[0]!.context, undefined);
  });

  it('becomes a blood-pressure panel and a heart-rate Observation', () => {
    const r = decodeCharacteristic('2a35', hex('06 8000 5200 6000 EA07 0B 17 09 1E 00 4800'), testContext({ deviceUtcOffsetMinutes: 0 }));
    assert.ok(r.ok);
    const out = normalizeBound(r.value[0]!);
    assert.equal(out.kind, 'observations');
    if (out.kind !== 'observations') return;
    assert.deepEqual(out.observations.map((o) => o.code?.coding?.[0]?.code), ['85354-9', '8867-4']);
    assert.equal(out.observations[0]!.effectiveDateTime, '2026-11-23T09:30:00Z');
  });

  it('refuses frames that are too short or whose flags announce missing fields', () => {
    // Nordic onInvalidDataReceived_toShort (6 bytes) and _noTimestamp (flags 0x03, time stamp missing)
    for (const frame of ['010203040506', '03020304050607', '04 7800 5000 5D00 3C']) {
      const r = decodeCharacteristic('2a35', hex(frame), testContext());
      assert.equal(r.ok, false, frame);
      if (!r.ok) assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
    }
  });

  it('refuses an impossible time stamp (month 13) as a reserved value', () => {
    const r = decodeCharacteristic('2a35', hex('02 7800 5000 5D00 EA07 0D 17 09 1E 00'), testContext());
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_RESERVED_VALUE');
  });
});

describe('Intermediate Cuff Pressure 0x2A36', () => {
  it('never becomes a Reading, but a live display can read the cuff pressure', () => {
    // Nordic bps/IntermediateCuffPressureDataCallbackTest layout: cuff pressure, then NaN, NaN (GSS §3.137)
    const bytes = hex('00 8E00 FF07 FF07');
    const ctx = testContext();
    const r = decodeCharacteristic('2a36', bytes, ctx);
    assert.deepEqual(r, { ok: true, value: [] });
    assert.equal(ctx.notes[0]!.kind, 'ignored');
    const live = decodeIntermediateCuffPressure(bytes, ctx);
    assert.ok(live.ok);
    assert.deepEqual([live.value.cuffPressure, live.value.unit], [142, 'mm[Hg]']);
  });

  it('still refuses a corrupt cuff-pressure frame', () => {
    const r = decodeCharacteristic('2a36', hex('00 8E00'), testContext());
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
  });
});
