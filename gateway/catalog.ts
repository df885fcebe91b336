// The vitals catalog: every metric the gateway understands, with its LOINC and IEEE 11073 codes,
// canonical UCUM unit, accepted input units (exact conversions), plausible range and FHIR profile.
// Normalization, FHIR validation and the HL7 v2 builders all read codes and units from here only.
import { issue } from './errors.ts';
import type { Result } from './types.ts';

/** Canonical metric ids. Closed set: switches over it end in `satisfies never`. */
export const Metric = {
  bpSystolic: 'bp-systolic',
  bpDiastolic: 'bp-diastolic',
  bpMean: 'bp-mean',
  heartRate: 'heart-rate',
  spo2: 'spo2',
  bodyTemperature: 'body-temperature',
  bodyWeight: 'body-weight',
  bodyHeight: 'body-height',
  respiratoryRate: 'respiratory-rate',
  glucose: 'glucose',
  bmi: 'bmi',
} as const;
export type Metric = (typeof Metric)[keyof typeof Metric];

/** Catalog order. It is also the fixed order of panel components and of values in the observation id. */
export const METRICS: readonly Metric[] = Object.values(Metric);

export function isMetric(id: unknown): id is Metric {
  return typeof id === 'string' && (METRICS as readonly string[]).includes(id);
}

/**
 * One Observation per group. The three blood-pressure metrics share one panel Observation
 * (LOINC 85354-9, as the R4 `bp` profile requires); every other metric is its own group.
 */
export const Group = {
  bloodPressure: 'blood-pressure',
  heartRate: 'heart-rate',
  spo2: 'spo2',
  bodyTemperature: 'body-temperature',
  bodyWeight: 'body-weight',
  bodyHeight: 'body-height',
  respiratoryRate: 'respiratory-rate',
  glucose: 'glucose',
  bmi: 'bmi',
} as const;
export type Group = (typeof Group)[keyof typeof Group];
export const GROUPS: readonly Group[] = Object.values(Group);

export const ObservationCategory = {
  vitalSigns: 'vital-signs',
  laboratory: 'laboratory',
} as const;
export type ObservationCategory = (typeof ObservationCategory)[keyof typeof ObservationCategory];

/** FHIR R4 vital-signs profiles (hl7.org/fhir/R4/observation-vitalsigns.html). */
export const VitalSignsProfile = {
  vitalsigns: 'http://hl7.org/fhir/StructureDefinition/vitalsigns',
  bp: 'http://hl7.org/fhir/StructureDefinition/bp',
  heartrate: 'http://hl7.org/fhir/StructureDefinition/heartrate',
  oxygensat: 'http://hl7.org/fhir/StructureDefinition/oxygensat',
  bodytemp: 'http://hl7.org/fhir/StructureDefinition/bodytemp',
  bodyweight: 'http://hl7.org/fhir/StructureDefinition/bodyweight',
  bodyheight: 'http://hl7.org/fhir/StructureDefinition/bodyheight',
  resprate: 'http://hl7.org/fhir/StructureDefinition/resprate',
  bmi: 'http://hl7.org/fhir/StructureDefinition/bmi',
} as const;
export type VitalSignsProfile = (typeof VitalSignsProfile)[keyof typeof VitalSignsProfile];

export interface CodeDisplay {
  code: string;
  display: string;
}

/** An IEEE 11073-10101 term: context-free code (partition × 2^16 + term code) and reference id. */
export interface MdcCode {
  code: number;
  refId: string;
}

/**
 * canonical = (value + offset) × scale. Identity conversions (scale 1, offset 0) are spellings of
 * the canonical unit (`mmHg` for `mm[Hg]`): their values are kept exactly as measured.
 */
export interface UnitConversion {
  /** The UCUM code of the unit as sent (the alias `°F` is UCUM `[degF]`), for the original-quantity extension. */
  ucum: string;
  scale: number;
  offset: number;
}

export interface MetricSpec {
  id: Metric;
  group: Group;
  /** LOINC codes, primary first (SpO2 carries 2708-6 and 59408-5, as the oxygensat profile example does). */
  loinc: readonly CodeDisplay[];
  mdc: MdcCode;
  /** Canonical UCUM code, written to valueQuantity.code. */
  ucum: string;
  /** Human unit, written to valueQuantity.unit. */
  unit: string;
  text: string;
  /** Input unit (as the device or firmware profile spells it) → conversion to `ucum`. */
  accepted: Readonly<Record<string, UnitConversion>>;
  /** Plausible range in the canonical unit, inclusive; wide enough for real patients, narrow enough to catch decoding bugs. */
  range: { min: number; max: number };
  /** Decimal places kept for CONVERTED values only; values already in the canonical unit are never rounded. */
  precision: number;
}

export interface GroupMember {
  metric: Metric;
  required: boolean;
}

export interface GroupSpec {
  id: Group;
  kind: 'panel' | 'single';
  /** Observation.code LOINC codings, primary first. For a single metric these are the metric's own. */
  loinc: readonly CodeDisplay[];
  mdc: MdcCode;
  text: string;
  category: ObservationCategory;
  /** The profile the Observation claims in meta.profile; undefined when no R4 profile applies (glucose). */
  profile: VitalSignsProfile | undefined;
  /** Members in catalog order; a panel's members become components. */
  members: readonly GroupMember[];
}

const identity = (ucum: string): UnitConversion => ({ ucum, scale: 1, offset: 0 });
const scaled = (ucum: string, scale: number): UnitConversion => ({ ucum, scale, offset: 0 });

// 1 standard atmosphere = 101.325 kPa = 760 mmHg exactly (the conventional millimetre of mercury
// is defined as 101325/760 Pa), so 1 kPa = 760/101.325 mmHg ≈ 7.500617.
const MMHG_PER_KPA = 760 / 101.325;
const PRESSURE_UNITS = {
  'mm[Hg]': identity('mm[Hg]'),
  mmHg: identity('mm[Hg]'),
  kPa: scaled('kPa', MMHG_PER_KPA),
};
const PER_MINUTE = (...aliases: string[]): Record<string, UnitConversion> =>
  Object.fromEntries(['/min', ...aliases].map((u) => [u, identity('/min')]));
// °F → °C: (F − 32) × 5/9, exact by definition of the Fahrenheit scale.
const FAHRENHEIT: UnitConversion = { ucum: '[degF]', scale: 5 / 9, offset: -32 };
// The international avoirdupois pound is exactly 0.45359237 kg (1959 agreement; UCUM [lb_av]).
const KG_PER_LB = 0.45359237;
// The international inch is exactly 2.54 cm (UCUM [in_i]).
const CM_PER_INCH = 2.54;
// Glucose molar mass 180.156 g/mol: 1 mmol/L = 180.156 mg/L = 18.0156 mg/dL.
const GLUCOSE_MG_PER_DL_PER_MMOL_PER_L = 180.156 / 10;

const spec = (s: MetricSpec): MetricSpec => s;

const METRIC_SPECS: { readonly [M in Metric]: MetricSpec } = {
  'bp-systolic': spec({
    id: 'bp-systolic',
    group: 'blood-pressure',
    loinc: [{ code: '8480-6', display: 'Systolic blood pressure' }],
    mdc: { code: 150021, refId: 'MDC_PRESS_BLD_NONINV_SYS' },
    ucum: 'mm[Hg]',
    unit: 'mmHg',
    text: 'Systolic blood pressure',
    accepted: PRESSURE_UNITS,
    range: { min: 40, max: 300 },
    precision: 1,
  }),
  'bp-diastolic': spec({
    id: 'bp-diastolic',
    group: 'blood-pressure',
    loinc: [{ code: '8462-4', display: 'Diastolic blood pressure' }],
    mdc: { code: 150022, refId: 'MDC_PRESS_BLD_NONINV_DIA' },
    ucum: 'mm[Hg]',
    unit: 'mmHg',
    text: 'Diastolic blood pressure',
    accepted: PRESSURE_UNITS,
    range: { min: 10, max: 200 },
    precision: 1,
  }),
  'bp-mean': spec({
    id: 'bp-mean',
    group: 'blood-pressure',
    loinc: [{ code: '8478-0', display: 'Mean blood pressure' }],
    mdc: { code: 150023, refId: 'MDC_PRESS_BLD_NONINV_MEAN' },
    ucum: 'mm[Hg]',
    unit: 'mmHg',
    text: 'Mean blood pressure',
    accepted: PRESSURE_UNITS,
    range: { min: 20, max: 250 },
    precision: 1,
  }),
  'heart-rate': spec({
    id: 'heart-rate',
    group: 'heart-rate',
    loinc: [{ code: '8867-4', display: 'Heart rate' }],
    // Pulse rate from a non-invasive device (cuff, oximeter, scale): what RPM devices measure.
    mdc: { code: 149546, refId: 'MDC_PULS_RATE_NON_INV' },
    ucum: '/min',
    unit: 'beats/min',
    text: 'Heart rate',
    accepted: PER_MINUTE('bpm', 'beats/min', '{beats}/min'),
    range: { min: 20, max: 300 },
    precision: 0,
  }),
  spo2: spec({
    id: 'spo2',
    group: 'spo2',
    loinc: [
      { code: '2708-6', display: 'Oxygen saturation in Arterial blood' },
      { code: '59408-5', display: 'Oxygen saturation in Arterial blood by Pulse oximetry' },
    ],
    mdc: { code: 150456, refId: 'MDC_PULS_OXIM_SAT_O2' },
    ucum: '%',
    unit: '%',
    text: 'Oxygen saturation by pulse oximetry',
    accepted: { '%': identity('%') },
    range: { min: 50, max: 100 },
    precision: 0,
  }),
  'body-temperature': spec({
    id: 'body-temperature',
    group: 'body-temperature',
    loinc: [{ code: '8310-5', display: 'Body temperature' }],
    mdc: { code: 150364, refId: 'MDC_TEMP_BODY' },
    ucum: 'Cel',
    unit: '°C',
    text: 'Body temperature',
    accepted: {
      Cel: identity('Cel'),
      degC: identity('Cel'),
      '°C': identity('Cel'),
      '[degF]': FAHRENHEIT,
      degF: FAHRENHEIT,
      '°F': FAHRENHEIT,
    },
    range: { min: 25, max: 45 },
    // Clinical thermometers resolve 0.1 °C (ISO 80601-2-56); the °F original is kept beside it.
    precision: 1,
  }),
  'body-weight': spec({
    id: 'body-weight',
    group: 'body-weight',
    loinc: [{ code: '29463-7', display: 'Body weight' }],
    mdc: { code: 188736, refId: 'MDC_MASS_BODY_ACTUAL' },
    ucum: 'kg',
    unit: 'kg',
    text: 'Body weight',
    accepted: {
      kg: identity('kg'),
      g: scaled('g', 1 / 1000),
      '[lb_av]': scaled('[lb_av]', KG_PER_LB),
      lb: scaled('[lb_av]', KG_PER_LB),
    },
    range: { min: 0.2, max: 650 },
    precision: 2,
  }),
  'body-height': spec({
    id: 'body-height',
    group: 'body-height',
    loinc: [{ code: '8302-2', display: 'Body height' }],
    mdc: { code: 188740, refId: 'MDC_LEN_BODY_ACTUAL' },
    ucum: 'cm',
    unit: 'cm',
    text: 'Body height',
    accepted: {
      cm: identity('cm'),
      m: scaled('m', 100),
      '[in_i]': scaled('[in_i]', CM_PER_INCH),
      in: scaled('[in_i]', CM_PER_INCH),
    },
    range: { min: 20, max: 280 },
    precision: 1,
  }),
  'respiratory-rate': spec({
    id: 'respiratory-rate',
    group: 'respiratory-rate',
    loinc: [{ code: '9279-1', display: 'Respiratory rate' }],
    mdc: { code: 151562, refId: 'MDC_RESP_RATE' },
    ucum: '/min',
    unit: 'breaths/min',
    text: 'Respiratory rate',
    // `bpm` is deliberately not accepted here: on a multi-parameter device it usually means beats.
    accepted: PER_MINUTE('breaths/min', '{breaths}/min'),
    range: { min: 2, max: 120 },
    precision: 0,
  }),
  glucose: spec({
    id: 'glucose',
    group: 'glucose',
    // 41653-7 over 2339-0 ("Glucose [Mass/volume] in Blood"): RPM glucose comes from a glucometer on
    // capillary blood, which is what IEEE 11073-10417 meters report (MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD)
    // and what BLE GATT 0x2A18 defaults to; mass/volume matches the canonical mg/dL.
    loinc: [{ code: '41653-7', display: 'Glucose [Mass/volume] in Capillary blood by Glucometer' }],
    mdc: { code: 160184, refId: 'MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD' },
    ucum: 'mg/dL',
    unit: 'mg/dL',
    text: 'Blood glucose by glucometer',
    accepted: {
      'mg/dL': identity('mg/dL'),
      'mmol/L': scaled('mmol/L', GLUCOSE_MG_PER_DL_PER_MMOL_PER_L),
      // BLE Glucose Measurement 0x2A18 sends SI base units (flags bit 2): kg/L (1 kg/L = 10^6 mg / 10 dL)
      // or mol/L (1 mol/L = 1000 mmol/L); the decoder passes them as sent and this table converts.
      'kg/L': scaled('kg/L', 100_000),
      'mol/L': scaled('mol/L', 1000 * GLUCOSE_MG_PER_DL_PER_MMOL_PER_L),
    },
    // Meters read roughly 10/20–600 mg/dL and show LO/HI outside; 1000 leaves room for lab-grade devices.
    range: { min: 10, max: 1000 },
    // 0.1 mmol/L is 1.8 mg/dL, so whole mg/dL loses nothing a meter resolved.
    precision: 0,
  }),
  bmi: spec({
    id: 'bmi',
    group: 'bmi',
    loinc: [{ code: '39156-5', display: 'Body mass index (BMI) [Ratio]' }],
    mdc: { code: 188752, refId: 'MDC_RATIO_MASS_BODY_LEN_SQ' },
    ucum: 'kg/m2',
    unit: 'kg/m2',
    text: 'Body mass index',
    // BLE Weight Measurement 0x2A9D reports BMI in kg/m² with 0.1 resolution.
    accepted: { 'kg/m2': identity('kg/m2') },
    range: { min: 5, max: 150 },
    precision: 1,
  }),
};

function singleGroup(metric: Metric, profile: VitalSignsProfile | undefined, category: ObservationCategory): GroupSpec {
  const m = METRIC_SPECS[metric];
  return {
    id: m.group,
    kind: 'single',
    loinc: m.loinc,
    mdc: m.mdc,
    text: m.text,
    category,
    profile,
    members: [{ metric, required: true }],
  };
}

const GROUP_SPECS: { readonly [G in Group]: GroupSpec } = {
  'blood-pressure': {
    id: 'blood-pressure',
    kind: 'panel',
    loinc: [{ code: '85354-9', display: 'Blood pressure panel with all children optional' }],
    mdc: { code: 150020, refId: 'MDC_PRESS_BLD_NONINV' },
    text: 'Blood pressure',
    category: 'vital-signs',
    profile: VitalSignsProfile.bp,
    // R4 bp profile: component:SystolicBP 1..1, component:DiastolicBP 1..1, slicing open (mean allowed).
    members: [
      { metric: 'bp-systolic', required: true },
      { metric: 'bp-diastolic', required: true },
      { metric: 'bp-mean', required: false },
    ],
  },
  'heart-rate': singleGroup('heart-rate', VitalSignsProfile.heartrate, 'vital-signs'),
  spo2: singleGroup('spo2', VitalSignsProfile.oxygensat, 'vital-signs'),
  'body-temperature': singleGroup('body-temperature', VitalSignsProfile.bodytemp, 'vital-signs'),
  'body-weight': singleGroup('body-weight', VitalSignsProfile.bodyweight, 'vital-signs'),
  'body-height': singleGroup('body-height', VitalSignsProfile.bodyheight, 'vital-signs'),
  'respiratory-rate': singleGroup('respiratory-rate', VitalSignsProfile.resprate, 'vital-signs'),
  // Blood glucose is not an R4 vital sign: there is no vital-signs profile for it, so it is a
  // `laboratory` Observation (point-of-care test) validated against the base Observation definition.
  glucose: singleGroup('glucose', undefined, 'laboratory'),
  bmi: singleGroup('bmi', VitalSignsProfile.bmi, 'vital-signs'),
};

export function metricSpec(id: Metric): MetricSpec;
export function metricSpec(id: string): MetricSpec | undefined;
export function metricSpec(id: string): MetricSpec | undefined {
  return isMetric(id) ? METRIC_SPECS[id] : undefined;
}

export function groupSpec(id: Group): GroupSpec {
  return GROUP_SPECS[id];
}

/** The group (Observation) a metric belongs to. */
export function groupOf(metric: Metric): GroupSpec {
  return GROUP_SPECS[METRIC_SPECS[metric].group];
}

/** The metric whose primary LOINC code this is (component or single-metric Observation code). */
export function metricByLoinc(code: string): MetricSpec | undefined {
  return METRICS.map((m) => METRIC_SPECS[m]).find((m) => m.loinc[0]?.code === code);
}

/** The group whose primary Observation.code LOINC code this is (85354-9 → blood pressure). */
export function groupByLoinc(code: string): GroupSpec | undefined {
  return GROUPS.map((g) => GROUP_SPECS[g]).find((g) => g.loinc[0]?.code === code);
}

/**
 * Round to `decimals` places, half away from zero, in decimal (via the exponent form) so that
 * 69.853225 → 69.85 and 1.005 → 1.01 as a person would round them.
 */
export function roundTo(value: number, decimals: number): number {
  const sign = value < 0 ? -1 : 1;
  const magnitude = String(Math.abs(value));
  const rounded = magnitude.includes('e')
    ? Math.round(Math.abs(value) * 10 ** decimals) / 10 ** decimals // far outside any plausible range
    : Number(`${Math.round(Number(`${magnitude}e${decimals}`))}e-${decimals}`);
  return sign * rounded + 0; // `+ 0` turns -0 into 0
}

export interface CanonicalQuantity {
  /** Value in the canonical unit; rounded to the catalog precision only when it was converted. */
  value: number;
  /** Canonical UCUM code. */
  unit: string;
  /** The input was in another unit (not a spelling of the canonical one) and was converted. */
  converted: boolean;
  /** UCUM code of the input unit (for the original-quantity extension). */
  originalUcum: string;
}

/** Convert a measured value to the metric's canonical unit, or say which units are accepted. */
export function convertToCanonical(metric: Metric, value: number, unit: string, path?: string): Result<CanonicalQuantity> {
  const m = METRIC_SPECS[metric];
  const conversion = Object.hasOwn(m.accepted, unit) ? m.accepted[unit] : undefined;
  if (conversion === undefined) {
    return { ok: false, issues: [issue('GW_ERR_UNIT_NOT_ACCEPTED', path, unit, metric, Object.keys(m.accepted).join(', '))] };
  }
  if (!Number.isFinite(value)) {
    return { ok: false, issues: [issue('GW_ERR_NON_FINITE_VALUE', path, metric, value)] };
  }
  if (conversion.scale === 1 && conversion.offset === 0) {
    return { ok: true, value: { value: value + 0, unit: m.ucum, converted: false, originalUcum: conversion.ucum } };
  }
  const exact = (value + conversion.offset) * conversion.scale;
  return { ok: true, value: { value: roundTo(exact, m.precision), unit: m.ucum, converted: true, originalUcum: conversion.ucum } };
}

/** Whether a canonical value lies inside the metric's plausible range (inclusive). */
export function inPlausibleRange(metric: Metric, value: number): boolean {
  const { min, max } = METRIC_SPECS[metric].range;
  return value >= min && value <= max;
}
