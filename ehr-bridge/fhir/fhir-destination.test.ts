// The destination's decisions with the HTTP layer replaced by a scripted function (no socket): fallback from a
// refused transaction to batch, the one 401 refresh, Retry-After, the probe after a lost link, per-patient lanes.
// The same behaviours against a real server process are in test/integration/fhir-destination.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { createMetrics } from '../../gateway/metrics.ts';
import type { BufferedObservation } from '../../gateway/types.ts';
import { fhirDestinationSchema, type FhirDestinationInput } from './config.ts';
import { FhirDestination } from './fhir-destination.ts';
import { observationFor } from './fixtures.ts';
import type { HttpRequest, HttpResult } from './http.ts';

const BASE = 'http://fhir.test/R4';
const CAPS = { resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', rest: [{ mode: 'server', interaction: [{ code: 'transaction' }, { code: 'batch' }] }] };

const answer = (status: number, body?: unknown, headers: Record<string, string> = {}): HttpResult => ({ ok: true, status, headers, body, text: body === undefined ? '' : JSON.stringify(body) });

function items(n: number, mrn = (i: number) => 'MRN-42'): BufferedObservation[] {
  return Array.from({ length: n }, (_, i) => ({ seq: BigInt(i + 1), observation: observationFor(i, { mrn: mrn(i) }), appendedAt: 0 }));
}

/** Answer a Bundle POST entry by entry with `status(i, entry)`. */
function bundleAnswer(req: HttpRequest, status: (i: number) => string = () => '201 Created'): HttpResult {
  const bundle = JSON.parse(req.body!) as Bundle;
  return answer(200, {
    resourceType: 'Bundle',
    type: `${bundle.type}-response`,
    entry: bundle.entry!.map((_, i) => ({ response: { status: status(i), location: `Observation/${i}/_history/1` } })),
  });
}

function destination(config: Partial<FhirDestinationInput>, script: (req: HttpRequest, calls: HttpRequest[]) => HttpResult) {
  const calls: HttpRequest[] = [];
  const { logger, lines } = createMemoryLogger('debug');
  const metrics = createMetrics({ site: 't' }, { defaultMetrics: false });
  const parsed = fhirDestinationSchema.parse({ id: 'cloud', type: 'fhir', baseUrl: BASE, ...config });
  const dest = new FhirDestination(parsed, {
    logger,
    metrics,
    env: { GW_FHIR_SECRET: 'super-secret-value' },
    http: async (req) => {
      calls.push(req);
      if (req.url.endsWith('/metadata')) return answer(200, CAPS);
      return script(req, calls);
    },
  });
  return { dest, calls, lines, metrics };
}

describe('the FHIR destination', () => {
  it('reads /metadata first, then sends one transaction of conditional creates and reports each location', async () => {
    const { dest, calls } = destination({}, (req) => bundleAnswer(req));
    const out = await dest.send(items(3));
    assert.deepEqual(calls.map((c) => `${c.method} ${c.url}`), [`GET ${BASE}/metadata`, `POST ${BASE}`]);
    assert.equal(dest.sendMode(), 'transaction');
    assert.equal(dest.linkState(), 'connected');
    assert.deepEqual(out.map((o) => o.kind === 'delivered' && o.receipt.id), ['Observation/0/_history/1', 'Observation/1/_history/1', 'Observation/2/_history/1']);
    assert.equal(calls[1]!.headers?.['content-type'], 'application/fhir+json');
  });

  it('resends a refused transaction as a batch, so only the bad entry is rejected', async () => {
    const { dest, calls } = destination({}, (req) => {
      const bundle = JSON.parse(req.body!) as Bundle;
      if (bundle.type === 'transaction') return answer(422, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] });
      return bundleAnswer(req, (i) => (i === 1 ? '422 Unprocessable Entity' : '201 Created'));
    });
    const out = await dest.send(items(3));
    assert.deepEqual(out.map((o) => o.kind), ['delivered', 'rejected', 'delivered']);
    assert.deepEqual(calls.slice(1).map((c) => (JSON.parse(c.body!) as Bundle).type), ['transaction', 'batch']);
  });

  it('fetches a new token once on 401 and resends; never logs the secret or the token', async () => {
    let tokens = 0;
    const { dest, calls, lines } = destination(
      { auth: { type: 'client_credentials', tokenUrl: 'http://auth.test/token', clientId: 'hub-17', clientSecretEnv: 'GW_FHIR_SECRET' } },
      (req) => {
        if (req.url === 'http://auth.test/token') return answer(200, { access_token: `token-${++tokens}-abcdef`, token_type: 'Bearer', expires_in: 300 });
        if (req.headers?.authorization === 'Bearer token-1-abcdef') return answer(401);
        return bundleAnswer(req);
      },
    );
    const out = await dest.send(items(2));
    assert.deepEqual(out.map((o) => o.kind), ['delivered', 'delivered']);
    assert.equal(tokens, 2);
    assert.equal(calls.filter((c) => c.url === BASE).length, 2);
    const text = JSON.stringify(lines);
    assert.ok(!text.includes('super-secret-value') && !text.includes('token-1-abcdef') && !text.includes('token-2-abcdef'));
  });

  it('gives up after the one refresh: a retry counted as an auth failure, nothing dead-lettered', async () => {
    const { dest, metrics } = destination({ auth: { type: 'bearer', token: 'static-token' } }, () => answer(401));
    const out = await dest.send(items(2));
    assert.deepEqual(out.map((o) => o.kind === 'retry' && o.code), ['GW_ERR_FHIR_AUTH', 'GW_ERR_FHIR_AUTH']);
    const text = await metrics.registry.metrics();
    assert.match(text, /gateway_fhir_auth_failures_total\{[^}]*destination="cloud"[^}]*reason="unauthorized"[^}]*\} 1/);
  });

  it('passes a 429 Retry-After to dispatch as afterMs', async () => {
    const { dest } = destination({}, () => answer(429, undefined, { 'retry-after': '2' }));
    const out = await dest.send(items(2));
    assert.equal(out[0]!.kind === 'retry' && out[0]!.afterMs, 2000);
    assert.equal(out[0]!.kind === 'retry' && out[0]!.code, 'GW_ERR_FHIR_RATE_LIMITED');
  });

  it('marks the link down on a network failure and probes /metadata before sending again', async () => {
    let fail = true;
    const { dest, calls } = destination({}, (req) => (fail ? { ok: false, code: 'GW_ERR_FHIR_NETWORK', reason: 'ECONNRESET', sent: true } : bundleAnswer(req)));
    const first = await dest.send(items(1));
    assert.equal(first[0]!.kind === 'retry' && first[0]!.code, 'GW_ERR_FHIR_NETWORK');
    assert.equal(dest.linkState(), 'down');
    fail = false;
    calls.length = 0;
    const second = await dest.send(items(1));
    assert.equal(second[0]!.kind, 'delivered');
    assert.deepEqual(calls.map((c) => c.method), ['GET', 'POST']);
  });

  it('with concurrency 2, sends one lane per patient group and keeps each patient in order', async () => {
    const seen: Array<Array<[string, string]>> = [];
    const { dest } = destination({ batchSize: 2, concurrency: 2, bundleType: 'batch' }, (req) => {
      const bundle = JSON.parse(req.body!) as Bundle;
      seen.push(bundle.entry!.map((e) => {
        const o = e.resource as { subject: { identifier: { value: string } }; effectiveDateTime: string };
        return [o.subject.identifier.value, o.effectiveDateTime];
      }));
      return bundleAnswer(req);
    });
    assert.equal(dest.preferredBatchSize, 4);
    const out = await dest.send(items(8, (i) => `MRN-${i % 4}`));
    assert.ok(out.every((o) => o.kind === 'delivered'));
    assert.ok(seen.every((b) => b.length <= 2), 'bundles of batchSize');
    assert.equal(seen.flat().length, 8);
    const byPatient = new Map<string, string[]>();
    for (const [mrn, at] of seen.flat()) byPatient.set(mrn, [...(byPatient.get(mrn) ?? []), at]);
    for (const [mrn, times] of byPatient) assert.deepEqual(times, [...times].sort(), `${mrn} in order`);
  });

  it('uses single conditional POSTs with If-None-Exist when the mode is single', async () => {
    const { dest, calls } = destination({ bundleType: 'single' }, () => answer(201, {}, { location: 'Observation/9/_history/1' }));
    const out = await dest.send(items(2));
    assert.deepEqual(out.map((o) => o.kind), ['delivered', 'delivered']);
    const posts = calls.filter((c) => c.method === 'POST');
    assert.equal(posts[0]!.url, `${BASE}/Observation`);
    assert.match(posts[0]!.headers!['if-none-exist']!, /^identifier=urn:rpm-gateway:observation-id\|[0-9a-f]{32}$/);
  });

  it('refuses to start with a secret variable that is not set, naming the key', () => {
    assert.throws(
      () => destination({ auth: { type: 'bearer', tokenEnv: 'GW_NOT_SET' } }, () => answer(200)),
      (err: Error & { code?: string }) => err.code === 'GW_ERR_CONFIG_INVALID' && /tokenEnv/.test(err.message) && /GW_NOT_SET is not set/.test(err.message),
    );
  });

  it('takes only what its filter names', () => {
    const { dest } = destination({ filter: { patients: ['MRN-1'] } }, () => answer(200));
    assert.equal(dest.accepts(observationFor(1, { mrn: 'MRN-1' })), true);
    assert.equal(dest.accepts(observationFor(1, { mrn: 'MRN-2' })), false);
  });
});
