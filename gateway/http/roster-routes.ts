// Admin routes of the patient roster: resolve a quarantined reading to a patient (operator) and the
// roster's size (viewer). Every route declares its minimum role (`config.minRole`) for the access-control
// hook; until that hook exists they take the admin bearer token as adminRoutes in app.ts does.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditSink } from '../audit/types.ts';
import type { BindingStore } from '../bindings.ts';
import type { ObservationBuffer } from '../buffer/types.ts';
import type { Intake } from '../ingest.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { NormalizeContext } from '../normalize.ts';
import { resolveQuarantined } from '../roster-release.ts';
import type { PatientRoster } from '../roster.ts';
import { authHook, actorOf, type AccessControl } from './auth/index.ts';
import { problem, sendProblem } from './problem.ts';

export interface RosterRoutesDeps {
  roster: PatientRoster;
  buffer: ObservationBuffer;
  bindings: BindingStore;
  intake: Intake;
  normalizeContext: NormalizeContext;
  logger: Logger;
  metrics?: GatewayMetrics;
  audit?: AuditSink;
  /** Access control: the same hook and roles as every admin route (gateway/http/auth/index.ts). */
  access: AccessControl;
}

const resolveBodySchema = z
  .object({ patient: z.object({ mrn: z.string().min(1).max(64), system: z.string().min(1).max(256).optional() }).strict() })
  .strict();

/** Register with `{ prefix: '/v1' }`. */
export function rosterRoutes(deps: RosterRoutesDeps) {
  const log = deps.logger.child({ stage: 'http', driver: 'roster' });
  return async (app: FastifyInstance): Promise<void> => {
    app.addHook('onRequest', authHook(deps.access));

    app.get('/roster', { config: { minRole: 'viewer' } }, async () => ({ roster: deps.roster.stats(), required: deps.roster.required }));

    app.post<{ Params: { id: string } }>('/quarantine/:id/resolve', { config: { minRole: 'operator' } }, async (request, reply) => {
      const body = resolveBodySchema.safeParse(request.body);
      if (!body.success) {
        deps.metrics?.httpProblems.inc({ route: '/v1/quarantine/:id/resolve', code: 'GW_ERR_INVALID_READING' });
        return sendProblem(reply, problem('GW_ERR_INVALID_READING', body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')));
      }
      const patient = body.data.patient.system === undefined ? { mrn: body.data.patient.mrn } : { mrn: body.data.patient.mrn, system: body.data.patient.system };
      const result = await resolveQuarantined(request.params.id, patient, { ...deps, patients: deps.roster, actor: actorOf(request) });
      if (!result.ok) {
        const first = result.issues[0]!;
        deps.metrics?.httpProblems.inc({ route: '/v1/quarantine/:id/resolve', code: first.code });
        log.warn({ quarantineId: request.params.id, code: first.code }, 'quarantine resolve refused');
        return sendProblem(reply, problem(first.code, first.message, result.issues), result.status);
      }
      return reply.code(200).send(result.value);
    });
  };
}
