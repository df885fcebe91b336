import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import { buildBundle } from './bundle.ts';
import { observationFor } from './fixtures.ts';
import { MAX_RETRY_AFTER_MS, classifyStatus, entryOutcome, mapBundleResponse, parseRetryAfter } from './outcome.ts';

const NOW = Date.parse('2026-11-23T10:00:00Z');
const BASE = 'https://fhir.example.org/R4';

describe('Retry-After parsing (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds', () => {
    assert.equal(parseRetryAfter('7', NOW), 7000);
    assert.equal(parseRetryAfter(['0'], NOW), 0);
  });
  it('reads an HTTP-date as the time left until then', () => {
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 10:00:30 GMT', NOW), 30_000);
  });
  it('treats a date in the past as "now"', () => {
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 09:00:00 GMT', NOW), 0);
  });
  it('ignores what it cannot read', () => {
    assert.equal(parseRetryAfter(undefined, NOW), undefined);
    assert.equal(parseRetryAfter('soon', NOW), undefined);
    assert.equal(parseRetryAfter('-5', NOW), undefined);
    assert.equal(parseRetryAfter('1.5', NOW), undefined);
  });
  it('caps a very long pause so dispatch back-off stays in charge', () => {
    assert.equal(parseRetryAfter('999999', NOW), MAX_RETRY_AFTER_MS);
  });
});

describe('what a whole-request HTTP status means', () => {
  it('passes 2xx through with its body', () => {
    assert.deepEqual(classifyStatus(BASE, 200, {}, { a: 1 }, NOW), { kind: 'ok', status: 200, body: { a: 1 } });
  });
  it('retries 429 and 503 after the Retry-After the server gave', () => {
    for (const status of [429, 503]) {
      const v = classifyStatus(BASE, status, { 'retry-after': '3' }, undefined, NOW);
      assert.equal(v.kind, 'retry');
      assert.equal(v.kind === 'retry' && v.code, 'GW_ERR_FHIR_RATE_LIMITED');
      assert.equal(v.kind === 'retry' && v.afterMs, 3000);
    }
  });
  it('retries other 5xx and configuration-looking 4xx (404, 405) rather than dead-lettering data', () => {
    for (const status of [500, 502, 404, 405, 408]) assert.equal(classifyStatus(BASE, status, {}, undefined, NOW).kind, 'retry', String(status));
  });
  it('asks for a token refresh on 401 and treats 403 as an auth retry', () => {
    assert.equal(classifyStatus(BASE, 401, {}, undefined, NOW).kind, 'unauthorized');
    const v = classifyStatus(BASE, 403, {}, undefined, NOW);
    assert.equal(v.kind === 'retry' && v.code, 'GW_ERR_FHIR_AUTH');
  });
  it('reports content refusals (400, 409, 412, 413, 422) as refused, with issue codes but no diagnostics', () => {
    const oo = { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'MRN-42 is bad' }] };
    for (const status of [400, 409, 412, 413, 422]) {
      const v = classifyStatus(BASE, status, {}, oo, NOW);
      assert.equal(v.kind, 'refused', String(status));
      assert.ok(v.kind === 'refused' && v.reason.includes('error/invalid'));
      assert.ok(v.kind === 'refused' && !v.reason.includes('MRN-42'));
    }
  });
});

describe('per-entry outcomes', () => {
  it('delivers 201 Created and 200 OK (matched) with the location as receipt', () => {
    const created = entryOutcome({ status: '201 Created', location: 'Observation/abc/_history/1' }, 'obs-1', 'fallback');
    assert.deepEqual(created, { kind: 'delivered', receipt: { id: 'Observation/abc/_history/1', detail: '201 Created' } });
    const matched = entryOutcome({ status: '200' }, 'obs-1', 'fallback');
    assert.equal(matched.kind === 'delivered' && matched.receipt.id, 'fallback');
  });
  it('rejects a 4xx entry with the server diagnostics kept for the dead-letter store', () => {
    const o = entryOutcome({ status: '422 Unprocessable Entity', outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: 'bad code' }] } }, 'obs-1', 'x');
    assert.equal(o.kind, 'rejected');
    assert.ok(o.kind === 'rejected' && o.code === 'GW_ERR_FHIR_ENTRY_REJECTED' && o.reason.includes('bad code'));
  });
  it('retries a 5xx or 429 entry', () => {
    assert.equal(entryOutcome({ status: '503' }, 'obs-1', 'x').kind, 'retry');
    assert.equal(entryOutcome({ status: '429 Too Many Requests' }, 'obs-1', 'x').kind, 'retry');
  });
  it('retries an entry without a status (the server may have committed: resend is a conditional create)', () => {
    const o = entryOutcome(undefined, 'obs-1', 'x');
    assert.equal(o.kind === 'retry' && o.code, 'GW_ERR_FHIR_RESPONSE');
  });
});

describe('mapping a response Bundle onto the batch', () => {
  const built = buildBundle([observationFor(1), observationFor(2)], 'transaction', { resources: { patient: true } });
  const labels = ['obs-a', 'obs-b'];
  const response = (statuses: string[], type = 'transaction-response'): Bundle => ({
    resourceType: 'Bundle',
    type: type as Bundle['type'],
    entry: statuses.map((status, i) => ({ response: { status, location: `X/${i}` } })),
  });

  it('skips the support entries and answers one outcome per Observation, in order', () => {
    const r = mapBundleResponse(BASE, built, response(['201 Created', '201 Created', '200 OK']), labels);
    assert.ok(r.ok);
    assert.deepEqual(r.ok && r.outcomes.map((o) => o.kind === 'delivered' && o.receipt.id), ['X/1', 'X/2']);
  });
  it('calls a response with the wrong entry count or type unusable', () => {
    assert.equal(mapBundleResponse(BASE, built, response(['201']), labels).ok, false);
    assert.equal(mapBundleResponse(BASE, built, response(['201', '201', '201'], 'batch-response'), labels).ok, false);
    assert.equal(mapBundleResponse(BASE, built, { resourceType: 'OperationOutcome' }, labels).ok, false);
  });
  it('maps a batch-response with one failed entry to one rejection among deliveries', () => {
    const batch = buildBundle([observationFor(1), observationFor(2), observationFor(3)], 'batch');
    const r = mapBundleResponse(BASE, batch, response(['201', '422', '201'], 'batch-response'), ['a', 'b', 'c']);
    assert.deepEqual(r.ok && r.outcomes.map((o) => o.kind), ['delivered', 'rejected', 'delivered']);
  });
});
