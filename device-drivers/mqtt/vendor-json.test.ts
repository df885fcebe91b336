// A vendor's own JSON through an mqtt firmware profile: paths, units read from the payload, scale, "no
// measurement" markers, device clocks and sequence numbers, and payloads that do not fit the profile.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { parseJsonPath, readJsonPath } from '../../gateway/profiles/json-path.ts';
import { loadProfileSet } from '../../gateway/profiles/registry.ts';
import { mqttProfileSchema, type MqttFirmwareProfile } from '../../gateway/profiles/schema.ts';
import { decodeMqttPublish, parseVendorReading, vendorSeqOf } from './payload.ts';
import { decodeVendorJson } from './vendor-json.ts';

const NOW = new Date('2026-11-23T09:31:00Z');
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const shipped = loadProfileSet(fileURLToPath(new URL('../../firmware-profiles', import.meta.url))).profiles.get('cellular-bp-cuff-json')!.profile as MqttFirmwareProfile;

/** A nested vendor format exercising every mapping key. */
const nested = mqttProfileSchema.parse({
  id: 'nested-vendor',
  doc: 'test profile',
  manufacturer: 'ACME',
  model: 'hub',
  firmware: '*',
  transport: { kind: 'mqtt' },
  json: {
    fields: [
      { path: 'measurements.sys', metric: 'bp-systolic', unitPath: 'measurements.unit', unitMap: { mmHg: 'mmHg', kPa: 'kPa' } },
      { path: 'measurements["dia"]', metric: 'bp-diastolic', unitPath: 'measurements.unit' },
      { path: 'readings[1].value', metric: 'body-temperature', unit: 'Cel', scale: 0.1, optional: true },
      { path: 'spo2', metric: 'spo2', unit: '%', special: ['---', null, { match: 127, value: 'NRes' }], optional: true },
    ],
    deviceTime: { path: 'meta.time', format: 'iso8601', utcOffset: '+01:00' },
    sequence: { path: 'meta.seq' },
  },
});

describe('JSON paths in mqtt profiles', () => {
  it('reads dotted keys, quoted keys and array indexes, and says where a walk stopped', () => {
    const parsed = parseJsonPath('data["blood pressure"].items[2].sys');
    assert.deepEqual(parsed, { ok: true, segments: ['data', 'blood pressure', 'items', 2, 'sys'] });
    assert.deepEqual(readJsonPath({ a: { b: [1, 2] } }, ['a', 'b', 1]), { found: true, value: 2 });
    assert.deepEqual(readJsonPath({ a: { b: [1, 2] } }, ['a', 'c', 0]), { found: false, missing: 'a.c', last: false });
    assert.deepEqual(readJsonPath({}, ['__proto__']), { found: false, missing: '__proto__', last: true }, 'own keys only');
  });

  it('refuses paths a profile cannot mean', () => {
    for (const bad of ['', '.a', 'a..b', 'a[x]', 'a[', 'a b', '[0]x']) assert.equal(parseJsonPath(bad).ok, false, bad);
  });
});

describe('mapping a vendor JSON payload with an mqtt profile', () => {
  it('maps the shipped cellular BP cuff payload to systolic, diastolic and pulse with its epoch time', () => {
    const r = decodeVendorJson(shipped, { imei: '356938035643809', ts: 1732350000, sys: 128, dia: 82, pul: 71, unit: 'mmHg', bat: 87 });
    assert.deepEqual(r, {
      ok: true,
      value: {
        components: [
          { metric: 'bp-systolic', value: 128, unit: 'mmHg' },
          { metric: 'bp-diastolic', value: 82, unit: 'mmHg' },
          { metric: 'heart-rate', value: 71, unit: '/min' },
        ],
        deviceTime: '2024-11-23T08:20:00Z',
      },
    });
  });

  it('follows nested paths, reads the unit from the payload, scales, and applies the clock offset and sequence', () => {
    const r = decodeVendorJson(nested, { measurements: { sys: 16, dia: 10.5, unit: 'kPa' }, readings: [{}, { value: 368 }], spo2: 97, meta: { time: '2026-11-23T09:30:00.250', seq: 17 } });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.value.components, [
      { metric: 'bp-systolic', value: 16, unit: 'kPa' },
      { metric: 'bp-diastolic', value: 10.5, unit: 'kPa' },
      { metric: 'body-temperature', value: 36.8, unit: 'Cel' },
      { metric: 'spo2', value: 97, unit: '%' },
    ]);
    assert.equal(r.value.deviceTime, '2026-11-23T09:30:00+01:00');
    assert.equal(r.value.sequence, 17);
  });

  it('turns "no measurement" markers into special values, never numbers, and skips optional paths that are absent', () => {
    const base = { measurements: { sys: 0, dia: 0, unit: 'mmHg' }, meta: { time: '2026-11-23T09:30:00Z', seq: 1 } };
    for (const [spo2, want] of [['---', 'NaN'], [null, 'NaN'], [127, 'NRes']] as const) {
      const r = decodeVendorJson(nested, { ...base, spo2 });
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.value.components.find((c) => c.metric === 'spo2'), { metric: 'spo2', value: want, unit: '%' });
    }
    const cuffError = decodeVendorJson(shipped, { ts: 1732350000, sys: 0, dia: 0, pul: 0, unit: 'mmHg' });
    assert.ok(cuffError.ok);
    assert.deepEqual(cuffError.value.components.map((c) => c.value), ['NaN', 'NaN', 'NaN']);
  });

  it('refuses a payload with a missing path, a wrong type, an unmapped unit or a bad clock, naming each path', () => {
    const r = decodeVendorJson(nested, { measurements: { sys: '128', unit: 'psi' }, readings: [{}, { value: true }], meta: { time: 1732350000, seq: -1 } });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.issues.map((i) => [i.code, i.path, i.message]), [
      ['GW_ERR_RECORD_FIELD', 'measurements.sys', 'field "measurements.sys": expected a number, got string "128"'],
      ['GW_ERR_RECORD_FIELD', 'measurements["dia"]', 'field "measurements["dia"]": missing from the payload'],
      ['GW_ERR_RECORD_FIELD', 'readings[1].value', 'field "readings[1].value": expected a number, got boolean'],
      ['GW_ERR_RECORD_FIELD', 'meta.time', 'field "meta.time": the device time must be an ISO 8601 string (iso8601), got number 1732350000'],
      ['GW_ERR_RECORD_FIELD', 'meta.seq', 'field "meta.seq": the sequence number must be an integer 0–4294967295, got number -1'],
    ]);
    const unit = decodeVendorJson(shipped, { ts: 1732350000, sys: 128, dia: 82, pul: 71, unit: 'psi' });
    assert.equal(unit.ok ? '' : unit.issues[0]!.message, 'field "unit": unit "psi" is not in the profile\'s unitMap');
    const parent = decodeVendorJson(shipped, { ts: 1732350000, sys: 128, dia: 82, pul: 71 });
    assert.equal(parent.ok ? '' : parent.issues[0]!.message, 'field "unit": the unit is missing from the payload');
  });

  it('makes a Reading with the topic device, the profile id, the device time and the sequence', () => {
    const r = parseVendorReading('bp-cell-1', nested, bytes({ measurements: { sys: 120, dia: 80, unit: 'mmHg' }, meta: { time: '2026-11-23T09:30:00Z', seq: 9 } }), NOW);
    assert.ok(r.ok);
    assert.equal(r.value.seq, 9);
    assert.deepEqual({ ...r.value.reading, raw: undefined }, {
      deviceId: 'bp-cell-1',
      profileId: 'nested-vendor',
      transport: 'mqtt',
      components: [{ metric: 'bp-systolic', value: 120, unit: 'mmHg' }, { metric: 'bp-diastolic', value: 80, unit: 'mmHg' }],
      receivedAt: NOW.toISOString(),
      deviceTime: '2026-11-23T09:30:00Z',
      context: { sequence: 9 },
      raw: undefined,
    });
    assert.equal(vendorSeqOf(nested, bytes({ meta: { seq: 4 } })), 4, 'a refused payload still has its sequence echoed');
    const notJson = parseVendorReading('bp-cell-1', nested, Buffer.from('{"sys":'), NOW);
    assert.equal(notJson.ok ? '' : notJson.issues[0]!.code, 'GW_ERR_MQTT_PAYLOAD_ENCODING');
  });

  it('decodes vendor JSON for gw decode mqtt when given the device profile, and the gateway contract without one', () => {
    const vendor = decodeMqttPublish('rpm/bp-cell-1/reading', JSON.stringify({ ts: 1732350000, sys: 128, dia: 82, pul: 71, unit: 'mmHg' }), NOW, shipped);
    assert.ok(vendor.ok);
    assert.equal(vendor.value.profileId, 'cellular-bp-cuff-json');
    const own = decodeMqttPublish('rpm/bp-cell-1/reading', JSON.stringify({ ts: 1732350000, sys: 128, dia: 82, pul: 71, unit: 'mmHg' }), NOW);
    assert.equal(own.ok ? '' : own.issues[0]!.code, 'GW_ERR_INVALID_READING');
  });
});
