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
import { AckMode, type MllpDestinationConfig } from './config.ts';
import { MllpClient, type AckResult } from './mllp-client.ts';
import { loadMllpTls } from './mllp-tls.ts';
import { AcknowledgmentType, buildOruR01, type OruR01Options, type PidPatient } from './oru-r01.ts';

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

  constructor(config: MllpDestinationConfig, options: MllpDestinationOptions) {
    this.id = config.id;
    this.logger = options.logger?.child({ stage: 'ehr-bridge', destination: config.id });
    this.patients = options.patients;
    this.header = {
      sendingApplication: config.sendingApplication,
      sendingFacility: config.sendingFacility ?? options.siteId,
      receivingApplication: config.receivingApplication,
      receivingFacility: config.receivingFacility,
      processingId: config.processingId,
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
      ...(tls === undefined ? {} : { tls }),
      ...(this.logger === undefined ? {} : { logger: this.logger }),
    });
  }

  async send(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = [];
    let stopped: string | undefined;
    // The next ORU is built while the current one waits for its ACK: with one message in flight, the
    // build (tens of µs in hl7-standard) then costs nothing on the wire's critical path.
    let next = batch.length > 0 ? this.build(batch[0]!) : undefined;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const built = next!;
      next = undefined;
      const observationId = item.observation.id ?? String(item.seq);
      if (stopped === undefined && signal?.aborted === true) stopped = 'the send was aborted';
      if (stopped !== undefined) {
        // Order: nothing after an item that must be retried may overtake it.
        outcomes.push({ kind: 'retry', code: 'GW_ERR_MLLP_NOT_SENT', reason: errorMessage('GW_ERR_MLLP_NOT_SENT', observationId, stopped) });
        continue;
      }
      if (!built.ok) {
        const reason = built.issues.map((x) => x.message).join('; ');
        this.logger?.warn({ observationId, issues: built.issues.map((x) => x.path) }, 'Observation cannot be built into an ORU^R01');
        outcomes.push({ kind: 'rejected', code: 'GW_ERR_HL7_BUILD', reason });
        next = i + 1 < batch.length ? this.build(batch[i + 1]!) : undefined;
        continue;
      }

      const { message, controlId } = built.value;
      const pending = this.client.send(message, controlId);
      if (i + 1 < batch.length) {
        await new Promise<void>((resolve) => setImmediate(resolve)); // let the frame reach the socket first
        next = this.build(batch[i + 1]!);
      }
      const outcome = toOutcome(await pending, controlId);
      this.logger?.debug({ observationId, controlId, outcome: outcome.kind }, 'MLLP send finished');
      outcomes.push(outcome);
      if (outcome.kind === 'retry') stopped = `${controlId} earlier in the batch must be retried first`;
    }
    return outcomes;
  }

  private build(item: BufferedObservation): ReturnType<typeof buildOruR01> {
    const subject = item.observation.subject?.identifier;
    // Looked up at send time, not at intake: a merge that happened while the reading waited still applies.
    const patient = subject?.value === undefined || this.patients === undefined
      ? undefined
      : this.patients.lookup(subject.system === undefined ? { mrn: subject.value } : { mrn: subject.value, system: subject.system });
    return buildOruR01(item.observation, patient === undefined ? this.header : { ...this.header, patient });
  }

  linkState(): LinkState {
    return this.client.linkState();
  }

  close(): Promise<void> {
    return this.client.close();
  }
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
