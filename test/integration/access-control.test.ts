// Access control of the admin API end to end: accounts, sessions with CSRF tokens, roles, bearer tokens,
// login throttling, protected ops routes; and that no password, token or session id reaches a log line.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hashPassword } from '../../device-drivers/mqtt/password.ts';
import {
  freePort,
  gatewayConfig,
  heartRateReading,
  loginSession,
  postReading,
  startReceiver,
  startTestGatewayWithEnv,
  tempDir,
  waitFor,
  type AdminSession,
} from '../support/harness.ts';

type TestGateway = Awaited<ReturnType<typeof startTestGatewayWithEnv>>;

const ROOT_PASSWORD = 'root-pass-Zq81xv';
const VIEWER_PASSWORD = 'viewer-pass-Kp29mw';
const OPERATOR_PASSWORD = 'operator-pass-Ty47nb';
const SCRAPE_TOKEN = 'prometheus-scrape-token-7f3a';
const REJECTED_HR = 133; // the receiver answers AR to this heart rate: a dead letter to work with

describe('the admin API lets people in by account and role', () => {
  let gateway: TestGateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let tmp: ReturnType<typeof tempDir>;
  let root: AdminSession;
  let viewer: AdminSession;
  let operator: AdminSession;
  const secrets: string[] = [ROOT_PASSWORD, VIEWER_PASSWORD, OPERATOR_PASSWORD, SCRAPE_TOKEN];

  before(async () => {
    tmp = tempDir('access');
    const port = await freePort();
    receiver = await startReceiver(port, (_c, _n, text) => (text.includes(`|${REJECTED_HR}|`) ? 'AR' : 'AA'));
    gateway = await startTestGatewayWithEnv(
      gatewayConfig({
        dataDir: tmp.dir,
        mllpPort: port,
        http: { host: '127.0.0.1', port: 0, protectStatus: true, protectMetrics: true, metricsTokenHash: createHash('sha256').update(SCRAPE_TOKEN).digest('hex') },
        admin: { users: [{ name: 'root', role: 'admin', passwordHash: await hashPassword(ROOT_PASSWORD) }] },
      }),
    );
    root = await loginSession(gateway.url, 'root', ROOT_PASSWORD);
    for (const [name, role, password] of [['vera', 'viewer', VIEWER_PASSWORD], ['otto', 'operator', OPERATOR_PASSWORD]] as const) {
      const res = await root.request('/v1/users', { method: 'POST', body: { name, role, password } });
      assert.equal(res.status, 201, JSON.stringify(res.json));
    }
    viewer = await loginSession(gateway.url, 'vera', VIEWER_PASSWORD);
    operator = await loginSession(gateway.url, 'otto', OPERATOR_PASSWORD);
    secrets.push(root.cookie.split('=')[1]!, viewer.cookie.split('=')[1]!, operator.cookie.split('=')[1]!, root.csrf, viewer.csrf, operator.csrf);
  });

  after(async () => {
    await gateway.close();
    await receiver.stop();
    tmp.cleanup();
  });

  it('a user logs in, gets an HttpOnly SameSite=Strict cookie and sees /v1/status', async () => {
    const res = await fetch(`${gateway.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'vera', password: VIEWER_PASSWORD }) });
    assert.equal(res.status, 200);
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^gw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/, 'no Secure over plain HTTP');
    const body = (await res.json()) as { name: string; role: string; csrfToken: string };
    assert.deepEqual([body.name, body.role], ['vera', 'viewer']);
    secrets.push(cookie.split(';')[0]!.split('=')[1]!, body.csrfToken);

    const status = await viewer.request('/v1/status');
    assert.equal(status.status, 200);
    assert.equal((status.json.site as { id: string }).id, 'test-clinic');
    const anonymous = await fetch(`${gateway.url}/v1/status`);
    assert.equal(anonymous.status, 401, 'protectStatus: true');
    const session = await viewer.request('/v1/session');
    assert.deepEqual([session.json.name, session.json.role, session.json.csrfToken], ['vera', 'viewer', viewer.csrf]);
  });

  it('every admin route refuses a request without credentials with 401 and a problem document', async () => {
    const routes: Array<[string, string]> = [
      ['GET', '/v1/bindings'], ['PUT', '/v1/bindings/kiosk-9'], ['GET', '/v1/quarantine'], ['POST', '/v1/quarantine/x/discard'],
      ['GET', '/v1/dead-letters'], ['GET', '/v1/dead-letters/ehr'], ['POST', '/v1/dead-letters/ehr/replay'], ['POST', '/v1/dead-letters/ehr/discard'],
      ['GET', '/v1/trace/abc'], ['GET', '/v1/devices'], ['GET', '/v1/audit'], ['GET', '/v1/users'], ['POST', '/v1/users'],
      ['DELETE', '/v1/users/vera'], ['POST', '/v1/users/vera/tokens'], ['GET', '/v1/config'], ['GET', '/v1/session'], ['POST', '/v1/logout'],
      ['GET', '/v1/status'], ['GET', '/metrics'],
    ];
    for (const [method, path] of routes) {
      const res = await fetch(`${gateway.url}${path}`, { method, headers: { authorization: 'Bearer not-a-token' } });
      assert.equal(res.status, 401, `${method} ${path} with a wrong token`);
      const bare = await fetch(`${gateway.url}${path}`, { method });
      assert.equal(bare.status, 401, `${method} ${path} without credentials`);
      assert.equal(bare.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.equal(((await bare.json()) as { code: string }).code, 'GW_ERR_UNAUTHORIZED');
    }
  });

  it('a viewer cannot replay a dead letter (403) and an operator can', async () => {
    const posted = await postReading(gateway.url, heartRateReading(1, { components: [{ metric: 'heart-rate', value: REJECTED_HR, unit: '/min' }] }));
    assert.equal(posted.status, 202);
    await waitFor('the dead letter', async () => ((await viewer.request('/v1/dead-letters/ehr')).json.deadLetters as unknown[]).length === 1);

    const refused = await viewer.request('/v1/dead-letters/ehr/replay', { method: 'POST', body: {} });
    assert.equal(refused.status, 403);
    assert.equal(refused.json.code, 'GW_ERR_FORBIDDEN');
    assert.match(String(refused.json.detail), /needs the role operator; vera has viewer/);

    const replayed = await operator.request('/v1/dead-letters/ehr/replay', { method: 'POST', body: {} });
    assert.equal(replayed.status, 200, JSON.stringify(replayed.json));
    assert.equal(replayed.json.replayed, 1);
    // the receiver refuses it again: it comes back as a dead letter
    await waitFor('the replayed reading dead-lettered again', async () => ((await viewer.request('/v1/dead-letters/ehr')).json.deadLetters as unknown[]).length === 1);
    const audit = await viewer.request('/v1/audit?limit=200');
    const replay = (audit.json.events as Array<{ kind: string; actor: string }>).find((e) => e.kind === 'replayed');
    assert.equal(replay?.actor, 'user:otto');
  });

  it('every route above a viewer refuses a viewer with 403, and every admin route an operator', async () => {
    const operatorRoutes: Array<[string, string]> = [
      ['PUT', '/v1/bindings/kiosk-9'], ['POST', '/v1/dead-letters/ehr/replay'], ['POST', '/v1/dead-letters/ehr/discard'], ['POST', '/v1/quarantine/x/discard'],
    ];
    const adminRoutes: Array<[string, string]> = [
      ['GET', '/v1/users'], ['POST', '/v1/users'], ['DELETE', '/v1/users/vera'], ['POST', '/v1/users/vera/tokens'], ['GET', '/v1/config'],
    ];
    for (const [method, path] of [...operatorRoutes, ...adminRoutes]) {
      const res = await viewer.request(path, method === 'GET' ? {} : { method, body: {} });
      assert.equal(res.status, 403, `viewer: ${method} ${path}`);
      assert.equal(res.json.code, 'GW_ERR_FORBIDDEN');
    }
    for (const [method, path] of adminRoutes) assert.equal((await operator.request(path, method === 'GET' ? {} : { method, body: {} })).status, 403, `operator: ${method} ${path}`);
  });

  it('a viewer cannot add users and an operator cannot read the config (admin only)', async () => {
    assert.equal((await viewer.request('/v1/users', { method: 'POST', body: { name: 'eve', role: 'admin', password: 'longenough' } })).status, 403);
    assert.equal((await operator.request('/v1/config')).status, 403);
    const config = await root.request('/v1/config');
    assert.equal(config.status, 200);
    const users = ((config.json.config as { admin: { users: Array<{ passwordHash: string }> } }).admin.users);
    assert.equal(users[0]?.passwordHash, '[redacted]');
  });

  it('a cookie request that changes something without the CSRF header is refused with 403', async () => {
    const without = await operator.request('/v1/dead-letters/ehr/replay', { method: 'POST', body: {}, csrf: false });
    assert.equal(without.status, 403);
    assert.equal(without.json.code, 'GW_ERR_CSRF');
    const res = await fetch(`${gateway.url}/v1/dead-letters/ehr/replay`, {
      method: 'POST',
      headers: { cookie: operator.cookie, 'x-csrf-token': viewer.csrf, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 403, "another session's CSRF token does not fit");
    assert.equal((await operator.request('/v1/dead-letters/ehr', { csrf: false })).status, 200, 'reading needs no CSRF token');
  });

  it('a bearer-token request needs no CSRF token, and the token carries its user\'s role', async () => {
    const issued = await root.request('/v1/users/otto/tokens', { method: 'POST' });
    assert.equal(issued.status, 201);
    const token = String(issued.json.token);
    secrets.push(token);
    const replay = await fetch(`${gateway.url}/v1/dead-letters/ehr/replay`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(replay.status, 200);
    const users = await fetch(`${gateway.url}/v1/users`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(users.status, 403, 'an operator token is no admin token');
    const listed = await root.request('/v1/users');
    const otto = (listed.json.users as Array<{ name: string; tokens: Array<Record<string, unknown>> }>).find((u) => u.name === 'otto');
    assert.equal(otto?.tokens.length, 1);
    assert.equal(JSON.stringify(listed.json).includes(token), false, 'the token is shown once, never listed');
  });

  it('an operator discards a dead letter with a reason, and the audit trail keeps who and why', async () => {
    await waitFor('the dead letter back', async () => ((await viewer.request('/v1/dead-letters/ehr')).json.deadLetters as unknown[]).length === 1);
    const [letter] = (await viewer.request('/v1/dead-letters/ehr')).json.deadLetters as Array<{ seq: string; observationId: string }>;
    assert.equal((await viewer.request('/v1/dead-letters/ehr/discard', { method: 'POST', body: { reason: 'duplicate test reading', seqs: [letter!.seq] } })).status, 403);
    const noReason = await operator.request('/v1/dead-letters/ehr/discard', { method: 'POST', body: { seqs: [letter!.seq] } });
    assert.equal(noReason.status, 400);
    const done = await operator.request('/v1/dead-letters/ehr/discard', { method: 'POST', body: { reason: 'duplicate test reading', seqs: [letter!.seq] } });
    assert.equal(done.status, 200, JSON.stringify(done.json));
    assert.equal(done.json.discarded, 1);
    assert.deepEqual((await viewer.request('/v1/dead-letters/ehr')).json.deadLetters, []);
    const events = (await viewer.request('/v1/audit?limit=200')).json.events as Array<{ kind: string; actor: string; detail: Record<string, unknown>; subject: { observationIds?: string[] } }>;
    const discarded = events.find((e) => e.kind === 'discarded');
    assert.equal(discarded?.actor, 'user:otto');
    assert.equal(discarded?.detail.reason, 'duplicate test reading');
    assert.deepEqual(discarded?.subject.observationIds, [letter!.observationId]);
    const trace = await viewer.request(`/v1/trace/${letter!.observationId}`);
    assert.ok((trace.json.events as Array<{ kind: string }>).some((e) => e.kind === 'discarded'), 'the reading\'s trace shows the discard');
  });

  it('a login form posts urlencoded and lands on the status page; another origin cannot log anyone in', async () => {
    const form = await fetch(`${gateway.url}/v1/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: gateway.url },
      body: new URLSearchParams({ name: 'vera', password: VIEWER_PASSWORD }).toString(),
    });
    assert.equal(form.status, 303);
    assert.equal(form.headers.get('location'), '/');
    secrets.push((form.headers.get('set-cookie') ?? '').split(';')[0]!.split('=')[1]!);
    const foreign = await fetch(`${gateway.url}/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: new URLSearchParams({ name: 'vera', password: VIEWER_PASSWORD }).toString(),
    });
    assert.equal(foreign.status, 403);
  });

  it('/metrics is protected by config: a viewer session reads it, nobody else', async () => {
    const res = await fetch(`${gateway.url}/metrics`, { headers: { cookie: viewer.cookie } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /gateway_access_refused_total\{[^}]*transport="admin",reason="GW_ERR_UNAUTHORIZED"[^}]*\} [1-9]/);
    assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200, 'health stays open by default');
    const scrape = { authorization: `Bearer ${SCRAPE_TOKEN}` };
    assert.equal((await fetch(`${gateway.url}/metrics`, { headers: scrape })).status, 200, 'Prometheus with the metrics token');
    assert.equal((await fetch(`${gateway.url}/v1/status`, { headers: scrape })).status, 403, 'the metrics token opens /metrics only');
    assert.equal((await fetch(`${gateway.url}/v1/dead-letters`, { headers: scrape })).status, 403);
  });

  it('after logout the session cookie opens nothing', async () => {
    const session = await loginSession(gateway.url, 'vera', VIEWER_PASSWORD);
    secrets.push(session.cookie.split('=')[1]!, session.csrf);
    assert.equal((await session.request('/v1/logout', { method: 'POST' })).status, 204);
    const after = await session.request('/v1/session');
    assert.equal(after.status, 401);
    const events = (await root.request('/v1/audit?limit=200')).json.events as Array<{ kind: string; subject: { user?: string } }>;
    assert.ok(events.some((e) => e.kind === 'logout' && e.subject.user === 'vera'));
    assert.ok(events.some((e) => e.kind === 'login' && e.subject.user === 'vera'));
  });

  it('removing a user ends their sessions; the last admin account cannot be removed', async () => {
    assert.equal((await root.request('/v1/users', { method: 'POST', body: { name: 'temp', role: 'viewer', password: 'temp-password-1' } })).status, 201);
    const temp = await loginSession(gateway.url, 'temp', 'temp-password-1');
    secrets.push(temp.cookie.split('=')[1]!, temp.csrf, 'temp-password-1');
    assert.equal((await temp.request('/v1/session')).status, 200);
    assert.equal((await root.request('/v1/users/temp', { method: 'DELETE' })).status, 200);
    assert.equal((await temp.request('/v1/session')).status, 401);
    const last = await root.request('/v1/users/root', { method: 'DELETE' });
    assert.equal(last.status, 400);
    assert.match(String(last.json.detail), /last admin account/);
    const events = (await root.request('/v1/audit?limit=200')).json.events as Array<{ kind: string; actor: string; subject: { user?: string } }>;
    assert.ok(events.some((e) => e.kind === 'user-added' && e.subject.user === 'temp' && e.actor === 'user:root'));
    assert.ok(events.some((e) => e.kind === 'user-removed' && e.subject.user === 'temp'));
  });

  // Last: it locks this client's address out of logins for 15 minutes.
  it('a wrong password is 401, the sixth failure in a row is 429 with Retry-After, and the failures are audited', async () => {
    const attempt = (password: string) =>
      fetch(`${gateway.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'otto', password }) });
    for (let i = 1; i <= 5; i++) {
      const res = await attempt(`wrong-guess-${i}`);
      assert.equal(res.status, 401, `failure ${i}`);
      assert.equal(((await res.json()) as { code: string }).code, 'GW_ERR_LOGIN_FAILED');
    }
    const sixth = await attempt('wrong-guess-6');
    assert.equal(sixth.status, 429);
    assert.ok(Number(sixth.headers.get('retry-after')) > 800, 'about 15 minutes');
    assert.equal(((await sixth.json()) as { code: string }).code, 'GW_ERR_LOGIN_THROTTLED');
    assert.equal((await attempt(OPERATOR_PASSWORD)).status, 429, 'even the right password waits');
    const events = (await root.request('/v1/audit?limit=200')).json.events as Array<{ kind: string; subject: { user?: string }; detail: Record<string, unknown> }>;
    const failed = events.filter((e) => e.kind === 'login-failed' && e.subject.user === 'otto');
    assert.ok(failed.length >= 6);
    assert.equal(JSON.stringify(events).includes('wrong-guess'), false, 'no password in the audit trail');
    const metrics = await (await fetch(`${gateway.url}/metrics`, { headers: { cookie: viewer.cookie } })).text();
    assert.match(metrics, /gateway_login_failures_total\{[^}]*reason="GW_ERR_LOGIN_THROTTLED"[^}]*\} [1-9]/);
  });

  it('no password, token, session id or CSRF token ever appears in a log line, at any level', () => {
    assert.ok(gateway.logs.length > 20);
    const text = gateway.logs.map((l) => JSON.stringify(l)).join('\n');
    for (const secret of [...secrets, 'wrong-guess-1']) {
      assert.equal(text.includes(secret), false, `a log line holds a secret (${secret.slice(0, 4)}…)`);
    }
  });
});
