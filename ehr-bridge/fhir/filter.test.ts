import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsObservation, metricIdsOf } from './filter.ts';
import { BP, observationFor } from './fixtures.ts';

describe('the FHIR destination routing filter', () => {
  const hr = observationFor(1, { deviceId: 'oxi-1', mrn: 'MRN-1' });
  const bp = observationFor(2, { deviceId: 'cuff-7', mrn: 'MRN-2', components: BP });

  it('knows which catalog metrics an Observation carries', () => {
    assert.deepEqual([...metricIdsOf(hr)].sort(), ['heart-rate']);
    assert.ok(metricIdsOf(bp).has('blood-pressure'));
    assert.ok(metricIdsOf(bp).has('bp-systolic'));
  });
  it('takes everything without a filter', () => {
    assert.equal(acceptsObservation(undefined, hr), true);
  });
  it('filters by metric or group id', () => {
    assert.equal(acceptsObservation({ metrics: ['blood-pressure'] }, bp), true);
    assert.equal(acceptsObservation({ metrics: ['bp-systolic'] }, bp), true);
    assert.equal(acceptsObservation({ metrics: ['blood-pressure'] }, hr), false);
  });
  it('filters by device and by patient MRN, every given list having to match', () => {
    assert.equal(acceptsObservation({ devices: ['oxi-1'] }, hr), true);
    assert.equal(acceptsObservation({ devices: ['oxi-1'] }, bp), false);
    assert.equal(acceptsObservation({ patients: ['MRN-2'] }, bp), true);
    assert.equal(acceptsObservation({ patients: ['MRN-2'], devices: ['oxi-1'] }, bp), false);
  });
});
