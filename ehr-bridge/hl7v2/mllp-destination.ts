// An on-prem EHR reached over MLLP: each Observation becomes one ORU^R01, sent in batch order,
// and each ACK becomes one SendOutcome. Dispatch owns cursors, back-off and dead letters.
import type { Logger } from 'pino';
import { errorMessage } from '../../gateway/errors.ts';
import {
  DestinationType,
  type BufferedObservation,
  type Destination,
  type LinkState,
  type SendOutcome,
} from '../../gateway/types.ts';
import type { MllpDestinationConfig } from './config.ts';
import { MllpClient, type AckResult } from './mllp-client.ts';
import { buildOruR01, type OruR01Options } from './oru-r01.ts';

export interface MllpDestinationOptions {
  /** The gateway's site id: MSH-4 when the config names no sending facility. */
  siteId: string;
  logger?: Logger;
}

export class MllpDestination implements Destination {
  readonly id: string;
  readonly type = DestinationType.mllp;
  private readonly client: MllpClient;
  private readonly header: Omit<OruR01Options, 'now'>;
  private readonly logger: Logger | undefined;

  constructor(config: MllpDestinationConfig, options: MllpDestinationOptions) {
    this.id = config.id;
    this.logger = options.logger?.child({ stage: 'ehr-bridge', destination: config.id });
    this.header = {
      sendingApplication: config.sendingApplication,
      sendingFacility: config.sendingFacility ?? options.siteId,
      receivingApplication: config.receivingApplication,
      receivingFacility: config.receivingFacility,
      processingId: config.processingId,
    };
    this.client = new MllpClient({
      host: config.host,
      port: config.port,
      connectTimeoutMs: config.connectTimeoutMs,
      ackTimeoutMs: config.ackTimeoutMs,
      maxFrameBytes: config.maxFrameBytes,
      ...(this.logger === undefined ? {} : { logger: this.logger }),
    });
  }

  async send(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = [];
    let stopped: string | undefined;
    for (const item of batch) {
      const observationId = item.observation.id ?? String(item.seq);
      if (stopped === undefined && signal?.aborted === true) stopped = 'the send was aborted';
      if (stopped !== undefined) {
        // Order: nothing after an item that must be retried may overtake it.
        outcomes.push({ kind: 'retry', code: 'GW_ERR_MLLP_NOT_SENT', reason: errorMessage('GW_ERR_MLLP_NOT_SENT', observationId, stopped) });
        continue;
      }

      const built = buildOruR01(item.observation, this.header);
      if (!built.ok) {
        const reason = built.issues.map((i) => i.message).join('; ');
        this.logger?.warn({ observationId, issues: built.issues.map((i) => i.path) }, 'Observation cannot be built into an ORU^R01');
        outcomes.push({ kind: 'rejected', code: 'GW_ERR_HL7_BUILD', reason });
        continue;
      }

      const { message, controlId } = built.value;
      const result = await this.client.send(message, controlId);
      const outcome = toOutcome(result, controlId);
      this.logger?.debug({ observationId, controlId, outcome: outcome.kind }, 'MLLP send finished');
      outcomes.push(outcome);
      if (outcome.kind === 'retry') stopped = `${controlId} earlier in the batch must be retried first`;
    }
    return outcomes;
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
