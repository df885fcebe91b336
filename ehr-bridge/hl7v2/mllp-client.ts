// One persistent MLLP connection to a receiver: one message in flight at a time, a per-message ACK
// timeout, reconnect on the next send after any failure. Reports outcomes as values; retries and
// back-off belong to dispatch.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { errorMessage, type ErrorCode } from '../../gateway/errors.ts';
import { LinkState, type Result } from '../../gateway/types.ts';
import { AckCode, parseAck, type Ack } from './ack.ts';
import { DEFAULT_MAX_FRAME_BYTES, MllpDecoder, frame } from './mllp-codec.ts';

export interface MllpClientOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  ackTimeoutMs: number;
  maxFrameBytes?: number;
  logger?: Logger;
}

export type AckResult =
  | { kind: 'delivered'; ack: Ack; latencyMs: number }
  | { kind: 'retry'; code: ErrorCode; reason: string; ack?: Ack; latencyMs?: number }
  | { kind: 'rejected'; code: 'GW_ERR_MLLP_ACK_REJECT'; reason: string; ack: Ack; latencyMs: number };

type WireEvent = { type: 'frame'; frame: Result<string> } | { type: 'closed'; detail: string };

/** How many answered control ids to remember per connection (see `answered`). */
const ANSWERED_MEMORY = 256;

export class MllpClient {
  private readonly options: MllpClientOptions;
  private readonly decoder: MllpDecoder;
  private socket: net.Socket | undefined;
  private state: LinkState = LinkState.down;
  private closed = false;
  private waiter: ((event: WireEvent) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Control ids already answered on this connection. A second ACK for one of them is a duplicate
   * (node-hl7-server 2.5.0 re-parses every earlier message on a connection and ACKs each again)
   * and says nothing about the message in flight, so it is skipped rather than called a mismatch.
   */
  private answered = new Set<string>();

  constructor(options: MllpClientOptions) {
    this.options = options;
    this.decoder = new MllpDecoder({ maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
  }

  linkState(): LinkState {
    return this.state;
  }

  /** Send one framed message and wait for its ACK. Calls queue up: one message is in flight at a time. */
  send(message: string, controlId: string): Promise<AckResult> {
    const run = this.queue.then(() => this.sendOne(message, controlId));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.state = LinkState.closed;
    const socket = this.socket;
    if (socket !== undefined) {
      const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.destroy();
      await gone;
    }
    await this.queue;
  }

  // -------------------------------------------------------------------------------------------

  private async sendOne(message: string, controlId: string): Promise<AckResult> {
    if (this.closed) {
      return { kind: 'retry', code: 'GW_ERR_MLLP_NOT_SENT', reason: errorMessage('GW_ERR_MLLP_NOT_SENT', controlId, 'the MLLP client is closed') };
    }
    const connected = await this.connect();
    if (!connected.ok) {
      return { kind: 'retry', code: 'GW_ERR_MLLP_CONNECT', reason: errorMessage('GW_ERR_MLLP_CONNECT', this.address(), connected.reason) };
    }
    const socket = connected.socket;
    const { ackTimeoutMs } = this.options;
    const started = performance.now();
    const elapsed = (): number => Math.round((performance.now() - started) * 1000) / 1000;

    return new Promise<AckResult>((resolve) => {
      const finish = (result: AckResult, dropReason?: string): void => {
        clearTimeout(timer);
        this.waiter = undefined;
        // After a timeout or a confused answer the ACK stream cannot be trusted: a late ACK must
        // never be matched to the next message, so the connection goes and the next send reconnects.
        if (dropReason !== undefined) this.drop(socket, dropReason);
        resolve(result);
      };
      const timer = setTimeout(() => {
        finish(
          { kind: 'retry', code: 'GW_ERR_MLLP_ACK_TIMEOUT', reason: errorMessage('GW_ERR_MLLP_ACK_TIMEOUT', controlId, ackTimeoutMs) },
          'ACK timeout',
        );
      }, ackTimeoutMs);

      this.waiter = (event) => {
        if (event.type === 'closed') {
          finish({ kind: 'retry', code: 'GW_ERR_MLLP_CLOSED', reason: `${errorMessage('GW_ERR_MLLP_CLOSED', controlId)} (${event.detail})` });
          return;
        }
        if (!event.frame.ok) {
          finish({ kind: 'retry', code: 'GW_ERR_MLLP_FRAME_TOO_LARGE', reason: event.frame.issues.map((i) => i.message).join('; ') }, 'oversized frame');
          return;
        }
        const parsed = parseAck(event.frame.value, controlId);
        if (!parsed.ok) {
          const reason = parsed.issues.map((i) => i.message).join('; ');
          finish({ kind: 'retry', code: 'GW_ERR_MLLP_ACK_MALFORMED', reason, latencyMs: elapsed() }, 'malformed ACK');
          return;
        }
        const ack = parsed.value;
        if (ack.controlId !== controlId) {
          if (this.answered.has(ack.controlId)) {
            this.options.logger?.warn({ controlId, ackControlId: ack.controlId }, 'duplicate ACK for an earlier message ignored');
            return; // keep waiting for ours
          }
          finish(
            { kind: 'retry', code: 'GW_ERR_MLLP_ACK_MISMATCH', reason: errorMessage('GW_ERR_MLLP_ACK_MISMATCH', ack.controlId, controlId), ack, latencyMs: elapsed() },
            'ACK for another message',
          );
          return;
        }
        this.remember(controlId);
        finish(this.outcomeOf(ack, elapsed()));
      };

      socket.write(frame(message)); // a write error surfaces as 'close', answered above
      this.options.logger?.debug({ controlId, bytes: Buffer.byteLength(message) }, 'MLLP message sent');
    });
  }

  private outcomeOf(ack: Ack, latencyMs: number): AckResult {
    const text = ack.text ?? '(no text)';
    switch (ack.code) {
      case AckCode.AA:
      case AckCode.CA:
        return { kind: 'delivered', ack, latencyMs };
      case AckCode.AE:
      case AckCode.CE:
        return { kind: 'retry', code: 'GW_ERR_MLLP_ACK_ERROR', reason: errorMessage('GW_ERR_MLLP_ACK_ERROR', ack.code, ack.controlId, text), ack, latencyMs };
      case AckCode.AR:
      case AckCode.CR:
        return { kind: 'rejected', code: 'GW_ERR_MLLP_ACK_REJECT', reason: errorMessage('GW_ERR_MLLP_ACK_REJECT', ack.controlId, ack.code, text), ack, latencyMs };
      default:
        return ack.code satisfies never;
    }
  }

  private remember(controlId: string): void {
    this.answered.add(controlId);
    if (this.answered.size > ANSWERED_MEMORY) {
      const oldest = this.answered.values().next().value;
      if (oldest !== undefined) this.answered.delete(oldest);
    }
  }

  private address(): string {
    return `${this.options.host}:${this.options.port}`;
  }

  private connect(): Promise<{ ok: true; socket: net.Socket } | { ok: false; reason: string }> {
    const current = this.socket;
    if (current !== undefined && !current.destroyed && this.state === LinkState.connected) {
      return Promise.resolve({ ok: true, socket: current });
    }
    this.state = LinkState.connecting;
    const { host, port, connectTimeoutMs } = this.options;
    return new Promise((resolve) => {
      const socket = net.connect({ host, port });
      const fail = (reason: string): void => {
        clearTimeout(timer);
        socket.destroy();
        if (!this.closed) this.state = LinkState.down;
        this.options.logger?.warn({ address: this.address(), reason }, 'MLLP connect failed');
        resolve({ ok: false, reason });
      };
      const timer = setTimeout(() => fail(`no connection within ${connectTimeoutMs} ms`), connectTimeoutMs);
      const onError = (err: Error): void => fail(describeSocketError(err));
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (this.closed) {
          socket.destroy();
          resolve({ ok: false, reason: 'the MLLP client is closed' });
          return;
        }
        this.attach(socket);
        resolve({ ok: true, socket });
      });
    });
  }

  private attach(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    this.socket = socket;
    this.state = LinkState.connected;
    this.decoder.reset();
    this.answered = new Set();
    this.options.logger?.info({ address: this.address() }, 'MLLP connected');
    let lastError = '';
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      for (const result of this.decoder.push(chunk)) {
        if (this.waiter !== undefined) this.waiter({ type: 'frame', frame: result });
        else this.options.logger?.warn({ ok: result.ok }, 'unsolicited MLLP frame dropped (no message in flight)');
      }
    });
    socket.on('error', (err) => {
      lastError = describeSocketError(err);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.decoder.reset();
      if (!this.closed) this.state = LinkState.down;
      this.options.logger?.info({ address: this.address(), error: lastError || undefined }, 'MLLP connection closed');
      this.waiter?.({ type: 'closed', detail: lastError || 'closed by the receiver' });
    });
  }

  /** Close a connection whose ACK stream can no longer be trusted. */
  private drop(socket: net.Socket, reason: string): void {
    if (this.socket === socket) {
      this.socket = undefined;
      this.decoder.reset();
      if (!this.closed) this.state = LinkState.down;
    }
    this.options.logger?.warn({ address: this.address(), reason }, 'MLLP connection dropped');
    socket.destroy();
  }
}

function describeSocketError(err: Error): string {
  // Node ≥ 20 tries every address of a host name and reports an AggregateError.
  const first = err instanceof AggregateError ? (err.errors[0] as Error | undefined) ?? err : err;
  const code = (first as NodeJS.ErrnoException).code;
  return code !== undefined ? `${code}: ${first.message}` : first.message;
}
