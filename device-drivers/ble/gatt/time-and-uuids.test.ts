import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHARACTERISTIC, HEALTH_SERVICES, decodeCharacteristic, encodeCurrentTime, normalizeUuid, parseUuid } from './index.ts';
import { hex, testContext } from './testing.ts';

describe('UUIDs, Current Time and Date Time', () => {
  it('normalizes 16-bit and 128-bit UUIDs to the canonical lowercase 128-bit form', () => {
    const canonical = '00002a35-0000-1000-8000-00805f9b34fb';
    for (const u of ['2a35', '0x2A35', '2A35', '00002A35-0000-1000-8000-00805F9B34FB', '00002a3500001000800000805f9b34fb']) assert.equal(normalizeUuid(u), canonical, u);
    assert.equal(CHARACTERISTIC.currentTime, '00002a2b-0000-1000-8000-00805f9b34fb');
    assert.equal(parseUuid('not-a-uuid').ok, false);
  });

  it('lists the seven health services with their measurement characteristics', () => {
    assert.deepEqual(HEALTH_SERVICES.map((s) => s.service.slice(4, 8)), ['1810', '180d', '1809', '181d', '181b', '1822', '1808']);
    const bp = HEALTH_SERVICES[0]!.characteristics;
    assert.deepEqual(bp.map((c) => [c.uuid.slice(4, 8), c.property]), [['2a35', 'indicate'], ['2a36', 'notify']]);
  });

  it('answers an unknown characteristic and a malformed UUID with their own codes', () => {
    const unknown = decodeCharacteristic('2a19', hex('64'), testContext()); // Battery Level
    assert.ok(!unknown.ok);
    assert.equal(unknown.issues[0]!.code, 'GW_ERR_BLE_UNKNOWN_CHARACTERISTIC');
    const bad = decodeCharacteristic('zz', hex('00'), testContext());
    assert.ok(!bad.ok);
    assert.equal(bad.issues[0]!.code, 'GW_ERR_BLE_BAD_UUID');
  });

  it('writes Current Time as the hub wall clock: 2026-11-23 09:30:15.5 UTC at +01:00 is Monday 10:30:15 + 128/256', () => {
    // GSS §3.62: year LE, month, day, h, m, s, day of week (Mon = 1), fractions256, adjust reason
    const bytes = encodeCurrentTime(new Date('2026-11-23T09:30:15.500Z'), 60);
    assert.deepEqual([...bytes], [0xea, 0x07, 11, 23, 10, 30, 15, 1, 128, 0x02]);
    assert.equal(encodeCurrentTime(new Date('2026-11-22T12:00:00Z'), 0)[7], 7, 'Sunday is 7');
  });

  it('reads back a Date Time written with Current Time as the same instant', () => {
    const at = new Date('2026-11-23T09:30:15Z');
    const ct = encodeCurrentTime(at, -300);
    const frame = Uint8Array.of(0x02, 0x78, 0x00, 0x50, 0x00, 0x5d, 0x00, ...ct.slice(0, 7));
    const r = decodeCharacteristic('2a35', frame, testContext({ deviceUtcOffsetMinutes: -300 }));
    assert.ok(r.ok);
    assert.equal(new Date(r.value[0]!.deviceTime!).getTime(), at.getTime());
  });

  it('uses the hub offset at that date when the context gives none', () => {
    const r = decodeCharacteristic('2a35', hex('02 7800 5000 5D00 EA07 0B 17 09 1E 00'), testContext({ deviceUtcOffsetMinutes: undefined }));
    assert.ok(r.ok);
    const expected = -new Date(2026, 10, 23, 9, 30, 0).getTimezoneOffset();
    assert.match(r.value[0]!.deviceTime!, /^2026-11-23T09:30:00(Z|[+-]\d\d:\d\d)$/);
    assert.equal(new Date(r.value[0]!.deviceTime!).getTime(), Date.UTC(2026, 10, 23, 9, 30, 0) - expected * 60_000);
  });
});
