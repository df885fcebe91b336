// One persistent MLLP connection to a receiver: one message in flight at a time by default, or up to
// `maxInFlight` for receivers that allow pipelining (ACKs matched by MSA-2); a per-message ACK timeout,
// reconnect on the next send after any failure. Reports outcomes as values; retries and
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
  /**
   * Messages written before the first ACK comes back (default 1). Each ACK is matched to its message by
   * MSA-2; an ACK that matches none, a malformed frame, a timeout or a close drops the connection and every
   * message still unacknowledged on it is a retry, never a delivery.
   */
  maxInFlight?: number;
}

export type AckResult =
  | { kind: 'delivered'; ack: Ack; latencyMs: number }
  | { kind: 'retry'; code: ErrorCode; reason: string; ack?: Ack; latencyMs?: number }
  | { kind: 'rejected'; code: 'GW_ERR_MLLP_ACK_REJECT'; reason: string; ack: Ack; latencyMs: number };

type WireEvent = { type: 'frame'; frame: Result<string> } | { type: 'closed'; detail: string; tls: boolean };

/** A message written and waiting for its ACK. */
interface Pending {
  controlId: string;
  handle(event: WireEvent): void;
}

type ConnectResult = { ok: true; socket: net.Socket } | { ok: false; code: 'GW_ERR_MLLP_CONNECT' | 'GW_ERR_MLLP_TLS'; reason: string };

/** How many answered control ids to remember per connection (see `answered`). */
const ANSWERED_MEMORY = 256;

export class MllpClient {
  private readonly options: MllpClientOptions;
  private readonly decoder: MllpDecoder;
  private socket: net.Socket | undefined;
  private state: LinkState = LinkState.down;
  private closed = false;
  /** Written messages waiting for their ACK, oldest first. */
  private pending: Pending[] = [];
  /** Sends not yet started (FIFO, so messages are written in the order send() was called). */
  private readonly waiting: Array<() => void> = [];
  private active = 0;
  private readonly runs = new Set<Promise<unknown>>();
  private connecting: Promise<ConnectResult> | undefined;
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

  /** Send one framed message and wait for its ACK. Calls queue up: at most maxInFlight (default 1) are in flight. */
  send(message: string, controlId: string): Promise<AckResult> {
    const limit = Math.max(1, this.options.maxInFlight ?? 1);
    const slot = new Promise<void>((resolve) => {
      if (this.active < limit && this.waiting.length === 0) {
        this.active += 1;
        resolve();
      } else {
        this.waiting.push(() => {
          this.active += 1;
          resolve();
        });
      }
    });
    const run = slot.then(() => this.sendOne(message, controlId)).finally(() => {
      this.active -= 1;
      this.waiting.shift()?.();
    });
    const tracked = run.catch(() => undefined);
    this.runs.add(tracked);
    void tracked.then(() => this.runs.delete(tracked));
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
    while (this.runs.size > 0) await Promise.allSettled([...this.runs]);
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
      let done = false;
      const finish = (result: AckResult, dropReason?: string): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending = this.pending.filter((p) => p !== entry);
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

      const entry: Pending = { controlId, handle: (event) => onEvent(event) };
      const onEvent = (event: WireEvent): void => {
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

      this.pending.push(entry);
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
    // Pipelined sends share one connection attempt rather than opening one socket each.
    if (this.connecting !== undefined) return this.connecting;
    const attempt = this.openConnection();
    this.connecting = attempt;
    void attempt.then(() => {
      if (this.connecting === attempt) this.connecting = undefined;
    });
    return attempt;
  }

  private openConnection(): Promise<ConnectResult> {
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
        if (this.socket !== socket) return; // dropped while handling an earlier frame of this chunk
        this.route({ type: 'frame', frame: result });
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
      for (const p of [...this.pending]) p.handle({ type: 'closed', detail: lastError || 'closed by the receiver', tls: lastErrorIsTls });
    });
  }

  /**
   * An ACK goes to the message its MSA-2 names (HL7 v2.5.1 §2.9.2: MSA-2 echoes the MSH-10 it answers).
   * Anything else (an oversized or malformed frame, an ACK naming no message in flight) goes to the oldest
   * message, whose handler calls it a mismatch or a duplicate and drops the connection if need be.
   */
  private route(event: WireEvent & { type: 'frame' }): void {
    const oldest = this.pending[0];
    if (oldest === undefined) {
      this.options.logger?.warn({ ok: event.frame.ok }, 'unsolicited MLLP frame dropped (no message in flight)');
      return;
    }
    if (this.pending.length > 1 && event.frame.ok) {
      const parsed = parseAck(event.frame.value);
      const target = parsed.ok ? this.pending.find((p) => p.controlId === parsed.value.controlId) : undefined;
      if (target !== undefined) {
        target.handle(event);
        return;
      }
    }
    oldest.handle(event);
  }

  /** Close a connection whose ACK stream can no longer be trusted. */
  private drop(socket: net.Socket, reason: string): void {
    if (this.socket === socket) {
      this.socket = undefined;
      this.decoder.reset();
      if (!this.closed) this.state = LinkState.down;
    }
    this.options.logger?.warn({ address: this.address(), reason, unacknowledged: this.pending.length }, 'MLLP connection dropped');
    socket.destroy();
    // Pipelining: every other message still waiting on this connection is a retry, never a delivery.
    for (const p of [...this.pending]) p.handle({ type: 'closed', detail: `connection dropped: ${reason}`, tls: false });
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
