// Which patient a reading belongs to, through the roster: deterministic, never a guess.
// MRN first (the reading's own, then the device binding), else exact demographics; merges are followed.
import type { PatientDirectory } from './roster.ts';
import type { PatientIdentity, Reading } from './types.ts';

/** Quarantine reasons the roster gives (GET /v1/quarantine?reason=…). Closed set. */
export const PatientQuarantineReason = {
  /** roster.required and the MRN (the reading's or the binding's) is not in the roster. */
  unknown: 'patient-unknown',
  /** Demographics match no roster patient. */
  unmatched: 'patient-unmatched',
  /** Demographics match more than one roster patient: a person decides (POST /v1/quarantine/:id/resolve). */
  ambiguous: 'patient-ambiguous',
} as const;
export type PatientQuarantineReason = (typeof PatientQuarantineReason)[keyof typeof PatientQuarantineReason];
export const PATIENT_QUARANTINE_REASONS: readonly string[] = Object.values(PatientQuarantineReason);

export type PatientResolution =
  | { kind: 'patient'; patient: PatientIdentity; via: 'mrn' | 'binding' | 'demographics' }
  | { kind: 'quarantine'; reason: PatientQuarantineReason }
  /** Nothing names a patient: the caller's existing "device not bound" quarantine applies. */
  | { kind: 'none' };

export function resolvePatient(reading: Reading, binding: PatientIdentity | undefined, directory: PatientDirectory | undefined): PatientResolution {
  const byMrn = (identity: PatientIdentity, via: 'mrn' | 'binding'): PatientResolution => {
    const known = directory?.lookup(identity);
    // The survivor of an A40 merge, with the system the roster keeps for it.
    if (known !== undefined) return { kind: 'patient', patient: { mrn: known.mrn, system: known.system }, via };
    if (directory?.required === true) return { kind: 'quarantine', reason: PatientQuarantineReason.unknown };
    return { kind: 'patient', patient: identity, via };
  };
  if (reading.patient !== undefined) return byMrn(reading.patient, 'mrn');
  if (reading.demographics !== undefined) {
    const match = directory?.match(reading.demographics) ?? { kind: 'unmatched' as const };
    switch (match.kind) {
      case 'matched':
        return { kind: 'patient', patient: { mrn: match.patient.mrn, system: match.patient.system }, via: 'demographics' };
      case 'unmatched':
        return { kind: 'quarantine', reason: PatientQuarantineReason.unmatched };
      case 'ambiguous':
        return { kind: 'quarantine', reason: PatientQuarantineReason.ambiguous };
      default:
        return match satisfies never;
    }
  }
  if (binding !== undefined) return byMrn(binding, 'binding');
  return { kind: 'none' };
}
