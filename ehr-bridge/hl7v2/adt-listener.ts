// The MLLP listener for ADT feeds: frames in (bounded), one original-mode ACK out per message, in order
// per connection. Parsing is adt-parser.ts, applying is the caller's (the roster); a garbage frame is
// answered AR (HL7 v2.5.1 §2.9.2) and never takes the listener down.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { GatewayError } from '../../gateway/errors.ts';
import type { Logger } from '../../gateway/logger.ts';
import type { GatewayMetrics } from '../../gateway/metrics.ts';
import { buildAdtAck } from './adt-ack.ts';
import type { AdtListenConfig } from './adt-config.ts';
import { Hl7ErrorCode, parseAdt, readHeader, type AdtMessage, type AdtRefusal } from './adt-parser.ts';
import { MllpDecoder, frame } from './mllp-codec.ts';

/** What applying a message did: AA, or the refusal the ACK carries. */
export type AdtApplyResult = { ok: true } | { ok: false; refusal: AdtRefusal };

export interface AdtListenerDeps {
  logger: Logger;
  metrics?: GatewayMetrics;
  /** Apply one parsed message (the roster). Rejects only for broken infrastructure: answered AE 207. */
  apply(message: AdtMessage): Promise<AdtApplyResult>;
}

export interface AdtListener {
  port: number;
  tls: boolean;
  close(): Promise<void>;
}

const TRANSPORT = 'mllp';
/** Messages read but not yet answered on one connection before the listener stops reading from it. */
const MAX_PENDING_PER_CONNECTION = 32;

export async function startAdtListener(config: AdtListenConfig, deps: AdtListenerDeps): Promise<AdtListener> {
  const log = deps.logger.child({ stage: 'ehr-bridge', driver: 'adt-listener' });
  const sockets = new Set<net.Socket>();
  const ackOptions = { application: config.application, ...(config.facility === undefined ? {} : { facility: config.facility }) };

  const answer = async (text: string): Promise<string> => {
    const parsed = parseAdt(text);
    if (!parsed.ok) {
      refused(parsed.refusal);
      return buildAdtAck(parsed.header ?? readHeader(text), parsed.refusal.ack, parsed.refusal, ackOptions);
    }
    const message = parsed.value;
    let result: AdtApplyResult;
    try {
      result = await deps.apply(message);
    } catch (err) {
      // Broken storage: AE (the sender may retry later), never AA for something not stored.
      log.error({ err, event: message.event, controlId: message.controlId }, 'ADT message could not be applied');
      result = { ok: false, refusal: { ack: 'AE', error: Hl7ErrorCode.internal, code: 'GW_ERR_ADT_NOT_APPLIED', message: 'the roster could not be written; send again later' } };
    }
    if (!result.ok) {
      refused(result.refusal, message.event);
      return buildAdtAck(parsed.header, result.refusal.ack, result.refusal, ackOptions);
    }
    deps.metrics?.adtMessages.inc({ transport: TRANSPORT, event: message.event });
    log.info({ event: message.event, controlId: message.controlId }, 'ADT message applied');
    return buildAdtAck(parsed.header, 'AA', undefined, ackOptions);
  };

  const refused = (r: AdtRefusal, event?: string): void => {
    deps.metrics?.adtRefused.inc({ transport: TRANSPORT, reason: `${r.ack}-${r.error.code}` });
    // The message text may be PHI: the log says where and why, never what.
    log.warn({ ack: r.ack, hl7Error: r.error.code, code: r.code, event, location: r.location, why: r.message }, 'ADT message refused');
  };

  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.setNoDelay(true);
    if (config.idleTimeoutMs > 0) {
      socket.setTimeout(config.idleTimeoutMs, () => {
        log.info({ remote: socket.remoteAddress }, 'ADT connection idle; closed');
        socket.destroy();
      });
    }
    const decoder = new MllpDecoder({ maxFrameBytes: config.maxFrameBytes });
    let discarded = 0;
    // One message at a time per connection: ACKs go out in the order the messages came (MLLP is a
    // request/response protocol; HL7 v2.5.1 Appendix C.4).
    let queue: Promise<void> = Promise.resolve();
    // Back-pressure: a sender that pipelines without reading its ACKs is paused, not buffered without bound.
    let pending = 0;
    const enqueue = (work: () => Promise<void>): void => {
      pending += 1;
      if (pending >= MAX_PENDING_PER_CONNECTION) socket.pause();
      queue = queue
        .then(work)
        .catch((err: unknown) => log.error({ err }, 'ADT answer failed'))
        .finally(() => {
          pending -= 1;
          if (pending < MAX_PENDING_PER_CONNECTION && socket.isPaused() && !socket.destroyed) socket.resume();
        });
    };
    socket.on('data', (chunk: Buffer) => {
      let results;
      try {
        results = decoder.push(chunk);
      } catch (err) {
        log.error({ err }, 'MLLP decoder failed; connection closed');
        socket.destroy();
        return;
      }
      // Bytes outside any frame (an oversized frame's bytes are counted as that frame, below).
      if (decoder.discardedBytes > discarded && results.every((r) => r.ok)) {
        deps.metrics?.framesRefused.inc({ transport: TRANSPORT, reason: 'GW_ERR_ADT_FRAME' }, 1);
        log.warn({ bytes: decoder.discardedBytes - discarded }, 'bytes outside any MLLP frame discarded');
      }
      discarded = decoder.discardedBytes;
      for (const result of results) {
        if (!result.ok) {
          // Oversized frame: answer AR with no MSA-2 (we never read its MSH) and carry on with the next frame.
          deps.metrics?.framesRefused.inc({ transport: TRANSPORT, reason: 'GW_ERR_MLLP_FRAME_TOO_LARGE' });
          log.warn({ maxFrameBytes: config.maxFrameBytes }, 'MLLP frame too large; answered AR');
          const refusal: AdtRefusal = { ack: 'AR', error: Hl7ErrorCode.segmentSequence, code: 'GW_ERR_ADT_REJECTED', message: `frame exceeds ${config.maxFrameBytes} bytes` };
          enqueue(() => write(socket, buildAdtAck(undefined, 'AR', refusal, ackOptions)));
          continue;
        }
        const text = result.value;
        enqueue(async () => write(socket, await answer(text)));
      }
    });
    socket.on('error', (err) => log.debug({ err: err.message }, 'ADT connection error'));
    socket.on('close', () => sockets.delete(socket));
  };

  const secure = config.tls;
  let server: net.Server;
  if (secure === undefined) {
    server = net.createServer(onConnection);
  } else {
    const read = (key: 'certFile' | 'keyFile' | 'caFile'): Buffer | undefined => {
      const file = secure[key];
      if (file === undefined) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new GatewayError('GW_ERR_CONFIG_INVALID', [`mllp.listen.tls.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
      }
    };
    const ca = read('caFile');
    server = tls.createServer(
      {
        cert: read('certFile')!,
        key: read('keyFile')!,
        ...(ca === undefined ? {} : { ca }),
        requestCert: secure.requestCert,
        rejectUnauthorized: secure.requestCert,
      },
      onConnection,
    );
    server.on('tlsClientError', (err: Error) => {
      deps.metrics?.adtRefused.inc({ transport: TRANSPORT, reason: 'GW_ERR_MLLP_TLS' });
      log.warn({ err: err.message }, 'ADT listener TLS handshake failed');
    });
  }
  // A broken client socket must never take the server down.
  server.on('error', (err) => log.error({ err }, 'ADT listener error'));

  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => reject(new GatewayError('GW_ERR_ADT_LISTEN', [`${config.host}:${config.port}`, err.message], { cause: err }));
    server.once('error', fail);
    server.listen(config.port, config.host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  log.info({ host: config.host, port, tls: secure !== undefined }, 'ADT listener started');

  return {
    port,
    tls: secure !== undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function write(socket: net.Socket, ack: string): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => socket.write(frame(ack), () => resolve()));
}
