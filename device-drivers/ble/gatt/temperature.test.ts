import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SPECIAL_VALUES } from '../../../gateway/types.ts';
import { decodeCharacteristic } from './index.ts';
import { encodeSpecialFloat } from './ieee11073.ts';
import { hex, normalizeBound, testContext } from './testing.ts';

const le32 = (v: number): string => Buffer.from(Uint32Array.of(v).buffer).toString('hex');

describe('Temperature Measurement 0x2A1C', () => {
  it('decodes °C with time stamp and type finger', () => {
    // Nordic Android-BLE-Common-Library ht/TemperatureMeasurementDataCallbackTest: 37.60 °C, 2012-12-05 11:50:27, finger
    const ctx = testContext();
    const r = decodeCharacteristic('2a1c', hex('06 B00E00FE DC07 0C 05 0B 32 1B 04'), ctx);
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components, [{ metric: 'body-temperature', value: 37.6, unit: 'Cel' }]);
    assert.equal(r.value[0]!.deviceTime, '2012-12-05T11:50:27+01:00');
    assert.equal(ctx.notes.find((n) => n.field === 'temperatureType')!.detail, 'finger');
  });

  it('decodes °F without time stamp and converts to °C in the Observation', () => {
    // Built from GSS §3.216: flags 0x01 (Fahrenheit), FLOAT 9865 × 10^-2 = 98.65 °F
    const r = decodeCharacteristic('2a1c', hex(`01 ${le32(0xfe002689)}`), testContext());
    assert.ok(r.ok);
    assert.deepEqual(r.value[0]!.components[0], { metric: 'body-temperature', value: 98.65, unit: '[degF]' });
    const out = normalizeBound(r.value[0]!);
    assert.equal(out.kind, 'observations');
    if (out.kind === 'observations') assert.equal(out.observations[0]!.valueQuantity?.value, 37.0);
  });

  it('keeps a reserved temperature type as a note, and refuses a missing type byte', () => {
    const ctx = testContext();
    assert.ok(decodeCharacteristic('2a1c', hex('04 B00E00FE 0A'), ctx).ok);
    assert.equal(ctx.notes[0]!.detail, 'reserved value 10');
    const short = decodeCharacteristic('2a1c', hex('06 B00E00FE DC07 0C 05 0B 32 1B'), testContext()); // Nordic onInvalidDataReceived
    assert.ok(!short.ok);
    assert.equal(short.issues[0]!.code, 'GW_ERR_BLE_FRAME_SHORT');
  });

  it('carries every FLOAT special value by name and normalize gives it no value', () => {
    for (const special of SPECIAL_VALUES) {
      const r = decodeCharacteristic('2a1c', hex(`00 ${le32(encodeSpecialFloat(special))}`), testContext());
      assert.ok(r.ok);
      assert.equal(r.value[0]!.components[0]!.value, special);
      const out = normalizeBound(r.value[0]!);
      const obs = out.kind === 'observations' ? out.observations : [];
      assert.ok(obs.every((o) => o.valueQuantity === undefined), special);
    }
  });
});
