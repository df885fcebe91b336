// The local patient roster, fed by ADT (A01/A04/A08/A28/A31 create/update, A03/A11 visit state, A40 merge)
// and read synchronously by normalize (MRN lookup, demographic matching) and by the MLLP bridge (PID).
// Stored sealed in the buffer's state store under `roster/…`; keys are keyed hashes (HMAC) of the
// identifier or demographics, never the MRN or name itself (DESIGN: keys hold no PHI).
import { createHmac, hkdfSync } from 'node:crypto';
import type { AdtIdentifier, AdtMessage } from '../ehr-bridge/hl7v2/adt-parser.ts';
import { AdtEvent, Hl7ErrorCode } from '../ehr-bridge/hl7v2/adt-parser.ts';
import type { AdtApplyResult } from '../ehr-bridge/hl7v2/adt-listener.ts';
import type { AuditSink } from './audit/types.ts';
import type { ObservationBuffer } from './buffer/types.ts';
import type { Logger } from './logger.ts';
import type { PatientDemographics, PatientIdentity } from './types.ts';

export const ROSTER_PREFIX = 'roster/';
/** One record per patient: `roster/p/<hmac(system|mrn)>`. */
const PATIENT_PREFIX = `${ROSTER_PREFIX}p/`;
/** Secondary index for matching: `roster/n/<hmac(family|given|birthDate)>/<patient hash>` → patient hash. */
const NAME_PREFIX = `${ROSTER_PREFIX}n/`;

/** Visit state from the last ADT event that changed it. Closed set. */
export const VisitState = { registered: 'registered', admitted: 'admitted', discharged: 'discharged', cancelled: 'cancelled' } as const;
export type VisitState = (typeof VisitState)[keyof typeof VisitState];

export interface RosterPatient {
  mrn: string;
  system: string;
  /** CX-4 as the EHR sent it, so our PID-3 names the authority the same way. */
  authority?: { namespace?: string; universalId?: string; universalIdType?: string };
  /** Every PID-3 identifier (repetitions), the MRN included. */
  identifiers: Array<{ value: string; system: string; type?: string }>;
  name?: { family: string; given: string; middle?: string; suffix?: string };
  birthDate?: string;
  sex?: string;
  phone?: string;
  visit?: { number?: string; patientClass?: string; state: VisitState };
  /** Set by A40: this MRN was merged into that one; lookups follow the pointer. */
  mergedInto?: { mrn: string; system: string };
  updatedAt: string;
}

export type MatchResult =
  | { kind: 'matched'; patient: RosterPatient }
  | { kind: 'unmatched' }
  | { kind: 'ambiguous'; candidates: number };

/** What normalize and the bridges need from the roster; synchronous (an in-memory mirror of the store). */
export interface PatientDirectory {
  /** roster.required: a reading for an MRN the roster does not know waits in quarantine. */
  readonly required: boolean;
  /** The patient named by this identity, following merges to the survivor; undefined when unknown. */
  lookup(identity: PatientIdentity): RosterPatient | undefined;
  match(demographics: PatientDemographics): MatchResult;
}

export interface RosterChange {
  event: AdtEvent;
  created: number;
  updated: number;
  merged: number;
}

/** Normalised for matching: Unicode NFKD without combining marks, case-folded, whitespace collapsed. */
export function normalizeName(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase('en-US').replace(/\s+/g, ' ').trim();
}

/** Digits only; numbers with a country code compare on their last 10 digits. */
export function normalizePhone(text: string): string {
  const digits = text.replace(/\D/g, '');
  return digits.length > 10 ? digits.slice(-10) : digits;
}

const MAX_MERGE_HOPS = 16;

export class PatientRoster implements PatientDirectory {
  readonly required: boolean;
  readonly #buffer: ObservationBuffer;
  readonly #indexKey: Buffer;
  readonly #defaultSystem: string;
  readonly #log: Logger;
  readonly #audit: AuditSink | undefined;
  /** patient hash → record. */
  readonly #patients = new Map<string, RosterPatient>();
  /** identifier hash (any PID-3 repetition) → patient hash. */
  readonly #byIdentifier = new Map<string, string>();
  /** demographics hash → patient hashes. */
  readonly #byName = new Map<string, Set<string>>();
  /** Serialises writes: two ADT connections must not interleave a read-modify-write. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(args: {
    buffer: ObservationBuffer;
    /** The buffer key; the index HMAC key is derived from it (HKDF), so keys are stable across restarts. */
    bufferKey: Buffer;
    defaultSystem: string;
    required: boolean;
    logger: Logger;
    audit?: AuditSink;
  }) {
    this.#buffer = args.buffer;
    this.#indexKey = Buffer.from(hkdfSync('sha256', args.bufferKey, Buffer.alloc(0), 'rpm-gateway roster index v1', 32));
    this.#defaultSystem = args.defaultSystem;
    this.required = args.required;
    this.#log = args.logger.child({ stage: 'roster' });
    this.#audit = args.audit;
  }

  async load(): Promise<void> {
    for (const [key, value] of await this.#buffer.state.entries(PATIENT_PREFIX)) {
      this.#remember(key.slice(PATIENT_PREFIX.length), value as RosterPatient);
    }
    this.#log.info({ patients: this.#patients.size }, 'patient roster loaded');
  }

  get size(): number {
    return this.#patients.size;
  }

  stats(): { patients: number; merged: number } {
    let merged = 0;
    for (const p of this.#patients.values()) if (p.mergedInto) merged++;
    return { patients: this.#patients.size - merged, merged };
  }

  lookup(identity: PatientIdentity): RosterPatient | undefined {
    let hash = this.#byIdentifier.get(this.#hash('id', identity.system ?? this.#defaultSystem, identity.mrn));
    for (let hop = 0; hash !== undefined && hop < MAX_MERGE_HOPS; hop++) {
      const patient = this.#patients.get(hash);
      if (patient === undefined) return undefined;
      if (patient.mergedInto === undefined) return patient;
      hash = this.#byIdentifier.get(this.#hash('id', patient.mergedInto.system, patient.mergedInto.mrn));
    }
    return undefined;
  }

  match(d: PatientDemographics): MatchResult {
    const candidates = [...(this.#byName.get(this.#nameHash(d.name.family, d.name.given, d.birthDate)) ?? [])]
      .map((h) => this.#patients.get(h))
      .filter((p): p is RosterPatient => p !== undefined && p.mergedInto === undefined)
      // Phone, when the reading has one, must equal the roster's: it narrows, it never widens.
      .filter((p) => d.phone === undefined || (p.phone !== undefined && normalizePhone(p.phone) === normalizePhone(d.phone)));
    if (candidates.length === 1) return { kind: 'matched', patient: candidates[0]! };
    return candidates.length === 0 ? { kind: 'unmatched' } : { kind: 'ambiguous', candidates: candidates.length };
  }

  /** Apply one ADT message (the listener's `apply`). Expected refusals are values; storage failures throw. */
  apply(message: AdtMessage): Promise<AdtApplyResult> {
    const run = this.#writes.then(() => this.#apply(message));
    this.#writes = run.catch(() => undefined);
    return run;
  }

  async #apply(message: AdtMessage): Promise<AdtApplyResult> {
    const change: RosterChange = { event: message.event, created: 0, updated: 0, merged: 0 };
    switch (message.event) {
      case AdtEvent.A01:
      case AdtEvent.A04:
      case AdtEvent.A08:
      case AdtEvent.A28:
      case AdtEvent.A31:
      case AdtEvent.A03:
      case AdtEvent.A11:
        await this.#upsert(message, change);
        break;
      case AdtEvent.A40: {
        const result = await this.#merge(message, change);
        if (!result.ok) return result;
        break;
      }
      default:
        return message.event satisfies never;
    }
    // No PHI: the event and counts only.
    this.#audit?.record({ kind: 'roster-changed', actor: 'adt', subject: {}, detail: { ...change } });
    this.#log.info({ ...change }, 'roster changed');
    return { ok: true };
  }

  async #upsert(message: AdtMessage, change: RosterChange): Promise<RosterPatient> {
    const incoming = this.#fromPid(message);
    const existingHash = this.#findByIdentifiers(incoming.identifiers);
    const existing = existingHash === undefined ? undefined : this.#patients.get(existingHash);
    let target: RosterPatient;
    if (existing === undefined) {
      target = incoming;
      change.created++;
    } else {
      // HL7 v2.5.1 §2.5.3: an empty field means "no change"; only what the message carries replaces.
      target = {
        ...existing,
        identifiers: mergeIdentifiers(existing.identifiers, incoming.identifiers),
        ...(incoming.name ? { name: incoming.name } : {}),
        ...(incoming.birthDate ? { birthDate: incoming.birthDate } : {}),
        ...(incoming.sex ? { sex: incoming.sex } : {}),
        ...(incoming.phone ? { phone: incoming.phone } : {}),
        ...(incoming.authority && !existing.authority ? { authority: incoming.authority } : {}),
        updatedAt: incoming.updatedAt,
      };
      change.updated++;
    }
    const state = visitStateOf(message.event, target.visit?.state);
    if (state !== undefined || message.visit !== undefined) {
      target.visit = {
        ...(target.visit ?? {}),
        ...(message.visit?.number ? { number: message.visit.number } : {}),
        ...(message.visit?.patientClass ? { patientClass: message.visit.patientClass } : {}),
        state: state ?? target.visit?.state ?? VisitState.registered,
      };
    }
    await this.#store(existingHash ?? this.#hash('id', target.system, target.mrn), target, existing);
    return target;
  }

  /** A40: MRG-1's prior MRN becomes a pointer to PID-3's surviving one. */
  async #merge(message: AdtMessage, change: RosterChange): Promise<AdtApplyResult> {
    const prior = message.prior?.[0];
    if (prior === undefined) {
      return { ok: false, refusal: { ack: 'AE', error: Hl7ErrorCode.requiredFieldMissing, code: 'GW_ERR_ADT_NOT_APPLIED', message: 'MRG-1 prior patient identifier list is empty', location: { segment: 'MRG', sequence: 1, field: 1 } } };
    }
    const priorHash = this.#byIdentifier.get(this.#hash('id', prior.system ?? this.#defaultSystem, prior.value));
    const old = priorHash === undefined ? undefined : this.#patients.get(priorHash);
    if (priorHash === undefined || old === undefined) {
      // HL7 table 0357 204: unknown key identifier. Nothing changes.
      return { ok: false, refusal: { ack: 'AE', error: Hl7ErrorCode.unknownKey, code: 'GW_ERR_ADT_NOT_APPLIED', message: 'MRG-1 names a patient identifier the roster does not know', location: { segment: 'MRG', sequence: 1, field: 1 } } };
    }
    const survivor = await this.#upsert(message, change);
    const survivorHash = this.#hash('id', survivor.system, survivor.mrn);
    if (priorHash === survivorHash) return { ok: true }; // merging a patient into itself: nothing to do
    const pointer: RosterPatient = {
      mrn: old.mrn,
      system: old.system,
      identifiers: old.identifiers.filter((i) => this.#byIdentifier.get(this.#hash('id', i.system, i.value)) === priorHash),
      mergedInto: { mrn: survivor.mrn, system: survivor.system },
      updatedAt: new Date().toISOString(),
    };
    await this.#store(priorHash, pointer, old);
    change.merged++;
    return { ok: true };
  }

  #fromPid(message: AdtMessage): RosterPatient {
    const p = message.patient;
    // PID-3: the identifier typed MR (table 0203) is the MRN; without one, the first repetition.
    const mrn = p.identifiers.find((i) => i.type?.toUpperCase() === 'MR') ?? p.identifiers[0]!;
    const patient: RosterPatient = {
      mrn: mrn.value,
      system: mrn.system ?? this.#defaultSystem,
      identifiers: p.identifiers.map((i) => identifierOf(i, this.#defaultSystem)),
      updatedAt: new Date().toISOString(),
    };
    if (mrn.authority) patient.authority = mrn.authority;
    if (p.name) patient.name = p.name;
    if (p.birthDate) patient.birthDate = p.birthDate;
    if (p.sex) patient.sex = p.sex;
    if (p.phone) patient.phone = p.phone;
    return patient;
  }

  #findByIdentifiers(ids: RosterPatient['identifiers']): string | undefined {
    for (const id of ids) {
      const hash = this.#byIdentifier.get(this.#hash('id', id.system, id.value));
      const found = hash === undefined ? undefined : this.#patients.get(hash);
      // A merged-away MRN in a new message is resolved to its survivor.
      if (found?.mergedInto) return this.#byIdentifier.get(this.#hash('id', found.mergedInto.system, found.mergedInto.mrn));
      if (hash !== undefined) return hash;
    }
    return undefined;
  }

  /** Write the record and its index keys (one synced group-committed batch), then mirror in memory. */
  async #store(hash: string, patient: RosterPatient, previous: RosterPatient | undefined): Promise<void> {
    const state = this.#buffer.state;
    const oldName = previous === undefined ? undefined : this.#nameKeyOf(previous);
    const newName = this.#nameKeyOf(patient);
    const writes: Array<Promise<void>> = [state.put(PATIENT_PREFIX + hash, patient)];
    if (oldName !== undefined && oldName !== newName) writes.push(state.del(`${NAME_PREFIX}${oldName}/${hash}`));
    if (newName !== undefined) writes.push(state.put(`${NAME_PREFIX}${newName}/${hash}`, hash));
    await Promise.all(writes);
    if (previous !== undefined) this.#forget(hash, previous);
    this.#remember(hash, patient);
  }

  #remember(hash: string, patient: RosterPatient): void {
    this.#patients.set(hash, patient);
    this.#byIdentifier.set(this.#hash('id', patient.system, patient.mrn), hash);
    for (const id of patient.identifiers) {
      const key = this.#hash('id', id.system, id.value);
      // The MRN of another record wins over a secondary identifier that happens to collide with it.
      if (!this.#byIdentifier.has(key)) this.#byIdentifier.set(key, hash);
    }
    const name = this.#nameKeyOf(patient);
    if (name !== undefined) {
      const set = this.#byName.get(name) ?? new Set<string>();
      set.add(hash);
      this.#byName.set(name, set);
    }
  }

  #forget(hash: string, patient: RosterPatient): void {
    const name = this.#nameKeyOf(patient);
    if (name !== undefined) this.#byName.get(name)?.delete(hash);
    for (const id of patient.identifiers) {
      const key = this.#hash('id', id.system, id.value);
      if (this.#byIdentifier.get(key) === hash) this.#byIdentifier.delete(key);
    }
  }

  #nameKeyOf(p: RosterPatient): string | undefined {
    if (p.mergedInto !== undefined || p.name === undefined || p.birthDate === undefined) return undefined;
    return this.#nameHash(p.name.family, p.name.given, p.birthDate);
  }

  #nameHash(family: string, given: string, birthDate: string): string {
    return this.#hash('name', normalizeName(family), normalizeName(given), birthDate);
  }

  #hash(kind: string, ...parts: string[]): string {
    // JSON keeps `a|b` + `c` apart from `a` + `b|c`.
    return createHmac('sha256', this.#indexKey).update(JSON.stringify([kind, ...parts])).digest('base64url').slice(0, 32);
  }
}

function identifierOf(i: AdtIdentifier, defaultSystem: string): RosterPatient['identifiers'][number] {
  return { value: i.value, system: i.system ?? defaultSystem, ...(i.type ? { type: i.type } : {}) };
}

function mergeIdentifiers(a: RosterPatient['identifiers'], b: RosterPatient['identifiers']): RosterPatient['identifiers'] {
  const out = [...a];
  for (const id of b) if (!out.some((x) => x.value === id.value && x.system === id.system)) out.push(id);
  return out;
}

/** A01 admit, A04 register, A03 discharge, A11 cancel admit; updates keep the state. */
function visitStateOf(event: AdtEvent, current: VisitState | undefined): VisitState | undefined {
  switch (event) {
    case AdtEvent.A01:
      return VisitState.admitted;
    case AdtEvent.A04:
      return VisitState.registered;
    case AdtEvent.A03:
      return VisitState.discharged;
    case AdtEvent.A11:
      return VisitState.cancelled;
    case AdtEvent.A08:
    case AdtEvent.A28:
    case AdtEvent.A31:
    case AdtEvent.A40:
      return current;
    default:
      return event satisfies never;
  }
}
