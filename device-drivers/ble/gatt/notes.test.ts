// A cuff's measurement status reaches the clinician: decode → Reading.notes → Observation.note (valid R4) → NTE.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildOruR01 } from '../../../ehr-bridge/hl7v2/oru-r01.ts';
import { validateObservation } from '../../../gateway/fhir/validate.ts';
import { createGattSession, decodeCharacteristic } from './index.ts';
import { hex, normalizeBound, testContext } from './testing.ts';

// Nordic Android-BLE-Common-Library BloodPressureMeasurementDataCallbackTest _full: every status condition set.
const FULL_BP = '1E 8A00 5800 7800 0000 04 11 14 29 3B 3C00 01 2700';
const PLAIN_BP = '1E 8A00 5800 7800 0000 04 11 14 29 3B 3C00 01 0000';

describe('device remarks travel with the reading', () => {
  it('puts the cuff\'s measurement status on the Reading, the Observation (as note) and the ORU^R01 (as NTE)', () => {
    const decoded = decodeCharacteristic('2a35', hex(FULL_BP), testContext());
    assert.ok(decoded.ok);
    const reading = decoded.value[0]!;
    assert.equal(reading.notes?.length, 1);
    assert.match(reading.notes![0]!, /^Blood Pressure Measurement: .*irregular pulse/);

    const outcome = normalizeBound(reading);
    assert.equal(outcome.kind, 'observations');
    if (outcome.kind !== 'observations') return;
    for (const obs of outcome.observations) {
      assert.deepEqual(obs.note, [{ text: reading.notes![0] }]);
      assert.deepEqual(validateObservation(obs), [], 'Observation.note is valid R4');
    }
    const oru = buildOruR01(outcome.observations[0]!, { sendingApplication: 'GW', sendingFacility: 'SITE', receivingApplication: 'EHR', receivingFacility: 'CLINIC', processingId: 'P', now: new Date('2026-11-23T10:00:00Z') });
    assert.ok(oru.ok, JSON.stringify(oru));
    const nte = oru.value.message.split('\r').find((s) => s.startsWith('NTE|'));
    assert.ok(nte, oru.value.message);
    assert.match(nte, /irregular pulse/);
  });

  it('leaves the Observation\'s identity to the values: the same measurement with and without a status is one id', () => {
    const a = decodeCharacteristic('2a35', hex(FULL_BP), testContext());
    const b = decodeCharacteristic('2a35', hex(PLAIN_BP), testContext());
    assert.ok(a.ok && b.ok);
    assert.equal(b.value[0]!.notes, undefined, 'no status, no note');
    const [oa, ob] = [normalizeBound(a.value[0]!), normalizeBound(b.value[0]!)];
    assert.ok(oa.kind === 'observations' && ob.kind === 'observations');
    assert.deepEqual(oa.observations.map((o) => o.id), ob.observations.map((o) => o.id));
  });

  it('keeps fields no Observation carries out of the notes (they stay in the debug log)', () => {
    // Heart Rate Measurement with RR intervals (flags 0x10: uint8 value, RR present): RR is not a catalog metric.
    const ctx = testContext();
    const session = createGattSession(ctx);
    const r = session.accept('2a37', hex('10 48 0004 0004'));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value[0]!.notes, undefined);
    assert.ok(ctx.notes.some((n) => n.kind === 'not-carried'), 'the RR intervals are noted for the log');
  });
});
