// A small MLLP receiver for the `gw sink mllp` demo command and for tests: prints or forwards each
// message and answers an original-mode ACK whose MSA-2 is the received MSH-10; optionally over TLS,
// slowly (delayMs) or by hanging up instead of answering (dropEvery), to rehearse a misbehaving EHR.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { issue } from '../../gateway/errors.ts';
import type { Issue, Result } from '../../gateway/types.ts';
import { buildAck, controlIdOfMessage } from './ack.ts';
import { DEFAULT_MAX_FRAME_BYTES, MllpDecoder, frame } from './mllp-codec.ts';

export type SinkAckCode = 'AA' | 'AE' | 'AR';
export type SinkAckDecision = SinkAckCode | { code: SinkAckCode; text?: string };

export interface MllpSinkOptions {
  /** Defaults to 127.0.0.1: a demo sink should not listen on every interface. */
  host?: string;
  /** 0 picks a free port (see the returned `port`). */
  port: number;
  /** The answer for a message; AA when absent. */
  ack?: (message: string) => SinkAckDecision;
  onMessage?: (message: string) => void;
  maxFrameBytes?: number;
  logger?: Logger;
  /** Serve MLLP over TLS with this certificate and key (PEM); `ca` + `requestCert` ask for a client certificate. */
  tls?: { cert: Buffer | string; key: Buffer | string; ca?: Buffer | string; requestCert?: boolean };
  /** Answer each message this many milliseconds late (a slow EHR). */
  delayMs?: number;
  /** Close the connection instead of answering every Nth message (counted across connections). */
  dropEvery?: number;
}

export interface MllpSink {
  port: number;
  close(): Promise<void>;
}

export async function startMllpSink(options: MllpSinkOptions): Promise<MllpSink> {
  const sockets = new Set<net.Socket>();
  const log = options.logger;

  let count = 0;
  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const decoder = new MllpDecoder({ maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    socket.on('data', (chunk: Buffer) => {
      for (const result of decoder.push(chunk)) {
        if (!result.ok) {
          log?.warn({ issues: result.issues }, 'MLLP frame refused');
          socket.write(frame(buildAck('', 'AR', result.issues.map((i) => i.message).join('; '))));
          continue;
        }
        const message = result.value;
        if (controlIdOfMessage(message) === undefined) {
          socket.write(frame(buildAck(message, 'AR', 'not an HL7 v2 message with MSH-10')));
          continue;
        }
        let decision: SinkAckDecision = 'AA';
        try {
          options.onMessage?.(message);
          decision = options.ack?.(message) ?? 'AA';
        } catch (err) {
          decision = { code: 'AE', text: err instanceof Error ? err.message : String(err) };
        }
        const { code, text } = typeof decision === 'string' ? { code: decision, text: undefined } : decision;
        count += 1;
        const drop = options.dropEvery !== undefined && options.dropEvery > 0 && count % options.dropEvery === 0;
        const answer = (): void => {
          if (socket.destroyed) return;
          if (drop) {
            log?.info({ message: count }, 'MLLP sink closing the connection instead of answering (--drop-every)');
            socket.destroy();
            return;
          }
          socket.write(frame(buildAck(message, code, text)));
        };
        // One timer per message keeps the answers in order: every message waits the same delay.
        if (options.delayMs !== undefined && options.delayMs > 0) setTimeout(answer, options.delayMs).unref();
        else answer();
      }
    });
    socket.on('error', (err) => log?.debug({ err: err.message }, 'MLLP sink connection error'));
    socket.on('close', () => sockets.delete(socket));
  };
  const secure = options.tls;
  const server =
    secure === undefined
      ? net.createServer(onConnection)
      : tls.createServer(
          {
            cert: secure.cert,
            key: secure.key,
            ...(secure.ca === undefined ? {} : { ca: secure.ca }),
            requestCert: secure.requestCert ?? false,
            rejectUnauthorized: secure.requestCert ?? false,
          },
          onConnection,
        );
  if (secure !== undefined) {
    // A failed handshake never reaches onConnection; say why (the reason, never key material).
    server.on('tlsClientError', (err: Error) => log?.warn({ err: err.message }, 'MLLP sink TLS handshake failed'));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  log?.info({ host: options.host ?? '127.0.0.1', port, tls: secure !== undefined }, 'MLLP sink listening');

  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const socket of sockets) socket.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export interface SinkFlags {
  /** AA (default), AE or AR for every message. */
  answer?: string | undefined;
  /** `N:CODE`: answer CODE to every Nth message (counted from sink start), `answer` to the others. */
  'answer-every'?: string | undefined;
  'tls-cert'?: string | undefined;
  'tls-key'?: string | undefined;
  'delay-ms'?: string | undefined;
  'drop-every'?: string | undefined;
}

/** `gw sink mllp` flags beyond port/host/ack, as sink options; every bad flag is an issue. */
export function sinkOptionsFromFlags(flags: SinkFlags): Result<Pick<MllpSinkOptions, 'tls' | 'delayMs' | 'dropEvery' | 'ack'>> {
  const issues: Issue[] = [];
  const value: Pick<MllpSinkOptions, 'tls' | 'delayMs' | 'dropEvery' | 'ack'> = {};
  const answer = ackCodeOf(flags.answer ?? 'AA');
  if (answer === undefined) issues.push(issue('GW_ERR_CONFIG_INVALID', 'answer', `--answer must be AA, AE or AR, got "${flags.answer ?? ''}"`));
  const every = flags['answer-every'];
  const m = every === undefined ? undefined : /^(\d+):(.*)$/.exec(every);
  const everyN = m === undefined || m === null ? undefined : Number(m[1]);
  const everyCode = m === undefined || m === null ? undefined : ackCodeOf(m[2]!);
  if (every !== undefined && (everyN === undefined || everyN < 1 || everyCode === undefined)) {
    issues.push(issue('GW_ERR_CONFIG_INVALID', 'answer-every', `--answer-every must be N:AA|AE|AR with N ≥ 1 (e.g. 3:AR), got "${every}"`));
  }
  if (answer !== undefined) {
    let seen = 0;
    value.ack = everyN === undefined || everyCode === undefined || everyN < 1
      ? () => answer
      : () => {
          seen += 1;
          // HL7 v2.5.1 table 0008: AE application error (sender retries), AR application reject (sender gives up).
          return seen % everyN === 0 ? { code: everyCode, text: `--answer-every ${everyN}:${everyCode} (message ${seen})` } : answer;
        };
  }
  const count = (flag: 'delay-ms' | 'drop-every', min: number): number | undefined => {
    const text = flags[flag];
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) < min) {
      issues.push(issue('GW_ERR_CONFIG_INVALID', flag, `--${flag} must be a whole number ≥ ${min}, got "${text}"`));
      return undefined;
    }
    return Number(text);
  };
  const delayMs = count('delay-ms', 0);
  if (delayMs !== undefined) value.delayMs = delayMs;
  const dropEvery = count('drop-every', 1);
  if (dropEvery !== undefined) value.dropEvery = dropEvery;
  const certFile = flags['tls-cert'];
  const keyFile = flags['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    issues.push(issue('GW_ERR_CONFIG_INVALID', 'tls-cert', '--tls-cert and --tls-key go together'));
  } else if (certFile !== undefined && keyFile !== undefined) {
    const read = (flag: string, file: string): Buffer | undefined => {
      try {
        return readFileSync(file);
      } catch (err) {
        issues.push(issue('GW_ERR_CONFIG_INVALID', flag, `--${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`));
        return undefined;
      }
    };
    const cert = read('tls-cert', certFile);
    const key = read('tls-key', keyFile);
    if (cert !== undefined && key !== undefined) value.tls = { cert, key };
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
}

function ackCodeOf(text: string): SinkAckCode | undefined {
  return text === 'AA' || text === 'AE' || text === 'AR' ? text : undefined;
}
