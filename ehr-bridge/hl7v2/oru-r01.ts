// ORU^R01 (unsolicited observation result) as an IHE PCD-01 (DEC) Communicate PCD Data message, from one
// FHIR vital-signs Observation or from several readings of one patient (one ORDER_OBSERVATION group each),
// in HL7 v2.3.1, v2.5.1 or v2.6. OBX-3 carries LOINC and the IEEE 11073-10101 MDC code. Built with
// hl7-standard; every leaf value is escaped here because hl7-standard writes values verbatim.
import { createHash } from 'node:crypto';
import HL7 from 'hl7-standard';
import type { CodeableConcept, Coding, Quantity } from '@medplum/fhirtypes';
import { issue } from '../../gateway/errors.ts';
import type { Issue, Observation, Result } from '../../gateway/types.ts';
import { Hl7Version, type ProcessingId } from './config.ts';
import { escapeHl7 } from './escape.ts';
import { hl7TimestampOf, toHl7Timestamp } from './timestamp.ts';

export const LOINC_SYSTEM = 'http://loinc.org';
export const MDC_SYSTEM = 'urn:iso:std:iso:11073:10101';
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
const OID_PREFIX = 'urn:oid:';

/**
 * MSH-10 is ST(20) in HL7 v2.3.1 (§2.16.9.10) and v2.5.1 (§2.15.9.10); v2.6 allows 199 characters, but 20
 * is kept for every version so a resend carries the same control id whatever the destination's version.
 */
export const MAX_CONTROL_ID_LENGTH = 20;

/**
 * MSH-21 message profile identifier (EI) of IHE PCD-01 (IHE PCD TF-2, MSH segment: "IHE_PCD_001^IHE PCD^
 * 1.3.6.1.4.1.19376.1.6.1.1.1^ISO"). MSH-21 exists from HL7 v2.5 on: v2.3.1's MSH ends at MSH-19.
 */
export const PCD01_PROFILE = ['IHE_PCD_001', 'IHE PCD', '1.3.6.1.4.1.19376.1.6.1.1.1', 'ISO'] as const;

export interface OruR01Options {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  processingId: ProcessingId;
  /** MSH-12 and every version-dependent choice below; default 2.5.1. */
  hl7Version?: Hl7Version;
  /**
   * MSH-15 / MSH-16 (HL7 v2.5.1 table 0155: AL always, NE never, ER on error, SU on success).
   * Absent: both left empty, which HL7 v2.5.1 §2.9.2 reads as original-mode acknowledgment.
   */
  acknowledgmentTypes?: { accept: AcknowledgmentType; application: AcknowledgmentType };
  /** MSH-7; defaults to the current time. */
  now?: Date;
  /**
   * The patient as the roster knows them (after A40 merges): PID-3 takes this MRN and authority instead of
   * the Observation's subject, PID-5/7/8 the name, birth date and sex. Absent: PID-3 from the subject only.
   */
  patient?: PidPatient;
}

/** What PID carries from the roster (gateway/roster.ts RosterPatient fits). */
export interface PidPatient {
  mrn: string;
  system: string;
  /** CX-4 as the EHR sent it in its ADT; absent: derived from `system`. */
  authority?: { namespace?: string; universalId?: string; universalIdType?: string };
  name?: { family: string; given: string; middle?: string; suffix?: string };
  /** YYYY-MM-DD. */
  birthDate?: string;
  sex?: string;
}

export interface OruR01 {
  message: string;
  /**
   * MSH-10: the first 20 characters of Observation.id, so a resend carries the same control id. A message
   * of several readings: 20 hex digits of the SHA-256 of their ids, so a resend of the same readings carries
   * the same id and a different set never does (a receiver that drops duplicate MSH-10s drops nothing new).
   */
  controlId: string;
}

/** A per-patient message: the readings that went in, and those that could not be built (one issue list each). */
export interface OruR01Batch {
  /** Absent when no reading could be built. */
  built?: OruR01 & { included: number[] };
  failed: Map<number, Issue[]>;
}

/** HL7 v2.5.1 table 0155 (accept/application acknowledgment conditions), MSH-15 and MSH-16. */
export const AcknowledgmentType = { always: 'AL', never: 'NE', onError: 'ER', onSuccess: 'SU' } as const;
export type AcknowledgmentType = (typeof AcknowledgmentType)[keyof typeof AcknowledgmentType];

/** HL7 v2.5.1 table 0085 (observation result status), OBX-11. */
export const ResultStatus = {
  final: 'F',
  corrected: 'C',
  preliminary: 'P',
  wrong: 'W', // post original as wrong, e.g. transmitted for the wrong patient
  cannotObtain: 'X', // results cannot be obtained for this observation
} as const;
export type ResultStatus = (typeof ResultStatus)[keyof typeof ResultStatus];

/** The Observation's id as an MSH-10 control id; a FHIR id is [A-Za-z0-9-.]{1,64}, so nothing needs escaping. */
export function controlIdOf(observation: Observation): string | undefined {
  const id = observation.id;
  if (id === undefined || !/^[A-Za-z0-9.-]{1,64}$/.test(id)) return undefined;
  return id.slice(0, MAX_CONTROL_ID_LENGTH);
}

export function buildOruR01(observation: Observation, options: OruR01Options): Result<OruR01> {
  const batch = buildOruR01Batch([observation], options);
  const failed = batch.failed.get(0);
  if (failed !== undefined || batch.built === undefined) return { ok: false, issues: failed ?? [] };
  return { ok: true, value: { message: batch.built.message, controlId: batch.built.controlId } };
}

/**
 * One ORU^R01 for several readings of ONE patient and encounter (the caller groups them): one PID (and PV1)
 * from the first reading, then one ORDER_OBSERVATION group (OBR, NTE*, OBX*) per reading in order
 * (HL7 v2.5.1 §7.3.1 ORU_R01: PATIENT_RESULT { PATIENT, ORDER_OBSERVATION+ }). A reading that cannot be
 * built is left out and reported in `failed`; the others still go.
 */
export function buildOruR01Batch(observations: readonly Observation[], options: OruR01Options): OruR01Batch {
  const failed = new Map<number, Issue[]>();
  const groups: { index: number; group: Group }[] = [];
  observations.forEach((observation, index) => {
    const g = groupOf(observation, options);
    if (g.ok) groups.push({ index, group: g.value });
    else failed.set(index, g.issues);
  });
  const first = groups[0];
  if (first === undefined) return { failed };
  const version = options.hl7Version ?? Hl7Version.v251;

  const controlId = groups.length === 1
    ? first.group.controlId
    : createHash('sha256').update(groups.map((g) => g.group.id).join('\n')).digest('hex').slice(0, MAX_CONTROL_ID_LENGTH);

  const hl7 = new HL7(undefined, { lineEndings: '\r' }); // hl7-standard defaults to CRLF; HL7 v2 wants CR
  const msh = hl7.createSegment('MSH');
  // MSH-1 is implied by the segment writer; MSH-2 must be given verbatim (never escaped).
  msh.set('MSH.2', '^~\\&');
  setField(msh, 3, [escapeHl7(options.sendingApplication)]);
  setField(msh, 4, [escapeHl7(options.sendingFacility)]);
  setField(msh, 5, [escapeHl7(options.receivingApplication)]);
  setField(msh, 6, [escapeHl7(options.receivingFacility)]);
  // MSH-7: TS in v2.3.1 (§2.8.44) and v2.5.1 (§2.A.77, component 1 a DTM), DTM in v2.6 (§2.A.22): the same
  // wire form YYYYMMDDHHMMSS+ZZZZ in all three, as is every other timestamp written here.
  setField(msh, 7, [hl7TimestampOf(options.now ?? new Date())]);
  // MSH-9: ORU^R01^ORU_R01 (tables 0076 / 0003 / 0354). v2.3.1 MSH-9 is CM with the same three components
  // (§2.16.9.9, message structure added in 2.3.1); v2.5.1 MSG; v2.6 MSG (IHE PCD TF-2 requires all three).
  setField(msh, 9, ['ORU', 'R01', 'ORU_R01']);
  setField(msh, 10, [controlId]);
  setField(msh, 11, [options.processingId]); // table 0103
  setField(msh, 12, [version]); // VID-1, table 0104
  if (options.acknowledgmentTypes !== undefined) {
    // HL7 v2.5.1 §2.9.3 (v2.3.1 §2.13.2): a non-empty MSH-15/16 asks the receiver for enhanced-mode acknowledgment.
    setField(msh, 15, [options.acknowledgmentTypes.accept]);
    setField(msh, 16, [options.acknowledgmentTypes.application]);
  }
  if (profileIdAllowed(version)) setField(msh, 21, [...PCD01_PROFILE]);

  const { observation: head } = first.group;
  const pid = hl7.createSegment('PID');
  setField(pid, 1, ['1']);
  setField(pid, 3, first.group.patientId);
  if (options.patient !== undefined) {
    const { name, birthDate, sex } = options.patient;
    // PID-5 XPN: family ^ given ^ middle ^ suffix; every component escaped (O'Neil|Smith^Jr stays one name).
    // XPN-1 is ST in v2.3.1 and FN (first subcomponent the surname) from v2.4: one plain surname is the same text.
    if (name !== undefined) setField(pid, 5, [name.family, name.given, name.middle ?? '', name.suffix ?? ''].map(escapeHl7));
    if (birthDate !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(birthDate)) setField(pid, 7, [birthDate.replace(/-/g, '')]); // TS/DTM, day precision
    if (sex !== undefined && sex !== '') setField(pid, 8, [escapeHl7(sex)]); // table 0001
  }

  const visit = head.encounter?.identifier?.value;
  if (visit !== undefined && visit !== '') {
    const pv1 = hl7.createSegment('PV1');
    setField(pv1, 1, ['1']);
    setField(pv1, 2, [patientClassOf(version)]);
    setField(pv1, 19, [escapeHl7(visit)]); // PV1-19 visit number, CX in all three versions
  }

  groups.forEach(({ group }, g) => {
    const mds = String(g + 1);
    const obr = hl7.createSegment('OBR');
    setField(obr, 1, [mds]);
    setField(obr, 3, [escapeHl7(group.id)]); // filler order number: the full Observation id
    setField(obr, 4, group.panelCode);
    setField(obr, 7, [group.effective]);
    // NTE after OBR (ORU_R01 ORDER_OBSERVATION: OBR, NTE*): one per Observation.note, source L
    // (table 0105: ancillary/filler department, here the device and gateway); NTE-3 FT, escaped.
    group.notes.forEach((text, n) => {
      const nte = hl7.createSegment('NTE');
      setField(nte, 1, [String(n + 1)]);
      setField(nte, 2, ['L']);
      setField(nte, 3, [escapeHl7(text)]);
    });
    group.results.forEach((r, i) => {
      const obx = hl7.createSegment('OBX');
      setField(obx, 1, [String(i + 1)]);
      setField(obx, 2, ['NM']); // table 0125: numeric
      // OBX-3 is CE in v2.3.1 and v2.5.1 and CWE in v2.6 (§7.4.2.3); with the six components written here
      // (id^text^system^alt id^alt text^alt system) the wire form is the same.
      setField(obx, 3, r.code);
      // OBX-4 (IHE PCD TF-2, OBX-4 Observation Sub-ID): the <MDS>.<VMD>.<CHAN>.<METRIC> containment in dotted
      // notation; 0 for a level that does not apply (a personal health device has no VMD or channel). One MDS
      // per reading in the message, metrics numbered from 1: 1.0.0.1, 1.0.0.2, … for a panel's components.
      setField(obx, 4, [`${mds}.0.0.${i + 1}`]);
      setField(obx, 5, [r.value]);
      setField(obx, 6, r.units);
      setField(obx, 11, [r.value === '' ? ResultStatus.cannotObtain : group.status]);
      setField(obx, 14, [group.effective]);
      // OBX-17 observation method: IHE PCD-01 leaves it optional with no method the gateway knows; not written.
      if (group.equipment.length > 0) setField(obx, 18, group.equipment);
    });
  });

  let message = finish(hl7.build());
  if (/[^\x00-\x7f]/.test(message)) {
    // Table 0211: v2.3.1 knows only "UNICODE"; "UNICODE UTF-8" from v2.5. The MLLP codec writes UTF-8.
    setField(msh, 18, [version === Hl7Version.v231 ? 'UNICODE' : 'UNICODE UTF-8']);
    message = finish(hl7.build());
  }
  return { built: { message, controlId, included: groups.map((g) => g.index) }, failed };
}

function profileIdAllowed(version: Hl7Version): boolean {
  switch (version) {
    case Hl7Version.v231:
      return false; // v2.3.1 §2.16.9: MSH ends at MSH-19
    case Hl7Version.v251:
    case Hl7Version.v26:
      return true;
    default:
      return version satisfies never;
  }
}

/** PV1-2 (table 0004): U (unknown; remote monitoring has no bed) from v2.4 on; v2.3.1's table has no U, so O (outpatient). */
function patientClassOf(version: Hl7Version): string {
  switch (version) {
    case Hl7Version.v231:
      return 'O';
    case Hl7Version.v251:
    case Hl7Version.v26:
      return 'U';
    default:
      return version satisfies never;
  }
}

interface Group {
  observation: Observation;
  id: string;
  controlId: string;
  effective: string;
  patientId: string[];
  panelCode: string[];
  status: ResultStatus;
  results: ObxResult[];
  notes: string[];
  equipment: string[];
}

function groupOf(observation: Observation, options: OruR01Options): Result<Group> {
  const issues: Issue[] = [];
  const id = observation.id ?? '(no id)';
  const fail = (path: string, why: string): void => {
    issues.push(issue('GW_ERR_HL7_BUILD', path, id, why));
  };

  const controlId = controlIdOf(observation);
  if (controlId === undefined) fail('id', 'Observation.id is missing or not a FHIR id');

  const effective = observation.effectiveDateTime === undefined ? undefined : toHl7Timestamp(observation.effectiveDateTime);
  if (effective === undefined) fail('effectiveDateTime', 'effectiveDateTime must be an ISO 8601 date-time with offset');

  const patientId = options.patient === undefined ? patientIdentifier(observation, fail) : rosterIdentifier(options.patient);
  const panelCode = loincCe(observation.code, 'code', fail);
  const status = resultStatusOf(observation.status);
  if (status === undefined) fail('status', `status "${String(observation.status)}" is not sent to an EHR`);
  const results = resultsOf(observation, fail);
  const notes = (observation.note ?? []).map((n) => n.text).filter((t) => t !== '');

  if (issues.length > 0 || controlId === undefined || effective === undefined || status === undefined) {
    return { ok: false, issues };
  }
  return {
    ok: true,
    value: { observation, id: observation.id ?? controlId, controlId, effective, patientId, panelCode, status, results, notes, equipment: equipmentOf(observation) },
  };
}

/**
 * OBX-18 equipment instance identifier (EI, all three versions). IHE PCD TF-2 (OBX-18): the device's EUI-64
 * as 16 upper-case hex digits in EI-1 and EI-3 with EI-4 "EUI-64". Any other device id (a serial, a kiosk id)
 * is EI-1, with its identifier system as EI-3 universal id (type URI) when it has one.
 */
function equipmentOf(observation: Observation): string[] {
  const identifier = observation.device?.identifier;
  const value = identifier?.value;
  if (value === undefined || value === '') return [];
  const hex = value.replace(/[:-]/g, '');
  if (/^[0-9A-Fa-f]{16}$/.test(hex) && (hex === value || /^([0-9A-Fa-f]{2}[:-]){7}[0-9A-Fa-f]{2}$/.test(value))) {
    const eui = hex.toUpperCase();
    return [eui, '', eui, 'EUI-64'];
  }
  const system = identifier?.system;
  if (system !== undefined && /^[a-z][a-z0-9+.-]*:/i.test(system)) return [escapeHl7(value), '', escapeHl7(system), 'URI'];
  return [escapeHl7(value)];
}

// ---------------------------------------------------------------------------------------------

type Fail = (path: string, why: string) => void;

interface ObxResult {
  code: string[];
  /** OBX-5, formatted NM; empty when the component carries a dataAbsentReason. */
  value: string;
  units: string[];
}

/** Components must already be escaped; trailing empty components are dropped. */
function setField(segment: ReturnType<HL7['createSegment']>, n: number, components: readonly string[]): void {
  const kept = [...components];
  while (kept.length > 1 && kept[kept.length - 1] === '') kept.pop();
  const name = `${segment.type}.${n}`;
  if (kept.length <= 1) {
    segment.set(name, kept[0] ?? '');
    return;
  }
  const value: Record<string, string> = {};
  kept.forEach((c, i) => {
    value[`${name}.${i + 1}`] = c;
  });
  segment.set(name, value);
}

/** hl7-standard ends every segment with the field separator; HL7 drops trailing empty fields. */
function finish(built: string): string {
  return built
    .split('\r')
    .map((segment) => segment.replace(/\|+$/, ''))
    .join('\r');
}

/** PID-3 (CX): `id^^^<assigning authority>^MR`, the authority an HD of namespace&universal id&type. */
function patientIdentifier(observation: Observation, fail: Fail): string[] {
  const identifier = observation.subject?.identifier;
  if (identifier?.value === undefined || identifier.value === '') {
    fail('subject.identifier.value', 'the patient identifier (MRN) is missing');
    return [];
  }
  return [escapeHl7(identifier.value), '', '', assigningAuthority(identifier.system), 'MR']; // table 0203: MR
}

/** PID-3 from the roster: the authority exactly as the EHR's ADT named it (HD, subcomponents escaped). */
function rosterIdentifier(patient: PidPatient): string[] {
  const a = patient.authority;
  const authority = a === undefined
    ? assigningAuthority(patient.system)
    : [a.namespace ?? '', a.universalId ?? '', a.universalIdType ?? ''].map(escapeHl7).join('&').replace(/&+$/, '');
  return [escapeHl7(patient.mrn), '', '', authority, 'MR']; // table 0203: MR
}

function assigningAuthority(system: string | undefined): string {
  if (system === undefined || system === '') return '';
  // HD universal ID type, table 0301: ISO for an OID, URI for any other URI, else a local namespace.
  if (system.startsWith(OID_PREFIX)) return `&${escapeHl7(system.slice(OID_PREFIX.length))}&ISO`;
  if (/^[a-z][a-z0-9+.-]*:/i.test(system)) return `&${escapeHl7(system)}&URI`;
  return escapeHl7(system);
}

function codingOf(concept: CodeableConcept | undefined, system: string): Coding | undefined {
  return concept?.coding?.find((c) => c.system === system && c.code !== undefined && c.code !== '');
}

/** CE/CWE `<LOINC>^<display>^LN` (table 0396). */
function loincCe(concept: CodeableConcept | undefined, path: string, fail: Fail): string[] {
  const loinc = codingOf(concept, LOINC_SYSTEM);
  if (loinc?.code === undefined) {
    fail(`${path}.coding`, 'no LOINC coding');
    return [];
  }
  return [escapeHl7(loinc.code), escapeHl7(loinc.display ?? concept?.text ?? ''), 'LN'];
}

/** OBX-3: LOINC as the primary code and the MDC code as the alternate (IHE PCD-01). */
function obxCode(concept: CodeableConcept | undefined, path: string, fail: Fail): string[] {
  const primary = loincCe(concept, path, fail);
  const mdc = codingOf(concept, MDC_SYSTEM);
  if (mdc?.code === undefined || primary.length === 0) return primary;
  return [...primary, escapeHl7(mdc.code), escapeHl7(mdc.display ?? ''), 'MDC'];
}

/** OBX-6: `<UCUM>^<UCUM>^UCUM`. */
function unitsOf(quantity: Quantity, path: string, fail: Fail): string[] {
  if (quantity.code === undefined || quantity.code === '') return [];
  if (quantity.system !== undefined && quantity.system !== UCUM_SYSTEM) {
    fail(`${path}.system`, `unit system "${quantity.system}" is not UCUM`);
    return [];
  }
  const code = escapeHl7(quantity.code);
  return [code, code, 'UCUM'];
}

/** HL7 NM: optional sign, digits, optional decimal point; no exponent. */
function formatNm(value: number): string {
  const plain = String(value);
  if (!/e/i.test(plain)) return plain;
  return value.toFixed(20).replace(/\.?0+$/, '');
}

function valueOf(quantity: Quantity | undefined, hasAbsentReason: boolean, path: string, fail: Fail): { value: string; units: string[] } {
  if (quantity === undefined) {
    if (!hasAbsentReason) fail(path, 'neither valueQuantity nor dataAbsentReason');
    return { value: '', units: [] };
  }
  const v = quantity.value;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    fail(`${path}.value`, 'valueQuantity.value is not a finite number');
    return { value: '', units: [] };
  }
  return { value: formatNm(v), units: unitsOf(quantity, path, fail) };
}

/** One OBX per value: the Observation's own value, or one per component of a panel. */
function resultsOf(observation: Observation, fail: Fail): ObxResult[] {
  const components = observation.component ?? [];
  if (components.length === 0) {
    const { value, units } = valueOf(observation.valueQuantity, observation.dataAbsentReason !== undefined, 'valueQuantity', fail);
    return [{ code: obxCode(observation.code, 'code', fail), value, units }];
  }
  return components.map((component, i) => {
    const path = `component[${i}]`;
    const { value, units } = valueOf(component.valueQuantity, component.dataAbsentReason !== undefined, `${path}.valueQuantity`, fail);
    return { code: obxCode(component.code, `${path}.code`, fail), value, units };
  });
}

function resultStatusOf(status: Observation['status'] | undefined): ResultStatus | undefined {
  switch (status) {
    case 'final':
      return ResultStatus.final;
    case 'amended':
    case 'corrected':
      return ResultStatus.corrected;
    case 'preliminary':
      return ResultStatus.preliminary;
    case 'entered-in-error':
      return ResultStatus.wrong;
    case 'registered':
    case 'cancelled':
    case 'unknown':
    case undefined:
      return undefined;
    default:
      return status satisfies never;
  }
}
