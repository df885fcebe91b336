// An on-prem EHR reached over MLLP: each Observation becomes one ORU^R01, sent in batch order,
// and each ACK becomes one SendOutcome. Dispatch owns cursors, back-off and dead letters.
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../../gateway/errors.ts';
import {
  DestinationType,
  type BufferedObservation,
  type Destination,
  type LinkState,
  type SendOutcome,
} from '../../gateway/types.ts';
import { AckMode, MessageMode, type MllpDestinationConfig } from './config.ts';
import { MllpClient, type AckResult } from './mllp-client.ts';
import { loadMllpTls } from './mllp-tls.ts';
import { AcknowledgmentType, buildOruR01, buildOruR01Batch, type OruR01Options, type PidPatient } from './oru-r01.ts';

export interface MllpDestinationOptions {
  /** The gateway's site id: MSH-4 when the config names no sending facility. */
  siteId: string;
  logger?: Logger;
  /**
   * The patient roster: PID from it when it knows the Observation's subject, following A40 merges, so a
   * reading buffered under a merged-away MRN goes out under the surviving one (gateway/roster.ts).
   */
  patients?: { lookup(identity: { mrn: string; system?: string }): PidPatient | undefined };
}

export class MllpDestination implements Destination {
  readonly id: string;
  readonly type = DestinationType.mllp;
  private readonly client: MllpClient;
  private readonly header: Omit<OruR01Options, 'now'>;
  private readonly logger: Logger | undefined;
  private readonly patients: MllpDestinationOptions['patients'];
  private readonly messageMode: MessageMode;
  private readonly maxInFlight: number;

  constructor(config: MllpDestinationConfig, options: MllpDestinationOptions) {
    this.id = config.id;
    this.logger = options.logger?.child({ stage: 'ehr-bridge', destination: config.id });
    this.patients = options.patients;
    this.messageMode = config.messageMode;
    this.maxInFlight = config.maxInFlight;
    this.header = {
      sendingApplication: config.sendingApplication,
      sendingFacility: config.sendingFacility ?? options.siteId,
      receivingApplication: config.receivingApplication,
      receivingFacility: config.receivingFacility,
      processingId: config.processingId,
      hl7Version: config.hl7Version,
      // HL7 v2.5.1 §2.9.3: enhanced mode is asked for in MSH-15/16 (table 0155: AL always).
      ...(config.ackMode === AckMode.enhanced
        ? { acknowledgmentTypes: { accept: AcknowledgmentType.always, application: AcknowledgmentType.always } }
        : {}),
    };
    let tls;
    if (config.tls !== undefined) {
      // Bad configuration is thrown at start-up (CONVENTIONS 5), naming the setting and file, never its content.
      const loaded = loadMllpTls(config.tls, config.id);
      if (!loaded.ok) {
        this.logger?.error({ issues: loaded.issues.map((i) => i.message) }, 'MLLP TLS configuration unusable');
        throw new GatewayError('GW_ERR_CONFIG_INVALID', [loaded.issues.map((i) => i.message).join('; ')], { issues: loaded.issues });
      }
      tls = loaded.value;
    }
    this.client = new MllpClient({
      host: config.host,
      port: config.port,
      connectTimeoutMs: config.connectTimeoutMs,
      ackTimeoutMs: config.ackTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
      ackMode: config.ackMode,
      acceptCommitAsDelivery: config.acceptCommitAsDelivery,
      keepAliveMs: config.keepAliveMs,
      maxInFlight: config.maxInFlight,
      ...(tls === undefined ? {} : { tls }),
      ...(this.logger === undefined ? {} : { logger: this.logger }),
    });
  }

  async send(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    switch (this.messageMode) {
      case MessageMode.perReading:
        return this.sendPerReading(batch, signal);
      case MessageMode.perPatient:
        return this.sendPerPatient(batch, signal);
      default:
        return this.messageMode satisfies never;
    }
  }

  /**
   * One ORU^R01 per run of consecutive readings with the same patient and encounter (one PID, one PV1, an
   * OBR group each); the ACK answers for all of them, so each gets the same outcome and receipt. Only
   * CONSECUTIVE readings are grouped: dispatch's cursor walks outcomes in order and stops at the first retry,
   * so a message that took a later reading of the same patient past another patient's failed message would
   * deliver it twice. Order and "nothing after a retry is sent" are kept as in per-reading mode.
   */
  private async sendPerPatient(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = new Array<SendOutcome>(batch.length);
    let stopped: string | undefined;
    let start = 0;
    while (start < batch.length) {
      const key = groupKeyOf(batch[start]!);
      let end = start + 1;
      while (end < batch.length && groupKeyOf(batch[end]!) === key) end++;
      const items = batch.slice(start, end);
      const indices = items.map((_, i) => start + i);
      start = end;
      if (stopped === undefined && signal?.aborted === true) stopped = 'the send was aborted';
      if (stopped !== undefined) {
        for (const [n, item] of items.entries()) {
          const observationId = item.observation.id ?? String(item.seq);
          outcomes[indices[n]!] = { kind: 'retry', code: 'GW_ERR_MLLP_NOT_SENT', reason: errorMessage('GW_ERR_MLLP_NOT_SENT', observationId, stopped) };
        }
        continue;
      }
      const patient = this.patientOf(items[0]!);
      const built = buildOruR01Batch(items.map((i) => i.observation), patient === undefined ? this.header : { ...this.header, patient });
      for (const [n, issues] of built.failed) {
        const observationId = items[n]!.observation.id ?? String(items[n]!.seq);
        this.logger?.warn({ observationId, issues: issues.map((x) => x.path) }, 'Observation cannot be built into an ORU^R01');
        outcomes[indices[n]!] = { kind: 'rejected', code: 'GW_ERR_HL7_BUILD', reason: issues.map((x) => x.message).join('; ') };
      }
      if (built.built === undefined) continue;
      const { message, controlId, included } = built.built;
      const outcome = toOutcome(await this.client.send(message, controlId), controlId);
      this.logger?.debug({ controlId, readings: included.length, outcome: outcome.kind }, 'MLLP per-patient send finished');
      for (const n of included) outcomes[indices[n]!] = outcome;
      if (outcome.kind === 'retry') stopped = `${controlId} earlier in the batch must be retried first`;
    }
    return outcomes;
  }

  /**
   * One ORU^R01 per reading, in batch order. Up to maxInFlight are written before the oldest ACK is awaited
   * (default 1: the next message is only built while the current one waits); after the first retry nothing
   * more is written, and the later readings are answered retry unsent.
   */
  private async sendPerReading(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = [];
    // In write order: a message awaiting its ACK, or a reading that could not be built (rejected in its turn).
    const window: Array<{ kind: 'sent'; controlId: string; observationId: string; result: Promise<AckResult> } | { kind: 'unbuilt'; reason: string }> = [];
    const built: Array<ReturnType<typeof buildOruR01> | undefined> = [];
    const buildAt = (i: number): ReturnType<typeof buildOruR01> => (built[i] ??= this.build(batch[i]!));
    let stopped: string | undefined;
    let next = 0; // next reading to write
    let settled = 0; // readings with an outcome
    const settle = (outcome: SendOutcome): void => {
      outcomes.push(outcome);
      settled += 1;
      if (outcome.kind === 'retry' && stopped === undefined) stopped = `${outcome.code} earlier in the batch must be retried first`;
    };
    let failedInFlight: string | undefined; // a message still in the window already came back retry
    while (settled < batch.length) {
      if (window.length > 0 && next < batch.length) {
        // Pipelining: let every ACK or drop already read off the socket settle its message before writing
        // more, so nothing is written behind a message that has already failed.
        await new Promise<void>((resolve) => setImmediate(resolve));
        stopped ??= failedInFlight;
      }
      // Write while the window has room and nothing earlier failed (order: nothing may overtake a retry).
      while (next < batch.length && window.length < this.maxInFlight && (stopped ?? (signal?.aborted === true ? 'the send was aborted' : undefined)) === undefined) {
        const item = batch[next]!;
        const b = buildAt(next);
        built[next] = undefined;
        next += 1;
        if (!b.ok) {
          this.logger?.warn({ observationId: item.observation.id ?? String(item.seq), issues: b.issues.map((x) => x.path) }, 'Observation cannot be built into an ORU^R01');
          window.push({ kind: 'unbuilt', reason: b.issues.map((x) => x.message).join('; ') });
          continue;
        }
        const result = this.client.send(b.value.message, b.value.controlId);
        void result.then((r) => {
          if (r.kind === 'retry') failedInFlight ??= `${r.code} earlier in the batch must be retried first`;
        });
        window.push({ kind: 'sent', controlId: b.value.controlId, observationId: item.observation.id ?? String(item.seq), result });
      }
      const head = window.shift();
      if (head === undefined) {
        // Nothing in flight and nothing may be written: the rest are answered retry, unsent.
        const why = stopped ?? 'the send was aborted';
        for (; next < batch.length; next++) {
          const observationId = batch[next]!.observation.id ?? String(batch[next]!.seq);
          settle({ kind: 'retry', code: 'GW_ERR_MLLP_NOT_SENT', reason: errorMessage('GW_ERR_MLLP_NOT_SENT', observationId, why) });
        }
        break;
      }
      if (next < batch.length && window.length + 1 >= this.maxInFlight) {
        // The build of the next ORU (tens of µs in hl7-standard) happens while this one waits for its ACK.
        await new Promise<void>((resolve) => setImmediate(resolve)); // let the frame reach the socket first
        buildAt(next);
      }
      if (head.kind === 'unbuilt') {
        settle({ kind: 'rejected', code: 'GW_ERR_HL7_BUILD', reason: head.reason });
        continue;
      }
      const result = await head.result;
      const outcome = toOutcome(result, head.controlId);
      this.logger?.debug({ observationId: head.observationId, controlId: head.controlId, outcome: outcome.kind }, 'MLLP send finished');
      settle(outcome);
    }
    return outcomes;
  }

  private build(item: BufferedObservation): ReturnType<typeof buildOruR01> {
    const patient = this.patientOf(item);
    return buildOruR01(item.observation, patient === undefined ? this.header : { ...this.header, patient });
  }

  private patientOf(item: BufferedObservation): PidPatient | undefined {
    const subject = item.observation.subject?.identifier;
    // Looked up at send time, not at intake: a merge that happened while the reading waited still applies.
    return subject?.value === undefined || this.patients === undefined
      ? undefined
      : this.patients.lookup(subject.system === undefined ? { mrn: subject.value } : { mrn: subject.value, system: subject.system });
  }

  linkState(): LinkState {
    return this.client.linkState();
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** Readings that may share one message: same patient identifier and encounter (one PID and one PV1). */
function groupKeyOf(item: BufferedObservation): string {
  const o = item.observation;
  return JSON.stringify([o.subject?.identifier?.system ?? '', o.subject?.identifier?.value ?? '', o.encounter?.identifier?.value ?? '']);
}

function toOutcome(result: AckResult, controlId: string): SendOutcome {
  switch (result.kind) {
    case 'delivered':
      return { kind: 'delivered', receipt: { id: controlId, detail: result.ack.code, latencyMs: result.latencyMs } };
    case 'retry':
      return { kind: 'retry', code: result.code, reason: result.reason };
    case 'rejected':
      return { kind: 'rejected', code: result.code, reason: result.reason };
    default:
      return result satisfies never;
  }
}
