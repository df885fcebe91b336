// The contracts between the five stages (../shared/DESIGN.md "The contracts between stages").
// Drivers produce a Reading, normalize turns it into Observations, the buffer stores them,
// dispatch hands batches to a Destination, and a Destination answers one SendOutcome per item.
import type { Observation } from '@medplum/fhirtypes';

export type { Observation };

/** How a reading reached the gateway. Closed set: switches over it end in `satisfies never`. */
export const Transport = {
  kiosk: 'kiosk',
  ble: 'ble',
  serial: 'serial',
  mqtt: 'mqtt',
  simulator: 'simulator',
} as const;
export type Transport = (typeof Transport)[keyof typeof Transport];

/**
 * IEEE 11073-20601 special values (SFLOAT/FLOAT reserved mantissas). They never become numbers:
 * normalize turns them into a refused component or a FHIR dataAbsentReason.
 */
export const SpecialValue = {
  nan: 'NaN', // not a number: 0x07FF / 0x007FFFFF
  nres: 'NRes', // not at this resolution: 0x0800 / 0x00800000
  posInf: '+INF', // 0x07FE / 0x007FFFFE
  negInf: '-INF', // 0x0802 / 0x00800002
  reserved: 'reserved', // 0x0801 / 0x00800001, reserved for future use
} as const;
export type SpecialValue = (typeof SpecialValue)[keyof typeof SpecialValue];
export const SPECIAL_VALUES: readonly SpecialValue[] = Object.values(SpecialValue);

export function isSpecialValue(v: unknown): v is SpecialValue {
  return typeof v === 'string' && (SPECIAL_VALUES as readonly string[]).includes(v);
}

/** One measured quantity as the device sent it: metric name, value, unit (not yet converted). */
export interface ReadingComponent {
  /** Canonical metric id from the vitals catalog (e.g. `bp-systolic`); unknown ids are refused by normalize. */
  metric: string;
  value: number | SpecialValue;
  /** Unit as the device sent it (UCUM code or a catalog alias such as `mmHg`, `bpm`, `kPa`). */
  unit: string;
}

/** A patient identity asserted by the source (the kiosk knows who sits in front of it). */
export interface PatientIdentity {
  mrn: string;
  /** Assigning authority / identifier system, e.g. `urn:oid:1.2.3.4`. */
  system?: string;
}

/** Who the patient is when the source knows no MRN (kiosk check-in): matched against the roster, never guessed. */
export interface PatientDemographics {
  name: { family: string; given: string };
  /** YYYY-MM-DD. */
  birthDate: string;
  phone?: string;
}

/** What a driver hands to the gateway. Produced by device-drivers/*, consumed by gateway/normalize. */
export interface Reading {
  deviceId: string;
  /** Firmware profile id (for the kiosk: `kiosk`). */
  profileId: string;
  transport: Transport;
  components: ReadingComponent[];
  /** Time the device says it measured, ISO 8601 with offset; absent when the device has no clock. */
  deviceTime?: string;
  /** Gateway clock when the bytes arrived, ISO 8601 UTC. */
  receivedAt: string;
  /** The raw frame (base64) for the audit trail; never logged above debug. */
  raw?: string;
  /**
   * What the device said about the measurement that a clinician should read with it (BLE measurement status:
   * "irregular pulse detected"; context: "temperature type: ear"). Becomes Observation.note (FHIR) and NTE
   * (HL7 v2). Never part of the Observation's identity; never logged above debug.
   */
  notes?: string[];
  /** Who submitted it, for the audit trail (`kiosk-token:<id>`); default `device:<deviceId>`. */
  actor?: string;
  patient?: PatientIdentity;
  /** Demographics instead of an MRN; `patient` wins when both are present (gateway/roster-match.ts). */
  demographics?: PatientDemographics;
  context?: {
    encounterId?: string;
    /** BLE user index (multi-user scales and cuffs). */
    userIndex?: number;
    /** Device-side sequence number, when the protocol has one. */
    sequence?: number;
  };
}

/** An expected failure described as data (CONVENTIONS 6): a code from gateway/errors.ts and where. */
export interface Issue {
  code: string;
  message: string;
  /** JSON path into the input, e.g. `components[0].unit`. */
  path?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

/** A buffer entry as dispatch sees it. `seq` is the buffer's monotonic log sequence. */
export interface BufferedObservation {
  seq: bigint;
  observation: Observation;
  /** Gateway time the entry was appended (epoch ms). */
  appendedAt: number;
  /** Set on replayed dead letters: only these destinations take the entry; others skip it. */
  only?: readonly string[];
}

/** The outcome of one append to the buffer. */
export type AppendResult =
  | { kind: 'stored'; seq: bigint; observationId: string }
  | { kind: 'duplicate'; seq: bigint; observationId: string }
  | { kind: 'refused'; code: string; reason: string };

/** What a receiver said about one delivered item (MLLP: the ACK's control id and code). */
export interface Receipt {
  /** Receiver-side identifier: MSA-2 / MSH-10 for MLLP, the resource location for FHIR. */
  id: string;
  /** Free text for the audit trail, e.g. `AA` or `201 Created`. */
  detail?: string;
  /** Time from send to acknowledgement, for the ACK latency histogram. */
  latencyMs?: number;
}

/** One outcome per batch item, in batch order. Only dispatch acts on these (cursors, back-off, dead-letter). */
export type SendOutcome =
  | { kind: 'delivered'; receipt: Receipt }
  | { kind: 'retry'; code: string; reason: string; afterMs?: number }
  | { kind: 'rejected'; code: string; reason: string };

export const DestinationType = {
  mllp: 'mllp',
  mqtt: 'mqtt',
  fhir: 'fhir',
} as const;
export type DestinationType = (typeof DestinationType)[keyof typeof DestinationType];

export const LinkState = {
  connected: 'connected',
  connecting: 'connecting',
  down: 'down',
  closed: 'closed',
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

/** A receiver of Observations. Bridges own only their protocol; dispatch owns order and retries. */
export interface Destination {
  readonly id: string;
  readonly type: DestinationType;
  /**
   * Deliver a batch in order. Must resolve (never reject for receiver trouble) with exactly one
   * outcome per item; items after the first `retry` may be answered `retry` without being sent.
   */
  send(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]>;
  linkState(): LinkState;
  close(): Promise<void>;
  /**
   * Routing filter (per-destination metric/device/patient filters): false = this destination does not take
   * the Observation; dispatch moves its cursor past it as `skipped` (no delivery, no dead letter). Absent: takes all.
   */
  accepts?(observation: Observation): boolean;
  /** Largest batch the destination wants per send() (e.g. bundle size × concurrency); dispatch's batchSize otherwise. */
  readonly preferredBatchSize?: number;
}
