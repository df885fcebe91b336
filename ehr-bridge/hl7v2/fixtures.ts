// Observations shaped exactly as gateway/normalize builds them, for this folder's tests.
import type { OruR01Options } from './oru-r01.ts';
import type { Observation } from '../../gateway/types.ts';

const LOINC = 'http://loinc.org';
const MDC = 'urn:iso:std:iso:11073:10101';
const UCUM = 'http://unitsofmeasure.org';

function base(id: string): Observation {
  return {
    resourceType: 'Observation',
    id,
    identifier: [{ system: 'urn:rpm-gateway:observation-id', value: id }],
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [] },
    subject: { type: 'Patient', identifier: { system: 'urn:oid:1.2.3.4', value: 'MRN0001' } },
    device: { type: 'Device', identifier: { system: 'urn:rpm-gateway:device-id', value: 'kiosk-1' }, display: 'kiosk-1' },
    encounter: { type: 'Encounter', identifier: { value: 'ENC-42' } },
    effectiveDateTime: '2026-11-23T10:15:00+01:00',
    issued: '2026-11-23T09:15:01.123Z',
  };
}

export function heartRate(id = '3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d', value = 72): Observation {
  return {
    ...base(id),
    code: {
      coding: [
        { system: LOINC, code: '8867-4', display: 'Heart rate' },
        { system: MDC, code: '149546', display: 'MDC_PULS_RATE_NON_INV' },
      ],
      text: 'Heart rate',
    },
    valueQuantity: { value, unit: 'beats/minute', system: UCUM, code: '/min' },
  };
}

export function bloodPressure(
  id = '9a8b7c6d5e4f30211203f4e5d6c7b8a9',
  values: { systolic?: number; diastolic?: number; mean?: number } = { systolic: 120, diastolic: 80 },
): Observation {
  const component = (
    loinc: string,
    display: string,
    mdc: string,
    mdcDisplay: string,
    value: number | undefined,
  ): NonNullable<Observation['component']>[number] => ({
    code: { coding: [{ system: LOINC, code: loinc, display }, { system: MDC, code: mdc, display: mdcDisplay }] },
    ...(value === undefined
      ? { dataAbsentReason: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-a-number' }] } }
      : { valueQuantity: { value, unit: 'mmHg', system: UCUM, code: 'mm[Hg]' } }),
  });
  const components = [
    component('8480-6', 'Systolic blood pressure', '150021', 'MDC_PRESS_BLD_NONINV_SYS', values.systolic),
    component('8462-4', 'Diastolic blood pressure', '150022', 'MDC_PRESS_BLD_NONINV_DIA', values.diastolic),
  ];
  if ('mean' in values) components.push(component('8478-0', 'Mean blood pressure', '150023', 'MDC_PRESS_BLD_NONINV_MEAN', values.mean));
  return {
    ...base(id),
    code: {
      coding: [
        { system: LOINC, code: '85354-9', display: 'Blood pressure panel with all children optional' },
        { system: MDC, code: '150020', display: 'MDC_PRESS_BLD_NONINV' },
      ],
      text: 'Blood pressure',
    },
    component: components,
  };
}

/** The MSH header the unit and golden tests build with (MSH-7 fixed at `now`). */
export function testOruHeader(now: Date): OruR01Options {
  return { sendingApplication: 'RPM-GW', sendingFacility: 'SITE-7', receivingApplication: 'EPIC', receivingFacility: 'GENERAL', processingId: 'P', now };
}
