// Deterministic Observation ids: a device's retransmit and a replayed send are the same resource
// everywhere (buffer dedupe, FHIR conditional create, MLLP MSH-10). DESIGN "The contracts between stages".
import { createHash } from 'node:crypto';
import { METRICS, type Group, type Metric } from './catalog.ts';
import type { SpecialValue } from './types.ts';

export { OBSERVATION_ID_SYSTEM } from './fhir/constants.ts';

/** Bumped only if the canonical string changes; a new version means every id changes. */
const CANONICAL_VERSION = 'rpm-gateway/observation-id/v1';

export interface ObservationIdValue {
  metric: Metric;
  /** Canonical value (after conversion and rounding), or the special value's name. */
  value: number | SpecialValue;
  /** Canonical UCUM unit. */
  unit: string;
}

export interface ObservationIdInput {
  deviceId: string;
  group: Group;
  /** Identity time: the device time when the device sent one (trusted or not), else the receive time. */
  time: string;
  values: readonly ObservationIdValue[];
}

/**
 * 32 lowercase hex characters (the first 128 bits of SHA-256) over a canonical JSON array of
 * (version, device id, group, identity instant in UTC to the millisecond, values in catalog order).
 * The time is reduced to its instant so `…T10:00:00+01:00` and `…T09:00:00.000Z` agree; numbers are
 * written by ECMAScript Number::toString, which is exactly specified, so every runtime agrees.
 * Throws on inputs normalize never produces (an unparseable time, a non-finite number, a metric twice).
 */
export function observationId(input: ObservationIdInput): string {
  const ms = Date.parse(input.time);
  if (!Number.isFinite(ms)) throw new Error(`observationId: time is not a date-time: ${input.time}`);
  const seen = new Set<Metric>();
  const values = [...input.values]
    .sort((a, b) => METRICS.indexOf(a.metric) - METRICS.indexOf(b.metric))
    .map((v) => {
      if (seen.has(v.metric)) throw new Error(`observationId: metric ${v.metric} given twice`);
      seen.add(v.metric);
      if (typeof v.value === 'number' && !Number.isFinite(v.value)) {
        throw new Error(`observationId: ${v.metric} value is not finite`);
      }
      // Special values are strings and numbers are JSON numbers, so "NaN" can never collide with a value.
      return [v.metric, typeof v.value === 'number' ? v.value + 0 : v.value, v.unit];
    });
  const canonical = JSON.stringify([CANONICAL_VERSION, input.deviceId, input.group, new Date(ms).toISOString(), values]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 32);
}
