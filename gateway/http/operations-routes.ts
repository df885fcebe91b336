// Dead-letter and quarantine operations of the admin API (issue #8 item 4): list with filters, replay one
// or many, discard with a reason (audited `discarded`). Binding a device is PUT /v1/bindings/:deviceId,
// resolving one quarantined reading POST /v1/quarantine/:id/resolve (roster-routes.ts).
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { AuditSink } from '../audit/types.ts';
import type { DeadLetter, ObservationBuffer } from '../buffer/types.ts';
import type { DestinationDispatcher } from '../dispatch.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { Destination, Issue } from '../types.ts';
import { actorOf } from './auth/hook.ts';
import { problem, sendProblem } from './problem.ts';

export interface OperationsDeps {
  buffer: ObservationBuffer;
  destinations: Destination[];
  dispatchers: DestinationDispatcher[];
  logger: Logger;
  metrics?: GatewayMetrics;
  audit?: AuditSink;
}

const isoTime = z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'an ISO 8601 date-time');
const filterSchema = z
  .object({
    destination: z.string().min(1).optional(),
    code: z.string().min(1).optional(),
    deviceId: z.string().min(1).optional(),
    since: isoTime.optional(),
    until: isoTime.optional(),
    limit: z.coerce.number().int().min(1).max(10_000).optional(),
  })
  .strict();
type Filter = z.infer<typeof filterSchema>;

const seqText = z.string().regex(/^[1-9]\d{0,19}$/, 'a buffer sequence number');
/** Which letters: by buffer seq or by Observation id; neither = every letter of the destination (replay only). */
const selectionSchema = z
  .object({ seqs: z.array(seqText).max(10_000).optional(), observationIds: z.array(z.string().min(1).max(128)).max(10_000).optional() })
  .strict();
/** Free text kept in the audit trail: say why, never write patient data into it. */
const reasonSchema = z.string().trim().min(3, 'say why in at least 3 characters').max(500);
const discardSchema = selectionSchema.extend({ reason: reasonSchema }).strict();
const quarantineDiscardSchema = z.object({ reason: reasonSchema }).strict();

export function operationsRoutes(deps: OperationsDeps) {
  const log = deps.logger.child({ stage: 'http', driver: 'operations' });
  return async (app: FastifyInstance): Promise<void> => {
    const refuse = (reply: FastifyReply, route: string, code: string, detail: string, issues: Issue[] = []): FastifyReply => {
      deps.metrics?.httpProblems.inc({ route, code });
      log.warn({ route, code, detail }, 'operation refused');
      return sendProblem(reply, problem(code, detail, issues));
    };
    const zodIssues = (error: z.ZodError): Issue[] => error.issues.map((i) => ({ code: 'GW_ERR_INVALID_REQUEST', message: i.message, path: i.path.join('.') }));
    const known = (id: string): boolean => deps.destinations.some((d) => d.id === id);

    const list = async (filter: Filter): Promise<DeadLetter[]> => {
      const ids = filter.destination === undefined ? deps.destinations.map((d) => d.id) : [filter.destination];
      const since = filter.since === undefined ? -Infinity : Date.parse(filter.since);
      const until = filter.until === undefined ? Infinity : Date.parse(filter.until);
      const all = (await Promise.all(ids.map((id) => deps.buffer.deadLetters(id)))).flat();
      return all
        .filter((l) => filter.code === undefined || l.code === filter.code)
        .filter((l) => filter.deviceId === undefined || l.observation.device?.identifier?.value === filter.deviceId)
        .filter((l) => {
          const at = Date.parse(l.at);
          return at >= since && at <= until;
        })
        .slice(0, filter.limit ?? 1000);
    };
    const view = (l: DeadLetter) => ({
      destination: l.destination,
      seq: l.seq.toString(),
      observationId: l.observationId,
      deviceId: l.observation.device?.identifier?.value,
      metric: l.observation.code?.coding?.[0]?.code,
      code: l.code,
      reason: l.reason,
      at: l.at,
    });

    const listRoute = async (reply: FastifyReply, route: string, query: unknown) => {
      const filter = filterSchema.safeParse(query);
      if (!filter.success) return refuse(reply, route, 'GW_ERR_INVALID_REQUEST', 'filters: destination, code, deviceId, since, until (ISO 8601), limit', zodIssues(filter.error));
      if (filter.data.destination !== undefined && !known(filter.data.destination)) {
        return refuse(reply, route, 'GW_ERR_NOT_FOUND', `destination "${filter.data.destination}" not found`);
      }
      return { deadLetters: (await list(filter.data)).map(view) };
    };

    app.get('/dead-letters', { config: { minRole: 'viewer' } }, async (request, reply) => listRoute(reply, '/v1/dead-letters', request.query));

    app.get<{ Params: { destination: string } }>('/dead-letters/:destination', { config: { minRole: 'viewer' } }, async (request, reply) =>
      listRoute(reply, '/v1/dead-letters/:destination', { ...(request.query as object), destination: request.params.destination }),
    );

    /** The seqs a selection names among a destination's letters (observation ids looked up in its dead letters). */
    const choose = async (destination: string, seqs: string[] | undefined, observationIds: string[] | undefined): Promise<DeadLetter[]> => {
      const letters = await deps.buffer.deadLetters(destination);
      const bySeq = new Set(seqs ?? []);
      const byObs = new Set(observationIds ?? []);
      return letters.filter((l) => bySeq.has(l.seq.toString()) || byObs.has(l.observationId));
    };

    app.post<{ Params: { destination: string } }>('/dead-letters/:destination/replay', { config: { minRole: 'operator' } }, async (request, reply) => {
      const route = '/v1/dead-letters/:destination/replay';
      const id = request.params.destination;
      if (!known(id)) return refuse(reply, route, 'GW_ERR_NOT_FOUND', `destination "${id}" not found`);
      const body = selectionSchema.safeParse(request.body ?? {});
      if (!body.success) return refuse(reply, route, 'GW_ERR_INVALID_REQUEST', 'send { "seqs": [...] } or { "observationIds": [...] }, or nothing to replay every letter', zodIssues(body.error));
      const everything = body.data.seqs === undefined && body.data.observationIds === undefined;
      const letters = everything ? await deps.buffer.deadLetters(id) : await choose(id, body.data.seqs, body.data.observationIds);
      const replayed = everything ? await deps.buffer.replayDeadLetters(id) : letters.length === 0 ? 0 : await deps.buffer.replayDeadLetters(id, letters.map((l) => l.seq));
      if (replayed > 0) {
        // Letters listed just before the replay; one that a concurrent replay took is recorded by both (harmless).
        deps.audit?.record({ kind: 'replayed', actor: actorOf(request), subject: { observationIds: letters.map((l) => l.observationId), destination: id }, detail: { count: replayed } });
      }
      log.info({ destination: id, replayed, by: actorOf(request) }, 'dead letters replayed');
      deps.dispatchers.find((d) => d.id === id)?.wake();
      return { replayed };
    });

    app.post<{ Params: { destination: string } }>('/dead-letters/:destination/discard', { config: { minRole: 'operator' } }, async (request, reply) => {
      const route = '/v1/dead-letters/:destination/discard';
      const id = request.params.destination;
      if (!known(id)) return refuse(reply, route, 'GW_ERR_NOT_FOUND', `destination "${id}" not found`);
      const body = discardSchema.safeParse(request.body ?? {});
      if (!body.success) return refuse(reply, route, 'GW_ERR_INVALID_REQUEST', 'send { "reason", "seqs": [...] | "observationIds": [...] }', zodIssues(body.error));
      if ((body.data.seqs ?? []).length === 0 && (body.data.observationIds ?? []).length === 0) {
        return refuse(reply, route, 'GW_ERR_INVALID_REQUEST', 'name the letters to discard by "seqs" or "observationIds" (discarding everything at once is not offered)');
      }
      const letters = await choose(id, body.data.seqs, body.data.observationIds);
      const discarded = letters.length === 0 ? 0 : await deps.buffer.discardDeadLetters(id, letters.map((l) => l.seq));
      if (discarded > 0) {
        deps.audit?.record({
          kind: 'discarded',
          actor: actorOf(request),
          subject: { observationIds: letters.map((l) => l.observationId), destination: id },
          detail: { what: 'dead-letter', count: discarded, reason: body.data.reason, seqs: letters.map((l) => l.seq.toString()) },
        });
      }
      log.info({ destination: id, discarded, by: actorOf(request) }, 'dead letters discarded');
      log.debug({ destination: id, reason: body.data.reason }, 'discard reason');
      return { discarded, observationIds: letters.map((l) => l.observationId) };
    });

    app.post<{ Params: { id: string } }>('/quarantine/:id/discard', { config: { minRole: 'operator' } }, async (request, reply) => {
      const route = '/v1/quarantine/:id/discard';
      const body = quarantineDiscardSchema.safeParse(request.body ?? {});
      if (!body.success) return refuse(reply, route, 'GW_ERR_INVALID_REQUEST', 'send { "reason" }', zodIssues(body.error));
      const entry = (await deps.buffer.quarantine.list()).find((e) => e.id === request.params.id);
      if (!entry) return refuse(reply, route, 'GW_ERR_NOT_FOUND', `quarantined reading "${request.params.id}" not found`);
      await deps.buffer.quarantine.remove([entry.id]);
      deps.audit?.record({
        kind: 'discarded',
        actor: actorOf(request),
        subject: { quarantineId: entry.id, deviceId: entry.deviceId },
        detail: { what: 'quarantined-reading', reason: body.data.reason },
      });
      log.info({ deviceId: entry.deviceId, quarantineId: entry.id, by: actorOf(request) }, 'quarantined reading discarded');
      return { discarded: entry.id, deviceId: entry.deviceId };
    });
  };
}
