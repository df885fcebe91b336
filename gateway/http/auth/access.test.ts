import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { createLogger } from '../../logger.ts';
import { AccessControl, readCookie } from './access.ts';
import { sha256Hex, UserStore, type StateStore } from './users.ts';

function memoryState(): StateStore {
  const m = new Map<string, unknown>();
  return {
    get: async (k) => structuredClone(m.get(k)),
    put: async (k, v) => void m.set(k, structuredClone(v)),
    del: async (k) => void m.delete(k),
    entries: async (p) => [...m].filter(([k]) => k.startsWith(p)),
  };
}

const request = (headers: Record<string, string>, method = 'GET'): FastifyRequest =>
  ({ headers, method, url: '/v1/x', routeOptions: { url: '/v1/x' } }) as unknown as FastifyRequest;

async function setup() {
  let now = 1_000_000;
  const users = await UserStore.open(memoryState());
  assert.equal((await users.add('ada', 'operator', 'ada-password-1')).ok, true);
  assert.equal((await users.add('root', 'admin', 'root-password-1')).ok, true);
  const access = new AccessControl({
    users,
    logger: createLogger('silent'),
    secureCookie: false,
    sessionIdleMs: 60_000,
    sessionAbsoluteMs: 300_000,
    throttleMaxFailures: 3,
    throttleWindowMs: 10_000,
    throttleLockMs: 20_000,
    now: () => now,
  });
  return { access, users, advance: (ms: number) => (now += ms) };
}

async function cookieOf(access: AccessControl, name = 'ada', password = 'ada-password-1') {
  const out = await access.login(name, password, '10.0.0.1');
  assert.equal(out.kind, 'ok');
  return out as Extract<typeof out, { kind: 'ok' }>;
}

describe('access control', () => {
  it('a session idle for longer than the idle limit has expired', async () => {
    const { access, advance } = await setup();
    const s = await cookieOf(access);
    advance(59_000);
    assert.equal(access.authorize(request({ cookie: `gw_session=${s.sessionId}` }), 'viewer').ok, true);
    advance(59_000); // still within idle: the last request refreshed it
    assert.equal(access.authorize(request({ cookie: `gw_session=${s.sessionId}` }), 'viewer').ok, true);
    advance(61_000);
    const expired = access.authorize(request({ cookie: `gw_session=${s.sessionId}` }), 'viewer');
    assert.deepEqual(expired.ok ? undefined : [expired.code, /expired/.test(expired.detail)], ['GW_ERR_UNAUTHORIZED', true]);
  });

  it('an active session still ends at the absolute limit', async () => {
    const { access, advance } = await setup();
    const s = await cookieOf(access);
    for (let i = 0; i < 6; i++) {
      advance(50_000);
      assert.equal(access.authorize(request({ cookie: `gw_session=${s.sessionId}` }), 'viewer').ok, i < 5, `after ${(i + 1) * 50} s`);
    }
  });

  it('a removed user\'s session opens nothing', async () => {
    const { access, users } = await setup();
    const s = await cookieOf(access);
    await users.remove('ada');
    assert.equal(access.authorize(request({ cookie: `gw_session=${s.sessionId}` }), 'viewer').ok, false);
  });

  it('a cookie POST needs the session\'s CSRF token; GET does not', async () => {
    const { access } = await setup();
    const s = await cookieOf(access);
    const cookie = `theme=dark; gw_session=${s.sessionId}`;
    assert.equal(access.authorize(request({ cookie }), 'operator').ok, true);
    const missing = access.authorize(request({ cookie }, 'POST'), 'operator');
    assert.equal(missing.ok ? undefined : missing.code, 'GW_ERR_CSRF');
    assert.equal(access.authorize(request({ cookie, 'x-csrf-token': s.csrf }, 'POST'), 'operator').ok, true);
    const role = access.authorize(request({ cookie, 'x-csrf-token': s.csrf }, 'POST'), 'admin');
    assert.equal(role.ok ? undefined : role.code, 'GW_ERR_FORBIDDEN');
  });

  it('failures lock the address and the account for the lock time, then it opens again', async () => {
    const { access, advance } = await setup();
    for (let i = 0; i < 3; i++) assert.equal((await access.login('ada', 'wrong-password', '10.0.0.9')).kind, 'failed');
    const locked = await access.login('ada', 'ada-password-1', '10.0.0.9');
    assert.deepEqual(locked, { kind: 'throttled', retryAfterSeconds: 20, scope: 'address' });
    const elsewhere = await access.login('ada', 'ada-password-1', '10.0.0.10');
    assert.equal(elsewhere.kind, 'throttled', 'the account is locked from every address');
    assert.equal((await access.login('root', 'root-password-1', '10.0.0.10')).kind, 'ok', 'other accounts from other addresses are not');
    advance(20_001);
    assert.equal((await access.login('ada', 'ada-password-1', '10.0.0.9')).kind, 'ok');
  });

  it('failures spread wider than the window do not lock', async () => {
    const { access, advance } = await setup();
    for (let i = 0; i < 5; i++) {
      assert.equal((await access.login('ada', 'wrong-password', '10.0.0.9')).kind, 'failed');
      advance(6_000);
    }
  });

  it('bearer tokens: a user token carries its role, a malformed header is refused', async () => {
    const { access, users } = await setup();
    const issued = await users.issueToken('ada');
    assert.ok(issued.ok);
    const ok = access.authorize(request({ authorization: `Bearer ${issued.value.token}` }, 'POST'), 'operator');
    assert.deepEqual(ok.ok && ok.principal, { name: 'ada', role: 'operator', via: 'user-token' });
    assert.equal(access.authorize(request({ authorization: `Basic abc` }), 'viewer').ok, false);
  });

  it('the metrics token opens only what asks for it (/metrics), never an admin route', async () => {
    const users = await UserStore.open(memoryState());
    await users.add('root', 'admin', 'root-password-1');
    const access = new AccessControl({ users, logger: createLogger('silent'), secureCookie: false, metricsTokenHash: sha256Hex('scrape-me') });
    const req = request({ authorization: 'Bearer scrape-me' });
    assert.equal(access.authorize(req, 'viewer', { metricsToken: true }).ok, true);
    const admin = access.authorize(req, 'viewer');
    assert.equal(admin.ok ? undefined : admin.code, 'GW_ERR_FORBIDDEN');
  });

  it('reads a cookie among others', () => {
    assert.equal(readCookie('a=1; gw_session=xyz; b=2', 'gw_session'), 'xyz');
    assert.equal(readCookie('gw_sessionx=1', 'gw_session'), undefined);
  });
});
