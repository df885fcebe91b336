// The test server's validation in-process: the R4 definitions refuse what they should, and the shape cache
// never lets a bad value through because a valid resource of the same shape was seen first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { BP, observationFor } from '../../../ehr-bridge/fhir/fixtures.ts';
import { profileWarnings, setValidationCache, validateFhirResource } from './validate.ts';

/** Each the same shape as a valid heart-rate Observation, with one value that R4 or the profile refuses. */
function badOnes(): Record<string, unknown> {
  const hr = observationFor(1);
  return {
    'a day-less effective time (vs-1)': { ...observationFor(2), effectiveDateTime: '2026-11' },
    'a heart rate as text': { ...observationFor(3), valueQuantity: { ...hr.valueQuantity, value: '61' } },
    'a status as a number': { ...observationFor(4), status: 1 },
    'a coding as a bare string': { ...observationFor(5), code: 'http://loinc.org|8867-4' },
    'an unknown element': { ...observationFor(6), heartRate: 61 },
    'no code at all': { ...observationFor(7), code: undefined },
  };
}

describe('the FHIR test server validation', () => {
  it('accepts the gateway’s own vital-signs Observations, blood-pressure panels included', () => {
    assert.deepEqual(validateFhirResource(observationFor(1)), []);
    assert.deepEqual(validateFhirResource(observationFor(2, { components: BP })), []);
    assert.deepEqual(validateFhirResource({ resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.840.1', value: 'MRN-42' }] }), []);
  });

  it('refuses each bad value, with and without the shape cache, after a valid twin passed', () => {
    for (const cache of [false, true]) {
      setValidationCache(cache);
      assert.deepEqual(validateFhirResource(observationFor(100)), []);
      for (const [what, resource] of Object.entries(badOnes())) {
        const issues = validateFhirResource(resource);
        assert.ok(issues.length > 0, `${what} must be refused (cache ${cache ? 'on' : 'off'})`);
        assert.ok(issues.every((i) => i.severity === 'error' && typeof i.code === 'string'));
      }
    }
    setValidationCache(true);
  });

  it('names the element at fault', () => {
    const { status: _s, ...noStatus } = observationFor(1);
    const issues = validateFhirResource(noStatus);
    assert.ok(issues.some((i) => i.expression?.includes('Observation.status')), JSON.stringify(issues));
  });

  it('refuses a bp panel that lacks its diastolic component and names the slice', () => {
    const panel = observationFor(1, { components: BP });
    const issues = validateFhirResource({ ...panel, component: panel.component!.slice(0, 1) } satisfies Observation);
    assert.ok(issues.some((i) => /DiastolicBP/.test(i.diagnostics ?? '')), JSON.stringify(issues));
  });

  it('refuses an unknown resource type and warns about, but accepts, an unknown profile', () => {
    assert.match(validateFhirResource({ resourceType: 'Vitals' })[0]?.diagnostics ?? '', /unknown or missing resourceType/);
    const claimed = { ...observationFor(1), meta: { profile: ['http://example.org/StructureDefinition/my-hr'] } } as Observation;
    assert.deepEqual(validateFhirResource(claimed), []);
    assert.equal(profileWarnings(claimed).length, 1);
  });
});
