import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { Observation } from '@medplum/fhirtypes';
import { METRICS, groupOf, metricSpec, type Metric } from './catalog.ts';
import { DEVICE_ID_SYSTEM, Extension, LOINC_SYSTEM, MDC_SYSTEM, OBSERVATION_ID_SYSTEM, UCUM_SYSTEM } from './fhir/constants.ts';
import { validateObservation, warmUpValidation } from './fhir/validate.ts';
import { normalize, parseDateTime, type NormalizeContext, type NormalizeOutcome } from './normalize.ts';
import { observationId } from './observation-id.ts';
import type { PatientIdentity, Reading, ReadingComponent } from './types.ts';

const RECEIVED = '2025-03-01T08:15:30.000Z';

function reading(components: ReadingComponent[], extra: Partial<Reading> = {}): Reading {
  return { deviceId: 'cuff-7', profileId: 'omron-bp7000', transport: 'ble', components, receivedAt: RECEIVED, ...extra };
}

function ctx(extra: Partial<NormalizeContext> & { bound?: PatientIdentity | undefined } = {}): NormalizeContext {
  const { bound, ...rest } = extra;
  const patient = 'bound' in extra ? bound : { mrn: 'MRN-42', system: 'urn:oid:1.2.840.1' };
  return { siteId: 'home-3', bindingFor: () => patient, clockSkewToleranceMs: 5 * 60_000, ...rest };
}

function observations(outcome: NormalizeOutcome): Observation[] {
  assert.equal(outcome.kind, 'observations', JSON.stringify(outcome));
  return outcome.kind === 'observations' ? outcome.observations : [];
}

function only(outcome: NormalizeOutcome): Observation {
  const list = observations(outcome);
  assert.equal(list.length, 1);
  return list[0]!;
}

function issuesOf(outcome: NormalizeOutcome) {
  assert.equal(outcome.kind, 'refused', JSON.stringify(outcome));
  return outcome.kind === 'refused' ? outcome.issues.map((i) => ({ code: i.code, path: i.path })) : [];
}

const ext = (obs: { extension?: Array<{ url: string }> }, url: string) => obs.extension?.find((e) => e.url === url);

const TYPICAL: Record<Metric, [number, string]> = {
  'bp-systolic': [128, 'mmHg'],
  'bp-diastolic': [84, 'mmHg'],
  'bp-mean': [99, 'mmHg'],
  'heart-rate': [66, 'bpm'],
  spo2: [96, '%'],
  'body-temperature': [36.9, 'Cel'],
  'body-weight': [81.2, 'kg'],
  'body-height': [168, 'cm'],
  'respiratory-rate': [15, '/min'],
  glucose: [112, 'mg/dL'],
  bmi: [26.3, 'kg/m2'],
};
const typical = (metric: Metric): ReadingComponent => ({ metric, value: TYPICAL[metric][0], unit: TYPICAL[metric][1] });
const BP = [typical('bp-systolic'), typical('bp-diastolic')];

describe('normalize', () => {
  before(() => {
    warmUpValidation();
  });

  describe('every metric end to end', () => {
    for (const metric of METRICS.filter((m) => !m.startsWith('bp-'))) {
      test(`a ${metric} reading becomes one ${groupOf(metric).profile?.split('/').pop() ?? 'base Observation'} that validates`, () => {
        const m = metricSpec(metric);
        const obs = only(normalize(reading([typical(metric)]), ctx()));
        assert.deepEqual(validateObservation(obs), []);
        assert.deepEqual(obs.meta?.profile, groupOf(metric).profile ? [groupOf(metric).profile] : undefined);
        assert.equal(obs.category?.[0]?.coding?.[0]?.code, metric === 'glucose' ? 'laboratory' : 'vital-signs');
        assert.deepEqual(
          obs.code.coding?.map((c) => [c.system, c.code]),
          [...m.loinc.map((l) => [LOINC_SYSTEM, l.code]), [MDC_SYSTEM, String(m.mdc.code)]],
        );
        assert.equal(obs.code.coding?.[0]?.display, m.loinc[0]?.display);
        assert.equal(obs.code.coding?.at(-1)?.display, m.mdc.refId);
        assert.ok(obs.code.text);
        assert.deepEqual(obs.valueQuantity, { value: TYPICAL[metric][0], unit: m.unit, system: UCUM_SYSTEM, code: m.ucum });
        assert.equal(obs.component, undefined);
      });
    }

    test('a blood-pressure reading becomes one bp panel with systolic, diastolic and mean components', () => {
      const obs = only(normalize(reading([typical('bp-mean'), typical('bp-diastolic'), typical('bp-systolic')]), ctx()));
      assert.deepEqual(validateObservation(obs), []);
      assert.deepEqual(obs.meta?.profile, ['http://hl7.org/fhir/StructureDefinition/bp']);
      assert.deepEqual(
        obs.code.coding?.map((c) => c.code),
        ['85354-9', '150020'],
      );
      assert.equal(obs.valueQuantity, undefined);
      assert.deepEqual(
        obs.component?.map((c) => [c.code.coding?.map((x) => x.code), c.valueQuantity?.value, c.valueQuantity?.code]),
        [
          [['8480-6', '150021'], 128, 'mm[Hg]'],
          [['8462-4', '150022'], 84, 'mm[Hg]'],
          [['8478-0', '150023'], 99, 'mm[Hg]'],
        ],
      );
    });

    test('a multi-parameter reading becomes one Observation per group', () => {
      const list = observations(normalize(reading([...BP, typical('heart-rate'), typical('spo2')]), ctx()));
      assert.deepEqual(
        list.map((o) => o.code.coding?.[0]?.code),
        ['85354-9', '8867-4', '2708-6'],
      );
      assert.equal(new Set(list.map((o) => o.id)).size, 3);
    });

    test('an Observation carries its id, source, patient, device, status and times', () => {
      const obs = only(normalize(reading([typical('heart-rate')], { transport: 'mqtt' }), ctx()));
      assert.match(obs.id ?? '', /^[0-9a-f]{32}$/);
      assert.deepEqual(obs.identifier, [{ system: OBSERVATION_ID_SYSTEM, value: obs.id }]);
      assert.equal(obs.meta?.source, 'urn:rpm-gateway:site:home-3:mqtt');
      assert.equal(obs.status, 'final');
      assert.deepEqual(obs.subject, { type: 'Patient', identifier: { system: 'urn:oid:1.2.840.1', value: 'MRN-42' } });
      assert.deepEqual(obs.device, { type: 'Device', identifier: { system: DEVICE_ID_SYSTEM, value: 'cuff-7' }, display: 'cuff-7' });
      assert.equal(obs.issued, RECEIVED);
      assert.equal(obs.effectiveDateTime, RECEIVED);
      assert.equal(obs.encounter, undefined);
    });

    test('a kiosk reading carries its encounter', () => {
      const obs = only(normalize(reading([typical('spo2')], { transport: 'kiosk', context: { encounterId: 'ENC-9' } }), ctx()));
      assert.deepEqual(obs.encounter, { type: 'Encounter', identifier: { value: 'ENC-9' } });
    });
  });

  describe('units', () => {
    test('a temperature in °F is stored in Cel with the original kept', () => {
      const obs = only(normalize(reading([{ metric: 'body-temperature', value: 98.6, unit: '°F' }]), ctx()));
      assert.deepEqual(obs.valueQuantity, {
        value: 37,
        unit: '°C',
        system: UCUM_SYSTEM,
        code: 'Cel',
        extension: [{ url: Extension.originalQuantity, valueQuantity: { value: 98.6, unit: '°F', system: UCUM_SYSTEM, code: '[degF]' } }],
      });
      assert.deepEqual(validateObservation(obs), []);
    });

    test('a blood pressure in kPa is stored in mm[Hg] at one decimal with the original on each component', () => {
      const obs = only(
        normalize(
          reading([
            { metric: 'bp-systolic', value: 16, unit: 'kPa' },
            { metric: 'bp-diastolic', value: 10.7, unit: 'kPa' },
          ]),
          ctx(),
        ),
      );
      const [sys, dia] = obs.component ?? [];
      assert.equal(sys?.valueQuantity?.value, 120);
      assert.equal(dia?.valueQuantity?.value, 80.3);
      assert.deepEqual(ext(sys!.valueQuantity!, Extension.originalQuantity), {
        url: Extension.originalQuantity,
        valueQuantity: { value: 16, unit: 'kPa', system: UCUM_SYSTEM, code: 'kPa' },
      });
      assert.deepEqual(validateObservation(obs), []);
    });

    test('a weight of 154 lb is stored as 69.85 kg', () => {
      const obs = only(normalize(reading([{ metric: 'body-weight', value: 154, unit: 'lb' }]), ctx()));
      assert.equal(obs.valueQuantity?.value, 69.85);
      assert.equal(obs.valueQuantity?.code, 'kg');
      assert.equal(ext(obs.valueQuantity!, Extension.originalQuantity) !== undefined, true);
    });

    test('a value already in the canonical unit is stored exactly as measured', () => {
      const obs = only(normalize(reading([{ metric: 'body-temperature', value: 36.87, unit: 'Cel' }]), ctx()));
      assert.deepEqual(obs.valueQuantity, { value: 36.87, unit: '°C', system: UCUM_SYSTEM, code: 'Cel' });
      const w = only(normalize(reading([{ metric: 'body-weight', value: 72.345, unit: 'kg' }]), ctx()));
      assert.equal(w.valueQuantity?.value, 72.345);
    });

    test('mmHg and bpm are spellings, not conversions: no original kept', () => {
      const list = observations(normalize(reading([...BP, { metric: 'heart-rate', value: 66, unit: 'bpm' }]), ctx()));
      assert.equal(list[0]?.component?.[0]?.valueQuantity?.extension, undefined);
      assert.equal(list[1]?.valueQuantity?.extension, undefined);
      assert.equal(list[1]?.valueQuantity?.code, '/min');
    });

    test('a value out of range after conversion is refused', () => {
      const outcome = normalize(reading([{ metric: 'body-temperature', value: 200, unit: '°F' }]), ctx());
      assert.deepEqual(issuesOf(outcome), [{ code: 'GW_ERR_OUT_OF_RANGE', path: 'components[0].value' }]);
    });
  });

  describe('IEEE-11073 special values', () => {
    test('a single metric with a special value is refused while the rest of the reading survives', () => {
      const outcome = normalize(reading([...BP, { metric: 'heart-rate', value: 'NaN', unit: 'bpm' }]), ctx());
      assert.equal(outcome.kind, 'observations');
      if (outcome.kind !== 'observations') return;
      assert.deepEqual(
        outcome.observations.map((o) => o.code.coding?.[0]?.code),
        ['85354-9'],
      );
      assert.deepEqual(
        outcome.refused.map((i) => [i.code, i.path]),
        [['GW_ERR_SPECIAL_VALUE', 'components[2].value']],
      );
    });

    test('a special diastolic becomes a dataAbsentReason while the panel keeps the systolic', () => {
      const cases = [
        ['NaN', 'not-a-number'],
        ['+INF', 'positive-infinity'],
        ['-INF', 'negative-infinity'],
        ['NRes', 'unknown'],
        ['reserved', 'error'],
      ] as const;
      for (const [special, reason] of cases) {
        const outcome = normalize(reading([typical('bp-systolic'), { metric: 'bp-diastolic', value: special, unit: 'mmHg' }]), ctx());
        const obs = only(outcome);
        const dia = obs.component?.[1];
        assert.equal(dia?.valueQuantity, undefined);
        assert.deepEqual(
          dia?.dataAbsentReason?.coding?.map((c) => [c.system, c.code]),
          [['http://terminology.hl7.org/CodeSystem/data-absent-reason', reason]],
        );
        assert.equal(obs.component?.[0]?.valueQuantity?.value, 128);
        assert.deepEqual(validateObservation(obs), []);
        assert.equal(outcome.kind === 'observations' && outcome.refused.length, 0);
      }
    });

    test('a special mean is dropped from the panel and reported', () => {
      const outcome = normalize(reading([...BP, { metric: 'bp-mean', value: 'NaN', unit: 'mmHg' }]), ctx());
      const obs = only(outcome);
      assert.equal(obs.component?.length, 2);
      assert.deepEqual(outcome.kind === 'observations' && outcome.refused.map((i) => i.path), ['components[2].value']);
    });

    test('a panel whose every value is special is refused', () => {
      const outcome = normalize(
        reading([
          { metric: 'bp-systolic', value: 'NaN', unit: 'mmHg' },
          { metric: 'bp-diastolic', value: 'NRes', unit: 'mmHg' },
          typical('heart-rate'),
        ]),
        ctx(),
      );
      assert.equal(outcome.kind, 'observations');
      if (outcome.kind !== 'observations') return;
      assert.deepEqual(
        outcome.observations.map((o) => o.code.coding?.[0]?.code),
        ['8867-4'],
      );
      assert.deepEqual(
        outcome.refused.map((i) => i.path),
        ['components[0].value', 'components[1].value'],
      );
    });

    test('a reading where nothing survives is refused with GW_ERR_NO_OBSERVATION and every component issue', () => {
      const outcome = normalize(
        reading([
          { metric: 'bp-systolic', value: '+INF', unit: 'mmHg' },
          { metric: 'bp-diastolic', value: '-INF', unit: 'mmHg' },
          { metric: 'spo2', value: 'NaN', unit: '%' },
        ]),
        ctx({ bound: undefined }),
      );
      assert.deepEqual(issuesOf(outcome), [
        { code: 'GW_ERR_NO_OBSERVATION', path: 'components' },
        { code: 'GW_ERR_SPECIAL_VALUE', path: 'components[0].value' },
        { code: 'GW_ERR_SPECIAL_VALUE', path: 'components[1].value' },
        { code: 'GW_ERR_SPECIAL_VALUE', path: 'components[2].value' },
      ]);
    });

    test('a non-finite number is refused, not mistaken for a special value', () => {
      const outcome = normalize(reading([{ metric: 'spo2', value: Number.NaN, unit: '%' }]), ctx());
      assert.deepEqual(issuesOf(outcome), [{ code: 'GW_ERR_NON_FINITE_VALUE', path: 'components[0].value' }]);
      const inf = normalize(reading([{ metric: 'spo2', value: Number.POSITIVE_INFINITY, unit: '%' }]), ctx());
      assert.deepEqual(issuesOf(inf), [{ code: 'GW_ERR_NON_FINITE_VALUE', path: 'components[0].value' }]);
    });
  });

  describe('time', () => {
    test('a device time within tolerance is the effective time and the receive time is kept as issued', () => {
      const deviceTime = '2025-03-01T09:14:00+01:00'; // 90 s before receipt
      const obs = only(normalize(reading([typical('heart-rate')], { deviceTime }), ctx()));
      assert.equal(obs.effectiveDateTime, deviceTime);
      assert.equal(obs.issued, RECEIVED);
      assert.deepEqual(obs.extension, [{ url: Extension.effectiveTimeSource, valueCode: 'device' }]);
    });

    test('an untrusted device time gives way to the receive time and is kept in an extension', () => {
      const deviceTime = '2000-01-01T00:03:12Z'; // a cuff whose clock reset
      const obs = only(normalize(reading([typical('heart-rate')], { deviceTime }), ctx()));
      assert.equal(obs.effectiveDateTime, RECEIVED);
      assert.equal(obs.issued, RECEIVED);
      assert.deepEqual(obs.extension, [
        { url: Extension.effectiveTimeSource, valueCode: 'gateway' },
        { url: Extension.deviceTime, valueDateTime: deviceTime },
      ]);
      assert.deepEqual(validateObservation(obs), []);
    });

    test('without a device time the gateway time is effective and says so', () => {
      const obs = only(normalize(reading([typical('heart-rate')]), ctx()));
      assert.deepEqual(obs.extension, [{ url: Extension.effectiveTimeSource, valueCode: 'gateway' }]);
    });

    test('a device time that is not ISO 8601 with an offset is refused', () => {
      for (const deviceTime of ['2025-03-01 08:15:00', '2025-03-01T08:15:00', '2025-02-30T08:15:00Z', '2025-03-01T24:00:00Z', 'yesterday', '2025-03-01T08:15:00+15:00']) {
        assert.deepEqual(issuesOf(normalize(reading([typical('spo2')], { deviceTime }), ctx())), [{ code: 'GW_ERR_BAD_TIME', path: 'deviceTime' }], deviceTime);
      }
    });

    test('date-times are parsed strictly', () => {
      assert.equal(parseDateTime('2024-02-29T12:00:00.123456Z'), Date.parse('2024-02-29T12:00:00.123Z'));
      assert.equal(parseDateTime('2023-02-29T12:00:00Z'), undefined);
      assert.equal(parseDateTime('2025-03-01T08:15:00-14:00') !== undefined, true);
    });
  });

  describe('observation ids', () => {
    test('the same reading twice gets the same id', () => {
      const a = observations(normalize(reading([...BP, typical('spo2')], { deviceTime: '2025-03-01T09:15:00+01:00' }), ctx()));
      const b = observations(normalize(reading([typical('spo2'), ...BP], { deviceTime: '2025-03-01T09:15:00+01:00' }), ctx()));
      assert.deepEqual(
        a.map((o) => o.id),
        b.map((o) => o.id),
      );
    });

    test('a retransmit received later with the same device time gets the same id, trusted or not', () => {
      const first = only(normalize(reading(BP, { deviceTime: '2025-03-01T08:15:00Z' }), ctx()));
      const retransmit = only(normalize(reading(BP, { deviceTime: '2025-03-01T08:15:00Z', receivedAt: '2025-03-01T11:40:02.000Z' }), ctx()));
      assert.equal(ext(retransmit, Extension.effectiveTimeSource) !== undefined, true);
      assert.equal(retransmit.effectiveDateTime, '2025-03-01T11:40:02.000Z', 'untrusted now');
      assert.equal(first.id, retransmit.id);
    });

    test('the same instant written with another offset gets the same id', () => {
      const a = only(normalize(reading(BP, { deviceTime: '2025-03-01T08:15:00Z' }), ctx()));
      const b = only(normalize(reading(BP, { deviceTime: '2025-03-01T09:15:00.000+01:00' }), ctx()));
      assert.equal(a.id, b.id);
    });

    test('the same value in another unit gets the same id as its canonical value', () => {
      const a = only(normalize(reading([{ metric: 'body-temperature', value: 98.6, unit: '°F' }]), ctx()));
      const b = only(normalize(reading([{ metric: 'body-temperature', value: 37, unit: 'Cel' }]), ctx()));
      assert.equal(a.id, b.id);
    });

    test('a different value, device, time or patient-independent group gets a different id', () => {
      const base = only(normalize(reading(BP), ctx())).id;
      const otherValue = only(normalize(reading([{ ...typical('bp-systolic'), value: 129 }, typical('bp-diastolic')]), ctx())).id;
      const otherDevice = only(normalize(reading(BP, { deviceId: 'cuff-8' }), ctx())).id;
      const otherTime = only(normalize(reading(BP, { receivedAt: '2025-03-01T08:15:31.000Z' }), ctx())).id;
      const withMean = only(normalize(reading([...BP, typical('bp-mean')]), ctx())).id;
      assert.equal(new Set([base, otherValue, otherDevice, otherTime, withMean]).size, 5);
    });

    test('the patient does not change the id: a device reading is the same resource whoever it is filed under', () => {
      const a = only(normalize(reading(BP), ctx())).id;
      const b = only(normalize(reading(BP, { patient: { mrn: 'OTHER' } }), ctx())).id;
      assert.equal(a, b);
    });

    test('ids are 32 lowercase hex characters and independent of value order', () => {
      const args = { deviceId: 'd', group: 'blood-pressure' as const, time: '2025-03-01T08:15:00Z' };
      const sys = { metric: 'bp-systolic' as const, value: 120, unit: 'mm[Hg]' };
      const dia = { metric: 'bp-diastolic' as const, value: 'NaN' as const, unit: 'mm[Hg]' };
      const id = observationId({ ...args, values: [sys, dia] });
      assert.match(id, /^[0-9a-f]{32}$/);
      assert.equal(id, observationId({ ...args, values: [dia, sys] }));
      assert.notEqual(id, observationId({ ...args, values: [sys, { ...dia, value: '+INF' }] }));
      assert.throws(() => observationId({ ...args, values: [sys, sys] }));
    });
  });

  describe('patients', () => {
    test('a reading from an unbound device waits in quarantine', () => {
      const outcome = normalize(reading(BP), ctx({ bound: undefined }));
      assert.equal(outcome.kind, 'quarantine');
      assert.match(outcome.kind === 'quarantine' ? outcome.reason : '', /cuff-7 is not bound/);
    });

    test('junk from an unbound device is refused, not quarantined', () => {
      const outcome = normalize(reading([{ metric: 'bp-systolic', value: 900, unit: 'mmHg' }]), ctx({ bound: undefined }));
      assert.deepEqual(issuesOf(outcome), [
        { code: 'GW_ERR_OUT_OF_RANGE', path: 'components[0].value' },
        { code: 'GW_ERR_INCOMPLETE_PANEL', path: 'components[0].metric' },
      ]);
    });

    test('the patient the kiosk asserts wins over the device binding', () => {
      const obs = only(normalize(reading([typical('spo2')], { patient: { mrn: 'K-1', system: 'urn:oid:9.9' } }), ctx()));
      assert.deepEqual(obs.subject?.identifier, { system: 'urn:oid:9.9', value: 'K-1' });
    });

    test('an MRN without a system gets the configured default, else the gateway default', () => {
      const configured = only(normalize(reading([typical('spo2')]), ctx({ bound: { mrn: 'B-1' }, defaultPatientSystem: 'urn:oid:7.7' })));
      assert.deepEqual(configured.subject?.identifier, { system: 'urn:oid:7.7', value: 'B-1' });
      const fallback = only(normalize(reading([typical('spo2')]), ctx({ bound: { mrn: 'B-1' } })));
      assert.deepEqual(fallback.subject?.identifier, { system: 'urn:rpm-gateway:mrn', value: 'B-1' });
    });

    test('an empty MRN is refused', () => {
      assert.deepEqual(issuesOf(normalize(reading([typical('spo2')], { patient: { mrn: ' ' } }), ctx())), [
        { code: 'GW_ERR_INVALID_READING', path: 'patient.mrn' },
      ]);
    });
  });

  describe('refusals', () => {
    test('every problem in a reading is reported with its path, not just the first', () => {
      const outcome = normalize(
        reading(
          [
            { metric: 'blood-sugar', value: 5, unit: 'mmol/L' },
            { metric: 'heart-rate', value: 70, unit: 'Hz' },
            { metric: 'spo2', value: 130, unit: '%' },
            { metric: 'spo2', value: 97, unit: '%' },
            { metric: 'body-weight', value: Number.NaN, unit: 'kg' },
            { metric: 'bp-diastolic', value: 80, unit: 'mmHg' },
          ],
          { deviceTime: 'not-a-time' },
        ),
        ctx({ bound: undefined }),
      );
      assert.deepEqual(issuesOf(outcome), [
        { code: 'GW_ERR_BAD_TIME', path: 'deviceTime' },
        { code: 'GW_ERR_UNKNOWN_METRIC', path: 'components[0].metric' },
        { code: 'GW_ERR_UNIT_NOT_ACCEPTED', path: 'components[1].unit' },
        { code: 'GW_ERR_OUT_OF_RANGE', path: 'components[2].value' },
        { code: 'GW_ERR_DUPLICATE_METRIC', path: 'components[3].metric' },
        { code: 'GW_ERR_NON_FINITE_VALUE', path: 'components[4].value' },
        { code: 'GW_ERR_INCOMPLETE_PANEL', path: 'components[5].metric' },
      ]);
      assert.ok(outcome.kind === 'refused' && outcome.issues.every((i) => i.message.length > 0));
    });

    test('a systolic without a diastolic is an incomplete panel, and so is a mean alone', () => {
      assert.deepEqual(issuesOf(normalize(reading([typical('bp-systolic')]), ctx())), [{ code: 'GW_ERR_INCOMPLETE_PANEL', path: 'components[0].metric' }]);
      const mean = normalize(reading([typical('bp-mean')]), ctx());
      assert.deepEqual(issuesOf(mean), [
        { code: 'GW_ERR_INCOMPLETE_PANEL', path: 'components[0].metric' },
        { code: 'GW_ERR_INCOMPLETE_PANEL', path: 'components[0].metric' },
      ]);
      assert.match(mean.kind === 'refused' ? mean.issues[0]!.message : '', /bp-mean needs bp-systolic/);
    });

    test('a diastolic at or above the systolic is refused as swapped fields', () => {
      const outcome = normalize(
        reading([
          { metric: 'bp-systolic', value: 80, unit: 'mmHg' },
          { metric: 'bp-diastolic', value: 120, unit: 'mmHg' },
        ]),
        ctx(),
      );
      assert.deepEqual(issuesOf(outcome), [{ code: 'GW_ERR_IMPLAUSIBLE_PANEL', path: 'components[1].value' }]);
    });

    test('a reading without components is refused', () => {
      assert.deepEqual(issuesOf(normalize(reading([]), ctx())), [{ code: 'GW_ERR_INVALID_READING', path: 'components' }]);
    });

    test('a value that is neither a number nor a special value name is refused', () => {
      const bad = { metric: 'spo2', value: '97', unit: '%' } as unknown as ReadingComponent;
      assert.deepEqual(issuesOf(normalize(reading([bad]), ctx())), [{ code: 'GW_ERR_INVALID_READING', path: 'components[0].value' }]);
    });

    test('an Observation that fails its profile is refused with GW_ERR_PROFILE_INVALID, never passed on', () => {
      const outcome = normalize(reading([typical('heart-rate')]), ctx({ siteId: 'home 3' })); // a space is not a valid uri
      assert.deepEqual(issuesOf(outcome), [{ code: 'GW_ERR_PROFILE_INVALID', path: 'Observation.meta.source' }]);
    });
  });
});
