// One persistent MLLP connection to a receiver: one message in flight at a time, a per-message ACK
// timeout, reconnect on the next send after any failure. Reports outcomes as values; retries and
// back-off belong to dispatch.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { errorMessage, type ErrorCode } from '../../gateway/errors.ts';
import { LinkState, type Result } from '../../gateway/types.ts';
import { AckCode, buildAck, parseAck, type Ack } from './ack.ts';
import { AckMode } from './config.ts';
import { DEFAULT_MAX_FRAME_BYTES, MllpDecoder, frame } from './mllp-codec.ts';
import { isTlsErrorCode, pinMismatch, type MllpTlsSettings } from './mllp-tls.ts';

export interface MllpClientOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  ackTimeoutMs: number;
  maxFrameBytes?: number;
  logger?: Logger;
  /** MLLP over TLS (see mllp-tls.ts); absent: plain TCP. */
  tls?: MllpTlsSettings;
  /** original (default) or enhanced: in enhanced mode a CA is followed by the application ACK. */
  ackMode?: AckMode;
  /** Enhanced mode: a CA alone counts as delivered. */
  acceptCommitAsDelivery?: boolean;
  /** TCP keep-alive initial delay; 0 turns it off. Default 30 s. */
  keepAliveMs?: number;
}

export type AckResult =
  | { kind: 'delivered'; ack: Ack; latencyMs: number }
  | { kind: 'retry'; code: ErrorCode; reason: string; ack?: Ack; latencyMs?: number }
  | { kind: 'rejected'; code: 'GW_ERR_MLLP_ACK_REJECT'; reason: string; ack: Ack; latencyMs: number };

type WireEvent = { type: 'frame'; frame: Result<string> } | { type: 'closed'; detail: string; tls: boolean };

type ConnectResult = { ok: true; socket: net.Socket } | { ok: false; code: 'GW_ERR_MLLP_CONNECT' | 'GW_ERR_MLLP_TLS'; reason: string };

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
      return { kind: 'retry', code: connected.code, reason: errorMessage(connected.code, this.address(), connected.reason) };
    }
    const socket = connected.socket;
    const { ackTimeoutMs } = this.options;
    const started = performance.now();
    const elapsed = (): number => Math.round((performance.now() - started) * 1000) / 1000;

    const enhanced = this.options.ackMode === AckMode.enhanced;
    let committed = false;
    return new Promise<AckResult>((resolve) => {
      const finish = (result: AckResult, dropReason?: string): void => {
        clearTimeout(timer);
        this.waiter = undefined;
        // After a timeout or a confused answer the ACK stream cannot be trusted: a late ACK must
        // never be matched to the next message, so the connection goes and the next send reconnects.
        if (dropReason !== undefined) this.drop(socket, dropReason);
        resolve(result);
      };
      const onTimeout = (): void => {
        const what = committed ? `${controlId} (application ACK after CA)` : controlId;
        finish(
          { kind: 'retry', code: 'GW_ERR_MLLP_ACK_TIMEOUT', reason: errorMessage('GW_ERR_MLLP_ACK_TIMEOUT', what, ackTimeoutMs) },
          'ACK timeout',
        );
      };
      let timer = setTimeout(onTimeout, ackTimeoutMs);

      this.waiter = (event) => {
        if (event.type === 'closed') {
          if (event.tls) {
            // e.g. TLS 1.3: the receiver refuses our client certificate only after the handshake.
            finish({ kind: 'retry', code: 'GW_ERR_MLLP_TLS', reason: errorMessage('GW_ERR_MLLP_TLS', this.address(), event.detail) });
            return;
          }
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
        if (enhanced && ack.code === AckCode.CA && !this.options.acceptCommitAsDelivery) {
          // HL7 v2.5.1 §2.9.3: CA only says the receiver committed the message to safe storage; the
          // application ACK (AA/AE/AR) follows on the same connection, so wait for it (a fresh timeout).
          if (!committed) {
            committed = true;
            clearTimeout(timer);
            timer = setTimeout(onTimeout, ackTimeoutMs);
            this.options.logger?.debug({ controlId }, 'MLLP commit accept (CA); waiting for the application ACK');
          }
          return;
        }
        if (enhanced && committed && isApplicationAck(ack.code)) this.commitAck(socket, event.frame.value, ack);
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

  /**
   * HL7 v2.5.1 §2.9.3 / table 0155: an application ACK whose MSH-15 is AL (always) or SU (on success)
   * asks the original sender for a commit ACK of its own.
   */
  private commitAck(socket: net.Socket, text: string, ack: Ack): void {
    const wanted = ack.acceptAcknowledgmentType;
    if (wanted !== 'AL' && wanted !== 'SU') return;
    const commitId = randomBytes(10).toString('hex');
    // An enhanced-mode peer may commit-ACK our commit ACK in turn; remembered, that echo is skipped.
    this.remember(commitId);
    socket.write(frame(buildAck(text, AckCode.CA, undefined, { controlId: commitId })));
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

  private connect(): Promise<ConnectResult> {
    const current = this.socket;
    if (current !== undefined && !current.destroyed && this.state === LinkState.connected) {
      return Promise.resolve({ ok: true, socket: current });
    }
    this.state = LinkState.connecting;
    const { host, port, connectTimeoutMs } = this.options;
    const secure = this.options.tls;
    return new Promise((resolve) => {
      // Only host, port and the PEM material go to tls.connect; Node's default SNI is the host name.
      const socket = secure === undefined ? net.connect({ host, port }) : tls.connect({ host, port, ...secure.connect });
      let tcpUp = false;
      const fail = (code: 'GW_ERR_MLLP_CONNECT' | 'GW_ERR_MLLP_TLS', reason: string): void => {
        clearTimeout(timer);
        socket.destroy();
        if (!this.closed) this.state = LinkState.down;
        // reason: an errno or OpenSSL verification text, or a fingerprint; never key material
        this.options.logger?.warn({ address: this.address(), code, reason }, code === 'GW_ERR_MLLP_TLS' ? 'MLLP TLS handshake refused' : 'MLLP connect failed');
        resolve({ ok: false, code, reason });
      };
      const timer = setTimeout(
        () => fail(tcpUp && secure !== undefined ? 'GW_ERR_MLLP_TLS' : 'GW_ERR_MLLP_CONNECT', `no ${tcpUp ? 'TLS handshake' : 'connection'} within ${connectTimeoutMs} ms`),
        connectTimeoutMs,
      );
      const onError = (err: Error): void => {
        const tlsFailure = secure !== undefined && (tcpUp || isTlsErrorCode(errnoOf(err)));
        fail(tlsFailure ? 'GW_ERR_MLLP_TLS' : 'GW_ERR_MLLP_CONNECT', describeSocketError(err));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        tcpUp = true;
      });
      socket.once(secure === undefined ? 'connect' : 'secureConnect', () => {
        if (secure !== undefined) {
          // RFC 7469-style pinning on the leaf certificate, on top of (or, with rejectUnauthorized
          // false, instead of) chain verification.
          const mismatch = pinMismatch((socket as tls.TLSSocket).getPeerCertificate(), secure.pins);
          if (mismatch !== undefined) {
            socket.off('error', onError);
            socket.on('error', () => undefined);
            fail('GW_ERR_MLLP_TLS', mismatch);
            return;
          }
        }
        clearTimeout(timer);
        socket.off('error', onError);
        if (this.closed) {
          socket.destroy();
          resolve({ ok: false, code: 'GW_ERR_MLLP_CONNECT', reason: 'the MLLP client is closed' });
          return;
        }
        this.attach(socket);
        resolve({ ok: true, socket });
      });
    });
  }

  private attach(socket: net.Socket): void {
    socket.setNoDelay(true);
    const keepAliveMs = this.options.keepAliveMs ?? 30_000;
    socket.setKeepAlive(keepAliveMs > 0, keepAliveMs);
    this.socket = socket;
    this.state = LinkState.connected;
    this.decoder.reset();
    this.answered = new Set();
    this.options.logger?.info({ address: this.address() }, 'MLLP connected');
    let lastError = '';
    let lastErrorIsTls = false;
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      for (const result of this.decoder.push(chunk)) {
        if (this.waiter !== undefined) this.waiter({ type: 'frame', frame: result });
        else this.options.logger?.warn({ ok: result.ok }, 'unsolicited MLLP frame dropped (no message in flight)');
      }
    });
    socket.on('error', (err) => {
      lastError = describeSocketError(err);
      lastErrorIsTls = this.options.tls !== undefined && isTlsErrorCode(errnoOf(err));
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.decoder.reset();
      if (!this.closed) this.state = LinkState.down;
      this.options.logger?.info({ address: this.address(), error: lastError || undefined }, 'MLLP connection closed');
      this.waiter?.({ type: 'closed', detail: lastError || 'closed by the receiver', tls: lastErrorIsTls });
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

function isApplicationAck(code: AckCode): boolean {
  return code === AckCode.AA || code === AckCode.AE || code === AckCode.AR;
}

function errnoOf(err: Error): string | undefined {
  const first = err instanceof AggregateError ? (err.errors[0] as Error | undefined) ?? err : err;
  return (first as NodeJS.ErrnoException).code;
}

function describeSocketError(err: Error): string {
  // Node ≥ 20 tries every address of a host name and reports an AggregateError.
  const first = err instanceof AggregateError ? (err.errors[0] as Error | undefined) ?? err : err;
  const code = (first as NodeJS.ErrnoException).code;
  return code !== undefined ? `${code}: ${first.message}` : first.message;
}
