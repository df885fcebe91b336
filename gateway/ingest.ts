// The intake path every driver calls: normalize → buffer (durable) → wake dispatch.
// `submit()` resolves only once the reading is durable (stored, duplicate or quarantined), so a driver
// may acknowledge its device exactly when the result says `durable: true`.
import { createHash } from 'node:crypto';
import { normalize, type NormalizeContext } from './normalize.ts';
import { GatewayError } from './errors.ts';
import type { AuditSink } from './audit/types.ts';
import type { ObservationBuffer } from './buffer/types.ts';
import type { Logger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Issue, Observation, Reading } from './types.ts';

export type SubmitResult =
  | {
      kind: 'accepted';
      durable: true;
      observations: Array<{ id: string; status: 'stored' | 'duplicate'; metric: string }>;
      /** Components refused while the rest was kept (IEEE-11073 special values). */
      refused: Issue[];
    }
  | { kind: 'quarantined'; durable: true; quarantineId: string; reason: string }
  /** Bad input: nothing stored, retrying the same bytes cannot help. */
  | { kind: 'invalid'; durable: false; issues: Issue[] }
  /** The buffer refused intake (high-water mark, I/O failure): the device should keep it and retry. */
  | { kind: 'unavailable'; durable: false; code: string; reason: string };

export interface IntakeDeps {
  buffer: ObservationBuffer;
  logger: Logger;
  metrics?: GatewayMetrics;
  normalizeContext: NormalizeContext;
  /** Called after new entries are durable so dispatch loops stop idling. */
  onStored?: () => void;
  /** Called for each new durable Observation with its buffer sequence number (live streams, audit). */
  onObservation?: (observation: Observation, seq: bigint) => void;
  /** The audit trail; records are queued, never awaited on the intake path (gateway/audit/trail.ts). */
  audit?: AuditSink;
}

export class Intake {
  readonly #deps: IntakeDeps;
  readonly #log: Logger;

  constructor(deps: IntakeDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ stage: 'intake' });
  }

  async submit(reading: Reading): Promise<SubmitResult> {
    const { metrics } = this.#deps;
    const started = process.hrtime.bigint();
    const transport = reading.transport;
    metrics?.readingsReceived.inc({ transport });
    const outcome = normalize(reading, this.#deps.normalizeContext);
    switch (outcome.kind) {
      case 'refused': {
        this.#received(reading, {}, { outcome: 'refused', codes: outcome.issues.map((i) => i.code) });
        for (const i of outcome.issues) metrics?.readingsRefused.inc({ transport, reason: i.code });
        // issue messages quote the value ("heart-rate value 391 /min is outside…"): code and path only above debug
        this.#log.warn({ deviceId: reading.deviceId, transport, issues: outcome.issues.map(({ code, path }) => ({ code, path })) }, 'reading refused');
        this.#log.debug({ deviceId: reading.deviceId, transport, issues: outcome.issues }, 'reading refused (detail)');
        return { kind: 'invalid', durable: false, issues: outcome.issues };
      }
      case 'quarantine':
        return this.#quarantine(reading, outcome.reason);
      case 'observations': {
        this.#received(reading, { observationIds: outcome.observations.map((o) => o.id ?? '') }, { outcome: 'observations' });
        for (const i of outcome.refused) metrics?.componentsRefused.inc({ transport, reason: i.code });
        if (outcome.refused.length > 0) {
          this.#log.warn({ deviceId: reading.deviceId, transport, issues: outcome.refused.map(({ code, path }) => ({ code, path })) }, 'components refused; the rest is kept');
          this.#log.debug({ deviceId: reading.deviceId, transport, issues: outcome.refused }, 'components refused (detail)');
        }
        const stored = await this.#append(outcome.observations);
        if (stored.kind !== 'accepted') return stored;
        metrics?.appendDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
        return { ...stored, refused: outcome.refused };
      }
      default:
        return outcome satisfies never;
    }
  }

  /** Append already-normalized Observations (quarantine release uses this). */
  async appendObservations(observations: Observation[]): Promise<SubmitResult> {
    return this.#append(observations);
  }

  async #append(observations: Observation[]): Promise<SubmitResult> {
    const { buffer, metrics } = this.#deps;
    let results;
    try {
      results = await buffer.append(observations);
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'GW_ERR_BUFFER_IO';
      metrics?.observationsStored.inc({ result: 'refused' }, observations.length);
      this.#log.error({ err, code }, 'buffer append failed; intake refused');
      return { kind: 'unavailable', durable: false, code, reason: (err as Error).message };
    }
    const refusal = results.find((r) => r.kind === 'refused');
    if (refusal?.kind === 'refused') {
      // A reading is acknowledged whole or not at all; parts stored before the refusal dedupe on retry.
      metrics?.observationsStored.inc({ result: 'refused' }, results.filter((r) => r.kind === 'refused').length);
      this.#log.warn({ code: refusal.code, reason: refusal.reason }, 'buffer refused intake');
      return { kind: 'unavailable', durable: false, code: refusal.code, reason: refusal.reason };
    }
    const accepted: Array<{ id: string; status: 'stored' | 'duplicate'; metric: string }> = [];
    let storedAny = false;
    results.forEach((r, i) => {
      if (r.kind === 'refused') return;
      const observation = observations[i]!;
      metrics?.observationsStored.inc({ result: r.kind });
      accepted.push({ id: r.observationId, status: r.kind, metric: observation.code?.coding?.[0]?.code ?? 'unknown' });
      this.#deps.audit?.record({
        kind: r.kind === 'stored' ? 'observation-stored' : 'observation-duplicate',
        actor: 'gateway',
        subject: { observationIds: [r.observationId] },
        detail: { seq: r.seq.toString() },
      });
      this.#log.info({ observationId: r.observationId, seq: r.seq.toString(), result: r.kind }, 'observation durable');
      if (r.kind === 'stored') {
        storedAny = true;
        this.#deps.onObservation?.(observation, r.seq);
      }
    });
    if (storedAny) this.#deps.onStored?.();
    return { kind: 'accepted', durable: true, observations: accepted, refused: [] };
  }

  /** reading-received: the raw frame's SHA-256 (the frame itself may hold PHI and stays out of the trail). */
  #received(reading: Reading, subject: { observationIds?: string[]; quarantineId?: string }, detail: Record<string, string | string[]>): void {
    if (!this.#deps.audit) return;
    // Drivers without a raw frame (kiosk JSON) get the hash of the Reading as submitted instead.
    const rawSha256 = reading.raw !== undefined
      ? createHash('sha256').update(Buffer.from(reading.raw, 'base64')).digest('hex')
      : createHash('sha256').update(JSON.stringify(reading)).digest('hex');
    this.#deps.audit.record({
      kind: 'reading-received',
      actor: reading.actor ?? `device:${reading.deviceId}`,
      subject: { deviceId: reading.deviceId, ...subject },
      detail: { ...detail, transport: reading.transport, rawSha256, rawSource: reading.raw !== undefined ? 'frame' : 'reading' },
    });
  }

  async #quarantine(reading: Reading, reason: string): Promise<SubmitResult> {
    const { buffer, metrics } = this.#deps;
    // Deterministic id: a device retransmitting the same reading lands on the same quarantine entry.
    const quarantineId = createHash('sha256')
      .update(JSON.stringify([reading.deviceId, reading.deviceTime ?? reading.receivedAt, reading.components]))
      .digest('hex')
      .slice(0, 32);
    this.#received(reading, { quarantineId }, { outcome: 'quarantine' });
    try {
      await buffer.quarantine.add({ id: quarantineId, deviceId: reading.deviceId, reason, at: new Date().toISOString(), reading });
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'GW_ERR_BUFFER_IO';
      this.#log.error({ err, code }, 'quarantine write failed; intake refused');
      return { kind: 'unavailable', durable: false, code, reason: (err as Error).message };
    }
    metrics?.readingsQuarantined.inc({ transport: reading.transport });
    this.#deps.audit?.record({ kind: 'quarantined', actor: 'gateway', subject: { deviceId: reading.deviceId, quarantineId }, detail: { reason } });
    this.#log.warn({ deviceId: reading.deviceId, quarantineId, reason }, 'reading quarantined until a patient is bound');
    return { kind: 'quarantined', durable: true, quarantineId, reason };
  }
}
