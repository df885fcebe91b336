// The onRequest hooks that enforce roles: `authHook` for admin plugins (route option `config.minRole`,
// default 'admin'), `opsHook` for /healthz, /readyz, /metrics and /v1/status when config protects them.
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { problem, sendProblem } from '../problem.ts';
import type { AccessControl } from './access.ts';
import { actorFor, type Role } from './roles.ts';
import type { ErrorCode } from '../../errors.ts';

/** Register in an admin plugin: `app.addHook('onRequest', authHook(deps.access))`. */
export function authHook(access: AccessControl): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const minRole: Role = request.routeOptions.config?.minRole ?? 'admin';
    const result = access.authorize(request, minRole);
    if (!result.ok) return refuse(access, request, reply, 'admin', result.code, result.detail);
    request.principal = result.principal;
  };
}

export interface OpsProtection {
  /** /healthz and /readyz */
  health: boolean;
  /** /metrics: viewer role or the metrics bearer token */
  metrics: boolean;
  /** /v1/status */
  status: boolean;
}

/** Root-level hook: only routes with `config.protectedBy` are concerned, and only when config protects them. */
export function opsHook(access: AccessControl, protect: OpsProtection): onRequestAsyncHookHandler {
  return async (request, reply) => {
    const what = request.routeOptions.config?.protectedBy;
    if (what === undefined || !protect[what]) return;
    // The metrics token opens /metrics only.
    const result = access.authorize(request, 'viewer', { metricsToken: what === 'metrics' });
    if (!result.ok) return refuse(access, request, reply, 'ops', result.code, result.detail);
    request.principal = result.principal;
  };
}

export function refuse(access: AccessControl, request: FastifyRequest, reply: FastifyReply, transport: 'admin' | 'ops' | 'kiosk', code: ErrorCode, detail: string): FastifyReply {
  access.metrics?.accessRefused.inc({ transport, reason: code });
  access.logger.warn({ route: request.routeOptions.url ?? request.url, method: request.method, ip: request.ip, code }, `${transport} request refused: ${detail}`);
  // RFC 9110 §11.6.1: a 401 carries WWW-Authenticate (RFC 6750 §3 for bearer)
  if (code === 'GW_ERR_UNAUTHORIZED') reply.header('www-authenticate', 'Bearer realm="rpm-gateway"');
  return sendProblem(reply, { ...problem(code, detail), ...(code === 'GW_ERR_FORBIDDEN' || code === 'GW_ERR_CSRF' ? { title: 'Forbidden' } : {}) });
}

/** The audit trail's actor for a request the hook let through. */
export function actorOf(request: FastifyRequest): string {
  return actorFor(request.principal);
}
