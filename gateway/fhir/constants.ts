// System URIs and extension URLs the gateway writes into FHIR resources (and HL7 v2 builders read
// back). One place, so a typo is a compile error rather than a silently different code system.

/** LOINC (https://loinc.org; FHIR R4 terminologies-systems). */
export const LOINC_SYSTEM = 'http://loinc.org';
/** UCUM (FHIR R4 terminologies-systems; vital-signs profiles fix valueQuantity.system to this). */
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';
/** ISO/IEEE 11073-10101 nomenclature, context-free 32-bit codes (partition << 16 | term). */
export const MDC_SYSTEM = 'urn:iso:std:iso:11073:10101';
/** FHIR R4 observation-category code system (vital-signs, laboratory, ...). */
export const OBSERVATION_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';
/** FHIR R4 data-absent-reason code system (not-a-number, positive-infinity, error, ...). */
export const DATA_ABSENT_REASON_SYSTEM = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

/** Observation.identifier.system for the deterministic observation id (gateway/observation-id.ts). */
export const OBSERVATION_ID_SYSTEM = 'urn:rpm-gateway:observation-id';
/** Device.identifier.system for the gateway's device ids (BLE address, serial number, MQTT client id). */
export const DEVICE_ID_SYSTEM = 'urn:rpm-gateway:device-id';
/** Patient identifier system used when neither the kiosk nor the binding names an assigning authority. */
export const DEFAULT_PATIENT_IDENTIFIER_SYSTEM = 'urn:rpm-gateway:mrn'; // same default as config patients.defaultSystem

/** meta.source of every Observation: `urn:rpm-gateway:site:<siteId>:<transport>`. */
export function metaSource(siteId: string, transport: string): string {
  return `urn:rpm-gateway:site:${siteId}:${transport}`;
}

export const Extension = {
  /** valueCode `device` | `gateway`: which clock effectiveDateTime came from. */
  effectiveTimeSource: 'urn:rpm-gateway:fhir:effective-time-source',
  /** valueDateTime: the device's own time, kept when it was present but not trusted. */
  deviceTime: 'urn:rpm-gateway:fhir:device-time',
  /** valueQuantity on a converted valueQuantity: the value and unit exactly as the device sent them. */
  originalQuantity: 'urn:rpm-gateway:fhir:original-quantity',
} as const;
export type Extension = (typeof Extension)[keyof typeof Extension];

/** valueCode of the effective-time-source extension. */
export const EffectiveTimeSource = {
  device: 'device',
  gateway: 'gateway',
} as const;
export type EffectiveTimeSource = (typeof EffectiveTimeSource)[keyof typeof EffectiveTimeSource];
