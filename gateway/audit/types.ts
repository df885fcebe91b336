// The audit trail's record shape: append-only, hash-chained, no clinical values or patient ids (PHI).
// Subjects are ids only (Observation ids are content hashes, device ids and destinations are config names).

/** What happened. Closed set: switches over it end in `satisfies never`. */
export const AuditKind = {
  readingReceived: 'reading-received',
  observationStored: 'observation-stored',
  observationDuplicate: 'observation-duplicate',
  quarantined: 'quarantined',
  bound: 'bound',
  delivered: 'delivered',
  retried: 'retried',
  deadLettered: 'dead-lettered',
  replayed: 'replayed',
  /** The patient roster changed through ADT (detail: event and counts only, no PHI). */
  rosterChanged: 'roster-changed',
  /** A person resolved a quarantined reading to a patient through the admin API. */
  resolved: 'resolved',
  /** Access control (gateway/http/auth): a session opened, a login refused (never the password), a session closed. */
  login: 'login',
  loginFailed: 'login-failed',
  logout: 'logout',
  /** Accounts changed through the API or `gw user` (name and role only). */
  userAdded: 'user-added',
  userRemoved: 'user-removed',
  tokenIssued: 'token-issued',
  /** An operator discarded a dead letter or a quarantined reading (detail: reason, as typed, no PHI expected). */
  discarded: 'discarded',
  /** The configuration in force changed (detail: its SHA-256 and source). */
  config: 'config',
} as const;
export type AuditKind = (typeof AuditKind)[keyof typeof AuditKind];

export interface AuditSubject {
  observationIds?: string[];
  deviceId?: string;
  destination?: string;
  quarantineId?: string;
  /** Admin API account name (access-control events). */
  user?: string;
}

/** Free-form but PHI-free: codes, hashes, counts, sequence numbers, receipt ids, ACK codes. */
export type AuditDetail = Record<string, string | number | boolean | string[]>;

/** What a caller hands the trail; seq, time and the chain are added by the trail. */
export interface AuditEvent {
  kind: AuditKind;
  /** Who caused it: `device:<id>`, `kiosk-token:<id>`, `gateway`, `destination:<id>`, `admin` (GW_ADMIN_TOKEN), `user:<name>`, `token:<name>`, `cli`. */
  actor: string;
  subject: AuditSubject;
  detail?: AuditDetail;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  time: string;
  detail: AuditDetail;
  /** Hash of the previous record (64 zeros for the first). */
  prevHash: string;
  /** SHA-256 (hex) over the canonical JSON of every other field, prevHash included. */
  hash: string;
}

/** Where a subsystem reports to; `record` never blocks and never throws. */
export interface AuditSink {
  record(event: AuditEvent): void;
}

export const GENESIS_HASH = '0'.repeat(64);
export const AUDIT_PREFIX = 'audit/';
export const AUDIT_BY_OBS_PREFIX = 'audit-by-obs/';
export const AUDIT_HEAD_KEY = 'audit-head';

/** Zero-padded so the state store's key order is seq order. */
export const auditKey = (seq: number): string => AUDIT_PREFIX + seq.toString().padStart(12, '0');
export const auditByObsKey = (observationId: string, seq: number): string =>
  `${AUDIT_BY_OBS_PREFIX}${observationId}/${seq.toString().padStart(12, '0')}`;
