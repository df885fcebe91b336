// Kiosk intake tokens, the loopback-only default, a closed admin API with no admin account, and the
// Secure cookie under HTTPS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { hashPassword } from '../../device-drivers/mqtt/password.ts';
import { freePort, gatewayConfig, heartRateReading, startTestGatewayWithEnv, tempDir } from '../support/harness.ts';

type TestGateway = Awaited<ReturnType<typeof startTestGatewayWithEnv>>;
const KIOSK_TOKEN = 'gwk_test-kiosk-token-000000000000000000000001';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const post = (url: string, body: unknown, token?: string) =>
  fetch(`${url}/v1/readings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

describe('kiosk intake with configured kiosk tokens', () => {
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir('access-kiosk');
    gateway = await startTestGatewayWithEnv(
      gatewayConfig({ dataDir: tmp.dir, mllpPort: await freePort(), kiosk: { tokens: [{ id: 'lobby-kiosk', tokenHash: sha256(KIOSK_TOKEN) }] } }),
      { adminToken: 'test-admin-token' },
    );
  });
  after(async () => {
    await gateway.close();
    tmp.cleanup();
  });

  it('refuses a reading without a token or with a wrong one, even from loopback', async () => {
    const none = await post(gateway.url, heartRateReading(1));
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { code: string }).code, 'GW_ERR_KIOSK_UNAUTHORIZED');
    assert.equal((await post(gateway.url, heartRateReading(1), 'gwk_wrong')).status, 401);
    const visit = await fetch(`${gateway.url}/v1/visits`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ encounterId: 'E1', deviceId: 'kiosk-1' }) });
    assert.equal(visit.status, 401, 'visits need the token as well');
  });

  it('takes a reading with its token and records the token id as the actor in the audit trail', async () => {
    const res = await post(gateway.url, heartRateReading(2), KIOSK_TOKEN);
    assert.equal(res.status, 202);
    const { observations } = (await res.json()) as { observations: Array<{ id: string }> };
    const trace = (await (await fetch(`${gateway.url}/v1/trace/${observations[0]!.id}`, { headers: { authorization: 'Bearer test-admin-token' } })).json()) as {
      events: Array<{ kind: string; actor: string }>;
    };
    assert.equal(trace.events.find((e) => e.kind === 'reading-received')?.actor, 'kiosk-token:lobby-kiosk');
  });

  it('a kiosk token cannot reach admin routes', async () => {
    for (const path of ['/v1/bindings', '/v1/quarantine', '/v1/dead-letters/ehr', '/v1/users']) {
      assert.equal((await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${KIOSK_TOKEN}` } })).status, 401, path);
    }
  });

  it('does not warn about loopback-only intake at start-up, and never logs the token', () => {
    assert.equal(gateway.logs.some((l) => String(l.msg).includes('loopback only')), false);
    assert.equal(JSON.stringify(gateway.logs).includes(KIOSK_TOKEN), false);
  });
});

describe('a gateway with no kiosk token and no admin account', () => {
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir('access-closed');
    gateway = await startTestGatewayWithEnv(gatewayConfig({ dataDir: tmp.dir, mllpPort: await freePort(), http: { host: '0.0.0.0', port: 0 } }));
  });
  after(async () => {
    await gateway.close();
    tmp.cleanup();
  });

  it('says at start-up that intake takes loopback only and how to create an admin', () => {
    const warnings = gateway.logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
    assert.ok(warnings.some((m) => m.includes('kiosk intake accepts requests from loopback only')), warnings.join('\n'));
    assert.ok(warnings.some((m) => m.includes('gw user add <name> --role admin')), warnings.join('\n'));
  });

  it('takes a kiosk reading from loopback without a token', async () => {
    const port = new URL(gateway.url).port;
    assert.equal((await post(`http://127.0.0.1:${port}`, heartRateReading(1))).status, 202);
  });

  it('refuses a kiosk reading from another address', async (t) => {
    const address = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!address) return t.skip('this machine has no non-loopback IPv4 address');
    const res = await post(`http://${address}:${new URL(gateway.url).port}`, heartRateReading(2));
    assert.equal(res.status, 401);
    assert.match(((await res.json()) as { detail: string }).detail, /loopback only/);
  });

  it('answers 401 to every admin route, whatever the credentials, and to logins', async () => {
    for (const path of ['/v1/bindings', '/v1/quarantine', '/v1/dead-letters', '/v1/users', '/v1/session']) {
      for (const headers of [{}, { authorization: 'Bearer test-admin-token' }, { cookie: 'gw_session=abc' }] as Array<Record<string, string>>) {
        const res = await fetch(`${gateway.url}${path}`, { headers });
        assert.equal(res.status, 401, path);
        assert.match(((await res.json()) as { detail: string }).detail, /gw user add <name> --role admin/);
      }
    }
    const login = await fetch(`${gateway.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', password: 'whatever1' }) });
    assert.equal(login.status, 401);
  });
});

describe('the session cookie under HTTPS', () => {
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir('access-tls');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=localhost'], { cwd: tmp.dir, stdio: 'ignore' });
    gateway = await startTestGatewayWithEnv(
      gatewayConfig({
        dataDir: join(tmp.dir, 'data'),
        mllpPort: await freePort(),
        http: { host: '127.0.0.1', port: 0, tls: { certFile: join(tmp.dir, 'cert.pem'), keyFile: join(tmp.dir, 'key.pem') } },
        admin: { users: [{ name: 'root', role: 'admin', passwordHash: await hashPassword('root-password-1') }] },
      }),
    );
  });
  after(async () => {
    await gateway.close();
    tmp.cleanup();
  });

  it('carries Secure', async () => {
    const { request } = await import('node:https');
    const url = new URL('/v1/login', gateway.url.replace('http:', 'https:'));
    const cookie = await new Promise<string>((resolve, reject) => {
      const req = request(url, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers['set-cookie']?.[0])) : reject(new Error(`login: ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ name: 'root', password: 'root-password-1' }));
    });
    assert.match(cookie, /; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
  });
});
