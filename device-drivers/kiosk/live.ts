// Live vitals of a visit as Server-Sent Events (WHATWG HTML §9.2 "Server-sent events").
// The buffer is the only source of events: a new durable Observation only wakes the stream, which then
// reads the log after the last seq it has seen. The log is written in seq order, so a replay after
// Last-Event-ID and the live tail join with no gap and no duplicate, whatever the timing.
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { ObservationBuffer } from '../../gateway/buffer/types.ts';
import type { Logger } from '../../gateway/logger.ts';
import type { GatewayMetrics } from '../../gateway/metrics.ts';
import type { Observation } from '../../gateway/types.ts';
import type { Visit, VisitStore } from './visits.ts';

export const HEARTBEAT_MS = 15_000;
const PAGE = 256;

/** Fan-out of "an Observation is durable at seq" to the open streams (wired to Intake.onObservation). */
export class LiveVitals {
  readonly #listeners = new Set<(observation: Observation, seq: bigint) => void>();

  publish(observation: Observation, seq: bigint): void {
    for (const listener of this.#listeners) listener(observation, seq);
  }

  subscribe(listener: (observation: Observation, seq: bigint) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export function encounterOf(observation: Observation): string | undefined {
  return observation.encounter?.identifier?.value;
}

/**
 * `Last-Event-ID` → the seq to replay after. WHATWG HTML §9.2.4: the client echoes the last `id:` it saw;
 * ours are buffer sequence numbers (decimal). Absent ⇒ the whole visit from the start of the log.
 */
export function parseLastEventId(header: string | string[] | undefined): { ok: true; value: bigint } | { ok: false; given: string } {
  if (header === undefined || header === '') return { ok: true, value: 0n };
  const given = Array.isArray(header) ? header.join(',') : header;
  if (!/^\d{1,20}$/.test(given)) return { ok: false, given };
  const value = BigInt(given);
  if (value > 0xffff_ffff_ffff_ffffn) return { ok: false, given }; // seqs are uint64 keys
  return { ok: true, value };
}

export interface LiveStreamDeps {
  buffer: ObservationBuffer;
  live: LiveVitals;
  visits: VisitStore;
  logger: Logger;
  metrics?: GatewayMetrics;
  heartbeatMs?: number;
}

export interface LiveStream {
  /** End the stream without `event: closed` (gateway shutdown: the client reconnects elsewhere/later). */
  end(): void;
  ended: Promise<void>;
}

/** Serve one visit's stream on a hijacked response. */
export function streamVisit(visit: Visit, afterSeq: bigint, raw: ServerResponse, deps: LiveStreamDeps): LiveStream {
  const log = deps.logger.child({ driver: 'kiosk', deviceId: visit.deviceId, visitId: visit.id });
  let last = afterSeq;
  let closed = visit.status === 'closed';
  let ended = false;
  let pumping = false;
  let again = false;

  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no', // reverse proxies must not hold events back
  });
  raw.write(`: live vitals of visit ${visit.id}\nretry: 2000\n\n`);
  deps.metrics?.liveStreams.inc({ transport: 'kiosk' });
  log.info({ afterSeq: afterSeq.toString() }, 'live stream opened');

  let resolveEnded!: () => void;
  const endedPromise = new Promise<void>((r) => (resolveEnded = r));

  const write = async (chunk: string): Promise<void> => {
    if (ended) return;
    if (!raw.write(chunk)) await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
  };

  const pump = async (): Promise<void> => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        for (;;) {
          const page = await deps.buffer.read(last, PAGE);
          for (const entry of page) {
            if (ended) return;
            last = entry.seq;
            // Replayed dead letters repeat an Observation already in the log: not a new vital sign.
            if (entry.only !== undefined || encounterOf(entry.observation) !== visit.encounterId) continue;
            await write(`id: ${entry.seq}\nevent: observation\ndata: ${JSON.stringify(entry.observation)}\n\n`);
          }
          if (page.length < PAGE) break;
        }
        if (closed && !ended) {
          await write(`event: closed\ndata: ${JSON.stringify({ visitId: visit.id, closedAt: deps.visits.get(visit.id)?.closedAt })}\n\n`);
          log.info('visit closed; live stream ends');
          finish(true);
          return;
        }
      } while (again && !ended);
    } catch (err) {
      // The buffer closed under us (shutdown) or broke: end the stream; the client reconnects with Last-Event-ID.
      log.error({ err }, 'live stream cannot read the buffer; ending it');
      finish(true);
    } finally {
      pumping = false;
    }
  };

  const stopLive = deps.live.subscribe((observation, seq) => {
    if (seq > last && encounterOf(observation) === visit.encounterId) void pump();
  });
  const stopVisit = deps.visits.onEvent((event) => {
    if (event.kind === 'closed' && event.visit.id === visit.id) {
      closed = true;
      void pump();
    }
  });
  const heartbeat = setInterval(() => void write(': heartbeat\n\n'), deps.heartbeatMs ?? HEARTBEAT_MS);
  heartbeat.unref();

  function finish(endResponse: boolean): void {
    if (ended) return;
    ended = true;
    stopLive();
    stopVisit();
    clearInterval(heartbeat);
    deps.metrics?.liveStreams.dec({ transport: 'kiosk' });
    if (endResponse) raw.end();
    resolveEnded();
  }
  raw.on('close', () => {
    if (!ended) log.info('live stream client went away');
    finish(false);
  });

  void pump();
  return { end: () => finish(true), ended: endedPromise };
}
