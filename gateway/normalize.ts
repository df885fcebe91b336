// Reading → FHIR R4 Observations: validate every component against the vitals catalog, resolve the
// patient (or quarantine), convert units, map IEEE-11073 special values, and validate the result.
import type { Extension, Observation, ObservationComponent, Quantity } from '@medplum/fhirtypes';
import {
  GROUPS,
  METRICS,
  convertToCanonical,
  groupSpec,
  inPlausibleRange,
  isMetric,
  metricSpec,
  type CanonicalQuantity,
  type GroupSpec,
  type Metric,
  type MetricSpec,
} from './catalog.ts';
import { issue } from './errors.ts';
import {
  DATA_ABSENT_REASON_SYSTEM,
  DEFAULT_PATIENT_IDENTIFIER_SYSTEM,
  DEVICE_ID_SYSTEM,
  EffectiveTimeSource,
  Extension as ExtensionUrl,
  LOINC_SYSTEM,
  MDC_SYSTEM,
  OBSERVATION_CATEGORY_SYSTEM,
  OBSERVATION_ID_SYSTEM,
  UCUM_SYSTEM,
  metaSource,
} from './fhir/constants.ts';
import { validateObservation } from './fhir/validate.ts';
import type { PatientDirectory } from './roster.ts';
import { resolvePatient } from './roster-match.ts';
import { observationId, type ObservationIdValue } from './observation-id.ts';
import { isSpecialValue, type Issue, type PatientIdentity, type Reading, type SpecialValue } from './types.ts';

export interface NormalizeContext {
  siteId: string;
  /** Device → patient binding lookup (config/roster). Undefined ⇒ unbound. */
  bindingFor(deviceId: string): PatientIdentity | undefined;
  /** How far device time may differ from receive time and still be trusted (ms). */
  clockSkewToleranceMs: number;
  /** Identifier system for an MRN given without one (config `patients.defaultSystem`). */
  defaultPatientSystem?: string;
  /** The ADT-fed patient roster: MRN lookup (following merges), demographic matching, `roster.required`. */
  patients?: PatientDirectory;
}

/**
 * The binding a reading looks up: the device, or for a multi-user scale or cuff (BLE User ID field, e.g.
 * Weight Measurement 0x2A9D / Blood Pressure Measurement 0x2A35) `<deviceId>/user/<n>`. A device-level binding
 * never covers a user index: user 2's weight must not land on user 1's patient.
 */
export function bindingKey(reading: Pick<Reading, 'deviceId' | 'context'>): string {
  const user = reading.context?.userIndex;
  return user === undefined ? reading.deviceId : `${reading.deviceId}/user/${user}`;
}

export type NormalizeOutcome =
  /** `refused`: components refused (special values) while others survived. */
  | { kind: 'observations'; observations: Observation[]; refused: Issue[] }
  /** A valid reading with no patient: the caller stores the Reading in quarantine. */
  | { kind: 'quarantine'; reason: string }
  /** Nothing usable; every issue has a code and a path. */
  | { kind: 'refused'; issues: Issue[] };

/** One component that passed validation. */
interface Accepted {
  index: number;
  spec: MetricSpec;
  /** As the device sent it. */
  sent: { value: number | SpecialValue; unit: string };
  /** Absent for special values, which never become numbers. */
  canonical?: CanonicalQuantity;
}

export function normalize(reading: Reading, ctx: NormalizeContext): NormalizeOutcome {
  // 1. Validate the whole reading, collecting every issue (junk is refused even from unbound devices).
  const checked = checkReading(reading);
  if (!checked.ok) return { kind: 'refused', issues: checked.issues };
  const accepted = checked.accepted;

  // 2. Decide per group what survives the special values, before the patient: a reading with
  //    nothing usable is refused now rather than quarantined and refused on release.
  const plans: GroupPlan[] = [];
  const refused: Issue[] = [];
  for (const g of GROUPS) {
    const group = groupSpec(g);
    const members = accepted.filter((a) => a.spec.group === g);
    if (members.length === 0) continue;
    const plan = planGroup(group, members);
    refused.push(...plan.refused);
    if (plan.components.length > 0) plans.push({ group, components: plan.components });
  }
  if (plans.length === 0) {
    return { kind: 'refused', issues: [issue('GW_ERR_NO_OBSERVATION', 'components'), ...refused] };
  }

  // 3. Patient: the kiosk's assertion wins, then its demographics, then the binding, through the roster
  //    when there is one (gateway/roster-match.ts); otherwise the reading waits in quarantine.
  const key = bindingKey(reading);
  const resolved = resolvePatient(reading, ctx.bindingFor(key), ctx.patients);
  if (resolved.kind === 'quarantine') return { kind: 'quarantine', reason: resolved.reason };
  const patient = resolved.kind === 'patient' ? resolved.patient : undefined;
  if (patient === undefined) {
    return { kind: 'quarantine', reason: key === reading.deviceId ? `device ${reading.deviceId} is not bound to a patient` : `user ${reading.context?.userIndex} of device ${reading.deviceId} is not bound to a patient (bind ${key})` };
  }
  if (typeof patient.mrn !== 'string' || patient.mrn.trim() === '') {
    const path = reading.patient ? 'patient.mrn' : 'deviceId';
    return { kind: 'refused', issues: [issue('GW_ERR_INVALID_READING', path, 'patient MRN must be a non-empty string')] };
  }

  // 4. Build and validate. A validation failure is a bug or bad input: refuse, never pass silently.
  const time = effectiveTime(reading, ctx.clockSkewToleranceMs);
  const observations = plans.map((plan) => buildObservation(reading, ctx, patient, time, plan));
  const invalid = observations.flatMap((obs) => validateObservation(obs));
  if (invalid.length > 0) return { kind: 'refused', issues: invalid };
  return { kind: 'observations', observations, refused };
}

// ---------------------------------------------------------------------------------------------
// 1. Validation

function checkReading(reading: Reading): { ok: true; accepted: Accepted[] } | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  if (typeof reading.deviceId !== 'string' || reading.deviceId.trim() === '') {
    issues.push(issue('GW_ERR_INVALID_READING', 'deviceId', 'deviceId must be a non-empty string'));
  }
  if (parseDateTime(reading.receivedAt) === undefined) {
    issues.push(issue('GW_ERR_BAD_TIME', 'receivedAt', 'receivedAt', reading.receivedAt));
  }
  if (reading.deviceTime !== undefined && parseDateTime(reading.deviceTime) === undefined) {
    issues.push(issue('GW_ERR_BAD_TIME', 'deviceTime', 'deviceTime', reading.deviceTime));
  }
  const components: unknown = reading.components;
  if (!Array.isArray(components) || components.length === 0) {
    issues.push(issue('GW_ERR_INVALID_READING', 'components', 'a reading needs at least one component'));
    return { ok: false, issues };
  }

  const accepted: Accepted[] = [];
  /** Every known metric named in the reading, valid or not, so a bad unit is not also an incomplete panel. */
  const named = new Map<Metric, number>();
  reading.components.forEach((c, i) => {
    const at = (field: string): string => `components[${i}].${field}`;
    if (typeof c !== 'object' || c === null) {
      issues.push(issue('GW_ERR_INVALID_READING', `components[${i}]`, `components[${i}] must be an object`));
      return;
    }
    if (!isMetric(c.metric)) {
      issues.push(issue('GW_ERR_UNKNOWN_METRIC', at('metric'), c.metric, METRICS.join(', ')));
      return;
    }
    if (named.has(c.metric)) {
      issues.push(issue('GW_ERR_DUPLICATE_METRIC', at('metric'), c.metric));
      return;
    }
    named.set(c.metric, i);
    const spec = metricSpec(c.metric);
    const unitOk = typeof c.unit === 'string' && Object.hasOwn(spec.accepted, c.unit);
    if (!unitOk) {
      issues.push(issue('GW_ERR_UNIT_NOT_ACCEPTED', at('unit'), c.unit, c.metric, Object.keys(spec.accepted).join(', ')));
    }
    if (isSpecialValue(c.value)) {
      // A special value carries no number to range-check; normalize decides below what it becomes.
      if (unitOk) accepted.push({ index: i, spec, sent: { value: c.value, unit: c.unit } });
      return;
    }
    if (typeof c.value !== 'number') {
      issues.push(issue('GW_ERR_INVALID_READING', at('value'), `${at('value')} must be a number or an IEEE-11073 special value name`));
      return;
    }
    if (!Number.isFinite(c.value)) {
      issues.push(issue('GW_ERR_NON_FINITE_VALUE', at('value'), c.metric, c.value));
      return;
    }
    if (!unitOk) return;
    const converted = convertToCanonical(c.metric, c.value, c.unit, at('unit'));
    if (!converted.ok) {
      issues.push(...converted.issues);
      return;
    }
    const q = converted.value;
    if (!inPlausibleRange(c.metric, q.value)) {
      issues.push(issue('GW_ERR_OUT_OF_RANGE', at('value'), c.metric, q.value, q.unit, spec.range.min, spec.range.max, q.unit));
      return;
    }
    accepted.push({ index: i, spec, sent: { value: c.value, unit: c.unit }, canonical: q });
  });

  // Panels: a required member without its partner is a decoding or mapping error, not a partial panel.
  for (const g of GROUPS) {
    const group = groupSpec(g);
    if (group.kind !== 'panel') continue;
    const present = group.members.filter((m) => named.has(m.metric));
    const first = present[0];
    if (first === undefined) continue;
    for (const member of group.members) {
      if (member.required && !named.has(member.metric)) {
        issues.push(issue('GW_ERR_INCOMPLETE_PANEL', `components[${named.get(first.metric)}].metric`, first.metric, member.metric));
      }
    }
  }

  // Systolic at or below diastolic is physiologically impossible: usually two swapped fields in a
  // firmware profile. Refuse rather than chart it.
  const sys = accepted.find((a) => a.spec.id === 'bp-systolic')?.canonical;
  const dia = accepted.find((a) => a.spec.id === 'bp-diastolic');
  if (sys !== undefined && dia?.canonical !== undefined && dia.canonical.value >= sys.value) {
    issues.push(
      issue('GW_ERR_IMPLAUSIBLE_PANEL', `components[${dia.index}].value`, 'bp-systolic', sys.value, sys.unit, 'bp-diastolic', dia.canonical.value, dia.canonical.unit),
    );
  }

  return issues.length > 0 ? { ok: false, issues } : { ok: true, accepted };
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Epoch ms of an ISO 8601 date-time with seconds and an offset (a FHIR `instant`, which is also a
 * valid `dateTime`), or undefined. Calendar fields are checked by hand: Date.parse accepts Feb 30.
 */
export function parseDateTime(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DATE_TIME.exec(value);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[9] !== undefined && (Number(m[10]) > 14 || Number(m[11]) > 59 || (Number(m[10]) === 14 && Number(m[11]) > 0))) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

// ---------------------------------------------------------------------------------------------
// 2. Special values

interface GroupPlan {
  group: GroupSpec;
  components: Accepted[];
}

/**
 * IEEE 11073-20601 special values → FHIR data-absent-reason (R4 CodeSystem data-absent-reason).
 * NRes ("not at this resolution") means the device measured something its number format cannot
 * express: the value exists but is not known, which is `unknown`; `error` would blame the device.
 * `reserved` is a code the standard has not defined, which only a faulty device sends: `error`.
 */
const DATA_ABSENT: { readonly [S in SpecialValue]: { code: string; display: string } } = {
  NaN: { code: 'not-a-number', display: 'Not a Number (NaN)' },
  '+INF': { code: 'positive-infinity', display: 'Positive Infinity (PINF)' },
  '-INF': { code: 'negative-infinity', display: 'Negative Infinity (NINF)' },
  NRes: { code: 'unknown', display: 'Unknown' },
  reserved: { code: 'error', display: 'Error' },
};

function specialIssue(a: Accepted): Issue {
  return issue('GW_ERR_SPECIAL_VALUE', `components[${a.index}].value`, a.spec.id, a.sent.value);
}

function planGroup(group: GroupSpec, members: Accepted[]): { components: Accepted[]; refused: Issue[] } {
  const real = members.filter((a) => a.canonical !== undefined);
  const special = members.filter((a) => a.canonical === undefined);
  switch (group.kind) {
    case 'single':
      // A single-metric Observation with no value says nothing: refuse it, keep the rest of the reading.
      return { components: real, refused: special.map(specialIssue) };
    case 'panel': {
      if (real.length === 0) return { components: [], refused: special.map(specialIssue) };
      // Required members (systolic, diastolic) stay as components with a dataAbsentReason, as the bp
      // profile requires both. An optional member (mean) that is special is dropped and reported:
      // many cuffs send NaN for a mean they never compute, and an absent optional component says
      // the same without an empty OBX in every HL7 message.
      const optional = new Set(group.members.filter((m) => !m.required).map((m) => m.metric));
      const dropped = special.filter((a) => optional.has(a.spec.id));
      return { components: members.filter((a) => !dropped.includes(a)), refused: dropped.map(specialIssue) };
    }
    default:
      return group.kind satisfies never;
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Time

interface EffectiveTime {
  effective: string;
  source: EffectiveTimeSource;
  /** The device's own time when it was present but not trusted. */
  untrustedDeviceTime?: string;
  /** Identity time for the observation id: the device time whenever present (a retransmit carries it again). */
  identity: string;
}

function effectiveTime(reading: Reading, toleranceMs: number): EffectiveTime {
  const received = parseDateTime(reading.receivedAt);
  const device = parseDateTime(reading.deviceTime);
  if (reading.deviceTime === undefined || device === undefined || received === undefined) {
    return { effective: reading.receivedAt, source: 'gateway', identity: reading.receivedAt };
  }
  if (Math.abs(device - received) <= toleranceMs) {
    return { effective: reading.deviceTime, source: 'device', identity: reading.deviceTime };
  }
  return { effective: reading.receivedAt, source: 'gateway', untrustedDeviceTime: reading.deviceTime, identity: reading.deviceTime };
}

// ---------------------------------------------------------------------------------------------
// 4. Observation

function buildObservation(reading: Reading, ctx: NormalizeContext, patient: PatientIdentity, time: EffectiveTime, plan: GroupPlan): Observation {
  const { group, components } = plan;
  const ordered = [...components].sort((a, b) => METRICS.indexOf(a.spec.id) - METRICS.indexOf(b.spec.id));
  const idValues: ObservationIdValue[] = ordered.map((a) => ({
    metric: a.spec.id,
    value: a.canonical?.value ?? (a.sent.value as SpecialValue),
    unit: a.spec.ucum,
  }));
  const id = observationId({ deviceId: reading.deviceId, group: group.id, time: time.identity, values: idValues });

  const extension: Extension[] = [{ url: ExtensionUrl.effectiveTimeSource, valueCode: time.source }];
  if (time.untrustedDeviceTime !== undefined) extension.push({ url: ExtensionUrl.deviceTime, valueDateTime: time.untrustedDeviceTime });

  const obs: Observation = {
    resourceType: 'Observation',
    id,
    meta: {
      ...(group.profile !== undefined ? { profile: [group.profile] } : {}),
      source: metaSource(ctx.siteId, reading.transport),
    },
    extension,
    identifier: [{ system: OBSERVATION_ID_SYSTEM, value: id }],
    status: 'final',
    category: [
      {
        coding: [
          {
            system: OBSERVATION_CATEGORY_SYSTEM,
            code: group.category,
            display: group.category === 'vital-signs' ? 'Vital Signs' : 'Laboratory',
          },
        ],
      },
    ],
    code: codeOf(group.loinc, group.mdc, group.text),
    // Logical reference: the gateway has no Patient server; receivers resolve the MRN.
    subject: {
      type: 'Patient',
      identifier: { system: patient.system ?? ctx.defaultPatientSystem ?? DEFAULT_PATIENT_IDENTIFIER_SYSTEM, value: patient.mrn },
    },
  };
  const encounterId = reading.context?.encounterId;
  if (encounterId !== undefined && encounterId !== '') obs.encounter = { type: 'Encounter', identifier: { value: encounterId } };
  obs.effectiveDateTime = time.effective;
  obs.issued = reading.receivedAt;
  obs.device = { type: 'Device', identifier: { system: DEVICE_ID_SYSTEM, value: reading.deviceId }, display: reading.deviceId };
  if (reading.notes !== undefined && reading.notes.length > 0) obs.note = reading.notes.map((text) => ({ text }));

  switch (group.kind) {
    case 'single': {
      const only = ordered[0];
      if (only?.canonical === undefined || ordered.length !== 1) throw new Error(`normalize: ${group.id} planned without one value`);
      obs.valueQuantity = quantityOf(only, only.canonical);
      break;
    }
    case 'panel':
      obs.component = ordered.map(componentOf);
      break;
    default:
      group.kind satisfies never;
  }
  return obs;
}

function codeOf(loinc: MetricSpec['loinc'], mdc: MetricSpec['mdc'], text: string): Observation['code'] {
  return {
    coding: [
      ...loinc.map((l) => ({ system: LOINC_SYSTEM, code: l.code, display: l.display })),
      { system: MDC_SYSTEM, code: String(mdc.code), display: mdc.refId },
    ],
    text,
  };
}

function quantityOf(a: Accepted, q: CanonicalQuantity): Quantity {
  const quantity: Quantity = { value: q.value, unit: a.spec.unit, system: UCUM_SYSTEM, code: q.unit };
  if (q.converted) {
    quantity.extension = [
      {
        url: ExtensionUrl.originalQuantity,
        valueQuantity: { value: a.sent.value as number, unit: a.sent.unit, system: UCUM_SYSTEM, code: q.originalUcum },
      },
    ];
  }
  return quantity;
}

function componentOf(a: Accepted): ObservationComponent {
  const component: ObservationComponent = { code: codeOf(a.spec.loinc, a.spec.mdc, a.spec.text) };
  if (a.canonical !== undefined) {
    component.valueQuantity = quantityOf(a, a.canonical);
  } else {
    const reason = DATA_ABSENT[a.sent.value as SpecialValue];
    component.dataAbsentReason = { coding: [{ system: DATA_ABSENT_REASON_SYSTEM, code: reason.code, display: reason.display }] };
  }
  return component;
}
