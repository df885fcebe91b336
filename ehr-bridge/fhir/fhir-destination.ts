// The FHIR R4 destination: Observations as transaction (or batch, or single) conditional creates, so a resent
// Bundle creates nothing twice. Dispatch owns order, back-off, the circuit breaker and dead letters; this owns HTTP,
// auth, pacing and the mapping of the server's answers onto one SendOutcome per item.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { GatewayError, errorMessage } from '../../gateway/errors.ts';
import type { GatewayMetrics } from '../../gateway/metrics.ts';
import { DestinationType, type BufferedObservation, type Destination, type LinkState, type Observation, type SendOutcome } from '../../gateway/types.ts';
import { OAuthTokenSource, staticAuth, type AuthFailureReason, type AuthProvider } from './auth.ts';
import { buildBundle, conditionalIdentifier, identifierQuery, type BundleKind } from './bundle.ts';
import { chooseSendMode, type SendMode } from './capability.ts';
import { resolveSecret, type FhirDestinationConfig } from './config.ts';
import { acceptsObservation } from './filter.ts';
import { createHttpClient, type HttpClient, type HttpResult } from './http.ts';
import { classifyStatus, mapBundleResponse, outcomeText, type Verdict } from './outcome.ts';
import { TokenBucket, laneOf } from './pacing.ts';

const FHIR_JSON = 'application/fhir+json';

type Env = Readonly<Record<string, string | undefined>>;

export interface FhirDestinationOptions {
  logger?: Logger;
  metrics?: GatewayMetrics;
  env?: Env;
  /** Injected for tests (token cache timing); Date.now otherwise. */
  now?: () => number;
  /** Injected for unit tests of the outcome logic (a function, not a server); node:https otherwise. */
  http?: HttpClient;
}

/** The answer to one FHIR API request after auth (and the one 401 refresh). */
type Answer = { kind: 'http'; verdict: Verdict; headers: Record<string, string | string[] | undefined> } | { kind: 'failed'; outcome: Extract<SendOutcome, { kind: 'retry' }> };

/** How one Bundle went: outcomes per item, or refused as a whole (a transaction names no entry). */
type BundleResult = { kind: 'outcomes'; outcomes: SendOutcome[] } | { kind: 'refused'; status: number; reason: string };

export class FhirDestination implements Destination {
  readonly id: string;
  readonly type = DestinationType.fhir;
  /** Dispatch hands over enough for every lane to fill one Bundle. */
  readonly preferredBatchSize: number;
  readonly #config: FhirDestinationConfig;
  readonly #log: Logger | undefined;
  readonly #metrics: GatewayMetrics | undefined;
  readonly #http: HttpClient;
  readonly #closeHttp: () => void;
  readonly #auth: AuthProvider;
  readonly #bucket: TokenBucket | undefined;
  readonly #now: () => number;
  #mode: SendMode | undefined;
  #link: LinkState = 'connecting';
  #closed = false;
  #probing: Promise<Extract<SendOutcome, { kind: 'retry' }> | undefined> | undefined;

  constructor(config: FhirDestinationConfig, options: FhirDestinationOptions = {}) {
    this.id = config.id;
    this.#config = config;
    this.#log = options.logger?.child({ stage: 'ehr-bridge', destination: config.id });
    this.#metrics = options.metrics;
    this.#now = options.now ?? Date.now;
    this.preferredBatchSize = config.batchSize * config.concurrency;
    const client = options.http ? { request: options.http, close: () => undefined } : createHttpClient({ tls: config.tls, maxSockets: config.concurrency + 1 });
    this.#http = client.request;
    this.#closeHttp = client.close;
    this.#auth = this.#createAuth(options.env ?? process.env);
    this.#bucket = config.rateLimitPerSecond === undefined ? undefined : new TokenBucket(config.rateLimitPerSecond, this.#now);
    void this.#probeOnce(); // at start: the link state and send mode are known before the first reading
  }

  /** Bad secrets are configuration errors: the gateway does not start (exit 78) and the message names the key. */
  #createAuth(env: Env): AuthProvider {
    const auth = this.#config.auth;
    const where = `destinations[id=${this.id}].auth`;
    const secret = (key: string): string => {
      const r = resolveSecret(auth as Record<string, unknown>, key, where, env);
      if (!r.ok) throw new GatewayError('GW_ERR_CONFIG_INVALID', [r.issues.map((i) => i.message).join('; ')]);
      return r.value;
    };
    const common = { http: this.#http, timeoutMs: this.#config.requestTimeoutMs, now: this.#now };
    switch (auth.type) {
      case 'none':
        return staticAuth(undefined);
      case 'bearer':
        return staticAuth(`Bearer ${secret('token')}`);
      case 'client_credentials':
        return new OAuthTokenSource({
          ...common,
          tokenUrl: auth.tokenUrl,
          scope: auth.scope,
          client: { kind: auth.clientAuthMethod, clientId: auth.clientId, clientSecret: secret('clientSecret') },
        });
      case 'smart_backend': {
        let privateKeyPem: string;
        try {
          privateKeyPem = readFileSync(auth.privateKeyFile, 'utf8');
        } catch (err) {
          throw new GatewayError('GW_ERR_CONFIG_INVALID', [errorMessage('GW_ERR_FHIR_CONFIG', this.id, 'auth.privateKeyFile', (err as Error).message)]);
        }
        return new OAuthTokenSource({
          ...common,
          tokenUrl: auth.tokenUrl,
          scope: auth.scope,
          client: { kind: 'private_key_jwt', clientId: auth.clientId, privateKeyPem, kid: auth.kid, alg: auth.alg, jku: auth.jku },
        });
      }
      default:
        return auth satisfies never;
    }
  }

  accepts(observation: Observation): boolean {
    return acceptsObservation(this.#config.filter, observation);
  }

  linkState(): LinkState {
    return this.#closed ? 'closed' : this.#link;
  }

  /** The send mode in use (after the capability probe), for tests and the status page. */
  sendMode(): SendMode | undefined {
    return this.#mode;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closeHttp();
  }

  async send(batch: readonly BufferedObservation[], signal?: AbortSignal): Promise<SendOutcome[]> {
    if (this.#closed) return batch.map(() => notSent('destination closed'));
    // The cheap probe: at start and after the link was lost, read /metadata before sending data (and re-choose the mode).
    if (this.#mode === undefined || this.#link !== 'connected') {
      const probe = await this.#probeOnce(signal);
      if (probe !== undefined) return batch.map(() => probe);
    }
    const started = this.#now();
    const lanes = this.#lanes(batch);
    const outcomes: SendOutcome[] = new Array(batch.length);
    await Promise.all(
      lanes.map(async (lane) => {
        let failed: Extract<SendOutcome, { kind: 'retry' }> | undefined;
        for (let at = 0; at < lane.length; at += this.#config.batchSize) {
          const chunk = lane.slice(at, at + this.#config.batchSize);
          if (failed) {
            // A lane stops at its first failure: this patient's later Observations must not overtake.
            for (const i of chunk) outcomes[i] = notSent('an earlier Bundle of this lane must go first');
            continue;
          }
          const result = await this.#sendChunk(chunk.map((i) => batch[i]!), signal, started);
          result.forEach((o, k) => (outcomes[chunk[k]!] = o));
          failed = result.find((o): o is Extract<SendOutcome, { kind: 'retry' }> => o.kind === 'retry');
        }
      }),
    );
    // Dispatch waits for the first retry's afterMs; honour the longest Retry-After any lane was given.
    const longest = Math.max(0, ...outcomes.map((o) => (o.kind === 'retry' ? (o.afterMs ?? 0) : 0)));
    const first = outcomes.findIndex((o) => o.kind === 'retry');
    if (first >= 0 && longest > 0) outcomes[first] = { ...(outcomes[first] as Extract<SendOutcome, { kind: 'retry' }>), afterMs: longest };
    return outcomes;
  }

  /** Item indexes per lane: one lane per patient hash when concurrency > 1, preserving order within a lane. */
  #lanes(batch: readonly BufferedObservation[]): number[][] {
    const n = this.#config.concurrency;
    if (n === 1 || batch.length <= this.#config.batchSize) return [batch.map((_, i) => i)];
    const lanes: number[][] = Array.from({ length: n }, () => []);
    batch.forEach((item, i) => {
      const subject = item.observation.subject?.identifier;
      lanes[laneOf(`${subject?.system ?? ''}|${subject?.value ?? ''}`, n)]!.push(i);
    });
    return lanes.filter((l) => l.length > 0);
  }

  async #sendChunk(items: BufferedObservation[], signal: AbortSignal | undefined, started: number): Promise<SendOutcome[]> {
    const mode = this.#mode ?? 'single';
    switch (mode) {
      case 'transaction': {
        const result = await this.#postBundle(items, 'transaction', signal, started);
        if (result.kind === 'outcomes') return result.outcomes;
        // A transaction is all-or-nothing and its OperationOutcome need not name the entry. The same entries as a
        // batch give one answer each; conditional creates make the resend safe (nothing was committed anyway).
        this.#log?.info({ status: result.status, items: items.length }, 'transaction refused as a whole; resending as a batch to find the entry');
        return this.#sendAsBatch(items, signal, started);
      }
      case 'batch':
        return this.#sendAsBatch(items, signal, started);
      case 'single':
        return this.#sendSingles(items, signal, started);
      default:
        return mode satisfies never;
    }
  }

  async #sendAsBatch(items: BufferedObservation[], signal: AbortSignal | undefined, started: number): Promise<SendOutcome[]> {
    const result = await this.#postBundle(items, 'batch', signal, started);
    if (result.kind === 'outcomes') return result.outcomes;
    // The batch itself was refused (e.g. 413 too large, or a server that validates the whole Bundle first): one by one.
    this.#log?.info({ status: result.status, items: items.length }, 'batch refused as a whole; sending its entries one by one');
    return this.#sendSingles(items, signal, started);
  }

  async #postBundle(items: BufferedObservation[], kind: BundleKind, signal: AbortSignal | undefined, started: number): Promise<BundleResult> {
    const built = buildBundle(
      items.map((i) => i.observation),
      kind,
      { resources: this.#config.resources },
    );
    const labels = items.map(label);
    const answer = await this.#request('POST', this.#config.baseUrl, JSON.stringify(built.bundle), {}, signal);
    if (answer.kind === 'failed') return { kind: 'outcomes', outcomes: items.map(() => answer.outcome) };
    const verdict = answer.verdict;
    switch (verdict.kind) {
      case 'ok': {
        const mapped = mapBundleResponse(this.#config.baseUrl, built, verdict.body, labels, this.#now() - started);
        if (mapped.ok) return { kind: 'outcomes', outcomes: mapped.outcomes };
        const outcome: SendOutcome = { kind: 'retry', code: 'GW_ERR_FHIR_RESPONSE', reason: mapped.reason };
        return { kind: 'outcomes', outcomes: items.map(() => outcome) };
      }
      case 'refused':
        return { kind: 'refused', status: verdict.status, reason: verdict.reason };
      case 'retry':
      case 'unauthorized': {
        const outcome = this.#retryOf(verdict);
        return { kind: 'outcomes', outcomes: items.map(() => outcome) };
      }
      default:
        return verdict satisfies never;
    }
  }

  /** One conditional create per Observation (FHIR R4 http.html#ccreate: the If-None-Exist header), in order. */
  async #sendSingles(items: BufferedObservation[], signal: AbortSignal | undefined, started: number): Promise<SendOutcome[]> {
    const outcomes: SendOutcome[] = [];
    for (const item of items) {
      if (outcomes.some((o) => o.kind === 'retry')) {
        outcomes.push(notSent('an earlier item must go first'));
        continue;
      }
      const ident = conditionalIdentifier(item.observation);
      const { id: _id, ...resource } = item.observation;
      const headers: Record<string, string> = ident ? { 'if-none-exist': identifierQuery(ident.system, ident.value) } : {};
      const answer = await this.#request('POST', `${this.#config.baseUrl}/Observation`, JSON.stringify(resource), headers, signal);
      if (answer.kind === 'failed') {
        outcomes.push(answer.outcome);
        continue;
      }
      const verdict = answer.verdict;
      switch (verdict.kind) {
        case 'ok': {
          const location = header(answer.headers, 'location') ?? header(answer.headers, 'content-location') ?? `Observation?identifier=${label(item)}`;
          outcomes.push({ kind: 'delivered', receipt: { id: location, detail: verdict.status === 201 ? '201 Created' : `${verdict.status}`, latencyMs: this.#now() - started } });
          break;
        }
        case 'refused':
          outcomes.push({
            kind: 'rejected',
            code: 'GW_ERR_FHIR_ENTRY_REJECTED',
            reason: errorMessage('GW_ERR_FHIR_ENTRY_REJECTED', label(item), verdict.status, outcomeText(answer.body)),
          });
          break;
        case 'retry':
        case 'unauthorized':
          outcomes.push(this.#retryOf(verdict));
          break;
        default:
          verdict satisfies never;
      }
    }
    return outcomes;
  }

  #retryOf(verdict: Extract<Verdict, { kind: 'retry' | 'unauthorized' }>): Extract<SendOutcome, { kind: 'retry' }> {
    if (verdict.kind === 'unauthorized') {
      return { kind: 'retry', code: 'GW_ERR_FHIR_AUTH', reason: errorMessage('GW_ERR_FHIR_AUTH', this.#config.baseUrl, 'HTTP 401 after a token refresh') };
    }
    return { kind: 'retry', code: verdict.code, reason: verdict.reason, ...(verdict.afterMs === undefined ? {} : { afterMs: verdict.afterMs }) };
  }

  /** One probe at a time; callers arriving meanwhile share its answer. */
  #probeOnce(signal?: AbortSignal): Promise<Extract<SendOutcome, { kind: 'retry' }> | undefined> {
    this.#probing ??= this.#probe(signal).finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  /** GET /metadata (no credentials needed: FHIR R4 http.html#capabilities); undefined when the server answered. */
  async #probe(signal?: AbortSignal): Promise<Extract<SendOutcome, { kind: 'retry' }> | undefined> {
    const res = await this.#http({
      method: 'GET',
      url: `${this.#config.baseUrl}/metadata`,
      headers: { accept: FHIR_JSON },
      timeoutMs: this.#config.requestTimeoutMs,
      signal,
    });
    if (!res.ok) {
      this.#setLink('down', res.code);
      return { kind: 'retry', code: res.code, reason: res.reason };
    }
    if (res.status >= 500 || res.status === 429) {
      this.#setLink('down', `HTTP ${res.status}`);
      const verdict = classifyStatus(this.#config.baseUrl, res.status, res.headers, res.body, this.#now());
      return verdict.kind === 'retry' ? this.#retryOf(verdict) : { kind: 'retry', code: 'GW_ERR_FHIR_HTTP', reason: errorMessage('GW_ERR_FHIR_HTTP', this.#config.baseUrl, res.status, 'metadata') };
    }
    const choice = chooseSendMode(this.#config.bundleType, res.status === 200 ? res.body : undefined);
    if (choice.mode !== this.#mode) {
      this.#log?.info({ mode: choice.mode, reason: choice.reason, fhirVersion: choice.fhirVersion }, 'FHIR send mode chosen');
    }
    if (choice.fhirVersion !== undefined && !choice.fhirVersion.startsWith('4.0')) {
      this.#log?.warn({ fhirVersion: choice.fhirVersion }, 'the FHIR server is not R4 (4.0.x); Observations are R4');
    }
    this.#mode = choice.mode;
    this.#setLink('connected');
    return undefined;
  }

  #setLink(state: LinkState, why?: string): void {
    if (state === this.#link) return;
    const was = this.#link;
    this.#link = state;
    if (state === 'down') this.#log?.warn({ code: why }, 'FHIR server unreachable; probing /metadata before the next send');
    else if (state === 'connected' && was === 'down') this.#log?.info('FHIR server reachable again');
  }

  /** One FHIR API request with pacing, authorization and the single 401 refresh. */
  async #request(method: 'POST', url: string, body: string, extraHeaders: Record<string, string>, signal: AbortSignal | undefined): Promise<Answer & { body?: unknown }> {
    for (let attempt = 1; ; attempt++) {
      if (this.#bucket && !(await this.#bucket.take(signal))) return { kind: 'failed', outcome: notSent('send aborted') };
      const auth = await this.#auth.header(signal);
      if (!auth.ok) return { kind: 'failed', outcome: this.#authFailure(auth.reason, auth.message) };
      const res: HttpResult = await this.#http({
        method,
        url,
        headers: { 'content-type': FHIR_JSON, accept: FHIR_JSON, ...(auth.value ? { authorization: auth.value } : {}), ...extraHeaders },
        body,
        timeoutMs: this.#config.requestTimeoutMs,
        signal,
      });
      if (!res.ok) {
        // The Bundle may have been committed (timeout / socket closed after the request went out): the resend is a
        // conditional create, so it matches instead of creating again.
        this.#setLink('down', res.code);
        return { kind: 'failed', outcome: { kind: 'retry', code: res.code, reason: res.reason } };
      }
      this.#setLink('connected');
      const verdict = classifyStatus(this.#config.baseUrl, res.status, res.headers, res.body, this.#now());
      if (verdict.kind === 'unauthorized') {
        // RFC 6750 §3.1 invalid_token: expired early (clock skew) or revoked. One fresh token, one resend.
        if (attempt === 1 && this.#auth.invalidate()) {
          this.#log?.info('FHIR server answered 401; fetching a new token and resending once');
          continue;
        }
        return { kind: 'failed', outcome: this.#authFailure('unauthorized', errorMessage('GW_ERR_FHIR_AUTH', this.#config.baseUrl, 'HTTP 401 after a token refresh')) };
      }
      if (verdict.kind === 'retry' && verdict.code === 'GW_ERR_FHIR_AUTH') this.#authFailure('forbidden', verdict.reason);
      return { kind: 'http', verdict, headers: res.headers, body: res.body };
    }
  }

  #authFailure(reason: AuthFailureReason, message: string): Extract<SendOutcome, { kind: 'retry' }> {
    this.#metrics?.fhirAuthFailures.inc({ destination: this.id, reason });
    // The message names the URL and the OAuth error code only: never a secret, a token or an assertion.
    this.#log?.warn({ code: 'GW_ERR_FHIR_AUTH', reason }, message);
    return { kind: 'retry', code: 'GW_ERR_FHIR_AUTH', reason: message };
  }
}

function label(item: BufferedObservation): string {
  return item.observation.id ?? String(item.seq);
}

function notSent(why: string): Extract<SendOutcome, { kind: 'retry' }> {
  return { kind: 'retry', code: 'GW_ERR_FHIR_NOT_SENT', reason: errorMessage('GW_ERR_FHIR_NOT_SENT', 'item', why) };
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
