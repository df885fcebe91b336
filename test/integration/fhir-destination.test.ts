// End to end: kiosk intake → buffer → dispatch → FHIR destination → the FHIR test server process
// (test/support/fhir-server, a real HTTP server with transaction semantics, conditional create and OAuth).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { parseConfig } from '../../gateway/config.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';
import { OBSERVATION_ID_SYSTEM } from '../../gateway/fhir/constants.ts';
import { createHttpClient } from '../../ehr-bridge/fhir/http.ts';
import { TEST_BUFFER_KEY, heartRateReading, postReading, tempDir, waitFor } from '../support/harness.ts';
import { spawnFhirServer, type SpawnedFhirServer as FhirServer } from '../support/fhir-server/client.ts';

interface Running {
  gateway: Gateway;
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** A gateway in this process with one FHIR destination `cloud`, logging at debug into memory. */
async function gatewayTo(destination: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Running> {
  const tmp = tempDir('fhir');
  const config = parseConfig({
    site: { id: 'test-clinic' },
    dataDir: tmp.dir,
    http: { host: '127.0.0.1', port: 0 },
    destinations: [{ id: 'cloud', type: 'fhir', requestTimeoutMs: 2000, ...destination }],
    bindings: [{ device: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
    dispatch: { backoffInitialMs: 20, backoffMaxMs: 200, breakerThreshold: 1000, breakerOpenMs: 200 },
    ...extra,
  });
  const { logger, lines } = createMemoryLogger('debug');
  const gateway = await startGateway(config, logger, { bufferKey: TEST_BUFFER_KEY, adminToken: 'test-admin-token' });
  return {
    gateway,
    logs: lines,
    async stop() {
      await gateway.close();
      tmp.cleanup();
    },
  };
}

async function postReadings(url: string, from: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = from; n < from + count; n++) {
    const res = await postReading(url, heartRateReading(n));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    ids.push(((res.json.observations as Array<{ id: string }>)[0]!).id);
  }
  return ids;
}

async function status(url: string): Promise<{ destinations: Array<Record<string, unknown>> }> {
  return (await (await fetch(`${url}/v1/status`)).json()) as { destinations: Array<Record<string, unknown>> };
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

async function deadLetters(url: string): Promise<Array<{ observationId: string; code: string }>> {
  const res = await fetch(`${url}/v1/dead-letters/cloud`, { headers: { authorization: 'Bearer test-admin-token' } });
  const body = (await res.json()) as { deadLetters?: Array<{ observationId: string; code: string }> } | Array<{ observationId: string; code: string }>;
  return Array.isArray(body) ? body : (body.deadLetters ?? []);
}


/** How many Observations the server holds per gateway id; every id expected once. */
async function countsAt(server: FhirServer, ids: readonly string[]): Promise<number[]> {
  const counts = new Map((await server.control.identifierCounts('Observation')).map((c) => [c.identifier, c.count]));
  return ids.map((id) => counts.get(`${OBSERVATION_ID_SYSTEM}|${id}`) ?? 0);
}

async function allOnce(server: FhirServer, ids: readonly string[], what: string): Promise<void> {
  await waitFor(what, async () => (await countsAt(server, ids)).every((c) => c === 1));
  assert.deepEqual(await server.control.duplicates('Observation'), [], 'no identifier twice at the server');
}

function logText(logs: Array<Record<string, unknown>>): string {
  return logs.map((l) => JSON.stringify(l)).join('\n');
}

describe('the FHIR destination against the FHIR R4 test server', () => {
  let server: FhirServer;
  before(async () => {
    server = await spawnFhirServer({});
  });
  after(async () => {
    await server.stop();
  });

  it('delivers kiosk readings as Observations, each created exactly once, and reports the link and drain ETA', async () => {
    await server.control.reset();
    const gw = await gatewayTo({ baseUrl: server.baseUrl, batchSize: 3 });
    try {
      const ids = await postReadings(gw.gateway.url, 0, 7);
      await allOnce(server, ids, '7 Observations at the server');
      const cloud = await waitFor('the cursor at the head', async () => {
        const d = (await status(gw.gateway.url)).destinations.find((x) => x.id === 'cloud')!;
        return d.pending === 0 && d;
      });
      assert.equal(cloud.type, 'fhir');
      assert.equal(cloud.link, 'connected');
      assert.equal(cloud.drainEtaSeconds, 0);
      const stats = await server.control.stats();
      assert.ok(stats.bundles.transaction >= 3, 'sent as transactions (the server declares them)');
      assert.equal(stats.validationFailures, 0, 'every Observation is valid R4');
      assert.match(await metricsText(gw.gateway.url), /gateway_destination_drain_eta_seconds\{[^}]*destination="cloud"/);
    } finally {
      await gw.stop();
    }
  });

  it('creates nothing twice when a committed Bundle lost its answer (socket closed after commit) and is resent', async () => {
    await server.control.reset();
    await server.control.fault({ kind: 'close', afterCommit: true, count: 1, target: 'bundle' });
    const gw = await gatewayTo({ baseUrl: server.baseUrl, batchSize: 10 });
    try {
      const ids = await postReadings(gw.gateway.url, 100, 5);
      await allOnce(server, ids, '5 Observations at the server');
      const stats = await server.control.stats();
      assert.equal(stats.faultsInjected, 1);
      assert.ok(stats.conditionalCreateHits >= 1, 'the resend matched what the first attempt had committed');
      assert.equal((await deadLetters(gw.gateway.url)).length, 0);
    } finally {
      await gw.stop();
    }
  });

  it('creates nothing twice when the server commits but answers too late (request timeout)', async () => {
    await server.control.reset();
    await server.control.fault({ kind: 'hang', ms: 1500, count: 1, target: 'bundle' });
    const gw = await gatewayTo({ baseUrl: server.baseUrl, batchSize: 10, requestTimeoutMs: 500 });
    try {
      const ids = await postReadings(gw.gateway.url, 200, 4);
      await allOnce(server, ids, '4 Observations at the server');
      const retries = await waitFor('the timeout counted as a retry', async () => /gateway_dispatch_retries_total\{[^}]*code="GW_ERR_FHIR_TIMEOUT"[^}]*\} [1-9]/.test(await metricsText(gw.gateway.url)));
      assert.ok(retries);
    } finally {
      await gw.stop();
    }
  });

  it('dead-letters only the entry the server refuses; the rest of the Bundle is delivered', async () => {
    await server.control.reset();
    const gw = await gatewayTo({ baseUrl: server.baseUrl, batchSize: 10 });
    try {
      // hold sends until all four are buffered, so they travel in one Bundle
      await server.control.fault({ kind: 'status', status: 503, target: 'bundle' });
      const ids = await postReadings(gw.gateway.url, 300, 4);
      // entry 2 refused in the transaction (all-or-nothing) and in the batch resend; the 503 hold is replaced in
      // one step, so a retry cannot reach the server between the two and deliver all four
      await server.control.setFaults({ kind: 'fail-entry', index: 2, status: 422, count: 2 });
      const letters = await waitFor('one dead letter', async () => {
        const l = await deadLetters(gw.gateway.url);
        return l.length > 0 && l;
      });
      assert.deepEqual(letters.map((l) => [l.observationId, l.code]), [[ids[2], 'GW_ERR_FHIR_ENTRY_REJECTED']]);
      await waitFor('the others at the server', async () => {
        const counts = await countsAt(server, ids);
        return counts.join() === '1,1,0,1';
      });
      const stats = await server.control.stats();
      assert.ok(stats.bundles.batch >= 1, 'the refused transaction was resent as a batch');
    } finally {
      await gw.stop();
    }
  });

  it('sends batch Bundles to a server whose capability statement has no transaction, and single creates to one with neither', async () => {
    for (const [interactions, expected] of [
      [{ transaction: false, batch: true }, 'batch'],
      [{ transaction: false, batch: false }, 'single'],
    ] as const) {
      await server.control.reset();
      await server.control.setInteractions(interactions);
      const gw = await gatewayTo({ baseUrl: server.baseUrl, batchSize: 5 });
      try {
        const ids = await postReadings(gw.gateway.url, expected === 'batch' ? 900 : 950, 3);
        await allOnce(server, ids, `3 Observations sent as ${expected}`);
        const stats = await server.control.stats();
        assert.equal(stats.bundles.transaction, 0);
        if (expected === 'batch') assert.ok(stats.bundles.batch >= 1);
        else assert.equal(stats.bundles.batch, 0);
        assert.ok(gw.logs.some((l) => l.msg === 'FHIR send mode chosen' && l.mode === expected));
      } finally {
        await gw.stop();
        await server.control.setInteractions({ transaction: true, batch: true });
      }
    }
  });

  it('sends only what its filter names; the rest is skipped by its cursor, neither delivered nor dead-lettered', async () => {
    await server.control.reset();
    const gw = await gatewayTo({ baseUrl: server.baseUrl, filter: { metrics: ['blood-pressure'] } });
    try {
      const heartRates = await postReadings(gw.gateway.url, 1100, 2);
      const bp = await postReading(gw.gateway.url, {
        deviceId: 'kiosk-1',
        measuredAt: '2026-11-23T09:30:00Z',
        components: [{ metric: 'bp-systolic', value: 128, unit: 'mm[Hg]' }, { metric: 'bp-diastolic', value: 82, unit: 'mm[Hg]' }],
      });
      const bpId = (bp.json.observations as Array<{ id: string }>)[0]!.id;
      const cloud = await waitFor('the cursor at the head', async () => {
        const d = (await status(gw.gateway.url)).destinations.find((x) => x.id === 'cloud')!;
        return d.pending === 0 && d;
      });
      assert.deepEqual(await countsAt(server, [...heartRates, bpId]), [0, 0, 1]);
      assert.equal(cloud.skipped, 2);
      assert.equal((await deadLetters(gw.gateway.url)).length, 0);
      assert.match(await metricsText(gw.gateway.url), /gateway_dispatch_skipped_total\{[^}]*destination="cloud"[^}]*reason="filter"[^}]*\} 2/);
    } finally {
      await gw.stop();
    }
  });

  it('waits as long as a 429 Retry-After says before sending again', async () => {
    await server.control.reset();
    await server.control.fault({ kind: 'status', status: 429, retryAfter: 2, count: 1, target: 'bundle' });
    const gw = await gatewayTo({ baseUrl: server.baseUrl });
    try {
      const ids = await postReadings(gw.gateway.url, 400, 1);
      const cloud = await waitFor('the 429 reported in /v1/status', async () => {
        const d = (await status(gw.gateway.url)).destinations.find((x) => x.id === 'cloud')!;
        return (d.lastError as { code?: string } | undefined)?.code === 'GW_ERR_FHIR_RATE_LIMITED' && d.nextAttemptAt !== undefined && d;
      });
      const lastError = cloud.lastError as { at: string };
      // Back-off here is 20–200 ms; only the server's Retry-After can push the next attempt 2 s out.
      assert.ok(Date.parse(cloud.nextAttemptAt as string) - Date.parse(lastError.at) >= 1900, JSON.stringify(cloud));
      await allOnce(server, ids, 'the Observation after the pause');
    } finally {
      await gw.stop();
    }
  });
});

describe('FHIR destination auth against the test server', () => {
  const SECRET = 'client-secret-6f1e0c2b9a';
  let server: FhirServer;
  before(async () => {
    server = await spawnFhirServer({ auth: { type: 'oauth', clients: [{ clientId: 'hub-17', clientSecret: SECRET, scope: 'system/*.*' }], tokenTtlSeconds: 300 } });
  });
  after(async () => {
    await server.stop();
  });

  it('gets a client-credentials token, renews it when it expires or is revoked, and never logs a secret or a token', async () => {
    await server.control.reset();
    await server.control.setTokenTtl(2);
    process.env.GW_TEST_FHIR_SECRET = SECRET; // clientSecretEnv: the secret arrives as a (Balena) variable
    const gw = await gatewayTo(
      { baseUrl: server.baseUrl, auth: { type: 'client_credentials', tokenUrl: server.tokenUrl, clientId: 'hub-17', clientSecretEnv: 'GW_TEST_FHIR_SECRET' } },
    );
    try {
      const first = await postReadings(gw.gateway.url, 500, 2);
      await allOnce(server, first, 'the first readings');
      // expiry: the 2 s token is renewed before use (or refreshed once on 401)
      await new Promise((r) => setTimeout(r, 2100));
      const second = await postReadings(gw.gateway.url, 510, 2);
      await allOnce(server, second, 'readings after the token expired');
      // revocation: the server answers 401, the gateway refreshes once and resends
      await server.control.setTokenTtl(300);
      assert.ok((await server.control.revoke({ all: true })) >= 1);
      const third = await postReadings(gw.gateway.url, 520, 2);
      await allOnce(server, third, 'readings after the token was revoked');
      const tokens = await server.control.tokens();
      assert.ok(tokens.length >= 3, `a new token each time (${tokens.length})`);
      assert.ok((await server.control.stats()).unauthorized >= 1, 'the revoked token was refused once');
      const text = logText(gw.logs);
      assert.ok(!text.includes(SECRET), 'the client secret is never logged');
      for (const t of tokens) assert.ok(!text.includes(t.token), 'no access token in any log line');
    } finally {
      await gw.stop();
    }
  });

  it('retries and counts a refused client (wrong secret) without dead-lettering anything', async () => {
    await server.control.reset();
    const gw = await gatewayTo({ baseUrl: server.baseUrl, auth: { type: 'client_credentials', tokenUrl: server.tokenUrl, clientId: 'hub-17', clientSecret: 'wrong-secret-value' } });
    try {
      await postReadings(gw.gateway.url, 600, 1);
      await waitFor('the auth failure counted', async () => /gateway_fhir_auth_failures_total\{[^}]*reason="invalid_client"[^}]*\} [1-9]/.test(await metricsText(gw.gateway.url)));
      assert.equal((await deadLetters(gw.gateway.url)).length, 0);
      assert.ok(gw.logs.some((l) => l.code === 'GW_ERR_FHIR_AUTH' && l.reason === 'invalid_client'), 'a log line names the OAuth error');
      assert.ok(!logText(gw.logs).includes('wrong-secret-value'));
    } finally {
      await gw.stop();
    }
  });

  for (const alg of ['RS384', 'ES384'] as const) {
    it(`authenticates with a SMART Backend Services ${alg} client assertion, also when the server clock runs ahead`, async () => {
      await server.control.reset();
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: `kid-${alg}`, alg };
      await server.control.registerClient({ clientId: `smart-${alg}`, jwks: [jwk], scope: 'system/*.*' });
      await server.control.setTokenTtl(60);
      const tmp = tempDir('smart-key');
      const keyFile = join(tmp.dir, 'key.pem');
      const pem = await exportPKCS8(privateKey);
      writeFileSync(keyFile, pem);
      const gw = await gatewayTo({
        baseUrl: server.baseUrl,
        auth: { type: 'smart_backend', tokenUrl: server.tokenUrl, clientId: `smart-${alg}`, privateKeyFile: keyFile, kid: `kid-${alg}`, alg, scope: 'system/Observation.write' },
      });
      try {
        const ids = await postReadings(gw.gateway.url, 700, 2);
        await allOnce(server, ids, 'Observations sent with a SMART token');
        // Clock skew: the server's clock runs 2 min ahead, so it calls the 60 s token expired while the gateway's
        // cache still holds it; its 401 gets one refresh (a new assertion, exp 4 min ahead, is still valid there).
        await server.control.skewClock(120_000);
        const more = await postReadings(gw.gateway.url, 710, 2);
        await allOnce(server, more, 'Observations after the skew');
        const text = logText(gw.logs);
        assert.ok(!text.includes(pem.split('\n')[1]!), 'no private key material in the logs');
        for (const t of await server.control.tokens()) assert.ok(!text.includes(t.token));
      } finally {
        await server.control.skewClock(0);
        await gw.stop();
        tmp.cleanup();
      }
    });
  }

  it('retries a SMART assertion the server refuses (unknown key id) and counts it', async () => {
    await server.control.reset();
    const { privateKey } = await generateKeyPair('RS384', { extractable: true });
    const tmp = tempDir('smart-bad');
    const keyFile = join(tmp.dir, 'key.pem');
    writeFileSync(keyFile, await exportPKCS8(privateKey));
    const gw = await gatewayTo({ baseUrl: server.baseUrl, auth: { type: 'smart_backend', tokenUrl: server.tokenUrl, clientId: 'hub-17', privateKeyFile: keyFile, kid: 'nobody', alg: 'RS384' } });
    try {
      await postReadings(gw.gateway.url, 800, 1);
      await waitFor('the auth failure counted', async () => /gateway_fhir_auth_failures_total\{[^}]*reason="invalid_client"[^}]*\} [1-9]/.test(await metricsText(gw.gateway.url)));
      assert.equal((await deadLetters(gw.gateway.url)).length, 0);
    } finally {
      await gw.stop();
      tmp.cleanup();
    }
  });
});

/** Observations at a TLS server, by a FHIR search (the control API shares the test CA's certificate). */
async function searchCount(baseUrl: string, caFile: string): Promise<number> {
  const client = createHttpClient({ tls: { caFile }, maxSockets: 1 });
  try {
    const res = await client.request({ method: 'GET', url: `${baseUrl}/Observation?_count=1000`, headers: { accept: 'application/fhir+json' }, timeoutMs: 5000 });
    assert.ok(res.ok && res.status === 200, JSON.stringify(res));
    return ((res.body as { entry?: unknown[] }).entry ?? []).length;
  } finally {
    client.close();
  }
}

describe('FHIR destination over TLS', () => {
  it('trusts a server certificate signed by the configured CA bundle, and refuses it (retrying, never delivering) without', async () => {
    const certs = tempDir('fhir-tls');
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: certs.dir, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=RPM FHIR test CA');
    writeFileSync(join(certs.dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
    const server = await spawnFhirServer({ tls: { certFile: join(certs.dir, 'server.crt'), keyFile: join(certs.dir, 'server.key') } });
    try {
      assert.match(server.baseUrl, /^https:/);
      const untrusting = await gatewayTo({ baseUrl: server.baseUrl });
      try {
        await postReadings(untrusting.gateway.url, 1000, 1);
        await waitFor('a TLS failure counted as a retry', async () => /gateway_dispatch_retries_total\{[^}]*code="GW_ERR_FHIR_NETWORK"[^}]*\} [1-9]/.test(await metricsText(untrusting.gateway.url)));
        assert.equal(await searchCount(server.baseUrl, join(certs.dir, 'ca.crt')), 0);
      } finally {
        await untrusting.stop();
      }
      const trusting = await gatewayTo({ baseUrl: server.baseUrl, tls: { caFile: join(certs.dir, 'ca.crt') } });
      try {
        await postReadings(trusting.gateway.url, 1010, 2);
        await waitFor('2 Observations over TLS', async () => (await searchCount(server.baseUrl, join(certs.dir, 'ca.crt'))) === 2);
      } finally {
        await trusting.stop();
      }
    } finally {
      await server.stop();
      certs.cleanup();
    }
  });
});
