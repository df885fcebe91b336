// Kiosk intake over HTTP: POST /v1/readings answers 202 only after the buffer has synced the reading.
import type { FastifyPluginAsync } from 'fastify';
import type { DriverContext } from '../../gateway/driver.ts';
import { problem, sendProblem } from '../../gateway/http/problem.ts';
import { parseKioskReading } from './reading.ts';

export interface KioskRoutesOptions {
  ctx: DriverContext;
}

export const kioskRoutes: FastifyPluginAsync<KioskRoutesOptions> = async (app, { ctx }) => {
  const log = ctx.logger.child({ driver: 'kiosk' });

  app.post('/v1/readings', async (request, reply) => {
    const parsed = parseKioskReading(request.body, new Date());
    if (!parsed.ok) {
      ctx.metrics?.readingsRefused.inc({ transport: 'kiosk', reason: 'GW_ERR_INVALID_READING' });
      log.warn({ issues: parsed.issues }, 'kiosk reading refused: invalid shape');
      return sendProblem(reply, problem('GW_ERR_INVALID_READING', 'the reading does not match the kiosk reading contract', parsed.issues));
    }
    const result = await ctx.submit(parsed.value);
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
};
