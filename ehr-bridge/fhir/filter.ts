// Routing filter (pure): does this FHIR destination take an Observation? Each list given must match
// (metric or group id from the vitals catalog, device id, patient MRN); an absent list matches everything.
import { groupByLoinc, metricByLoinc } from '../../gateway/catalog.ts';
import { LOINC_SYSTEM } from '../../gateway/fhir/constants.ts';
import type { Observation } from '../../gateway/types.ts';

export interface RoutingFilter {
  metrics?: readonly string[] | undefined;
  devices?: readonly string[] | undefined;
  patients?: readonly string[] | undefined;
}

/** Catalog ids an Observation stands for: its group (e.g. `blood-pressure`) and its metrics (`bp-systolic`, …). */
export function metricIdsOf(observation: Observation): Set<string> {
  const ids = new Set<string>();
  const loinc = (codings: Observation['code']['coding']): string[] => (codings ?? []).filter((c) => c.system === LOINC_SYSTEM && c.code).map((c) => c.code!);
  for (const code of loinc(observation.code?.coding)) {
    const group = groupByLoinc(code);
    if (group) {
      ids.add(group.id);
      // A panel's Observation carries its members as components; a single metric is the group itself.
      if (group.kind === 'single') group.members.forEach((m) => ids.add(m.metric));
    }
    const metric = metricByLoinc(code);
    if (metric) ids.add(metric.id);
  }
  for (const component of observation.component ?? []) {
    for (const code of loinc(component.code?.coding)) {
      const metric = metricByLoinc(code);
      if (metric) ids.add(metric.id);
    }
  }
  return ids;
}

export function acceptsObservation(filter: RoutingFilter | undefined, observation: Observation): boolean {
  if (!filter) return true;
  if (filter.metrics) {
    const ids = metricIdsOf(observation);
    if (!filter.metrics.some((m) => ids.has(m))) return false;
  }
  if (filter.devices) {
    const device = observation.device?.identifier?.value;
    if (device === undefined || !filter.devices.includes(device)) return false;
  }
  if (filter.patients) {
    const mrn = observation.subject?.identifier?.value;
    if (mrn === undefined || !filter.patients.includes(mrn)) return false;
  }
  return true;
}
