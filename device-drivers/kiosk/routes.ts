// Kiosk intake over HTTP: POST /v1/readings answers 202 only after the buffer has synced the reading.
// Visits (POST /v1/visits, …/close, GET …) give a kiosk's readings their patient and encounter, and
// GET /v1/visits/:id/live streams the visit's Observations as Server-Sent Events.
import type { FastifyPluginAsync, FastifyReply, onRequestAsyncHookHandler } from 'fastify';
import type { ObservationBuffer } from '../../gateway/buffer/types.ts';
import type { DriverContext } from '../../gateway/driver.ts';
import { errorMessage } from '../../gateway/errors.ts';
import { problem, sendProblem, type ProblemDocument } from '../../gateway/http/problem.ts';
import type { Issue } from '../../gateway/types.ts';
import { parseLastEventId, streamVisit, type LiveStream, type LiveVitals } from './live.ts';
import { parseKioskReading } from './reading.ts';
import { openVisitSchema, zodIssues, type VisitStore } from './visits.ts';

export interface KioskRoutesOptions {
  ctx: DriverContext;
  /** Visits and live vitals; without them the kiosk API is readings only. */
  visits?: { store: VisitStore; live: LiveVitals; buffer: ObservationBuffer; heartbeatMs?: number };
  /** Intake authentication (gateway/http/auth/kiosk.ts: per-kiosk bearer tokens, loopback while none). */
  authorize?: onRequestAsyncHookHandler;
}

export const kioskRoutes: FastifyPluginAsync<KioskRoutesOptions> = async (app, { ctx, visits, authorize }) => {
  const log = ctx.logger.child({ driver: 'kiosk' });
  if (authorize) app.addHook('onRequest', authorize);

  app.post('/v1/readings', async (request, reply) => {
    const parsed = parseKioskReading(request.body, new Date());
    if (!parsed.ok) {
      ctx.metrics?.readingsRefused.inc({ transport: 'kiosk', reason: 'GW_ERR_INVALID_READING' });
      // code and path only: a message may quote what was sent (PHI stays at debug)
      log.warn({ issues: parsed.issues.map(({ code, path }) => ({ code, path })) }, 'kiosk reading refused: invalid shape');
      log.debug({ issues: parsed.issues }, 'kiosk reading refused: invalid shape (detail)');
      return sendProblem(reply, problem('GW_ERR_INVALID_READING', 'the reading does not match the kiosk reading contract', parsed.issues));
    }
    // The kiosk token that sent it is the audit trail's actor.
    let reading = request.kioskTokenId === undefined ? parsed.value : { ...parsed.value, actor: `kiosk-token:${request.kioskTokenId}` };
    if (visits) {
      const withVisit = visits.store.applyTo(reading);
      if (!withVisit.ok) {
        const first = withVisit.issues[0]!;
        ctx.metrics?.readingsRefused.inc({ transport: 'kiosk', reason: first.code });
        log.warn({ deviceId: reading.deviceId, code: first.code, path: first.path }, 'kiosk reading refused: it does not match the open visit');
        return sendProblem(reply, problem(first.code, first.message, withVisit.issues));
      }
      reading = withVisit.value;
    }
    const result = await ctx.submit(reading);
    switch (result.kind) {
      case 'accepted':
        return reply.code(202).send({ observations: result.observations, refused: result.refused });
      case 'quarantined':
        return reply.code(202).send({ observations: [], quarantined: { id: result.quarantineId, reason: result.reason } });
      case 'invalid': {
        // Normalize speaks of the Reading; the kiosk's client knows its own field names.
        const issues = result.issues.map((i) => (i.path === 'deviceTime' ? { ...i, path: 'measuredAt' } : i));
        const first = issues[0]!;
        const detail = issues.length === 1 ? first.message : `${issues.length} problems; the first: ${first.message}`;
        return sendProblem(reply, problem(first.code, detail, issues));
      }
      case 'unavailable':
        reply.header('retry-after', '30');
        return sendProblem(reply, problem(result.code, result.reason), 503);
      default:
        return result satisfies never;
    }
  });

  if (!visits) return;
  const { store } = visits;
  const streams = new Set<LiveStream>();

  const refuse = (reply: FastifyReply, route: string, doc: ProblemDocument, deviceId?: string): FastifyReply => {
    ctx.metrics?.visitRefusals.inc({ transport: 'kiosk', reason: doc.code });
    log.warn({ route, deviceId, code: doc.code, detail: doc.detail }, 'kiosk visit request refused');
    return sendProblem(reply, doc);
  };
  const notFound = (reply: FastifyReply, route: string, id: string): FastifyReply =>
    refuse(reply, route, problem('GW_ERR_NOT_FOUND', errorMessage('GW_ERR_NOT_FOUND', `visit "${id}"`)));
  const firstProblem = (issues: Issue[], fallback: string): ProblemDocument => {
    const first = issues[0]!;
    return problem(first.code, issues.length === 1 ? first.message : `${fallback}: ${issues.length} problems; the first: ${first.message}`, issues);
  };

  app.post('/v1/visits', async (request, reply) => {
    const body = openVisitSchema.safeParse(request.body);
    if (!body.success) return refuse(reply, '/v1/visits', firstProblem(zodIssues(body.error, 'GW_ERR_INVALID_VISIT'), 'the visit does not match the contract'));
    const opened = await store.open(body.data);
    if (!opened.ok) return refuse(reply, '/v1/visits', firstProblem(opened.issues, 'the visit cannot be opened'), body.data.deviceId);
    log.info({ deviceId: opened.value.deviceId, visitId: opened.value.id }, 'visit opened');
    return reply.code(201).header('location', `/v1/visits/${opened.value.id}`).send(opened.value);
  });

  app.get<{ Params: { id: string } }>('/v1/visits/:id', async (request, reply) => {
    const visit = store.get(request.params.id);
    return visit ? reply.send(visit) : notFound(reply, '/v1/visits/:id', request.params.id);
  });

  app.post<{ Params: { id: string } }>('/v1/visits/:id/close', async (request, reply) => {
    const visit = await store.close(request.params.id);
    if (!visit) return notFound(reply, '/v1/visits/:id/close', request.params.id);
    log.info({ deviceId: visit.deviceId, visitId: visit.id }, 'visit closed');
    return reply.send(visit);
  });

  app.get<{ Params: { id: string } }>('/v1/visits/:id/live', async (request, reply) => {
    const visit = store.get(request.params.id);
    if (!visit) return notFound(reply, '/v1/visits/:id/live', request.params.id);
    const after = parseLastEventId(request.headers['last-event-id']);
    if (!after.ok) return refuse(reply, '/v1/visits/:id/live', problem('GW_ERR_BAD_LAST_EVENT_ID', errorMessage('GW_ERR_BAD_LAST_EVENT_ID', after.given)), visit.deviceId);
    reply.hijack();
    const stream = streamVisit(visit, after.value, reply.raw, {
      buffer: visits.buffer,
      live: visits.live,
      visits: store,
      logger: ctx.logger,
      ...(ctx.metrics ? { metrics: ctx.metrics } : {}),
      ...(visits.heartbeatMs === undefined ? {} : { heartbeatMs: visits.heartbeatMs }),
    });
    streams.add(stream);
    void stream.ended.then(() => streams.delete(stream));
  });

  // Open streams would hold app.close() forever: end them first (clients reconnect with Last-Event-ID).
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
  });
};
