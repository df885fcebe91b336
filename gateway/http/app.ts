// The gateway's HTTP surface: ops (health, readiness, metrics, status), the kiosk intake, and the
// admin API (bindings, quarantine, dead letters) behind a bearer token. Every error is RFC 9457.
import { readFileSync } from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyError } from 'fastify';
import { kioskRoutes } from '../../device-drivers/kiosk/routes.ts';
import type { LiveVitals } from '../../device-drivers/kiosk/live.ts';
import type { VisitStore } from '../../device-drivers/kiosk/visits.ts';
import type { ObservationBuffer } from '../buffer/types.ts';
import type { DestinationDispatcher } from '../dispatch.ts';
import type { DriverContext } from '../driver.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Destination } from '../types.ts';
import { problem, sendProblem } from './problem.ts';
import type { GatewayConfig } from '../config.ts';
import type { BindingStore } from '../bindings.ts';
import type { Intake } from '../ingest.ts';
import type { NormalizeContext } from '../normalize.ts';
import type { AuditTrail } from '../audit/trail.ts';
import { z } from 'zod';

export interface HttpDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: GatewayMetrics;
  buffer: ObservationBuffer;
  destinations: Destination[];
  dispatchers: DestinationDispatcher[];
  driverContext: DriverContext;
  bindings: BindingStore;
  intake: Intake;
  normalizeContext: NormalizeContext;
  /** The audit trail behind GET /v1/trace/:observationId and replay records. */
  audit?: AuditTrail;
  adminToken?: string;
  startedAt: Date;
  /** False while shutting down: readiness fails so load balancers and kiosks back off. */
  accepting: () => boolean;
  /** Running drivers' RunningDriver.status(), by driver id (read at request time; drivers start after listen). */
  driverStatus?: () => Record<string, Record<string, unknown>>;
  /** Kiosk visits and the live vitals fan-out (GET /v1/visits/:id/live). */
  visits?: VisitStore;
  live?: LiveVitals;
}

export async function buildHttpApp(deps: HttpDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const https = config.http.tls
    ? { key: readFileSync(config.http.tls.keyFile), cert: readFileSync(config.http.tls.certFile) }
    : null;
  const app = Fastify({
    loggerInstance: deps.logger.child({ stage: 'http' }),
    // one log line per event we care about (refusals, errors), not two per request
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.http.bodyLimitBytes,
    ...(https ? { https } : {}),
  }) as unknown as FastifyInstance;

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    let doc;
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      doc = problem('GW_ERR_MALFORMED_BODY', `request body is not valid JSON: ${err.message}`);
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      doc = problem('GW_ERR_BODY_TOO_LARGE', `request body exceeds ${config.http.bodyLimitBytes} bytes`);
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      doc = { ...problem('GW_ERR_INVALID_READING', 'send the reading as application/json'), status: 415, title: 'Unsupported media type' };
    } else {
      deps.logger.error({ err, route }, 'unhandled error in HTTP handler');
      doc = problem('GW_ERR_BUFFER_IO', 'internal error');
      doc.status = 500;
      doc.title = 'Internal error';
    }
    deps.metrics.httpProblems.inc({ route, code: doc.code });
    if (doc.status < 500) deps.logger.warn({ route, code: doc.code, detail: doc.detail }, 'request refused');
    return sendProblem(reply, doc);
  });
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const stats = safeStats(deps.buffer);
    const destinations = deps.destinations.map((d) => ({ id: d.id, link: d.linkState() }));
    const dispatch = deps.dispatchers.map((d) => d.status());
    const bufferOpen = stats !== undefined;
    const ready = bufferOpen && deps.accepting() && !stats.intakeRefused && dispatch.every((d) => d.state !== 'stopped');
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not-ready',
      buffer: bufferOpen ? { open: true, intakeRefused: stats.intakeRefused } : { open: false },
      destinations,
      dispatch: dispatch.map((d) => ({ destination: d.destination, state: d.state })),
    });
  });

  app.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/v1/status', async () => {
    const stats = safeStats(deps.buffer);
    return {
      site: config.site,
      startedAt: deps.startedAt.toISOString(),
      uptimeSeconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000),
      buffer: stats && {
        headSeq: stats.headSeq.toString(),
        entries: stats.entries,
        diskBytes: stats.diskBytes,
        quotaBytes: stats.quotaBytes,
        intakeRefused: stats.intakeRefused,
        quarantined: stats.quarantined,
      },
      drivers: deps.driverStatus?.() ?? {},
      destinations: deps.destinations.map((d) => {
        const backlog = stats?.destinations.find((b) => b.destination === d.id);
        const dispatch = deps.dispatchers.find((x) => x.id === d.id)?.status();
        return {
          id: d.id,
          type: d.type,
          link: d.linkState(),
          state: dispatch?.state,
          cursor: backlog?.cursor.toString(),
          pending: backlog?.pending ?? 0,
          oldestPendingSeconds: backlog?.oldestPendingAt === undefined ? 0 : Math.round((Date.now() - backlog.oldestPendingAt) / 1000),
          deadLetters: backlog?.deadLetters ?? 0,
          lastDeliveryAt: dispatch?.lastDeliveryAt,
          lastError: dispatch?.lastError,
          nextAttemptAt: dispatch?.nextAttemptAt,
        };
      }),
    };
  });

  await app.register(kioskRoutes, {
    ctx: deps.driverContext,
    ...(deps.visits && deps.live ? { visits: { store: deps.visits, live: deps.live, buffer: deps.buffer } } : {}),
  });
  await app.register(adminRoutes(deps), { prefix: '/v1' });
  return app;
}

function safeStats(buffer: ObservationBuffer): ReturnType<ObservationBuffer['stats']> | undefined {
  try {
    return buffer.stats();
  } catch {
    return undefined;
  }
}

const bindBodySchema = z.object({ patient: z.object({ mrn: z.string().min(1).max(64), system: z.string().min(1).max(256).optional() }).strict() }).strict();

/** Admin routes: every request needs `Authorization: Bearer <GW_ADMIN_TOKEN>`; with no token set they are closed. */
function adminRoutes(deps: HttpDeps) {
  const expected = deps.adminToken ? createHash('sha256').update(deps.adminToken).digest() : undefined;
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization ?? '';
      const given = header.startsWith('Bearer ') ? createHash('sha256').update(header.slice(7)).digest() : undefined;
      if (!expected || !given || !timingSafeEqual(expected, given)) {
        deps.logger.warn({ route: request.routeOptions.url, ip: request.ip }, 'admin request refused: missing or wrong token');
        reply.header('www-authenticate', 'Bearer realm="rpm-gateway"');
        return sendProblem(reply, problem('GW_ERR_UNAUTHORIZED', expected ? 'missing or wrong bearer token' : 'the admin API is closed: set GW_ADMIN_TOKEN'));
      }
    });

    app.get('/bindings', async () => ({ bindings: deps.bindings.list() }));

    app.put<{ Params: { deviceId: string } }>('/bindings/:deviceId', async (request, reply) => {
      const body = bindBodySchema.safeParse(request.body);
      if (!body.success) {
        return sendProblem(reply, problem('GW_ERR_INVALID_READING', body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')));
      }
      const report = await deps.bindings.bind(request.params.deviceId, body.data.patient, deps.intake, deps.normalizeContext);
      return reply.code(200).send({ device: request.params.deviceId, patient: body.data.patient, release: report });
    });

    app.get<{ Querystring: { deviceId?: string } }>('/quarantine', async (request) => {
      const entries = await deps.buffer.quarantine.list(request.query.deviceId);
      return { quarantine: entries.map((e) => ({ id: e.id, deviceId: e.deviceId, reason: e.reason, at: e.at, metrics: e.reading.components.map((c) => c.metric) })) };
    });

    app.get<{ Params: { destination: string } }>('/dead-letters/:destination', async (request, reply) => {
      if (!deps.destinations.some((d) => d.id === request.params.destination)) {
        return sendProblem(reply, problem('GW_ERR_NOT_FOUND', `destination "${request.params.destination}" not found`));
      }
      const letters = await deps.buffer.deadLetters(request.params.destination);
      return {
        deadLetters: letters.map((l) => ({ seq: l.seq.toString(), observationId: l.observationId, code: l.code, reason: l.reason, at: l.at })),
      };
    });

    app.post<{ Params: { destination: string } }>('/dead-letters/:destination/replay', async (request, reply) => {
      const id = request.params.destination;
      if (!deps.destinations.some((d) => d.id === id)) {
        return sendProblem(reply, problem('GW_ERR_NOT_FOUND', `destination "${id}" not found`));
      }
      const letters = deps.audit ? await deps.buffer.deadLetters(id) : [];
      const replayed = await deps.buffer.replayDeadLetters(id);
      if (replayed > 0) {
        // Letters listed just before the replay; one that a concurrent replay took is recorded by both (harmless).
        deps.audit?.record({ kind: 'replayed', actor: 'admin', subject: { observationIds: letters.map((l) => l.observationId), destination: id }, detail: { count: replayed } });
      }
      deps.logger.info({ destination: id, replayed }, 'dead letters replayed');
      deps.dispatchers.find((d) => d.id === id)?.wake();
      return { replayed };
    });

    // Everything that happened to one reading, in order, from the audit trail (index rows, no scan).
    app.get<{ Params: { observationId: string } }>('/trace/:observationId', async (request, reply) => {
      const { observationId } = request.params;
      const records = deps.audit ? await deps.audit.trace(observationId) : [];
      if (records.length === 0) {
        return sendProblem(reply, problem('GW_ERR_NOT_FOUND', `no audit record for observation "${observationId}"`));
      }
      return { observationId, events: records };
    });
  };
}
