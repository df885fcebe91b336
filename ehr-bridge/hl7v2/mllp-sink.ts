// A small MLLP receiver for the `gw sink mllp` demo command and for tests: prints or forwards each
// message and answers an original-mode ACK whose MSA-2 is the received MSH-10.
import net from 'node:net';
import type { Logger } from 'pino';
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
}

export interface MllpSink {
  port: number;
  close(): Promise<void>;
}

export async function startMllpSink(options: MllpSinkOptions): Promise<MllpSink> {
  const sockets = new Set<net.Socket>();
  const log = options.logger;

  const server = net.createServer((socket) => {
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
        socket.write(frame(buildAck(message, code, text)));
      }
    });
    socket.on('error', (err) => log?.debug({ err: err.message }, 'MLLP sink connection error'));
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  log?.info({ host: options.host ?? '127.0.0.1', port }, 'MLLP sink listening');

  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const socket of sockets) socket.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
