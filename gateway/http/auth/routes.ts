// Routes of access control, under /v1: login, logout, session (CSRF token), accounts and API tokens (admin),
// the configuration in force with its secrets' hashes left out (admin).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayConfig } from '../../config.ts';
import { problem, sendProblem } from '../problem.ts';
import { SESSION_COOKIE, sessionCookie, type AccessControl } from './access.ts';
import { actorOf, authHook, refuse } from './hook.ts';
import type { Issue } from '../../types.ts';

export interface AuthRoutesDeps {
  access: AccessControl;
  config: GatewayConfig;
}

const loginSchema = z.object({ name: z.string().min(1).max(256), password: z.string().min(1).max(1024) }).strict();
const addUserSchema = z.object({ name: z.string(), role: z.enum(['viewer', 'operator', 'admin']), password: z.string() }).strict();

/** Register with `{ prefix: '/v1' }`. */
export function authRoutes(deps: AuthRoutesDeps) {
  const { access } = deps;
  const log = access.logger;
  return async (app: FastifyInstance): Promise<void> => {
    // HTML forms post application/x-www-form-urlencoded (WHATWG URL §5); only the login form needs it.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    app.post('/login', async (request, reply) => {
      // Login CSRF (OWASP): a browser names the page that posted; another site's form may not log us in.
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== ownOrigin(request)) {
        return refuse(access, request, reply, 'admin', 'GW_ERR_CSRF', `login posted from another origin (${origin})`);
      }
      const body = loginSchema.safeParse(request.body);
      if (!body.success) {
        return invalid(reply, 'GW_ERR_INVALID_REQUEST', 'send { "name", "password" } as JSON or an HTML form', body.error.issues.map((i) => ({ code: 'GW_ERR_INVALID_REQUEST', message: i.message, path: i.path.join('.') })));
      }
      const { name, password } = body.data;
      const known = access.users.get(name) !== undefined;
      const outcome = await access.login(name, password, request.ip);
      switch (outcome.kind) {
        case 'closed':
          return refuse(access, request, reply, 'admin', 'GW_ERR_UNAUTHORIZED', 'the admin API is closed: no admin account exists; create one with `gw user add <name> --role admin`');
        case 'throttled': {
          access.metrics?.loginFailures.inc({ transport: 'http', reason: 'GW_ERR_LOGIN_THROTTLED' });
          // A name that is no account may be a password typed in the wrong field: it never reaches logs or audit.
          access.audit?.record({ kind: 'login-failed', actor: 'anonymous', subject: known ? { user: name } : {}, detail: { reason: 'GW_ERR_LOGIN_THROTTLED', scope: outcome.scope, ip: request.ip } });
          log.warn({ ...(known ? { user: name } : {}), ip: request.ip, scope: outcome.scope, retryAfterSeconds: outcome.retryAfterSeconds }, 'login throttled');
          reply.header('retry-after', String(outcome.retryAfterSeconds)); // RFC 6585 §4 429 Too Many Requests + Retry-After
          return sendProblem(reply, { ...problem('GW_ERR_LOGIN_THROTTLED', `too many failed logins from this ${outcome.scope}; try again in ${outcome.retryAfterSeconds} s`), title: 'Too many requests' });
        }
        case 'failed':
          access.metrics?.loginFailures.inc({ transport: 'http', reason: 'GW_ERR_LOGIN_FAILED' });
          access.audit?.record({ kind: 'login-failed', actor: 'anonymous', subject: known ? { user: name } : {}, detail: { reason: 'GW_ERR_LOGIN_FAILED', ip: request.ip, knownUser: known } });
          log.warn({ ...(known ? { user: name } : {}), ip: request.ip }, 'login failed: unknown user name or wrong password');
          return sendProblem(reply, problem('GW_ERR_LOGIN_FAILED', 'unknown user name or wrong password'));
        case 'ok': {
          access.audit?.record({ kind: 'login', actor: `user:${outcome.user.name}`, subject: { user: outcome.user.name }, detail: { role: outcome.user.role, ip: request.ip } });
          log.info({ user: outcome.user.name, role: outcome.user.role, ip: request.ip }, 'logged in');
          reply.header('set-cookie', sessionCookie(outcome.sessionId, Math.floor(access.sessionAbsoluteMs / 1000), access.secureCookie));
          reply.header('cache-control', 'no-store');
          if (isForm(request)) return reply.code(303).header('location', '/').send(); // back to the status page
          return reply.code(200).send({ name: outcome.user.name, role: outcome.user.role, csrfToken: outcome.csrf, expiresAt: new Date(outcome.expiresAt).toISOString() });
        }
        default:
          return outcome satisfies never;
      }
    });

    await app.register(async (scope) => {
      scope.addHook('onRequest', authHook(access));

      scope.get('/session', { config: { minRole: 'viewer' } }, async (request, reply) => {
        const p = request.principal!;
        const info = p.sessionId === undefined ? undefined : access.sessionInfo(p.sessionId);
        reply.header('cache-control', 'no-store');
        return {
          name: p.name,
          role: p.role,
          via: p.via,
          ...(info ? { csrfToken: info.csrf, idleExpiresAt: new Date(info.idleExpiresAt).toISOString(), expiresAt: new Date(info.expiresAt).toISOString() } : {}),
        };
      });

      scope.post('/logout', { config: { minRole: 'viewer' } }, async (request, reply) => {
        const p = request.principal!;
        if (p.sessionId !== undefined) {
          access.logout(p.sessionId);
          access.audit?.record({ kind: 'logout', actor: actorOf(request), subject: { user: p.name }, detail: {} });
          log.info({ user: p.name }, 'logged out');
        }
        reply.header('set-cookie', sessionCookie('', 0, access.secureCookie));
        return reply.code(204).send();
      });

      scope.get('/users', { config: { minRole: 'admin' } }, async () => ({ users: access.users.list() }));

      scope.post('/users', { config: { minRole: 'admin' } }, async (request, reply) => {
        const body = addUserSchema.safeParse(request.body);
        if (!body.success) {
          return invalid(reply, 'GW_ERR_INVALID_USER', 'send { "name", "role": "viewer|operator|admin", "password" }', body.error.issues.map((i) => ({ code: 'GW_ERR_INVALID_USER', message: i.message, path: i.path.join('.') })));
        }
        const added = await access.users.add(body.data.name, body.data.role, body.data.password);
        if (!added.ok) return invalid(reply, added.issues[0]!.code, added.issues[0]!.message, added.issues);
        access.audit?.record({ kind: 'user-added', actor: actorOf(request), subject: { user: added.value.name }, detail: { role: added.value.role } });
        log.info({ user: added.value.name, role: added.value.role, by: actorOf(request) }, 'user added');
        return reply.code(201).header('location', `/v1/users/${encodeURIComponent(added.value.name)}`).send(added.value);
      });

      scope.delete<{ Params: { name: string } }>('/users/:name', { config: { minRole: 'admin' } }, async (request, reply) => {
        const target = access.users.get(request.params.name);
        if (target?.role === 'admin' && !target.disabled && access.users.list().filter((u) => u.role === 'admin' && !u.disabled).length === 1 && !access.hasAdminToken()) {
          // the last way in: removing it would close the admin API until someone runs `gw user add` at the box
          return invalid(reply, 'GW_ERR_INVALID_USER', `"${target.name}" is the last admin account; add another admin first`, []);
        }
        const removed = await access.users.remove(request.params.name);
        if (!removed.ok) return invalid(reply, removed.issues[0]!.code, removed.issues[0]!.message, removed.issues);
        access.endSessionsOf(removed.value.name);
        access.audit?.record({ kind: 'user-removed', actor: actorOf(request), subject: { user: removed.value.name }, detail: { role: removed.value.role } });
        log.info({ user: removed.value.name, by: actorOf(request) }, 'user removed');
        return reply.send(removed.value);
      });

      scope.post<{ Params: { name: string } }>('/users/:name/tokens', { config: { minRole: 'admin' } }, async (request, reply) => {
        const issued = await access.users.issueToken(request.params.name);
        if (!issued.ok) return invalid(reply, issued.issues[0]!.code, issued.issues[0]!.message, issued.issues);
        access.audit?.record({ kind: 'token-issued', actor: actorOf(request), subject: { user: request.params.name }, detail: { tokenId: issued.value.id } });
        log.info({ user: request.params.name, tokenId: issued.value.id, by: actorOf(request) }, 'API token issued');
        reply.header('cache-control', 'no-store');
        return reply.code(201).send({ user: request.params.name, id: issued.value.id, token: issued.value.token, note: 'shown once: only its SHA-256 is kept' });
      });

      scope.get('/config', { config: { minRole: 'admin' } }, async () => ({ config: redact(deps.config) }));
    });
  };
}

function invalid(reply: FastifyReply, code: string, detail: string, issues: Issue[]): FastifyReply {
  return sendProblem(reply, problem(code, detail, issues));
}

function isForm(request: FastifyRequest): boolean {
  return (request.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

/** RFC 6454 §6.1 serialised origin of this server as the browser sees it. */
function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}

const SECRET_KEYS = /password|secret|token|key/i;

/** The config with every secret-looking value (hashes included, file paths excepted) replaced. */
function redact(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, key));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  if (typeof value === 'string' && SECRET_KEYS.test(key) && !/File$/.test(key)) return '[redacted]';
  return value;
}

export { SESSION_COOKIE };
