// Property tests (fast-check): no byte string makes a decoder or the session throw; every failure carries
// registered codes; no IEEE-11073 special value ever becomes a number, through normalize included.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { metricByLoinc } from '../../../gateway/catalog.ts';
import { errorRegistry } from '../../../gateway/errors.ts';
import { SPECIAL_VALUES, isSpecialValue, type Reading, type SpecialValue } from '../../../gateway/types.ts';
import { encodeSpecialFloat, encodeSpecialSfloat } from './ieee11073.ts';
import { DECODERS, createGattSession, decodeCharacteristic, decodeRacpResponse } from './index.ts';
import { normalizeBound, testContext } from './testing.ts';

const UUIDS = [...DECODERS.keys(), '2a19', '0x2A52', 'garbage'];
const bytes = fc.uint8Array({ minLength: 0, maxLength: 48 });
const known = (code: string): boolean => Object.hasOwn(errorRegistry, code);

function checkResult(r: { ok: true; value: Reading[] } | { ok: false; issues: Array<{ code: string }> }): void {
  if (r.ok) {
    for (const reading of r.value) {
      assert.equal(reading.transport, 'ble');
      for (const c of reading.components) assert.ok(isSpecialValue(c.value) || Number.isFinite(c.value), `${c.metric} = ${String(c.value)}`);
    }
  } else {
    assert.ok(r.issues.length > 0);
    for (const i of r.issues) assert.ok(known(i.code), i.code);
  }
}

describe('GATT decoder properties', () => {
  it('no byte string makes any decoder throw: the answer is readings or issues with registered codes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...UUIDS), bytes, (uuid, value) => {
        checkResult(decodeCharacteristic(uuid, value, testContext()));
      }),
      { numRuns: 4000 },
    );
  });

  it('frames that start with valid flags and random field bytes never throw either', () => {
    // Random bytes rarely get past the flags; this feeds each decoder long frames under every flag byte.
    fc.assert(
      fc.property(fc.constantFrom(...DECODERS.keys()), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 40 }), (uuid, flags, rest) => {
        checkResult(decodeCharacteristic(uuid, Uint8Array.of(flags, ...rest), testContext()));
      }),
      { numRuns: 4000 },
    );
  });

  it('no sequence of values makes a session throw, and flush always answers', () => {
    const glucoseHeavy = fc.constantFrom('2a18', '2a34', '2a18', '2a34', '2a37', '2a35');
    fc.assert(
      fc.property(fc.array(fc.tuple(glucoseHeavy, bytes), { maxLength: 20 }), (values) => {
        const session = createGattSession(testContext());
        for (const [uuid, value] of values) {
          const r = session.accept(uuid, value);
          if (r.ok) checkResult(r);
          else {
            checkResult({ ok: false, issues: r.issues });
            checkResult({ ok: true, value: r.released });
          }
        }
        checkResult({ ok: true, value: session.flush() });
        assert.deepEqual(session.flush(), []);
      }),
      { numRuns: 1000 },
    );
  });

  it('no byte string makes the RACP decoder throw', () => {
    fc.assert(
      fc.property(bytes, (value) => {
        const r = decodeRacpResponse(value);
        if (!r.ok) for (const i of r.issues) assert.ok(known(i.code));
      }),
      { numRuns: 2000 },
    );
  });
});

const le16 = (v: number): number[] => [v & 0xff, v >> 8];
const le32 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24];
const special = fc.constantFrom(...SPECIAL_VALUES);
/** An SFLOAT field: a special value, or an ordinary plausible number (mantissa × 10^0). */
const sfloatField = (ordinary: number): fc.Arbitrary<{ raw: number; special?: SpecialValue }> =>
  fc.oneof(special.map((s) => ({ raw: encodeSpecialSfloat(s), special: s })), fc.constant({ raw: ordinary }));

/** No Observation or component for `metric` carries a value when the device sent a special value for it. */
function assertNoNumberFor(reading: Reading, specials: ReadonlyMap<string, SpecialValue>): void {
  for (const c of reading.components) if (specials.has(c.metric)) assert.equal(c.value, specials.get(c.metric));
  const out = normalizeBound(reading);
  if (out.kind !== 'observations') return;
  for (const obs of out.observations) {
    const codes = [obs, ...(obs.component ?? [])];
    for (const part of codes) {
      const metric = metricByLoinc(part.code?.coding?.[0]?.code ?? '')?.id;
      if (metric !== undefined && specials.has(metric)) assert.equal(part.valueQuantity, undefined, `${metric} got a value`);
    }
  }
}

describe('special values never become numbers', () => {
  it('blood pressure: a special SFLOAT in any of systolic, diastolic, mean or pulse rate stays its name', () => {
    fc.assert(
      fc.property(sfloatField(128), sfloatField(82), sfloatField(97), sfloatField(64), (sys, dia, map, pr) => {
        const frame = Uint8Array.of(0x04, ...le16(sys.raw), ...le16(dia.raw), ...le16(map.raw), ...le16(pr.raw));
        const r = decodeCharacteristic('2a35', frame, testContext());
        assert.ok(r.ok);
        const specials = new Map<string, SpecialValue>();
        for (const [metric, f] of [['bp-systolic', sys], ['bp-diastolic', dia], ['bp-mean', map], ['heart-rate', pr]] as const) if (f.special) specials.set(metric, f.special);
        assertNoNumberFor(r.value[0]!, specials);
      }),
      { numRuns: 150 },
    );
  });

  it('pulse oximetry (spot check and continuous): a special SpO2 or pulse rate stays its name', () => {
    fc.assert(
      fc.property(fc.constantFrom('2a5e', '2a5f'), sfloatField(97), sfloatField(72), (uuid, spo2, pr) => {
        const r = decodeCharacteristic(uuid, Uint8Array.of(0x00, ...le16(spo2.raw), ...le16(pr.raw)), testContext());
        assert.ok(r.ok);
        const specials = new Map<string, SpecialValue>();
        if (spo2.special) specials.set('spo2', spo2.special);
        if (pr.special) specials.set('heart-rate', pr.special);
        assertNoNumberFor(r.value[0]!, specials);
      }),
      { numRuns: 100 },
    );
  });

  it('glucose and temperature: a special concentration (SFLOAT) or temperature (FLOAT) stays its name', () => {
    fc.assert(
      fc.property(special, (s) => {
        const glucose = decodeCharacteristic('2a18', Uint8Array.of(0x02, 1, 0, 0xea, 0x07, 11, 23, 9, 30, 0, ...le16(encodeSpecialSfloat(s)), 0x11), testContext());
        assert.ok(glucose.ok);
        assertNoNumberFor(glucose.value[0]!, new Map([['glucose', s]]));
        const temp = decodeCharacteristic('2a1c', Uint8Array.of(0x00, ...le32(encodeSpecialFloat(s))), testContext());
        assert.ok(temp.ok);
        assertNoNumberFor(temp.value[0]!, new Map([['body-temperature', s]]));
      }),
      { numRuns: 20 },
    );
  });
});
