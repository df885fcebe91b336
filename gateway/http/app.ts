// The gateway's HTTP surface: ops (health, readiness, metrics, status), the kiosk intake, and the
// admin API (bindings, quarantine, dead letters) behind a bearer token. Every error is RFC 9457.
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance, type FastifyError } from 'fastify';
import { kioskRoutes } from '../../device-drivers/kiosk/routes.ts';
import type { LiveVitals } from '../../device-drivers/kiosk/live.ts';
import type { VisitStore } from '../../device-drivers/kiosk/visits.ts';
import type { ObservationBuffer } from '../buffer/types.ts';
import { drainEtaSeconds, type DestinationDispatcher } from '../dispatch.ts';
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
import { DeviceRegistry } from '../devices.ts';
import { statusDataRoutes, statusPageRoutes } from './status/routes.ts';
import type { PatientRoster } from '../roster.ts';
import { rosterRoutes } from './roster-routes.ts';
import { AccessControl, actorOf, authHook, authRoutes, UserStore } from './auth/index.ts';
import { opsHook } from './auth/hook.ts';
import { kioskIntakeHook } from './auth/kiosk.ts';
import { operationsRoutes } from './operations-routes.ts';

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
  /** Devices seen since start, for the status page. */
  devices?: DeviceRegistry;
  /** Kiosk visits and the live vitals fan-out (GET /v1/visits/:id/live). */
  visits?: VisitStore;
  live?: LiveVitals;
  /** The ADT-fed patient roster (POST /v1/quarantine/:id/resolve, GET /v1/roster). */
  roster?: PatientRoster;
  /** Access control (gateway/http/auth); built from config, the state store and adminToken when absent. */
  access?: AccessControl;
}

/** Accounts from the buffer's state store and `admin.users`, GW_ADMIN_TOKEN, session and throttle timing from config. */
export async function createAccessControl(deps: Pick<HttpDeps, 'config' | 'logger' | 'metrics' | 'buffer' | 'audit' | 'adminToken'>): Promise<AccessControl> {
  const { config } = deps;
  return new AccessControl({
    users: await UserStore.open(deps.buffer.state, config.admin.users),
    logger: deps.logger,
    metrics: deps.metrics,
    ...(deps.audit ? { audit: deps.audit } : {}),
    ...(deps.adminToken ? { adminToken: deps.adminToken } : {}),
    ...(config.http.metricsTokenHash ? { metricsTokenHash: config.http.metricsTokenHash } : {}),
    secureCookie: config.http.tls !== undefined,
    sessionIdleMs: config.admin.sessions.idleMinutes * 60_000,
    sessionAbsoluteMs: config.admin.sessions.absoluteHours * 3600_000,
    throttleMaxFailures: config.admin.login.maxFailures,
    throttleWindowMs: config.admin.login.lockMinutes * 60_000,
    throttleLockMs: config.admin.login.lockMinutes * 60_000,
  });
}

export async function buildHttpApp(deps: HttpDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const access = deps.access ?? (await createAccessControl(deps));
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
  // /healthz, /readyz, /metrics, /v1/status: open unless http.protectHealth / protectMetrics / protectStatus
  app.addHook('onRequest', opsHook(access, { health: config.http.protectHealth, metrics: config.http.protectMetrics, status: config.http.protectStatus }));
  app.get('/healthz', { config: { protectedBy: 'health' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { protectedBy: 'health' } }, async (_request, reply) => {
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

  app.get('/metrics', { config: { protectedBy: 'metrics' } }, async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/v1/status', { config: { protectedBy: 'status' } }, async () => {
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
          // Backlog / deliveries per second over the last minute; null while nothing is being delivered.
          deliveryRatePerSecond: dispatch === undefined ? 0 : Math.round(dispatch.deliveryRatePerSecond * 100) / 100,
          drainEtaSeconds: drainEtaSeconds(backlog?.pending ?? 0, dispatch?.deliveryRatePerSecond ?? 0) ?? null,
          errorsLastMinute: dispatch?.errorsLastMinute ?? 0,
          lastReceipt: dispatch?.lastReceipt,
          skipped: dispatch?.skipped ?? 0,
          lastDeliveryAt: dispatch?.lastDeliveryAt,
          lastError: dispatch?.lastError,
          nextAttemptAt: dispatch?.nextAttemptAt,
        };
      }),
    };
  });

  await app.register(kioskRoutes, {
    ctx: deps.driverContext,
    authorize: kioskIntakeHook(config.kiosk.tokens, access),
    ...(deps.visits && deps.live ? { visits: { store: deps.visits, live: deps.live, buffer: deps.buffer } } : {}),
  });
  await app.register(statusPageRoutes);
  await app.register(authRoutes({ access, config }), { prefix: '/v1' });
  await app.register(adminRoutes({ ...deps, access }), { prefix: '/v1' });
  if (deps.roster) {
    await app.register(
      rosterRoutes({ ...deps, access, roster: deps.roster, ...(deps.audit ? { audit: deps.audit } : {}) }),
      { prefix: '/v1' },
    );
  }
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

/**
 * Admin routes: each declares its minimum role (`config.minRole`, default admin; gateway/http/auth/index.ts),
 * enforced by authHook: a session cookie (+ x-csrf-token to change anything), a user API token or GW_ADMIN_TOKEN.
 */
function adminRoutes(deps: HttpDeps & { access: AccessControl }) {
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', authHook(deps.access));

    app.get('/bindings', { config: { minRole: 'viewer' } }, async () => ({ bindings: deps.bindings.list() }));

    app.put<{ Params: { deviceId: string } }>('/bindings/:deviceId', { config: { minRole: 'operator' } }, async (request, reply) => {
      const body = bindBodySchema.safeParse(request.body);
      if (!body.success) {
        return sendProblem(reply, problem('GW_ERR_INVALID_READING', body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')));
      }
      const report = await deps.bindings.bind(request.params.deviceId, body.data.patient, deps.intake, deps.normalizeContext, actorOf(request));
      return reply.code(200).send({ device: request.params.deviceId, patient: body.data.patient, release: report });
    });

    app.get<{ Querystring: { deviceId?: string; reason?: string } }>('/quarantine', { config: { minRole: 'viewer' } }, async (request) => {
      const { reason } = request.query; // e.g. patient-ambiguous (gateway/roster-match.ts)
      const entries = (await deps.buffer.quarantine.list(request.query.deviceId)).filter((e) => reason === undefined || e.reason === reason);
      return { quarantine: entries.map((e) => ({ id: e.id, deviceId: e.deviceId, reason: e.reason, at: e.at, metrics: e.reading.components.map((c) => c.metric) })) };
    });

    // Dead letters (list with filters, replay, discard) and discarding a quarantined reading.
    await app.register(operationsRoutes({ ...deps, ...(deps.audit ? { audit: deps.audit } : {}) }));

    // Everything that happened to one reading, in order, from the audit trail (index rows, no scan).
    app.get<{ Params: { observationId: string } }>('/trace/:observationId', { config: { minRole: 'viewer' } }, async (request, reply) => {
      const { observationId } = request.params;
      const records = deps.audit ? await deps.audit.trace(observationId) : [];
      if (records.length === 0) {
        return sendProblem(reply, problem('GW_ERR_NOT_FOUND', `no audit record for observation "${observationId}"`));
      }
      return { observationId, events: records };
    });

    // The status page's data: devices seen and recent audit events (read-only).
    await app.register(statusDataRoutes({ devices: deps.devices ?? new DeviceRegistry(), ...(deps.audit ? { audit: deps.audit } : {}), ...(deps.driverStatus ? { driverStatus: deps.driverStatus } : {}) }));
  };
}
