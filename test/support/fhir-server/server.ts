// A FHIR R4 server for tests (a test double, not a product): node:http(s), the in-memory Store, every
// received resource validated by validate.ts, transaction/batch and conditional create/update per FHIR R4
// http.html, auth per auth.ts, and faults scripted at runtime through the control API under /$test.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Bundle, BundleEntry, CapabilityStatement, OperationOutcome, OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { Auth } from './auth.ts';
import type { ClientRegistration, Fault, ServerAnnouncement, ServerOptions, ServerStats } from './options.ts';
import { Store, identifierKeys } from './store.ts';
import { issue, loadDefinitions, profileWarnings, setValidationCache, validateFhirResource } from './validate.ts';

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

export const RequestKind = {
  metadata: 'metadata',
  transaction: 'transaction',
  batch: 'batch',
  create: 'create',
  update: 'update',
  read: 'read',
  search: 'search',
  token: 'token',
  other: 'other',
} as const;
export type RequestKind = (typeof RequestKind)[keyof typeof RequestKind];

/** One entry's outcome inside a bundle, or of a plain interaction. */
interface EntryResult {
  status: number;
  location?: string;
  resource?: Resource;
  outcome?: OperationOutcome;
  /** Resources this entry would commit. */
  commit?: Resource[];
}

interface ActiveFault {
  fault: Fault;
  remaining: number; // Infinity = until cleared
}

export interface FhirTestServer {
  listen(port: number, host?: string): Promise<ServerAnnouncement>;
  close(): Promise<void>;
}

function emptyStats(): ServerStats {
  return {
    requests: {},
    bundles: { transaction: 0, batch: 0 },
    entries: 0,
    creates: 0,
    updates: 0,
    conditionalCreateHits: 0,
    validationFailures: 0,
    unauthorized: 0,
    tokensIssued: 0,
    tokenErrors: 0,
    faultsInjected: 0,
  };
}

export function createFhirTestServer(options: ServerOptions, storeFile?: string): FhirTestServer {
  const basePath = (options.basePath ?? '/fhir/R4').replace(/\/+$/, '');
  const interactions = { transaction: options.interactions?.transaction ?? true, batch: options.interactions?.batch ?? true };
  const validate = options.validate ?? true;
  const maxBody = options.maxBodyBytes ?? 64 * 1024 * 1024;
  const store = new Store(storeFile, options.slimStore ?? false);
  const auth = new Auth(options.auth);
  let stats = emptyStats();
  let faults: ActiveFault[] = [];
  let origin = '';
  if (validate) loadDefinitions();
  setValidationCache(options.validationCache ?? true);

  const tls = options.tls;
  const server: Server = tls
    ? createHttpsServer({ cert: tls.cert ?? readFileSync(tls.certFile!), key: tls.key ?? readFileSync(tls.keyFile!) }, handle)
    : createHttpServer(handle);
  server.keepAliveTimeout = 30_000;

  const count = (kind: RequestKind): void => {
    stats.requests[kind] = (stats.requests[kind] ?? 0) + 1;
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) tooLarge = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) return send(res, 413, outcome([issue('too-costly', `body exceeds ${maxBody} bytes`)]));
      route(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
        // A bug in the test double itself: answer 500 and say so on stderr.
        process.stderr.write(`fhir-test-server: ${(err as Error).stack ?? String(err)}\n`);
        if (!res.headersSent) send(res, 500, outcome([issue('exception', `test server bug: ${(err as Error).message}`)]));
      });
    });
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, type = FHIR_JSON): void {
    if (res.destroyed) return;
    if (options.log && status >= 400) {
      // One line per refusal on stderr: what and why, never a resource or a credential.
      const first = (body as OperationOutcome | { error_description?: string } | undefined) ?? {};
      const why = 'issue' in first ? first.issue?.[0]?.diagnostics : 'error_description' in first ? first.error_description : undefined;
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), method: res.req.method, path: res.req.url?.split('?')[0], status, why })}\n`);
    }
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), Date: new Date(auth.now()).toUTCString(), ...headers });
    res.end(text);
  }

  async function route(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path.startsWith('/$test/') || path === '/$test') return control(req, res, path.slice('/$test'.length), url.searchParams, body);
    if (path === '/token') {
      count('token');
      if (await injectFault(req, res, 'token')) return;
      return token(req, res, body);
    }
    if (path === '/.well-known/smart-configuration' || path === `${basePath}/.well-known/smart-configuration`) {
      // SMART App Launch 2.x conformance-discovery.html
      return send(res, 200, smartConfiguration(), {}, JSON_TYPE);
    }
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return send(res, 404, outcome([issue('not-found', `no route ${path}`)]));
    const rel = path.slice(basePath.length).replace(/^\/+/, '');
    const method = req.method ?? 'GET';

    if (rel === 'metadata' && method === 'GET') {
      count('metadata');
      if (await injectFault(req, res, 'metadata')) return;
      // SMART / FHIR: the CapabilityStatement is readable without a token.
      return send(res, 200, capabilityStatement());
    }

    // Faults first, as a proxy or overloaded server answers before it looks at credentials.
    if (await injectFault(req, res, rel === '' && method === 'POST' ? 'bundle' : 'fhir')) return;

    const checked = auth.check(req.headers.authorization);
    if (!checked.ok) {
      stats.unauthorized++;
      // RFC 6750 §3.1: invalid_token for a missing/unknown/expired/revoked access token.
      return send(res, 401, outcome([issue('login', checked.description)]), {
        'WWW-Authenticate': `Bearer realm="fhir-test-server", error="invalid_token", error_description="${checked.description}"`,
      });
    }

    let parsed: unknown;
    if (method === 'POST' || method === 'PUT') {
      const contentType = String(req.headers['content-type'] ?? 'application/fhir+json');
      // http.html §3.1.0.1.10: FHIR JSON is application/fhir+json (application/json is tolerated).
      if (!/^application\/(fhir\+)?json\b/i.test(contentType)) {
        count('other');
        return send(res, 415, outcome([issue('not-supported', `Content-Type ${contentType} is not application/fhir+json`)]));
      }
      try {
        parsed = JSON.parse(body);
      } catch (err) {
        count('other');
        return send(res, 400, outcome([issue('structure', `body is not JSON: ${(err as Error).message}`)]));
      }
    }

    const segments = rel === '' ? [] : rel.split('/');
    const prefer = String(req.headers.prefer ?? '');

    if (segments.length === 0 && method === 'POST') {
      const type = (parsed as Bundle | undefined)?.type;
      const kind = type === 'transaction' ? 'transaction' : type === 'batch' ? 'batch' : 'other';
      count(kind);
      const result = processBundle(parsed, prefer);
      return finish(req, res, 'bundle', result.status, result.body, {});
    }

    const [type, id, extra, versionId] = segments;
    if (method === 'GET' && type !== undefined && id !== undefined && extra === '_history' && versionId !== undefined && segments.length === 4) {
      // http.html §3.1.0.3 vread: this store keeps the current version only.
      count('read');
      const current = store.get(type, id)?.resource;
      if (current?.meta?.versionId === versionId) return send(res, 200, current, { ETag: `W/"${versionId}"` });
      return send(res, 404, outcome([issue('not-found', `${type}/${id}/_history/${versionId} is not the current version or not known`)]));
    }
    if (type === undefined || extra !== undefined || !/^[A-Z][A-Za-z]+$/.test(type)) {
      count('other');
      return send(res, 404, outcome([issue('not-supported', `unsupported path ${path}`)]));
    }
    const kind: RequestKind = method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'GET' ? (id ? 'read' : 'search') : 'other';
    count(kind);

    const entryUrl = `${type}${id ? `/${id}` : ''}${url.search}`;
    const ifNoneExist = typeof req.headers['if-none-exist'] === 'string' ? req.headers['if-none-exist'] : undefined;
    const txn = new Pending(store);
    const result = processEntry(method, entryUrl, ifNoneExist, parsed, txn);
    if (result.commit?.length) commit(result.commit);
    const headers: Record<string, string> = {};
    if (result.location) {
      headers.Location = `${origin}${basePath}/${result.location}`;
      headers.ETag = `W/"${result.resource?.meta?.versionId ?? '1'}"`;
    }
    // FHIR R4 http.html §3.1.0.8.2 Prefer: return=minimal | representation | OperationOutcome
    const body2 = result.status >= 400 ? result.outcome : prefer.includes('return=minimal') ? undefined : prefer.includes('return=OperationOutcome') ? (result.outcome ?? outcome([], 'ok')) : result.resource;
    return finish(req, res, 'fhir', result.status, body2, headers);
  }

  /** Send, unless a `close afterCommit` fault says to drop the answer after the commit. */
  function finish(req: IncomingMessage, res: ServerResponse, where: 'fhir' | 'bundle', status: number, body: unknown, headers: Record<string, string>): void {
    const drop = takeFault((f) => f.kind === 'close' && f.afterCommit === true && matches(f, where));
    if (drop) {
      stats.faultsInjected++;
      req.socket.destroy();
      return;
    }
    send(res, status, body, headers);
  }

  function matches(f: Fault, where: 'fhir' | 'bundle' | 'metadata' | 'token'): boolean {
    const target = f.target ?? 'fhir';
    if (target === 'any') return true;
    if (target === 'fhir') return where === 'fhir' || where === 'bundle';
    return target === where;
  }

  function takeFault(pred: (f: Fault) => boolean): Fault | undefined {
    const active = faults.find((a) => a.remaining > 0 && pred(a.fault));
    if (!active) return undefined;
    active.remaining--;
    faults = faults.filter((a) => a.remaining > 0);
    return active.fault;
  }

  /** Before processing: status / hang / close faults. Returns true when the request was answered. */
  async function injectFault(req: IncomingMessage, res: ServerResponse, where: 'fhir' | 'bundle' | 'metadata' | 'token'): Promise<boolean> {
    const f = takeFault((x) => (x.kind === 'status' || x.kind === 'hang' || (x.kind === 'close' && !x.afterCommit)) && matches(x, where));
    if (!f) return false;
    stats.faultsInjected++;
    switch (f.kind) {
      case 'status': {
        const headers: Record<string, string> = {};
        if (f.retryAfter !== undefined) {
          // RFC 9110 §10.2.3 Retry-After = HTTP-date / delay-seconds
          headers['Retry-After'] = f.retryAfterFormat === 'http-date' ? new Date(auth.now() + f.retryAfter * 1000).toUTCString() : String(f.retryAfter);
        }
        const code = f.status === 429 ? 'throttled' : f.status >= 500 ? 'transient' : 'processing';
        send(res, f.status, outcome([issue(code, `injected fault: HTTP ${f.status}`)]), headers);
        return true;
      }
      case 'hang':
        await new Promise((r) => setTimeout(r, f.ms));
        return false; // then processed as usual: the server commits even if the client gave up
      case 'close':
        req.socket.destroy();
        return true;
      case 'fail-entry':
        return false;
      default:
        f satisfies never;
        return false;
    }
  }

  function commit(resources: Resource[]): void {
    store.commit(resources);
  }

  /** FHIR R4 http.html §3.1.0.11 batch/transaction. */
  function processBundle(input: unknown, prefer: string): { status: number; body: unknown } {
    const bundle = input as Bundle | undefined;
    if (bundle?.resourceType !== 'Bundle') return { status: 400, body: outcome([issue('structure', 'POST to the base needs a Bundle', ['Bundle'])]) };
    const type = bundle.type;
    if (type !== 'transaction' && type !== 'batch') {
      return { status: 400, body: outcome([issue('not-supported', `Bundle.type ${String(type)}: only transaction and batch are processed at the base`, ['Bundle.type'])]) };
    }
    if (!interactions[type]) {
      return { status: 400, body: outcome([issue('not-supported', `this server does not support the ${type} interaction (see CapabilityStatement.rest.interaction)`, ['Bundle.type'])]) };
    }
    stats.bundles[type]++;
    const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
    stats.entries += entries.length;
    const failAt = takeFault((f) => f.kind === 'fail-entry');
    if (failAt) stats.faultsInjected++;
    const txn = new Pending(store);
    const results: EntryResult[] = new Array(entries.length);
    // Transactions process DELETE, POST, PUT/PATCH, then GET (http.html §3.1.0.11.2); batch in order.
    const rank: Record<string, number> = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };
    const orderIdx = entries.map((_, i) => i);
    if (type === 'transaction') orderIdx.sort((a, b) => (rank[entries[a]?.request?.method ?? ''] ?? 9) - (rank[entries[b]?.request?.method ?? ''] ?? 9) || a - b);
    for (const i of orderIdx) {
      const entry = entries[i] as BundleEntry;
      if (failAt?.kind === 'fail-entry' && failAt.index === i) {
        results[i] = { status: failAt.status ?? 422, outcome: outcome([issue('business-rule', `injected fault: entry ${i} refused`)]) };
        continue;
      }
      const request = entry?.request;
      if (!request?.method || !request.url) {
        // bdl-3/bdl-4: entry.request is mandatory in a batch/transaction
        results[i] = { status: 400, outcome: outcome([issue('required', 'entry.request.method and entry.request.url are required', [`Bundle.entry[${i}].request`])]) };
        continue;
      }
      const r = processEntry(request.method, request.url, request.ifNoneExist, entry.resource, txn);
      results[i] = r;
      if (type === 'batch' || r.status < 400) txn.add(r.commit ?? [], r.status < 400);
    }

    if (type === 'transaction') {
      const failed = results.map((r, i) => ({ r, i })).filter(({ r }) => r.status >= 400);
      if (failed.length > 0) {
        // All-or-nothing: nothing is stored; the OperationOutcome names each failing entry.
        const issues: OperationOutcomeIssue[] = failed.flatMap(({ r, i }) =>
          (r.outcome?.issue ?? [issue('processing', 'failed')]).map((x) => ({
            ...x,
            diagnostics: `Bundle.entry[${i}]${entries[i]?.fullUrl ? ` (${entries[i]!.fullUrl})` : ''}: HTTP ${r.status}: ${x.diagnostics ?? x.details?.text ?? ''}`,
            // `Observation.status` inside entry 3 → `Bundle.entry[3].resource.status`
            expression: [`Bundle.entry[${i}]`, ...(x.expression ?? []).map((e) => `Bundle.entry[${i}].resource${e.replace(/^[A-Z][A-Za-z]*(?=\.|$)/, '')}`)],
          })),
        );
        return { status: 400, body: outcome(issues) };
      }
      txn.resolveReferences(entries, results);
    }
    const toCommit = results.flatMap((r) => (r.status < 400 ? (r.commit ?? []) : []));
    if (toCommit.length > 0) commit(toCommit);
    const returnResources = prefer.includes('return=representation');
    return {
      status: 200,
      body: {
        resourceType: 'Bundle',
        type: `${type}-response`,
        entry: results.map((r) => {
          const response: Record<string, unknown> = { status: statusLine(r.status) };
          if (r.location) {
            response.location = r.location;
            response.etag = `W/"${r.resource?.meta?.versionId ?? '1'}"`;
            if (r.resource?.meta?.lastUpdated) response.lastModified = r.resource.meta.lastUpdated;
          }
          if (r.outcome) response.outcome = r.outcome; // errors, or warnings on a success
          const withResource = r.resource !== undefined && (returnResources || r.location === undefined);
          return withResource ? { resource: r.resource, response } : { response };
        }),
      },
    };
  }

  /** One interaction (plain or a bundle entry); successes carry warnings (unknown profiles) as their outcome. */
  function processEntry(method: string, entryUrl: string, ifNoneExist: string | undefined, resource: unknown, txn: Pending): EntryResult {
    const result = interact(method, entryUrl, ifNoneExist, resource, txn);
    if (validate && result.status < 400 && result.commit?.length) {
      const warnings = profileWarnings(resource as Resource);
      if (warnings.length > 0) result.outcome = outcome(warnings);
    }
    return result;
  }

  /** The interaction itself, against the store plus what this bundle already holds. */
  function interact(method: string, entryUrl: string, ifNoneExist: string | undefined, resource: unknown, txn: Pending): EntryResult {
    const q = entryUrl.indexOf('?');
    const pathPart = (q < 0 ? entryUrl : entryUrl.slice(0, q)).replace(/^\/+/, '');
    const query = q < 0 ? '' : entryUrl.slice(q + 1);
    const [type, id] = pathPart.split('/');
    if (!type || !/^[A-Z][A-Za-z]+$/.test(type)) return fail(400, 'not-supported', `cannot process request url ${entryUrl}`);
    switch (method) {
      case 'GET': {
        if (id) {
          const found = txn.get(type, id);
          return found ? { status: 200, resource: found } : fail(404, 'not-found', `${type}/${id} is not known`);
        }
        const search = identifierSearch(query);
        if (!search.ok) return fail(400, 'not-supported', search.message);
        const ids = search.tokens ? txn.find(type, search.tokens) : store.all(type).map((s) => s.resource.id!);
        const limit = search.count ?? 1000;
        return {
          status: 200,
          resource: {
            resourceType: 'Bundle',
            type: 'searchset',
            total: ids.length,
            entry: ids.slice(0, limit).map((x) => ({ fullUrl: `${origin}${basePath}/${type}/${x}`, resource: txn.get(type, x)!, search: { mode: 'match' } })),
          } as Bundle,
        };
      }
      case 'POST': {
        if (id) return fail(405, 'not-supported', 'POST to an instance is not an interaction');
        const invalid = check(resource, type);
        if (invalid) return invalid;
        const r = resource as Resource;
        if (ifNoneExist !== undefined) {
          // http.html §3.1.0.8.1 conditional create: 0 → create, 1 → 200 and ignore, >1 → 412
          const search = identifierSearch(ifNoneExist.replace(/^[A-Za-z]+\?/, ''));
          if (!search.ok || !search.tokens) return fail(400, 'not-supported', search.ok ? 'If-None-Exist needs identifier=' : search.message);
          const ids = txn.find(type, search.tokens);
          if (ids.length > 1) return fail(412, 'duplicate', `If-None-Exist ${ifNoneExist} matched ${ids.length} resources`);
          if (ids.length === 1) {
            stats.conditionalCreateHits++;
            const existing = txn.get(type, ids[0]!)!;
            return { status: 200, location: `${type}/${existing.id}/_history/${existing.meta?.versionId ?? '1'}`, resource: existing };
          }
        }
        return create(r, type);
      }
      case 'PUT': {
        const invalid = check(resource, type);
        if (invalid) return invalid;
        const r = resource as Resource;
        if (id) {
          if (r.id !== id) return fail(400, 'invariant', `resource id ${String(r.id)} does not match the URL id ${id}`, [`${type}.id`]);
          const existing = txn.get(type, id);
          return existing ? update(r, type, existing) : create(r, type, id);
        }
        // http.html §3.1.0.4.3 conditional update
        const search = identifierSearch(query);
        if (!search.ok || !search.tokens) return fail(400, 'not-supported', search.ok ? 'conditional update needs identifier=' : search.message);
        const ids = txn.find(type, search.tokens);
        if (ids.length > 1) return fail(412, 'multiple-matches', `conditional update ${query} matched ${ids.length} resources`);
        if (ids.length === 0) return create(r, type, r.id);
        const existing = txn.get(type, ids[0]!)!;
        if (r.id !== undefined && r.id !== existing.id) return fail(400, 'invariant', `resource id ${r.id} is not the matched ${type}/${existing.id}`, [`${type}.id`]);
        return update(r, type, existing);
      }
      default:
        return fail(405, 'not-supported', `method ${method} is not supported by this test server`);
    }
  }

  function check(resource: unknown, type: string): EntryResult | undefined {
    if (resource === undefined || resource === null) return fail(400, 'required', `a ${type} resource is required`);
    if ((resource as Resource).resourceType !== type) {
      return fail(400, 'invalid', `resourceType ${String((resource as Resource).resourceType)} does not match the URL type ${type}`, ['resourceType']);
    }
    if (!validate) return undefined;
    const issues = validateFhirResource(resource);
    if (issues.length === 0) return undefined;
    stats.validationFailures++;
    // http.html §3.1.0.4: 422 Unprocessable Entity — the resource violated FHIR profiles or rules
    return { status: 422, outcome: outcome(issues) };
  }

  function create(r: Resource, type: string, id?: string): EntryResult {
    stats.creates++;
    const stored = { ...r, id: id ?? store.nextId(), meta: { ...r.meta, versionId: '1', lastUpdated: new Date(auth.now()).toISOString() } } as Resource;
    return { status: 201, location: `${type}/${stored.id}/_history/1`, resource: stored, commit: [stored] };
  }

  function update(r: Resource, type: string, existing: Resource): EntryResult {
    stats.updates++;
    const version = String(Number(existing.meta?.versionId ?? '1') + 1);
    const stored = { ...r, id: existing.id, meta: { ...r.meta, versionId: version, lastUpdated: new Date(auth.now()).toISOString() } } as Resource;
    return { status: 200, location: `${type}/${stored.id}/_history/${version}`, resource: stored, commit: [stored] };
  }

  function capabilityStatement(): CapabilityStatement {
    const interaction = [
      ...(interactions.transaction ? [{ code: 'transaction' as const }] : []),
      ...(interactions.batch ? [{ code: 'batch' as const }] : []),
    ];
    const oauth = auth.mode === 'oauth';
    return {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: new Date(auth.now()).toISOString(),
      kind: 'instance',
      software: { name: 'rpm-gateway FHIR test server (test double)' },
      implementation: { description: 'In-memory FHIR R4 test double', url: `${origin}${basePath}` },
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [
        {
          mode: 'server',
          ...(auth.mode === 'none'
            ? {}
            : {
                security: {
                  service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: oauth ? 'SMART-on-FHIR' : 'OAuth' }] }],
                  ...(oauth
                    ? { extension: [{ url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris', extension: [{ url: 'token', valueUri: `${origin}/token` }] }] }
                    : {}),
                },
              }),
          resource: ['Observation', 'Patient', 'Device'].map((type) => ({
            type,
            interaction: [{ code: 'read' }, { code: 'create' }, { code: 'update' }, { code: 'search-type' }],
            versioning: 'versioned',
            updateCreate: true,
            conditionalCreate: true,
            conditionalUpdate: true,
            searchParam: [{ name: 'identifier', type: 'token' }],
          })) as NonNullable<CapabilityStatement['rest']>[number]['resource'],
          interaction,
        },
      ],
    } as CapabilityStatement;
  }

  function smartConfiguration(): unknown {
    return {
      token_endpoint: `${origin}/token`,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/*.*', 'system/Observation.write', 'system/Patient.read', 'system/Device.read'],
      capabilities: ['client-confidential-asymmetric', 'client-confidential-symmetric'],
    };
  }

  async function token(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    if (req.method !== 'POST') return send(res, 405, { error: 'invalid_request', error_description: 'POST only' }, {}, JSON_TYPE);
    const type = String(req.headers['content-type'] ?? '');
    if (!type.startsWith('application/x-www-form-urlencoded')) {
      stats.tokenErrors++;
      return send(res, 400, { error: 'invalid_request', error_description: 'RFC 6749 §4.4.2: the body must be application/x-www-form-urlencoded' }, {}, JSON_TYPE);
    }
    const result = await auth.token(new URLSearchParams(body), req.headers.authorization, `${origin}/token`);
    if (result.ok) stats.tokensIssued++;
    else stats.tokenErrors++;
    // RFC 6749 §5.1: Cache-Control: no-store on token responses
    const headers: Record<string, string> = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
    if (!result.ok && result.status === 401) headers['WWW-Authenticate'] = 'Basic realm="fhir-test-server"';
    send(res, result.status, result.body, headers, JSON_TYPE);
  }

  async function control(req: IncomingMessage, res: ServerResponse, path: string, params: URLSearchParams, body: string): Promise<void> {
    const method = req.method ?? 'GET';
    let input: Record<string, unknown> = {};
    if (body.trim() !== '') {
      try {
        input = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return send(res, 400, { error: 'control body is not JSON' }, {}, JSON_TYPE);
      }
    }
    const ok = (value: unknown): void => send(res, 200, value, {}, JSON_TYPE);
    const [, what, arg] = path.split('/');
    switch (`${method} ${what ?? ''}`) {
      case 'GET stats':
        return ok({ ...stats, stored: store.counts(), activeFaults: faults.map((a) => ({ ...a.fault, remaining: a.remaining === Infinity ? null : a.remaining })) });
      case 'POST faults': {
        const list = (Array.isArray(input) ? input : [input]) as Fault[];
        for (const f of list) faults.push({ fault: f, remaining: f.count ?? Infinity });
        return ok({ active: faults.length });
      }
      case 'PUT faults': {
        // Replace every active fault in one step: no request can slip between a clear and an add.
        const list = (Array.isArray(input) ? input : [input]) as Fault[];
        faults = list.map((f) => ({ fault: f, remaining: f.count ?? Infinity }));
        return ok({ active: faults.length });
      }
      case 'DELETE faults':
        faults = [];
        return ok({ active: 0 });
      case 'GET resources':
        return ok(store.all(arg ?? 'Observation').map((s) => s.resource));
      case 'GET identifiers':
        return ok(store.identifierCounts(arg ?? 'Observation', params.get('duplicates') === 'true'));
      case 'GET order':
        return ok(store.creationOrder(arg));
      case 'GET tokens':
        return ok(auth.issuedTokens());
      case 'POST revoke':
        return ok({ revoked: auth.revoke(input as { token?: string; clientId?: string; all?: boolean }) });
      case 'POST clients':
        auth.registerClient(input as unknown as ClientRegistration);
        return ok({ registered: (input as { clientId?: string }).clientId });
      case 'POST clock':
        auth.skewMs = Number(input.skewMs ?? 0);
        return ok({ skewMs: auth.skewMs, now: new Date(auth.now()).toISOString() });
      case 'POST token-ttl':
        auth.setTokenTtl(Number(input.seconds));
        return ok({ seconds: Number(input.seconds) });
      case 'POST interactions':
        if (typeof input.transaction === 'boolean') interactions.transaction = input.transaction;
        if (typeof input.batch === 'boolean') interactions.batch = input.batch;
        return ok(interactions);
      case 'POST reset':
        store.reset();
        stats = emptyStats();
        faults = [];
        return ok({ reset: true });
      default:
        return send(res, 404, { error: `no control route ${method} /$test${path}` }, {}, JSON_TYPE);
    }
  }

  return {
    listen(port: number, host = '127.0.0.1'): Promise<ServerAnnouncement> {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const { port: actual } = server.address() as AddressInfo;
          origin = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${actual}`;
          resolve({ baseUrl: `${origin}${basePath}`, tokenUrl: `${origin}/token`, controlUrl: `${origin}/$test`, port: actual, pid: process.pid });
        });
      });
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** A bundle's or request's view: the store plus what earlier entries of the same bundle will commit. */
class Pending {
  private readonly created = new Map<string, Resource>(); // `Type/id`
  private readonly byIdentifier = new Map<string, string[]>(); // `Type\0system|value` → ids
  /** fullUrl (urn:uuid:…) → `Type/id`, for transaction reference resolution. */
  constructor(private readonly store: Store) {}

  get(type: string, id: string): Resource | undefined {
    return this.created.get(`${type}/${id}`) ?? this.store.get(type, id)?.resource;
  }

  find(type: string, tokens: string[]): string[] {
    const ids = new Set(this.store.findByIdentifier(type, tokens));
    for (const token of tokens) {
      for (const id of this.byIdentifier.get(`${type}\u0000${token}`) ?? []) ids.add(id);
    }
    return [...ids];
  }

  add(resources: Resource[], ok: boolean): void {
    if (!ok) return;
    for (const r of resources) {
      this.created.set(`${r.resourceType}/${r.id}`, r);
      for (const key of identifierKeys(r)) {
        const k = `${r.resourceType}\u0000${key}`;
        this.byIdentifier.set(k, [...(this.byIdentifier.get(k) ?? []), r.id!]);
      }
    }
  }

  /** http.html §3.1.0.11.2: rewrite references to entries' urn:uuid fullUrls into `Type/id`. */
  resolveReferences(entries: BundleEntry[], results: EntryResult[]): void {
    const map = new Map<string, string>();
    entries.forEach((e, i) => {
      const r = results[i]?.resource;
      if (e.fullUrl?.startsWith('urn:') && r?.id) map.set(e.fullUrl, `${r.resourceType}/${r.id}`);
    });
    if (map.size === 0) return;
    const rewrite = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(rewrite);
      else if (value !== null && typeof value === 'object') {
        const obj = value as Record<string, unknown>;
        if (typeof obj.reference === 'string' && map.has(obj.reference)) obj.reference = map.get(obj.reference);
        for (const k in obj) if (typeof obj[k] === 'object') rewrite(obj[k]);
      }
    };
    for (const r of results) for (const c of r.commit ?? []) rewrite(c);
  }
}

function identifierSearch(query: string): { ok: true; tokens?: string[]; count?: number } | { ok: false; message: string } {
  const params = new URLSearchParams(query);
  let tokens: string[] | undefined;
  let count: number | undefined;
  for (const [name, value] of params) {
    if (name === 'identifier') tokens = [...(tokens ?? []), ...value.split(',')];
    else if (name === '_count') count = Number(value);
    else if (name === '_summary' || name === '_total' || name === '_format' || name === '_sort') continue;
    // http.html §3.1.0.4.3 / search.html: a server that cannot honour a parameter of a conditional
    // interaction must refuse rather than ignore it.
    else return { ok: false, message: `search parameter ${name} is not supported by this test server (identifier only)` };
  }
  return { ok: true, ...(tokens ? { tokens } : {}), ...(count !== undefined ? { count } : {}) };
}

function fail(status: number, code: OperationOutcomeIssue['code'], diagnostics: string, expression?: string[]): EntryResult {
  return { status, outcome: outcome([issue(code, diagnostics, expression)]) };
}

function outcome(issues: OperationOutcomeIssue[], okText?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', diagnostics: okText ?? 'ok' }],
  };
}

const REASONS: Record<number, string> = { 200: 'OK', 201: 'Created', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 412: 'Precondition Failed', 422: 'Unprocessable Entity', 500: 'Internal Server Error' };

function statusLine(status: number): string {
  return `${status} ${REASONS[status] ?? ''}`.trim();
}
