// Auth of the FHIR test server: static bearer tokens (RFC 6750) or an OAuth2 token endpoint with
// client_credentials (RFC 6749 §4.4) by client secret or by SMART Backend Services JWT assertion
// (SMART App Launch 2.x backend-services.html; RFC 7523). Issues opaque tokens with a server clock
// that the control API can skew, and can revoke tokens.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { AuthOptions, ClientRegistration } from './options.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART backend-services.html: the client SHALL sign with RS384 or ES384. */
const SMART_ALGS = ['RS384', 'ES384'];
/** SMART backend-services.html: exp no more than five minutes in the future. */
const MAX_ASSERTION_LIFETIME_S = 300;

interface IssuedToken {
  clientId: string;
  scope: string;
  expiresAt: number;
  revoked: boolean;
}

export type TokenResult =
  | { ok: true; status: 200; body: { access_token: string; token_type: 'bearer'; expires_in: number; scope: string } }
  | { ok: false; status: 400 | 401; body: { error: string; error_description: string } };

export type CheckResult = { ok: true; clientId?: string } | { ok: false; description: string };

export class Auth {
  readonly mode: AuthOptions['type'];
  private readonly clients = new Map<string, ClientRegistration>();
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly staticTokens = new Set<string>();
  private readonly revokedStatic = new Set<string>();
  /** jti → assertion exp (ms); replays inside the window are refused. */
  private readonly seenJti = new Map<string, number>();
  private ttlSeconds: number;
  skewMs = 0;

  constructor(options: AuthOptions | undefined) {
    this.mode = options?.type ?? 'none';
    this.ttlSeconds = options?.type === 'oauth' ? (options.tokenTtlSeconds ?? 300) : 300;
    if (options?.type === 'oauth') for (const c of options.clients ?? []) this.clients.set(c.clientId, c);
    if (options?.type === 'bearer') for (const t of options.tokens) this.staticTokens.add(t);
  }

  now(): number {
    return Date.now() + this.skewMs;
  }

  registerClient(client: ClientRegistration): void {
    this.clients.set(client.clientId, client);
  }

  setTokenTtl(seconds: number): void {
    this.ttlSeconds = seconds;
  }

  /** Revoke one token, every token of a client, or all; returns how many were revoked. */
  revoke(what: { token?: string; clientId?: string; all?: boolean }): number {
    let n = 0;
    for (const [token, t] of this.tokens) {
      if (t.revoked) continue;
      if (what.all || token === what.token || (what.clientId !== undefined && t.clientId === what.clientId)) {
        t.revoked = true;
        n++;
      }
    }
    for (const token of this.staticTokens) {
      if ((what.all || token === what.token) && !this.revokedStatic.has(token)) {
        this.revokedStatic.add(token);
        n++;
      }
    }
    return n;
  }

  issuedTokens(): { token: string; clientId: string; scope: string; expiresAt: string; revoked: boolean }[] {
    return [...this.tokens].map(([token, t]) => ({ token, clientId: t.clientId, scope: t.scope, expiresAt: new Date(t.expiresAt).toISOString(), revoked: t.revoked }));
  }

  /** RFC 6750 §2.1: `Authorization: Bearer <token>`. */
  check(authorization: string | undefined): CheckResult {
    if (this.mode === 'none') return { ok: true };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return { ok: false, description: 'no bearer access token' };
    const token = match[1]!;
    if (this.mode === 'bearer') {
      if (!this.staticTokens.has(token)) return { ok: false, description: 'unknown access token' };
      if (this.revokedStatic.has(token)) return { ok: false, description: 'access token revoked' };
      return { ok: true };
    }
    const t = this.tokens.get(token);
    if (!t) return { ok: false, description: 'unknown access token' };
    if (t.revoked) return { ok: false, description: 'access token revoked' };
    if (this.now() >= t.expiresAt) return { ok: false, description: 'access token expired' };
    return { ok: true, clientId: t.clientId };
  }

  /** POST /token with an application/x-www-form-urlencoded body (RFC 6749 §4.4.2). */
  async token(form: URLSearchParams, authorization: string | undefined, tokenUrl: string): Promise<TokenResult> {
    if (this.mode !== 'oauth') return fail(400, 'unsupported_grant_type', 'this server issues no tokens (auth is not oauth)');
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') return fail(400, 'unsupported_grant_type', `grant_type ${grant ?? '(missing)'} is not client_credentials`);

    let client: ClientRegistration | undefined;
    const assertionType = form.get('client_assertion_type');
    if (assertionType !== null) {
      // RFC 7523 §2.2 / SMART backend-services: client_assertion_type is the jwt-bearer URN.
      if (assertionType !== JWT_BEARER) return fail(400, 'invalid_request', `client_assertion_type must be ${JWT_BEARER}`);
      const assertion = form.get('client_assertion');
      if (!assertion) return fail(400, 'invalid_request', 'client_assertion is missing');
      const verified = await this.verifyAssertion(assertion, form.get('client_id'), tokenUrl);
      if (!verified.ok) return verified.result;
      client = verified.client;
    } else {
      // RFC 6749 §2.3.1: HTTP Basic (preferred) or client_id/client_secret in the body.
      let id = form.get('client_id');
      let secret = form.get('client_secret');
      const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
      if (basic) {
        const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        id = decodeURIComponent(decoded.slice(0, colon < 0 ? undefined : colon));
        secret = colon < 0 ? null : decodeURIComponent(decoded.slice(colon + 1));
      }
      if (!id || secret === null) return fail(401, 'invalid_client', 'client authentication is missing');
      const c = this.clients.get(id);
      if (!c || c.clientSecret === undefined || !sameSecret(c.clientSecret, secret)) return fail(401, 'invalid_client', 'unknown client or wrong secret');
      client = c;
    }

    const requested = form.get('scope');
    const allowed = client.scope ?? 'system/*.*';
    if (requested !== null && client.scope !== undefined) {
      const grantable = allowed.split(/\s+/).filter(Boolean);
      const bad = requested.split(/\s+/).filter((s) => s !== '' && !grantable.some((g) => scopeCovers(g, s)));
      if (bad.length > 0) return fail(400, 'invalid_scope', `scope ${bad.join(' ')} is not granted to ${client.clientId}`);
    }
    const scope = requested ?? allowed;
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, { clientId: client.clientId, scope, expiresAt: this.now() + this.ttlSeconds * 1000, revoked: false });
    return { ok: true, status: 200, body: { access_token: token, token_type: 'bearer', expires_in: this.ttlSeconds, scope } };
  }

  private async verifyAssertion(
    assertion: string,
    clientIdParam: string | null,
    tokenUrl: string,
  ): Promise<{ ok: true; client: ClientRegistration } | { ok: false; result: TokenResult }> {
    const invalid = (description: string): { ok: false; result: TokenResult } => ({ ok: false, result: fail(401, 'invalid_client', description) });
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      return invalid('client_assertion is not a JWT');
    }
    if (typeof header.alg !== 'string' || !SMART_ALGS.includes(header.alg)) return invalid(`alg ${String(header.alg)} is not RS384 or ES384`);
    if (typeof header.kid !== 'string') return invalid('the assertion header has no kid'); // SMART: kid REQUIRED
    const clientId = claims.iss;
    // SMART backend-services.html: iss and sub are both the client_id.
    if (typeof clientId !== 'string' || claims.sub !== clientId) return invalid('iss and sub must both be the client_id');
    if (clientIdParam !== null && clientIdParam !== clientId) return invalid('client_id does not match the assertion');
    const client = this.clients.get(clientId);
    if (!client?.jwks?.length) return invalid('unknown client or no registered keys');
    if (!client.jwks.some((k) => k.kid === header.kid)) return invalid(`no registered key with kid ${header.kid}`);
    const now = this.now();
    try {
      await jwtVerify(assertion, createLocalJWKSet({ keys: client.jwks }), {
        algorithms: SMART_ALGS,
        issuer: clientId,
        subject: clientId,
        audience: tokenUrl, // aud = the token endpoint URL
        currentDate: new Date(now),
        requiredClaims: ['exp', 'jti'],
      });
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return invalid(`assertion rejected: ${err.code}: ${err.message}`);
      throw err;
    }
    const exp = (claims.exp ?? 0) * 1000;
    if (exp - now > MAX_ASSERTION_LIFETIME_S * 1000) return invalid('exp is more than five minutes in the future');
    for (const [jti, until] of this.seenJti) if (until < now) this.seenJti.delete(jti);
    const jtiKey = `${clientId}\u0000${String(claims.jti)}`;
    if (this.seenJti.has(jtiKey)) return invalid('jti was already used (replay)'); // RFC 7523 §3 item 7
    this.seenJti.set(jtiKey, exp);
    return { ok: true, client };
  }
}

function fail(status: 400 | 401, error: string, description: string): TokenResult {
  return { ok: false, status, body: { error, error_description: description } };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * SMART scopes `context/Type.permission` (App Launch 1: read|write|*; 2.x: c r u d s letters):
 * `system/*.*` covers `system/Observation.write`; `system/Observation.cruds` covers `system/Observation.rs`.
 */
export function scopeCovers(granted: string, requested: string): boolean {
  if (granted === requested) return true;
  const g = /^([a-z]+)\/([A-Za-z*]+)\.([a-z*]+)$/.exec(granted);
  const r = /^([a-z]+)\/([A-Za-z*]+)\.([a-z*]+)$/.exec(requested);
  if (!g || !r) return false;
  if (g[1] !== r[1]) return false;
  if (g[2] !== '*' && g[2] !== r[2]) return false;
  const gp = g[3]!;
  const rp = r[3]!;
  if (gp === '*' || gp === rp) return true;
  const letters = (p: string): string => (p === 'read' ? 'rs' : p === 'write' ? 'cud' : p);
  return [...letters(rp)].every((ch) => letters(gp).includes(ch));
}
