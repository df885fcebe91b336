// The FHIR R4 test server (a test double other suites drive the FHIR destination against), run as its own
// process exactly as they use it: transaction/batch semantics, conditional create, validation, auth, faults.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { Bundle, Observation, OperationOutcome } from '@medplum/fhirtypes';
import { BP, observationFor } from '../../../ehr-bridge/fhir/fixtures.ts';
import { spawnFhirServer, type SpawnedFhirServer } from './client.ts';

const CLIENT = { clientId: 'hub-17', clientSecret: 'correct horse battery staple' };

let fhir: SpawnedFhirServer;
let token = '';

async function getToken(form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(fhir.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function fhirRequest(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${fhir.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/fhir+json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const identifierOf = (o: Observation): string => `${o.identifier![0]!.system}|${o.identifier![0]!.value}`;

function bundleOf(type: 'transaction' | 'batch', observations: Observation[]): Bundle {
  return {
    resourceType: 'Bundle',
    type,
    entry: observations.map((o) => ({ resource: o, request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${identifierOf(o)}` } })),
  } as Bundle;
}

/** An Observation whose heart rate arrives as text: R4 Quantity.value is a decimal. */
function invalidObservation(n: number): Observation {
  const o = observationFor(n);
  return { ...o, valueQuantity: { ...o.valueQuantity, value: 'sixty' as unknown as number } };
}

describe('the FHIR R4 test server', () => {
  before(async () => {
    fhir = await spawnFhirServer({ auth: { type: 'oauth', clients: [CLIENT], tokenTtlSeconds: 60 } });
  });
  after(async () => {
    await fhir?.stop();
  });
  beforeEach(async () => {
    await fhir.control.reset();
    await fhir.control.clearFaults();
    await fhir.control.skewClock(0);
    const got = await getToken({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret });
    token = String(got.body.access_token);
  });

  it('advertises transaction and batch in its capability statement without asking for a token', async () => {
    const res = await fetch(`${fhir.baseUrl}/metadata`);
    const caps = (await res.json()) as { fhirVersion: string; rest: { interaction: { code: string }[] }[] };
    assert.equal(res.status, 200);
    assert.equal(caps.fhirVersion, '4.0.1');
    assert.deepEqual(caps.rest[0]!.interaction.map((i) => i.code), ['transaction', 'batch']);
  });

  it('stores every entry of a transaction, or nothing at all when one entry is invalid', async () => {
    const good = [observationFor(1), observationFor(2), observationFor(3)];
    const refused = await fhirRequest('POST', '', bundleOf('transaction', [...good, invalidObservation(4)]));
    assert.equal(refused.status, 400);
    const outcome = refused.body as OperationOutcome;
    assert.equal(outcome.resourceType, 'OperationOutcome');
    assert.ok(outcome.issue.some((i) => i.expression?.includes('Bundle.entry[3]')), JSON.stringify(outcome));
    assert.ok(outcome.issue.some((i) => i.expression?.includes('Bundle.entry[3].resource.value[x].value')), JSON.stringify(outcome));
    assert.deepEqual(await fhir.control.resources(), []);

    const accepted = await fhirRequest('POST', '', bundleOf('transaction', good));
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.type, 'transaction-response');
    assert.deepEqual(accepted.body.entry.map((e: any) => e.response.status), ['201 Created', '201 Created', '201 Created']);
    assert.match(accepted.body.entry[0].response.location, /^Observation\/[^/]+\/_history\/1$/);
    assert.equal((await fhir.control.resources()).length, 3);
  });

  it('answers each entry of a batch on its own', async () => {
    const first = observationFor(1);
    const res = await fhirRequest('POST', '', bundleOf('batch', [first, invalidObservation(2), first]));
    assert.equal(res.status, 200);
    assert.equal(res.body.type, 'batch-response');
    const [a, b, c] = res.body.entry.map((e: any) => e.response);
    assert.equal(a.status, '201 Created');
    assert.equal(b.status, '422 Unprocessable Entity');
    assert.equal(b.outcome.resourceType, 'OperationOutcome');
    assert.equal(c.status, '200 OK', 'the same identifier twice in one batch is matched, not duplicated');
    assert.equal(c.location, a.location);
    assert.equal((await fhir.control.resources()).length, 1);
  });

  it('creates nothing twice when a transaction of conditional creates is retried', async () => {
    const observations = Array.from({ length: 20 }, (_, i) => observationFor(i));
    const first = await fhirRequest('POST', '', bundleOf('transaction', observations));
    const again = await fhirRequest('POST', '', bundleOf('transaction', observations));
    assert.equal(first.status, 200);
    assert.equal(again.status, 200);
    assert.ok(again.body.entry.every((e: any) => e.response.status === '200 OK'));
    assert.deepEqual(again.body.entry.map((e: any) => e.response.location), first.body.entry.map((e: any) => e.response.location));
    assert.deepEqual(await fhir.control.duplicates(), []);
    const counts = await fhir.control.identifierCounts();
    assert.equal(counts.length, 20);
    const stats = await fhir.control.stats();
    assert.equal(stats.creates, 20);
    assert.equal(stats.conditionalCreateHits, 20);
  });

  it('honours If-None-Exist on a plain POST and conditional update by identifier', async () => {
    const obs = observationFor(7);
    const created = await fhirRequest('POST', '/Observation', obs, { 'if-none-exist': `identifier=${identifierOf(obs)}` });
    assert.equal(created.status, 201);
    assert.match(created.headers.get('location') ?? '', /\/fhir\/R4\/Observation\/[^/]+\/_history\/1$/);
    const matched = await fhirRequest('POST', '/Observation', obs, { 'if-none-exist': `identifier=${identifierOf(obs)}` });
    assert.equal(matched.status, 200);
    assert.equal(matched.body.id, created.body.id);

    const { id: _clientId, ...withoutId } = obs; // the server assigned its own id on create
    const updated = await fhirRequest('PUT', `/Observation?identifier=${encodeURIComponent(identifierOf(obs))}`, { ...withoutId, status: 'amended' });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.meta.versionId, '2');
    const search = await fhirRequest('GET', `/Observation?identifier=${encodeURIComponent(identifierOf(obs))}`);
    assert.equal(search.body.type, 'searchset');
    assert.equal(search.body.total, 1);
    assert.equal(search.body.entry[0].resource.status, 'amended');
    const read = await fhirRequest('GET', `/Observation/${created.body.id}`);
    assert.equal(read.body.status, 'amended');
    assert.equal((await fhirRequest('GET', `/Observation/${created.body.id}/_history/2`)).status, 200);
    assert.equal((await fhirRequest('GET', `/Observation/${created.body.id}/_history/1`)).status, 404, 'only the current version is kept');
  });

  it('finds a Patient and a Device by identifier after creating them', async () => {
    const patient = { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.840.1', value: 'MRN-42' }] };
    const device = { resourceType: 'Device', identifier: [{ system: 'urn:rpm-gateway:device-id', value: 'cuff-7' }] };
    assert.equal((await fhirRequest('POST', '/Patient', patient)).status, 201);
    assert.equal((await fhirRequest('POST', '/Device', device)).status, 201);
    assert.equal((await fhirRequest('GET', '/Patient?identifier=urn:oid:1.2.840.1|MRN-42')).body.total, 1);
    assert.equal((await fhirRequest('GET', '/Patient?identifier=MRN-42')).body.total, 1);
    assert.equal((await fhirRequest('GET', '/Device?identifier=urn:rpm-gateway:device-id|cuff-9')).body.total, 0);
  });

  it('answers 412 to a conditional create that matches more than one resource', async () => {
    const obs = observationFor(1);
    assert.equal((await fhirRequest('POST', '/Observation', obs)).status, 201);
    assert.equal((await fhirRequest('POST', '/Observation', obs)).status, 201, 'no If-None-Exist: a second copy');
    assert.deepEqual(await fhir.control.duplicates(), [{ identifier: identifierOf(obs), count: 2 }]);
    const res = await fhirRequest('POST', '/Observation', obs, { 'if-none-exist': `identifier=${identifierOf(obs)}` });
    assert.equal(res.status, 412);
  });

  it('points references to urn:uuid entries of a transaction at the resources it created', async () => {
    const patientUrl = 'urn:uuid:8f0e8a3c-34c4-4d0e-9a4e-3f0b8f3b2b11';
    const obs = { ...observationFor(1), subject: { reference: patientUrl } };
    const bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patientUrl, resource: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.840.1', value: 'MRN-42' }] }, request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:oid:1.2.840.1|MRN-42' } },
        { resource: obs, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const res = await fhirRequest('POST', '', bundle);
    assert.equal(res.status, 200);
    const [patient] = await fhir.control.resources('Patient');
    const [stored] = await fhir.control.resources<Observation>('Observation');
    assert.equal(stored!.subject?.reference, `Patient/${patient!.id}`);
  });

  it('refuses a body that is not JSON and a resource of an unknown type', async () => {
    const res = await fetch(`${fhir.baseUrl}/Observation`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' }, body: '{"resourceType": "Observ' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as OperationOutcome).resourceType, 'OperationOutcome');
    const unknown = await fhirRequest('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Vitals' }, request: { method: 'POST', url: 'Vitals' } }] });
    assert.equal(unknown.body.entry[0].response.status, '422 Unprocessable Entity');
  });

  it('still commits a request it held back when the client stopped waiting', async () => {
    await fhir.control.fault({ kind: 'hang', ms: 400, count: 1 });
    const abandoned = fetch(`${fhir.baseUrl}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(bundleOf('transaction', [observationFor(1)])),
      signal: AbortSignal.timeout(50),
    });
    await assert.rejects(abandoned);
    for (let i = 0; i < 100 && (await fhir.control.resources()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await fhir.control.resources()).length, 1);
  });

  it('refuses an invalid Observation with an OperationOutcome naming the element', async () => {
    const { status: _status, ...withoutStatus } = observationFor(1);
    const missing = await fhirRequest('POST', '/Observation', withoutStatus);
    assert.equal(missing.status, 422);
    assert.ok((missing.body as OperationOutcome).issue.some((i) => i.expression?.includes('Observation.status')), JSON.stringify(missing.body));

    const wrongType = await fhirRequest('POST', '/Observation', invalidObservation(2));
    assert.equal(wrongType.status, 422);
    assert.ok((wrongType.body as OperationOutcome).issue.some((i) => i.expression?.[0]?.startsWith('Observation.value')), JSON.stringify(wrongType.body));
  });

  it('checks the vital-signs profile an Observation claims, blood-pressure panels included', async () => {
    assert.equal((await fhirRequest('POST', '/Observation', observationFor(1, { components: BP }))).status, 201);
    const obs = observationFor(2);
    const noCategory = await fhirRequest('POST', '/Observation', { ...obs, category: undefined });
    assert.equal(noCategory.status, 422, 'heartrate requires the vital-signs category');
    const panel = observationFor(3, { components: BP });
    const oneSided = await fhirRequest('POST', '/Observation', { ...panel, component: panel.component!.slice(0, 1) });
    assert.equal(oneSided.status, 422, 'bp needs a diastolic component');
    assert.match(JSON.stringify(oneSided.body), /DiastolicBP/);
  });

  it('refuses a transaction when the server is set not to support transactions', async () => {
    await fhir.control.setInteractions({ transaction: false });
    try {
      const caps = (await (await fetch(`${fhir.baseUrl}/metadata`)).json()) as { rest: { interaction: { code: string }[] }[] };
      assert.deepEqual(caps.rest[0]!.interaction.map((i: { code: string }) => i.code), ['batch']);
      const res = await fhirRequest('POST', '', bundleOf('transaction', [observationFor(1)]));
      assert.equal(res.status, 400);
      assert.equal(res.body.issue[0].code, 'not-supported');
    } finally {
      await fhir.control.setInteractions({ transaction: true });
    }
  });

  it('issues tokens for a client secret in the form or by HTTP Basic, and refuses a wrong one', async () => {
    const basic = Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64');
    const viaBasic = await getToken({ grant_type: 'client_credentials', scope: 'system/Observation.write' }, { authorization: `Basic ${basic}` });
    assert.equal(viaBasic.status, 200);
    assert.equal(viaBasic.body.token_type, 'bearer');
    assert.equal(viaBasic.body.expires_in, 60);
    assert.equal(viaBasic.body.scope, 'system/Observation.write');
    const wrong = await getToken({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: 'guess' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
  });

  it('answers 401 invalid_token for a missing, expired or revoked token', async () => {
    const missing = await fetch(`${fhir.baseUrl}/Observation`);
    assert.equal(missing.status, 401);
    assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);

    assert.equal((await fhirRequest('GET', '/Observation')).status, 200);
    await fhir.control.skewClock(61_000); // the server's clock passes the token's expires_in
    const expired = await fhirRequest('GET', '/Observation');
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get('www-authenticate') ?? '', /error="invalid_token", error_description="access token expired"/);
    await fhir.control.skewClock(0);

    assert.equal(await fhir.control.revoke({ token }), 1);
    const revoked = await fhirRequest('GET', '/Observation');
    assert.equal(revoked.status, 401);
    assert.match(revoked.headers.get('www-authenticate') ?? '', /access token revoked/);
    assert.equal((await fhir.control.stats()).unauthorized, 3);
  });

  it('accepts a SMART Backend Services assertion signed RS384 and refuses a wrong audience or a replay', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'hub-key-1', alg: 'RS384', use: 'sig' };
    await fhir.control.registerClient({ clientId: 'hub-smart', jwks: [jwk] });
    const assertion = (aud: string, jti: string) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS384', kid: 'hub-key-1', typ: 'JWT' })
        .setIssuer('hub-smart')
        .setSubject('hub-smart')
        .setAudience(aud)
        .setJti(jti)
        .setIssuedAt()
        .setExpirationTime('4m')
        .sign(privateKey);
    const form = (jwt: string) => ({
      grant_type: 'client_credentials',
      scope: 'system/Observation.write',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jwt,
    });

    const jwt = await assertion(fhir.tokenUrl, 'jti-1');
    const granted = await getToken(form(jwt));
    assert.equal(granted.status, 200, JSON.stringify(granted.body));
    token = String(granted.body.access_token);
    assert.equal((await fhirRequest('GET', '/Observation')).status, 200);

    const replay = await getToken(form(jwt));
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error, 'invalid_client');
    assert.match(String(replay.body.error_description), /replay/);

    const elsewhere = await getToken(form(await assertion('https://auth.example.org/token', 'jti-2')));
    assert.equal(elsewhere.status, 401);
    assert.equal(elsewhere.body.error, 'invalid_client');
    assert.match(String(elsewhere.body.error_description), /aud/);

    const longLived = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS384', kid: 'hub-key-1' })
      .setIssuer('hub-smart')
      .setSubject('hub-smart')
      .setAudience(fhir.tokenUrl)
      .setJti('jti-3')
      .setExpirationTime('1h')
      .sign(privateKey);
    assert.equal((await getToken(form(longLived))).status, 401, 'exp more than five minutes ahead');

    // ES384 with a second registered key; an unregistered kid is refused.
    const ec = await generateKeyPair('ES384', { extractable: true });
    await fhir.control.registerClient({ clientId: 'hub-smart', jwks: [jwk, { ...(await exportJWK(ec.publicKey)), kid: 'hub-key-2', alg: 'ES384' }] });
    const signEc = (kid: string, jti: string) =>
      new SignJWT({}).setProtectedHeader({ alg: 'ES384', kid }).setIssuer('hub-smart').setSubject('hub-smart').setAudience(fhir.tokenUrl).setJti(jti).setExpirationTime('2m').sign(ec.privateKey);
    assert.equal((await getToken(form(await signEc('hub-key-2', 'jti-4')))).status, 200);
    const unknownKid = await getToken(form(await signEc('hub-key-9', 'jti-5')));
    assert.equal(unknownKid.status, 401);
    assert.match(String(unknownKid.body.error_description), /kid/);
  });

  it('answers scripted 503 and 429 faults with Retry-After, then recovers', async () => {
    await fhir.control.fault(
      { kind: 'status', status: 503, retryAfter: 2, count: 1 },
      { kind: 'status', status: 429, retryAfter: 30, retryAfterFormat: 'http-date', count: 1 },
    );
    const unavailable = await fhirRequest('POST', '', bundleOf('transaction', [observationFor(1)]));
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get('retry-after'), '2');
    const throttled = await fhirRequest('POST', '', bundleOf('transaction', [observationFor(1)]));
    assert.equal(throttled.status, 429);
    const retryAt = Date.parse(throttled.headers.get('retry-after') ?? '');
    assert.ok(retryAt > Date.now() + 20_000, `Retry-After is an HTTP-date ~30 s ahead: ${throttled.headers.get('retry-after')}`);
    const ok = await fhirRequest('POST', '', bundleOf('transaction', [observationFor(1)]));
    assert.equal(ok.status, 200);
    assert.equal((await fhir.control.stats()).faultsInjected, 2);
  });

  it('can drop the answer after committing, so a retry meets the stored resources', async () => {
    await fhir.control.fault({ kind: 'close', afterCommit: true, count: 1 });
    const observations = [observationFor(1), observationFor(2)];
    await assert.rejects(fhirRequest('POST', '', bundleOf('transaction', observations)));
    assert.equal((await fhir.control.resources()).length, 2, 'committed although the client heard nothing');
    const retry = await fhirRequest('POST', '', bundleOf('transaction', observations));
    assert.deepEqual(retry.body.entry.map((e: any) => e.response.status), ['200 OK', '200 OK']);
    assert.deepEqual(await fhir.control.duplicates(), []);
  });

  it('fails entry k of a batch on request', async () => {
    await fhir.control.fault({ kind: 'fail-entry', index: 1, count: 1 });
    const res = await fhirRequest('POST', '', bundleOf('batch', [observationFor(1), observationFor(2), observationFor(3)]));
    assert.deepEqual(res.body.entry.map((e: any) => e.response.status), ['201 Created', '422 Unprocessable Entity', '201 Created']);
  });

  it('keeps committed resources across a kill and a restart on the same port', async () => {
    const observations = [observationFor(1, { mrn: 'MRN-1' }), observationFor(2, { mrn: 'MRN-2' }), observationFor(3, { mrn: 'MRN-1' })];
    assert.equal((await fhirRequest('POST', '', bundleOf('transaction', observations))).status, 200);
    const before = await fhir.control.creationOrder('Observation');
    const baseUrl = fhir.baseUrl;
    await fhir.kill('SIGKILL');
    await assert.rejects(fetch(`${baseUrl}/metadata`), 'connection refused while it is down');
    await fhir.restart();
    assert.equal(fhir.baseUrl, baseUrl);
    assert.deepEqual(await fhir.control.creationOrder('Observation'), before);
    assert.deepEqual(before.map((e) => e.subject), ['urn:oid:1.2.840.1|MRN-1', 'urn:oid:1.2.840.1|MRN-2', 'urn:oid:1.2.840.1|MRN-1']);
    // Tokens live in memory only (like a restarted authorization server's cache): get a new one.
    const got = await getToken({ grant_type: 'client_credentials', client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret });
    token = String(got.body.access_token);
    const retry = await fhirRequest('POST', '', bundleOf('transaction', observations));
    assert.ok(retry.body.entry.every((e: any) => e.response.status === '200 OK'));
  });
});

describe('the FHIR R4 test server over HTTPS with static bearer tokens and validation off', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-tls-'));
  let server: SpawnedFhirServer;
  let ca: string;

  /** GET/POST over HTTPS trusting only the test certificate. */
  function call(method: string, url: string, auth?: string, body?: unknown): Promise<{ status: number; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method, ca, headers: { ...(auth ? { authorization: `Bearer ${auth}` } : {}), 'content-type': 'application/fhir+json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  before(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { cwd: dir, stdio: 'ignore' });
    ca = readFileSync(join(dir, 'server.crt'), 'utf8');
    server = await spawnFhirServer({
      tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') },
      auth: { type: 'bearer', tokens: ['static-key-1'] },
      validate: false,
      slimStore: true,
      log: true,
    });
  });
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves https, takes the configured token, and stores even an invalid Observation as the raw baseline', async () => {
    assert.match(server.baseUrl, /^https:\/\/127\.0\.0\.1:\d+\/fhir\/R4$/);
    assert.equal((await call('GET', `${server.baseUrl}/metadata`)).status, 200);
    assert.equal((await call('GET', `${server.baseUrl}/Observation`, 'guessed')).status, 401);
    assert.equal((await call('POST', `${server.baseUrl}/Observation`, 'static-key-1', invalidObservation(1))).status, 201);
    const [stored] = await server.control.resources<Observation>('Observation');
    assert.equal(stored!.valueQuantity, undefined, 'the slim store keeps identifiers and subject only');
    assert.equal(stored!.identifier?.[0]?.value, observationFor(1).identifier![0]!.value);
    assert.equal(await server.control.revoke({ token: 'static-key-1' }), 1);
    const revoked = await call('GET', `${server.baseUrl}/Observation`, 'static-key-1');
    assert.equal(revoked.status, 401);
    assert.match(String(revoked.headers['www-authenticate']), /error="invalid_token"/);
    for (let i = 0; i < 100 && !server.stderr().includes('access token revoked'); i++) await new Promise((r) => setTimeout(r, 20));
    const lines = server.stderr().trim().split('\n').map((l) => JSON.parse(l) as { status: number; path: string; why: string });
    assert.deepEqual(lines.map((l) => `${l.status} ${l.why}`), ['401 unknown access token', '401 access token revoked']);
    assert.ok(!server.stderr().includes('static-key-1') && !server.stderr().includes('guessed'), 'no token in the log');
  });
});
