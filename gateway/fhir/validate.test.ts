import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Observation, ObservationComponent } from '@medplum/fhirtypes';
import { GROUPS, groupSpec, metricSpec, type Group, type Metric } from '../catalog.ts';
import { LOINC_SYSTEM, MDC_SYSTEM, OBSERVATION_CATEGORY_SYSTEM, UCUM_SYSTEM } from './constants.ts';
import { validateObservation, warmUpValidation } from './validate.ts';

// Built by hand from the catalog (not through normalize), so a normalize bug cannot hide a validator bug.
const TYPICAL: Record<Metric, number> = {
  'bp-systolic': 121,
  'bp-diastolic': 79,
  'bp-mean': 93,
  'heart-rate': 64,
  spo2: 97,
  'body-temperature': 36.8,
  'body-weight': 72.4,
  'body-height': 176.5,
  'respiratory-rate': 14,
  glucose: 104,
  bmi: 23.4,
};

function codeOf(loinc: ReadonlyArray<{ code: string; display: string }>, mdc: { code: number; refId: string }) {
  return {
    coding: [
      ...loinc.map((l) => ({ system: LOINC_SYSTEM, code: l.code, display: l.display })),
      { system: MDC_SYSTEM, code: String(mdc.code), display: mdc.refId },
    ],
  };
}

function quantity(metric: Metric) {
  const m = metricSpec(metric);
  return { value: TYPICAL[metric], unit: m.unit, system: UCUM_SYSTEM, code: m.ucum };
}

function component(metric: Metric): ObservationComponent {
  const m = metricSpec(metric);
  return { code: codeOf(m.loinc, m.mdc), valueQuantity: quantity(metric) };
}

function valid(groupId: Group): Observation {
  const g = groupSpec(groupId);
  const obs: Observation = {
    resourceType: 'Observation',
    id: '0123456789abcdef0123456789abcdef',
    ...(g.profile ? { meta: { profile: [g.profile] } } : {}),
    status: 'final',
    category: [{ coding: [{ system: OBSERVATION_CATEGORY_SYSTEM, code: g.category }] }],
    code: codeOf(g.loinc, g.mdc),
    subject: { type: 'Patient', identifier: { system: 'urn:oid:1.2.3', value: 'MRN-1' } },
    effectiveDateTime: '2025-03-01T08:15:00+01:00',
  };
  if (g.kind === 'panel') obs.component = g.members.map((m) => component(m.metric));
  else obs.valueQuantity = quantity(g.members[0]!.metric);
  return obs;
}

const codes = (obs: Observation) => validateObservation(obs).map((i) => i.code);
const paths = (obs: Observation) => validateObservation(obs).map((i) => i.path);

describe('validateObservation', () => {
  before(() => {
    warmUpValidation();
  });

  for (const g of GROUPS) {
    test(`a valid ${g} Observation passes`, () => {
      assert.deepEqual(validateObservation(valid(g)), []);
    });
  }

  for (const g of GROUPS) {
    test(`a ${g} Observation in the wrong UCUM unit is caught`, () => {
      const obs = valid(g);
      const q = obs.valueQuantity ?? obs.component?.[0]?.valueQuantity;
      assert.ok(q);
      q.code = q.code === 'mm[Hg]' ? '/min' : 'mm[Hg]';
      const issues = validateObservation(obs);
      assert.ok(issues.length > 0);
      assert.ok(issues.every((i) => i.code === 'GW_ERR_PROFILE_INVALID' && i.path));
      assert.ok(issues.some((i) => i.path?.endsWith('valueQuantity.code')), JSON.stringify(issues));
    });
  }

  test('a heart rate in mm[Hg] is caught although the heartrate profile alone lets it through', () => {
    const obs = valid('heart-rate');
    obs.valueQuantity = { value: 64, unit: 'mmHg', system: UCUM_SYSTEM, code: 'mm[Hg]' };
    const issues = validateObservation(obs);
    assert.deepEqual(
      issues.map((i) => i.path),
      ['Observation.valueQuantity.code'],
    );
    assert.match(issues[0]!.message, /LOINC 8867-4 \(heart-rate\) needs UCUM \/min, found mm\[Hg\]/);
  });

  test('a quantity without the UCUM system is caught', () => {
    const obs = valid('body-weight');
    obs.valueQuantity!.system = 'http://example.org/units';
    assert.ok(paths(obs).includes('Observation.valueQuantity.system'));
  });

  for (const g of ['heart-rate', 'blood-pressure', 'glucose'] as const) {
    test(`a ${g} Observation without a subject is caught`, () => {
      const obs = valid(g);
      delete obs.subject;
      assert.ok(paths(obs).includes('Observation.subject'), JSON.stringify(validateObservation(obs)));
    });
  }

  test('an Observation without an effective time is caught, glucose included', () => {
    const obs = valid('glucose');
    delete obs.effectiveDateTime;
    assert.ok(paths(obs).includes('Observation.effective[x]'));
  });

  test('a wrong LOINC code is caught', () => {
    const obs = valid('body-temperature');
    obs.code.coding![0]!.code = '8331-1'; // oral temperature: not in the catalog, not bodytemp's code
    const issues = validateObservation(obs);
    assert.ok(issues.some((i) => i.path === 'Observation.code.coding' && /no LOINC code of the vitals catalog/.test(i.message)));
    assert.ok(issues.some((i) => /bodytemp/.test(i.message)), 'the claimed profile also rejects it');
  });

  test('a LOINC code that belongs to another profile than the one claimed is caught', () => {
    const obs = valid('heart-rate');
    obs.meta = { profile: ['http://hl7.org/fhir/StructureDefinition/resprate'] };
    assert.ok(paths(obs).includes('Observation.meta.profile'));
  });

  test('a profile the gateway does not know is caught', () => {
    const obs = valid('spo2');
    obs.meta!.profile!.push('http://example.org/StructureDefinition/my-spo2');
    assert.ok(paths(obs).includes('Observation.meta.profile[1]'));
  });

  test('an MDC code that does not match the LOINC code is caught', () => {
    const obs = valid('heart-rate');
    obs.code.coding![1]!.code = '150456';
    assert.ok(paths(obs).includes('Observation.code.coding[1].code'));
  });

  test('an SpO2 Observation without 59408-5 is caught', () => {
    const obs = valid('spo2');
    obs.code.coding = obs.code.coding!.filter((c) => c.code !== '59408-5');
    assert.deepEqual(codes(obs), ['GW_ERR_PROFILE_INVALID']);
  });

  test('a glucose Observation filed as a vital sign is caught', () => {
    const obs = valid('glucose');
    obs.category = [{ coding: [{ system: OBSERVATION_CATEGORY_SYSTEM, code: 'vital-signs' }] }];
    assert.ok(paths(obs).includes('Observation.category'));
  });

  describe('blood-pressure panel', () => {
    test('a panel with systolic and diastolic only passes', () => {
      const obs = valid('blood-pressure');
      obs.component = obs.component!.slice(0, 2);
      assert.deepEqual(validateObservation(obs), []);
    });

    test('a panel whose diastolic carries a dataAbsentReason passes', () => {
      const obs = valid('blood-pressure');
      const dia = obs.component![1]!;
      delete dia.valueQuantity;
      dia.dataAbsentReason = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-a-number' }] };
      assert.deepEqual(validateObservation(obs), []);
    });

    test('a panel without diastolic is caught', () => {
      const obs = valid('blood-pressure');
      obs.component = obs.component!.filter((_, i) => i !== 1);
      const issues = validateObservation(obs);
      assert.ok(issues.some((i) => /exactly one bp-diastolic component \(LOINC 8462-4\)/.test(i.message)), JSON.stringify(issues));
    });

    test('a panel with two systolic components is caught', () => {
      const obs = valid('blood-pressure');
      obs.component!.push(component('bp-systolic'));
      assert.ok(validateObservation(obs).some((i) => /found 2/.test(i.message)));
    });

    test('a panel component in kPa is caught', () => {
      const obs = valid('blood-pressure');
      obs.component![0]!.valueQuantity!.code = 'kPa';
      assert.ok(paths(obs).includes('Observation.component[0].valueQuantity.code'));
    });

    test('a panel with a top-level value is caught', () => {
      const obs = valid('blood-pressure');
      obs.valueQuantity = quantity('bp-systolic');
      assert.ok(paths(obs).includes('Observation.valueQuantity'));
    });

    test('a panel component that is not blood pressure is caught', () => {
      const obs = valid('blood-pressure');
      obs.component!.push(component('heart-rate'));
      assert.ok(paths(obs).includes('Observation.component[3].code'));
    });

    test('a component with neither value nor dataAbsentReason is caught', () => {
      const obs = valid('blood-pressure');
      delete obs.component![2]!.valueQuantity;
      assert.ok(paths(obs).includes('Observation.component[2].value[x]'), JSON.stringify(validateObservation(obs)));
    });
  });
});

describe('validation of many Observations of one shape', () => {
  test('still catches a bad value in a shape that validated before (the shape cache never hides a variable field)', () => {
    const ok = valid('heart-rate' as Group);
    assert.deepEqual(validateObservation(ok), []);
    assert.deepEqual(validateObservation({ ...ok, effectiveDateTime: '2026-11-24T08:00:00Z' }), [], 'same shape, other time: valid');
    for (const bad of ['2026-13-45T10:00:00Z', '2026', '2026-11-24 08:00:00', 'yesterday']) {
      assert.ok(validateObservation({ ...ok, effectiveDateTime: bad }).length > 0, `effectiveDateTime ${bad}`);
    }
    assert.ok(validateObservation({ ...ok, valueQuantity: { ...ok.valueQuantity!, value: Number.NaN } }).length > 0, 'NaN value');
    assert.ok(validateObservation({ ...ok, valueQuantity: { ...ok.valueQuantity!, code: 'mm[Hg]' } }).length > 0, 'wrong unit');
  });
});
