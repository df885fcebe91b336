// Device → patient bindings: the config's list, plus bindings made at run time (admin API), which are
// stored sealed in the buffer's state store so they survive restarts. Binding a device releases its
// quarantined readings into the buffer.
import { bindingKey, normalize, type NormalizeContext } from './normalize.ts';
import type { AuditSink } from './audit/types.ts';
import type { ObservationBuffer } from './buffer/types.ts';
import type { Intake } from './ingest.ts';
import type { Logger } from './logger.ts';
import type { Issue, PatientIdentity } from './types.ts';

const KEY_PREFIX = 'binding/';

export interface BindingEntry {
  device: string;
  patient: PatientIdentity;
  source: 'config' | 'api';
}

export interface ReleaseReport {
  released: number;
  observations: number;
  /** Quarantined readings that still cannot be normalized (kept in quarantine, with the reason). */
  failed: Array<{ id: string; issues: Issue[] }>;
}

export class BindingStore {
  readonly #fromConfig = new Map<string, PatientIdentity>();
  readonly #fromApi = new Map<string, PatientIdentity>();
  readonly #buffer: ObservationBuffer;
  readonly #log: Logger;
  readonly #audit: AuditSink | undefined;

  constructor(args: { buffer: ObservationBuffer; logger: Logger; config: ReadonlyArray<{ device: string; patient: PatientIdentity }>; audit?: AuditSink }) {
    this.#audit = args.audit;
    this.#buffer = args.buffer;
    this.#log = args.logger.child({ stage: 'bindings' });
    for (const b of args.config) this.#fromConfig.set(b.device, b.patient);
  }

  /** Load bindings made through the API in earlier runs. */
  async load(): Promise<void> {
    for (const [key, value] of await this.#buffer.state.entries(KEY_PREFIX)) {
      this.#fromApi.set(key.slice(KEY_PREFIX.length), value as PatientIdentity);
    }
  }

  /** API bindings win over config: a field tech's correction must not be undone by a restart. */
  bindingFor(deviceId: string): PatientIdentity | undefined {
    return this.#fromApi.get(deviceId) ?? this.#fromConfig.get(deviceId);
  }

  list(): BindingEntry[] {
    const out: BindingEntry[] = [];
    for (const [device, patient] of this.#fromConfig) {
      if (!this.#fromApi.has(device)) out.push({ device, patient, source: 'config' });
    }
    for (const [device, patient] of this.#fromApi) out.push({ device, patient, source: 'api' });
    return out.sort((a, b) => a.device.localeCompare(b.device));
  }

  /** Bind durably, then release the device's quarantined readings through normalize into the buffer. */
  /** `actor`: who asked, for the audit trail (`user:<name>`, `token:<name>`, `admin`). */
  async bind(deviceId: string, patient: PatientIdentity, intake: Intake, ctx: NormalizeContext, actor = 'admin'): Promise<ReleaseReport> {
    await this.#buffer.state.put(KEY_PREFIX + deviceId, patient);
    this.#fromApi.set(deviceId, patient);
    this.#log.info({ deviceId }, 'device bound to a patient');
    this.#audit?.record({ kind: 'bound', actor, subject: { deviceId }, detail: { source: 'api' } }); // no patient id: PHI
    return this.release(deviceId, intake, ctx);
  }

  /** `deviceId` is a binding key: a device, or `<device>/user/<n>` (releases only that user's readings). */
  async release(deviceId: string, intake: Intake, ctx: NormalizeContext): Promise<ReleaseReport> {
    const report: ReleaseReport = { released: 0, observations: 0, failed: [] };
    const device = deviceId.replace(/\/user\/\d+$/, '');
    for (const entry of await this.#buffer.quarantine.list(device)) {
      if (bindingKey(entry.reading) !== deviceId) continue; // another user of the same scale, or the device's own readings
      const outcome = normalize(entry.reading, ctx);
      if (outcome.kind !== 'observations') {
        report.failed.push({ id: entry.id, issues: outcome.kind === 'refused' ? outcome.issues : [] });
        continue;
      }
      // Links the quarantined reading (its reading-received record) to the Observations it becomes.
      this.#audit?.record({
        kind: 'bound',
        actor: 'gateway',
        subject: { deviceId, quarantineId: entry.id, observationIds: outcome.observations.map((o) => o.id ?? '') },
        detail: { released: true },
      });
      const stored = await intake.appendObservations(outcome.observations);
      if (stored.kind !== 'accepted') {
        report.failed.push({ id: entry.id, issues: [{ code: stored.kind === 'unavailable' ? stored.code : 'GW_ERR_BUFFER_IO', message: 'buffer refused the release' }] });
        continue;
      }
      // Removed only after the Observations are durable: a crash in between re-releases them as duplicates.
      await this.#buffer.quarantine.remove([entry.id]);
      report.released += 1;
      report.observations += outcome.observations.length;
    }
    if (report.released > 0 || report.failed.length > 0) {
      this.#log.info({ deviceId, released: report.released, failed: report.failed.length }, 'quarantine released');
    }
    return report;
  }
}
