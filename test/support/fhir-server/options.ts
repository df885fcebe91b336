// Options and control-API shapes of the FHIR R4 test server, shared by the server process (main.ts)
// and the test-side wrapper (client.ts). Plain data only: it crosses a process boundary as JSON.
import type { JWK } from 'jose';

export const AuthMode = {
  none: 'none',
  /** Static bearer tokens (RFC 6750), e.g. an API key the hub is configured with. */
  bearer: 'bearer',
  /** OAuth2 token endpoint: client_credentials with a secret and/or SMART Backend Services JWT assertions. */
  oauth: 'oauth',
} as const;
export type AuthMode = (typeof AuthMode)[keyof typeof AuthMode];

export interface ClientRegistration {
  clientId: string;
  /** client_credentials with client_secret (form body or HTTP Basic, RFC 6749 §2.3.1). */
  clientSecret?: string;
  /** SMART Backend Services: the client's registered public keys (each with `kid`). */
  jwks?: JWK[];
  /** Scope granted when the request names none; a requested scope must be within it. */
  scope?: string;
}

export type AuthOptions =
  | { type: 'none' }
  | { type: 'bearer'; tokens: string[] }
  | { type: 'oauth'; clients?: ClientRegistration[]; tokenTtlSeconds?: number };

export interface ServerOptions {
  /** Path of the FHIR base under the origin; default `/fhir/R4`. */
  basePath?: string;
  /** Which whole-system interactions /metadata advertises and the server honours (default both). */
  interactions?: { transaction?: boolean; batch?: boolean };
  /** Validate every received resource against the R4 definitions (default true; false = raw baseline). */
  validate?: boolean;
  /** Remember resource shapes that passed (see validate.ts) — default true; false = @medplum/core in full every time. */
  validationCache?: boolean;
  auth?: AuthOptions;
  /** PEM text or file paths: serve HTTPS. */
  tls?: { cert?: string; key?: string; certFile?: string; keyFile?: string };
  /**
   * Keep only what dedupe/order checks need (resourceType, id, meta, identifier, subject, effective[x]) of
   * each stored resource, for 10⁶-Observation drains; reads then return that slim copy. Default false.
   */
  slimStore?: boolean;
  /** One JSON line on stderr per 4xx/5xx answer (method, path, status, reason; no bodies, no tokens). */
  log?: boolean;
  /** Bodies larger than this are refused with 413 (default 64 MiB). */
  maxBodyBytes?: number;
}

/** One scripted fault. `count` = how many matching requests it hits; absent = until cleared. */
export type Fault = FaultBase &
  (
    | { kind: 'status'; status: number; retryAfter?: number; retryAfterFormat?: 'seconds' | 'http-date' }
    | { kind: 'hang'; ms: number }
    | { kind: 'close'; afterCommit?: boolean }
    | { kind: 'fail-entry'; index: number; status?: number }
  );

export interface FaultBase {
  count?: number;
  /** Which requests it hits (default `fhir`: everything under the FHIR base except /metadata). */
  target?: 'fhir' | 'bundle' | 'metadata' | 'token' | 'any';
}

export interface ServerStats {
  requests: Record<string, number>;
  bundles: { transaction: number; batch: number };
  entries: number;
  creates: number;
  updates: number;
  conditionalCreateHits: number;
  validationFailures: number;
  unauthorized: number;
  tokensIssued: number;
  tokenErrors: number;
  faultsInjected: number;
}

export interface IdentifierCount {
  identifier: string;
  count: number;
}

export interface CreatedEntry {
  seq: number;
  type: string;
  id: string;
  identifier?: string;
  /** Observation.subject as `system|value` or the reference, for "in order per patient" checks. */
  subject?: string;
  effective?: string;
}

/** The one JSON line main.ts prints on stdout when it listens. */
export interface ServerAnnouncement {
  baseUrl: string;
  tokenUrl: string;
  controlUrl: string;
  port: number;
  pid: number;
}
