// Authorization for the FHIR destination: none, a static bearer token, OAuth 2.0 client credentials (RFC 6749
// §4.4) and SMART Backend Services (asymmetric client assertion, RFC 7523 + SMART App Launch 2.x "Backend Services").
// Tokens are cached until shortly before expires_in; a 401 invalidates the cache for one refresh. Never logs a secret.
import { randomUUID } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { errorMessage } from '../../gateway/errors.ts';
import type { HttpClient } from './http.ts';

/** Why a token could not be had: the `reason` label of gateway_fhir_auth_failures_total. Closed set. */
export const AuthFailureReason = {
  // RFC 6749 §5.2 error codes
  invalidRequest: 'invalid_request',
  invalidClient: 'invalid_client',
  invalidGrant: 'invalid_grant',
  unauthorizedClient: 'unauthorized_client',
  unsupportedGrantType: 'unsupported_grant_type',
  invalidScope: 'invalid_scope',
  /** The token endpoint answered an HTTP error without an RFC 6749 error code. */
  httpError: 'http_error',
  /** 2xx without a usable access_token. */
  badResponse: 'bad_response',
  network: 'network',
  /** The private key could not be read or imported. */
  key: 'key',
  /** The FHIR server still answered 401 after the one refresh (revoked token, wrong audience, clock skew). */
  unauthorized: 'unauthorized',
  /** 403 from the FHIR server: the token lacks a scope. */
  forbidden: 'forbidden',
} as const;
export type AuthFailureReason = (typeof AuthFailureReason)[keyof typeof AuthFailureReason];

const OAUTH_ERRORS: ReadonlySet<string> = new Set(['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope']);

export type AuthHeader = { ok: true; value: string | undefined } | { ok: false; reason: AuthFailureReason; message: string };

export interface AuthProvider {
  /** The Authorization header value for the next request (undefined: none). Fetches a token when needed. */
  header(signal?: AbortSignal): Promise<AuthHeader>;
  /** The server said 401: drop the cached token. Returns false when nothing can be refreshed (static or none). */
  invalidate(): boolean;
}

/** When to fetch a new token: shortly before it expires (10 % of its lifetime, at most 60 s early). */
export function tokenRefreshAt(obtainedAtMs: number, expiresInSeconds: number | undefined): number {
  if (expiresInSeconds === undefined || !Number.isFinite(expiresInSeconds) || expiresInSeconds <= 0) return Number.POSITIVE_INFINITY; // until a 401
  const lifetime = expiresInSeconds * 1000;
  return obtainedAtMs + lifetime - Math.min(60_000, lifetime / 10);
}

export const staticAuth = (value: string | undefined): AuthProvider => ({
  header: async () => ({ ok: true, value }),
  invalidate: () => false,
});

/** How the token request authenticates the client. */
export type ClientAuthentication =
  | { kind: 'client_secret_basic'; clientId: string; clientSecret: string }
  | { kind: 'client_secret_post'; clientId: string; clientSecret: string }
  | { kind: 'private_key_jwt'; clientId: string; privateKeyPem: string; kid: string; alg: 'RS384' | 'ES384'; jku?: string | undefined };

export interface OAuthTokenSourceOptions {
  tokenUrl: string;
  scope?: string | undefined;
  client: ClientAuthentication;
  http: HttpClient;
  timeoutMs: number;
  now?: () => number;
}

/** OAuth 2.0 client-credentials tokens, cached; concurrent callers share one token request. */
export class OAuthTokenSource implements AuthProvider {
  readonly #opts: OAuthTokenSourceOptions;
  readonly #now: () => number;
  #token: { value: string; refreshAt: number } | undefined;
  #inflight: Promise<AuthHeader> | undefined;
  #key: Awaited<ReturnType<typeof importPKCS8>> | undefined;
  /** Token requests made (for tests and the status page). */
  requests = 0;

  constructor(options: OAuthTokenSourceOptions) {
    this.#opts = options;
    this.#now = options.now ?? Date.now;
  }

  async header(signal?: AbortSignal): Promise<AuthHeader> {
    if (this.#token && this.#now() < this.#token.refreshAt) return { ok: true, value: `Bearer ${this.#token.value}` };
    this.#inflight ??= this.#fetch(signal).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  invalidate(): boolean {
    this.#token = undefined;
    return true;
  }

  async #fetch(signal?: AbortSignal): Promise<AuthHeader> {
    const { tokenUrl, client, scope } = this.#opts;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scope) form.set('scope', scope);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    switch (client.kind) {
      case 'client_secret_basic':
        // RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic
        headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
        break;
      case 'client_secret_post':
        form.set('client_id', client.clientId);
        form.set('client_secret', client.clientSecret);
        break;
      case 'private_key_jwt': {
        const assertion = await this.#assertion(client);
        if (!assertion.ok) return assertion;
        // RFC 7523 §2.2; SMART Backend Services: client_assertion_type jwt-bearer
        form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        form.set('client_assertion', assertion.value);
        break;
      }
      default:
        client satisfies never;
    }
    this.requests++;
    const startedAt = this.#now();
    const res = await this.#opts.http({ method: 'POST', url: tokenUrl, headers, body: form.toString(), timeoutMs: this.#opts.timeoutMs, signal });
    if (!res.ok) return { ok: false, reason: 'network', message: errorMessage('GW_ERR_FHIR_AUTH', tokenUrl, res.reason) };
    const body = (res.body ?? {}) as { access_token?: unknown; expires_in?: unknown; token_type?: unknown; error?: unknown };
    if (res.status < 200 || res.status >= 300) {
      // RFC 6749 §5.2: 400 (or 401 for invalid_client) with {"error": "..."}; error_description is not logged (free text)
      const code = typeof body.error === 'string' && OAUTH_ERRORS.has(body.error) ? (body.error as AuthFailureReason) : 'http_error';
      return { ok: false, reason: code, message: errorMessage('GW_ERR_FHIR_AUTH', tokenUrl, `token endpoint answered HTTP ${res.status} ${code}`) };
    }
    if (typeof body.access_token !== 'string' || body.access_token === '') {
      return { ok: false, reason: 'bad_response', message: errorMessage('GW_ERR_FHIR_AUTH', tokenUrl, 'token response without access_token') };
    }
    if (typeof body.token_type === 'string' && body.token_type.toLowerCase() !== 'bearer') {
      return { ok: false, reason: 'bad_response', message: errorMessage('GW_ERR_FHIR_AUTH', tokenUrl, `token_type ${body.token_type} is not Bearer`) };
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : typeof body.expires_in === 'string' ? Number(body.expires_in) : undefined;
    // Measured from when the request was sent, so a slow token endpoint cannot stretch the lifetime.
    this.#token = { value: body.access_token, refreshAt: tokenRefreshAt(startedAt, expiresIn) };
    return { ok: true, value: `Bearer ${body.access_token}` };
  }

  async #assertion(client: Extract<ClientAuthentication, { kind: 'private_key_jwt' }>): Promise<{ ok: true; value: string } | { ok: false; reason: 'key'; message: string }> {
    try {
      this.#key ??= await importPKCS8(client.privateKeyPem, client.alg);
      // SMART Backend Services: iss = sub = client_id, aud = token URL, exp ≤ 5 minutes ahead, unique jti; kid (and jku) in the header.
      const nowSeconds = Math.floor(this.#now() / 1000);
      const jwt = await new SignJWT({})
        .setProtectedHeader({ alg: client.alg, kid: client.kid, typ: 'JWT', ...(client.jku ? { jku: client.jku } : {}) })
        .setIssuer(client.clientId)
        .setSubject(client.clientId)
        .setAudience(this.#opts.tokenUrl)
        .setJti(randomUUID())
        .setExpirationTime(nowSeconds + 240)
        .sign(this.#key);
      return { ok: true, value: jwt };
    } catch (err) {
      return { ok: false, reason: 'key', message: errorMessage('GW_ERR_FHIR_AUTH', this.#opts.tokenUrl, `cannot sign the client assertion: ${(err as Error).message}`) };
    }
  }
}
