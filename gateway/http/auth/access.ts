// Who is asking and what they may do: bearer tokens (GW_ADMIN_TOKEN, per-user API tokens, the metrics token),
// server-side sessions behind the `gw_session` cookie with a CSRF token each, and login throttling.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AuditSink } from '../../audit/types.ts';
import { errorMessage, type ErrorCode } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { GatewayMetrics } from '../../metrics.ts';
import { roleAtLeast, type Principal, type Role } from './roles.ts';
import { sha256Hex, type UserRecord, type UserStore } from './users.ts';

export const SESSION_COOKIE = 'gw_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface AccessControlOptions {
  users: UserStore;
  logger: Logger;
  metrics?: GatewayMetrics;
  audit?: AuditSink;
  /** GW_ADMIN_TOKEN: role admin, for automation and back-compat. */
  adminToken?: string;
  /** SHA-256 hex of the token Prometheus may scrape /metrics with (http.metricsTokenHash). */
  metricsTokenHash?: string;
  /** Cookie gets `Secure` (the gateway serves HTTPS). */
  secureCookie: boolean;
  sessionIdleMs?: number;
  sessionAbsoluteMs?: number;
  /** Failed logins per IP or per user within `throttleWindowMs` before `throttleLockMs` of 429s. */
  throttleMaxFailures?: number;
  throttleWindowMs?: number;
  throttleLockMs?: number;
  now?: () => number;
}

interface Session {
  id: string;
  name: string;
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

interface Throttle {
  failures: number[];
  lockedUntil: number;
}

/** What a request's credentials came to. */
export type Authentication =
  | { kind: 'none' }
  | { kind: 'ok'; principal: Principal; session?: Session }
  | { kind: 'refused'; code: ErrorCode; detail: string };

export type LoginOutcome =
  | { kind: 'ok'; user: UserRecord; sessionId: string; csrf: string; expiresAt: number }
  | { kind: 'failed' }
  | { kind: 'throttled'; retryAfterSeconds: number; scope: 'address' | 'user' }
  | { kind: 'closed' };

export class AccessControl {
  readonly users: UserStore;
  readonly secureCookie: boolean;
  readonly #o: Required<Pick<AccessControlOptions, 'sessionIdleMs' | 'sessionAbsoluteMs' | 'throttleMaxFailures' | 'throttleWindowMs' | 'throttleLockMs' | 'now'>>;
  readonly #log: Logger;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #audit: AuditSink | undefined;
  readonly #adminToken: Buffer | undefined;
  readonly #metricsToken: Buffer | undefined;
  readonly #sessions = new Map<string, Session>();
  readonly #throttles = new Map<string, Throttle>();

  constructor(options: AccessControlOptions) {
    this.users = options.users;
    this.secureCookie = options.secureCookie;
    this.#log = options.logger.child({ stage: 'http', driver: 'auth' });
    this.#metrics = options.metrics;
    this.#audit = options.audit;
    this.#adminToken = options.adminToken ? createHash('sha256').update(options.adminToken).digest() : undefined;
    this.#metricsToken = options.metricsTokenHash ? Buffer.from(options.metricsTokenHash, 'hex') : undefined;
    this.#o = {
      sessionIdleMs: options.sessionIdleMs ?? 30 * 60_000,
      sessionAbsoluteMs: options.sessionAbsoluteMs ?? 12 * 3600_000,
      throttleMaxFailures: options.throttleMaxFailures ?? 5,
      throttleWindowMs: options.throttleWindowMs ?? 15 * 60_000,
      throttleLockMs: options.throttleLockMs ?? 15 * 60_000,
      now: options.now ?? Date.now,
    };
  }

  get logger(): Logger {
    return this.#log;
  }
  get metrics(): GatewayMetrics | undefined {
    return this.#metrics;
  }
  get audit(): AuditSink | undefined {
    return this.#audit;
  }

  hasAdminToken(): boolean {
    return this.#adminToken !== undefined;
  }

  /** The admin API is open to someone: an enabled admin account or GW_ADMIN_TOKEN. */
  isOpen(): boolean {
    return this.#adminToken !== undefined || this.users.hasAdmin();
  }

  get sessionAbsoluteMs(): number {
    return this.#o.sessionAbsoluteMs;
  }

  /** Credentials of a request: bearer first (automation), then the session cookie. */
  authenticate(request: FastifyRequest): Authentication {
    const header = request.headers.authorization;
    if (header !== undefined) {
      // RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1)
      const match = /^bearer +(\S+)\s*$/i.exec(header);
      if (!match) return { kind: 'refused', code: 'GW_ERR_UNAUTHORIZED', detail: 'the Authorization header is not "Bearer <token>"' };
      const token = match[1]!;
      const digest = createHash('sha256').update(token).digest();
      if (this.#adminToken && timingSafeEqual(this.#adminToken, digest)) return { kind: 'ok', principal: { name: 'admin', role: 'admin', via: 'admin-token' } };
      if (this.#metricsToken && this.#metricsToken.length === digest.length && timingSafeEqual(this.#metricsToken, digest)) {
        return { kind: 'ok', principal: { name: 'metrics', role: 'viewer', via: 'metrics-token' } };
      }
      const user = this.users.byToken(token);
      if (user) return { kind: 'ok', principal: { name: user.name, role: user.role, via: 'user-token' } };
      return { kind: 'refused', code: 'GW_ERR_UNAUTHORIZED', detail: 'unknown or revoked bearer token' };
    }
    const sid = readCookie(request.headers.cookie, SESSION_COOKIE);
    if (sid === undefined) return { kind: 'none' };
    const session = this.#sessions.get(sessionKey(sid));
    const now = this.#o.now();
    if (!session) return { kind: 'refused', code: 'GW_ERR_UNAUTHORIZED', detail: 'the session is unknown or has ended; log in again' };
    if (now - session.lastSeen > this.#o.sessionIdleMs || now - session.createdAt >= this.#o.sessionAbsoluteMs) {
      this.#sessions.delete(sessionKey(sid));
      return { kind: 'refused', code: 'GW_ERR_UNAUTHORIZED', detail: 'the session has expired; log in again' };
    }
    const user = this.users.get(session.name);
    if (!user || user.disabled) {
      this.#sessions.delete(sessionKey(sid));
      return { kind: 'refused', code: 'GW_ERR_UNAUTHORIZED', detail: 'the account of this session no longer exists' };
    }
    session.lastSeen = now;
    return { kind: 'ok', principal: { name: user.name, role: user.role, via: 'session', sessionId: sid }, session };
  }

  /**
   * May this request do what needs `minRole`? Cookie-authenticated state changes need the CSRF header
   * (OWASP CSRF cheat sheet: synchronizer token); bearer requests carry no ambient credential and need none.
   */
  authorize(request: FastifyRequest, minRole: Role, options: { metricsToken?: boolean } = {}): { ok: true; principal: Principal } | { ok: false; code: ErrorCode; detail: string } {
    if (!this.isOpen()) {
      return { ok: false, code: 'GW_ERR_UNAUTHORIZED', detail: 'the admin API is closed: no admin account exists; create one with `gw user add <name> --role admin` (or set GW_ADMIN_TOKEN)' };
    }
    const auth = this.authenticate(request);
    switch (auth.kind) {
      case 'none':
        return { ok: false, code: 'GW_ERR_UNAUTHORIZED', detail: 'log in (POST /v1/login) or send Authorization: Bearer <token>' };
      case 'refused':
        return { ok: false, code: auth.code, detail: auth.detail };
      case 'ok':
        break;
      default:
        return auth satisfies never;
    }
    const { principal, session } = auth;
    if (principal.via === 'metrics-token' && options.metricsToken !== true) {
      return { ok: false, code: 'GW_ERR_FORBIDDEN', detail: 'the metrics token opens /metrics only' };
    }
    if (!roleAtLeast(principal.role, minRole)) {
      return { ok: false, code: 'GW_ERR_FORBIDDEN', detail: errorMessage('GW_ERR_FORBIDDEN', `${request.method} ${request.routeOptions.url ?? request.url}`, minRole, principal.name, principal.role) };
    }
    if (session && !SAFE_METHODS.has(request.method)) {
      const given = request.headers[CSRF_HEADER];
      if (typeof given !== 'string' || !sameSecret(given, session.csrf)) {
        return { ok: false, code: 'GW_ERR_CSRF', detail: errorMessage('GW_ERR_CSRF', given === undefined ? 'header missing' : 'header does not match the session') };
      }
    }
    return { ok: true, principal };
  }

  /** Check a password under the throttle; on success a new session (a new id every login: no fixation). */
  async login(name: string, password: string, ip: string): Promise<LoginOutcome> {
    if (!this.users.hasAdmin() && this.#adminToken === undefined) return { kind: 'closed' };
    const now = this.#o.now();
    const known = this.users.get(name) !== undefined;
    // Throttle per address and per account (OWASP Authentication cheat sheet: account lockout with back-off)
    for (const [key, scope] of [[`ip:${ip}`, 'address'], ...(known ? [[`user:${name}`, 'user']] : [])] as Array<[string, 'address' | 'user']>) {
      const t = this.#throttles.get(key);
      if (t && t.lockedUntil > now) return { kind: 'throttled', retryAfterSeconds: Math.ceil((t.lockedUntil - now) / 1000), scope };
    }
    const user = await this.users.checkPassword(name, password);
    if (!user) {
      this.#fail(`ip:${ip}`, now);
      if (known) this.#fail(`user:${name}`, now);
      return { kind: 'failed' };
    }
    this.#throttles.delete(`user:${name}`);
    const sessionId = randomBytes(32).toString('base64url'); // 256 bits
    const session: Session = { id: sessionId, name: user.name, csrf: randomBytes(32).toString('base64url'), createdAt: now, lastSeen: now };
    this.#sweep(now);
    this.#sessions.set(sessionKey(sessionId), session);
    return { kind: 'ok', user, sessionId, csrf: session.csrf, expiresAt: now + this.#o.sessionAbsoluteMs };
  }

  logout(sessionId: string): boolean {
    return this.#sessions.delete(sessionKey(sessionId));
  }

  /** The CSRF token and expiry of a live session (GET /v1/session). */
  sessionInfo(sessionId: string): { csrf: string; idleExpiresAt: number; expiresAt: number } | undefined {
    const s = this.#sessions.get(sessionKey(sessionId));
    return s && { csrf: s.csrf, idleExpiresAt: s.lastSeen + this.#o.sessionIdleMs, expiresAt: s.createdAt + this.#o.sessionAbsoluteMs };
  }

  /** End every session of a user (removed, disabled). */
  endSessionsOf(name: string): void {
    for (const [key, s] of this.#sessions) if (s.name === name) this.#sessions.delete(key);
  }

  #fail(key: string, now: number): void {
    const t = this.#throttles.get(key) ?? { failures: [], lockedUntil: 0 };
    t.failures = t.failures.filter((at) => now - at < this.#o.throttleWindowMs);
    t.failures.push(now);
    if (t.failures.length >= this.#o.throttleMaxFailures) {
      t.lockedUntil = now + this.#o.throttleLockMs;
      t.failures = [];
    }
    this.#throttles.set(key, t);
    if (this.#throttles.size > 10_000) {
      // bounded memory under a spray of addresses: forget entries that no longer lock anything
      for (const [k, v] of this.#throttles) if (v.lockedUntil <= now && v.failures.every((at) => now - at >= this.#o.throttleWindowMs)) this.#throttles.delete(k);
    }
  }

  #sweep(now: number): void {
    for (const [key, s] of this.#sessions) {
      if (now - s.lastSeen > this.#o.sessionIdleMs || now - s.createdAt > this.#o.sessionAbsoluteMs) this.#sessions.delete(key);
    }
  }
}

// RFC 9110 §9.2.1 safe methods: they change nothing, so they need no CSRF token.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Sessions are keyed by the id's hash, so a heap dump or a debug print of the map holds no usable cookie. */
const sessionKey = (sid: string): string => sha256Hex(sid);

function sameSecret(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** RFC 6265 §5.4 Cookie header: `name=value; name2=value2`. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** RFC 6265 §4.1 Set-Cookie with HttpOnly, SameSite=Strict (RFC 6265bis §8.8), Secure under HTTPS. */
export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeSeconds}`, ...(secure ? ['Secure'] : [])].join('; ');
}
