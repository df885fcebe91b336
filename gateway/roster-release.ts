// Quarantine ↔ roster: readings held for a patient the roster did not know (or could not match) are
// released when ADT brings that patient, and a person resolves an ambiguous one through the admin API.
import type { AuditSink } from './audit/types.ts';
import type { BindingStore } from './bindings.ts';
import type { ObservationBuffer } from './buffer/types.ts';
import { errorMessage } from './errors.ts';
import type { Intake } from './ingest.ts';
import type { Logger } from './logger.ts';
import { bindingKey, normalize, type NormalizeContext } from './normalize.ts';
import { PATIENT_QUARANTINE_REASONS } from './roster-match.ts';
import type { PatientDirectory } from './roster.ts';
import type { Issue, PatientIdentity, Reading } from './types.ts';

export interface RosterReleaseDeps {
  buffer: ObservationBuffer;
  bindings: BindingStore;
  intake: Intake;
  normalizeContext: NormalizeContext;
  logger: Logger;
}

/**
 * After a roster change: re-normalize every device's readings held for a patient reason (BindingStore.release
 * removes each one only once its Observations are durable; the rest stay, with their reason).
 */
export async function releaseForRoster(deps: RosterReleaseDeps): Promise<{ released: number; observations: number }> {
  if (deps.buffer.stats().quarantined === 0) return { released: 0, observations: 0 }; // a counter, not a scan
  // Binding keys, not device ids: release() takes `<device>/user/<n>` for a multi-user scale's readings.
  const devices = new Set(
    (await deps.buffer.quarantine.list()).filter((q) => PATIENT_QUARANTINE_REASONS.includes(q.reason)).map((q) => bindingKey(q.reading)),
  );
  let released = 0;
  let observations = 0;
  for (const deviceId of devices) {
    const report = await deps.bindings.release(deviceId, deps.intake, deps.normalizeContext);
    released += report.released;
    observations += report.observations;
  }
  if (released > 0) deps.logger.info({ released, observations }, 'quarantined readings released by a roster change');
  return { released, observations };
}

export type ResolveResult =
  | { ok: true; value: { id: string; deviceId: string; observations: Array<{ id: string; status: 'stored' | 'duplicate' }> } }
  | { ok: false; status: 404 | 409 | 503; issues: Issue[] };

/** Bind one quarantined reading to `patient` (an operator's decision) and release it. Audited without PHI. */
export async function resolveQuarantined(
  id: string,
  patient: PatientIdentity,
  deps: RosterReleaseDeps & { patients?: PatientDirectory; audit?: AuditSink; actor: string },
): Promise<ResolveResult> {
  const entry = (await deps.buffer.quarantine.list()).find((q) => q.id === id);
  if (entry === undefined) {
    return { ok: false, status: 404, issues: [{ code: 'GW_ERR_NOT_FOUND', message: errorMessage('GW_ERR_NOT_FOUND', `quarantined reading "${id}"`) }] };
  }
  if (deps.patients?.required === true && deps.patients.lookup(patient) === undefined) {
    return { ok: false, status: 409, issues: [{ code: 'GW_ERR_PATIENT_UNKNOWN', message: errorMessage('GW_ERR_PATIENT_UNKNOWN', 'named in the request'), path: 'patient.mrn' }] };
  }
  const { demographics: _dropped, ...rest } = entry.reading;
  const reading: Reading = { ...rest, patient };
  const outcome = normalize(reading, deps.normalizeContext);
  if (outcome.kind !== 'observations') {
    const issues = outcome.kind === 'refused' ? outcome.issues : [{ code: 'GW_ERR_QUARANTINE_RESOLVE', message: errorMessage('GW_ERR_QUARANTINE_RESOLVE', id, outcome.reason) }];
    return { ok: false, status: 409, issues };
  }
  const stored = await deps.intake.appendObservations(outcome.observations);
  if (stored.kind !== 'accepted') {
    const code = stored.kind === 'unavailable' ? stored.code : 'GW_ERR_BUFFER_IO';
    return { ok: false, status: 503, issues: [{ code, message: errorMessage('GW_ERR_QUARANTINE_RESOLVE', id, 'the buffer refused the Observations') }] };
  }
  // Removed only once the Observations are durable: a crash in between resolves again as duplicates.
  await deps.buffer.quarantine.remove([id]);
  deps.audit?.record({
    kind: 'resolved',
    actor: deps.actor,
    subject: { deviceId: entry.deviceId, quarantineId: id, observationIds: stored.observations.map((o) => o.id) },
    detail: { previousReason: entry.reason, observations: stored.observations.length },
  });
  deps.logger.info({ deviceId: entry.deviceId, quarantineId: id, observations: stored.observations.length }, 'quarantined reading resolved to a patient');
  return { ok: true, value: { id, deviceId: entry.deviceId, observations: stored.observations.map((o) => ({ id: o.id, status: o.status })) } };
}
