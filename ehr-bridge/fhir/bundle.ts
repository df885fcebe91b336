// Bundle building (pure): Observations → a FHIR R4 transaction or batch Bundle of conditional creates, so a
// retried or replayed Bundle creates nothing twice (FHIR R4 http.html#ccreate, bundle.html#transaction).
import { createHash } from 'node:crypto';
import type { Bundle, BundleEntry, Device, Observation, Patient, Reference, Resource } from '@medplum/fhirtypes';
import { DEVICE_ID_SYSTEM, OBSERVATION_ID_SYSTEM } from '../../gateway/fhir/constants.ts';

/** The Bundle.type values the destination sends (FHIR R4 valueset bundle-type). */
export const BundleKind = { transaction: 'transaction', batch: 'batch' } as const;
export type BundleKind = (typeof BundleKind)[keyof typeof BundleKind];

export interface BundleOptions {
  /** Add conditional creates of the referenced Patient / Device and point the Observation at them (transaction only). */
  resources?: { patient?: boolean; device?: boolean };
}

/** What each entry of a built Bundle stands for, so the response's entries (same order) map back to items. */
export type EntryRole = { kind: 'observation'; item: number } | { kind: 'support'; resourceType: 'Patient' | 'Device' };

export interface BuiltBundle {
  bundle: Bundle;
  roles: EntryRole[];
}

/** `identifier=<system>|<value>` search for a conditional create (FHIR R4 search.html#token; `|` and `,` escaped). */
export function identifierQuery(system: string | undefined, value: string): string {
  const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/,/g, '\\,').replace(/\$/g, '\\$');
  const token = system === undefined ? esc(value) : `${esc(system)}|${esc(value)}`;
  // Written as the spec's examples do (`identifier=http://acme.org/mrns|12345`); only URL-significant bytes encoded.
  return `identifier=${token.replace(/[%&#+=\s]/g, (c) => encodeURIComponent(c))}`;
}

/** The identifier a conditional create matches on: the gateway's deterministic one, else the first, else the id. */
export function conditionalIdentifier(observation: Observation): { system?: string; value: string } | undefined {
  const ids = observation.identifier ?? [];
  const own = ids.find((i) => i.system === OBSERVATION_ID_SYSTEM && i.value) ?? ids.find((i) => i.value);
  if (own?.value) return own.system === undefined ? { value: own.value } : { system: own.system, value: own.value };
  return observation.id ? { system: OBSERVATION_ID_SYSTEM, value: observation.id } : undefined;
}

/** A POST with ifNoneExist for one Observation; the server assigns its own id (the gateway's travels as identifier). */
export function observationEntry(observation: Observation): BundleEntry {
  const ident = conditionalIdentifier(observation);
  const resource = withIdentifier(observation, ident);
  return {
    fullUrl: `urn:uuid:${uuidFrom(`observation|${ident?.system ?? ''}|${ident?.value ?? ''}`)}`,
    resource,
    request: {
      method: 'POST',
      url: 'Observation',
      ...(ident ? { ifNoneExist: identifierQuery(ident.system, ident.value) } : {}),
    },
  };
}

/** Build one Bundle of `kind` for the Observations, in order. */
export function buildBundle(observations: readonly Observation[], kind: BundleKind, options: BundleOptions = {}): BuiltBundle {
  const entries: BundleEntry[] = [];
  const roles: EntryRole[] = [];
  // Intra-bundle references (urn:uuid fullUrls) are resolved only in transactions (FHIR R4 bundle.html#references).
  const linkSupport = kind === 'transaction';
  const support = new Map<string, string>(); // conditional query → fullUrl, one entry per Patient/Device
  observations.forEach((source, item) => {
    let observation = source;
    if (linkSupport && options.resources?.patient) {
      const ref = supportEntry('Patient', observation.subject, entries, roles, support);
      if (ref) observation = { ...observation, subject: ref as Reference<Patient> };
    }
    if (linkSupport && options.resources?.device) {
      const ref = supportEntry('Device', observation.device, entries, roles, support);
      if (ref) observation = { ...observation, device: ref as Reference<Device> };
    }
    entries.push(observationEntry(observation));
    roles.push({ kind: 'observation', item });
  });
  return { bundle: { resourceType: 'Bundle', type: kind, entry: entries }, roles };
}

function supportEntry(
  resourceType: 'Patient' | 'Device',
  reference: Reference | undefined,
  entries: BundleEntry[],
  roles: EntryRole[],
  support: Map<string, string>,
): Reference | undefined {
  const ident = reference?.identifier;
  if (!ident?.value) return undefined;
  const query = identifierQuery(ident.system, ident.value);
  let fullUrl = support.get(`${resourceType}?${query}`);
  if (fullUrl === undefined) {
    fullUrl = `urn:uuid:${uuidFrom(`${resourceType}|${ident.system ?? ''}|${ident.value}`)}`;
    support.set(`${resourceType}?${query}`, fullUrl);
    const identifier = [{ ...(ident.system ? { system: ident.system } : {}), value: ident.value }];
    const resource: Patient | Device =
      resourceType === 'Patient'
        ? { resourceType: 'Patient', identifier }
        : { resourceType: 'Device', identifier, ...(ident.system === DEVICE_ID_SYSTEM ? { deviceName: [{ name: ident.value, type: 'model-name' }] } : {}) };
    entries.push({ fullUrl, resource, request: { method: 'POST', url: resourceType, ifNoneExist: query } });
    roles.push({ kind: 'support', resourceType });
  }
  // Keep the logical identifier beside the literal reference: receivers that ignore one still have the other.
  return { ...reference, reference: fullUrl };
}

function withIdentifier(observation: Observation, ident: { system?: string; value: string } | undefined): Observation {
  // The server assigns the resource id (a POST's id is ignored: FHIR R4 http.html#create), so drop ours.
  const { id: _id, ...rest } = observation;
  if (!ident || (observation.identifier ?? []).some((i) => i.value === ident.value && i.system === ident.system)) return rest;
  return { ...rest, identifier: [...(observation.identifier ?? []), { ...(ident.system ? { system: ident.system } : {}), value: ident.value }] };
}

/** A stable RFC 4122-shaped UUID from text (v5-like layout over SHA-256), so a resent Bundle is byte-identical. */
export function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export type { Resource };
