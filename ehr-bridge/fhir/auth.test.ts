import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtectedHeader, exportPKCS8, generateKeyPair, jwtVerify } from 'jose';
import { OAuthTokenSource, tokenRefreshAt } from './auth.ts';
import type { HttpClient, HttpRequest, HttpResult } from './http.ts';

const TOKEN_URL = 'https://auth.example.org/token';

/** A token endpoint as a function (no socket): records requests, answers from a script. */
function endpoint(answer: (req: HttpRequest, n: number) => HttpResult) {
  const requests: HttpRequest[] = [];
  const http: HttpClient = async (req) => {
    requests.push(req);
    return answer(req, requests.length);
  };
  return { http, requests };
}
const ok = (body: unknown): HttpResult => ({ ok: true, status: 200, headers: {}, body, text: JSON.stringify(body) });

describe('token cache timing', () => {
  it('refreshes shortly before expires_in: 10 % of the lifetime, at most a minute early', () => {
    assert.equal(tokenRefreshAt(0, 300), 270_000);
    assert.equal(tokenRefreshAt(0, 3600), 3_540_000);
    assert.equal(tokenRefreshAt(1000, 10), 10_000);
  });
  it('keeps a token without expires_in until the server says 401', () => {
    assert.equal(tokenRefreshAt(0, undefined), Number.POSITIVE_INFINITY);
  });

  it('reuses the cached token until its refresh time, then fetches a new one', async () => {
    let now = 0;
    const { http, requests } = endpoint((_r, n) => ok({ access_token: `t${n}`, token_type: 'Bearer', expires_in: 100 }));
    const source = new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_basic', clientId: 'hub-17', clientSecret: 's3cret' }, http, timeoutMs: 1000, now: () => now });
    assert.deepEqual(await source.header(), { ok: true, value: 'Bearer t1' });
    now = 89_999;
    assert.deepEqual(await source.header(), { ok: true, value: 'Bearer t1' });
    now = 90_000;
    assert.deepEqual(await source.header(), { ok: true, value: 'Bearer t2' });
    assert.equal(requests.length, 2);
  });

  it('shares one token request between concurrent callers', async () => {
    const { http, requests } = endpoint(() => ok({ access_token: 't', expires_in: 100 }));
    const source = new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_post', clientId: 'a', clientSecret: 'b' }, http, timeoutMs: 1000 });
    await Promise.all([source.header(), source.header(), source.header()]);
    assert.equal(requests.length, 1);
  });

  it('fetches a fresh token after invalidate (the one refresh on 401)', async () => {
    const { http, requests } = endpoint((_r, n) => ok({ access_token: `t${n}`, expires_in: 3600 }));
    const source = new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_post', clientId: 'a', clientSecret: 'b' }, http, timeoutMs: 1000 });
    await source.header();
    assert.equal(source.invalidate(), true);
    assert.deepEqual(await source.header(), { ok: true, value: 'Bearer t2' });
    assert.equal(requests.length, 2);
  });
});

describe('client credentials (RFC 6749 §4.4)', () => {
  it('sends the secret as HTTP Basic by default and in the form with client_secret_post', async () => {
    const basic = endpoint(() => ok({ access_token: 't' }));
    await new OAuthTokenSource({ tokenUrl: TOKEN_URL, scope: 'system/*.write', client: { kind: 'client_secret_basic', clientId: 'hub-17', clientSecret: 'p@ss' }, http: basic.http, timeoutMs: 1000 }).header();
    const req = basic.requests[0]!;
    assert.equal(req.headers?.authorization, `Basic ${Buffer.from('hub-17:p%40ss').toString('base64')}`);
    assert.equal(new URLSearchParams(req.body).get('grant_type'), 'client_credentials');
    assert.equal(new URLSearchParams(req.body).get('scope'), 'system/*.write');
    assert.equal(new URLSearchParams(req.body).get('client_secret'), null);

    const post = endpoint(() => ok({ access_token: 't' }));
    await new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_post', clientId: 'hub-17', clientSecret: 'p@ss' }, http: post.http, timeoutMs: 1000 }).header();
    assert.equal(new URLSearchParams(post.requests[0]!.body).get('client_secret'), 'p@ss');
  });

  it('reports an RFC 6749 §5.2 error by its code, without the description or the secret', async () => {
    const { http } = endpoint(() => ({ ok: true, status: 400, headers: {}, body: { error: 'invalid_client', error_description: 'secret s3cret wrong' }, text: '' }));
    const r = await new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_basic', clientId: 'a', clientSecret: 's3cret' }, http, timeoutMs: 1000 }).header();
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'invalid_client');
    assert.ok(!r.ok && !r.message.includes('s3cret'));
  });

  it('reports a network failure and a response without access_token', async () => {
    const down = endpoint(() => ({ ok: false, code: 'GW_ERR_FHIR_NETWORK', reason: 'ECONNREFUSED', sent: false }));
    const a = await new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_basic', clientId: 'a', clientSecret: 'b' }, http: down.http, timeoutMs: 1000 }).header();
    assert.equal(!a.ok && a.reason, 'network');
    const odd = endpoint(() => ok({ token: 'x' }));
    const b = await new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'client_secret_basic', clientId: 'a', clientSecret: 'b' }, http: odd.http, timeoutMs: 1000 }).header();
    assert.equal(!b.ok && b.reason, 'bad_response');
  });
});

describe('SMART Backend Services client assertion', () => {
  for (const alg of ['RS384', 'ES384'] as const) {
    it(`signs a ${alg} assertion with iss = sub = client id, aud = token URL, a jti, exp within 5 minutes and the kid`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const pem = await exportPKCS8(privateKey);
      const now = Date.parse('2026-11-23T10:00:00Z');
      const { http, requests } = endpoint(() => ok({ access_token: 't', expires_in: 300 }));
      const source = new OAuthTokenSource({
        tokenUrl: TOKEN_URL,
        scope: 'system/Observation.write',
        client: { kind: 'private_key_jwt', clientId: 'hub-17', privateKeyPem: pem, kid: 'key-1', alg, jku: 'https://hub.example.org/jwks.json' },
        http,
        timeoutMs: 1000,
        now: () => now,
      });
      assert.equal((await source.header()).ok, true);
      const form = new URLSearchParams(requests[0]!.body);
      assert.equal(form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      assert.equal(form.get('client_secret'), null);
      const jwt = form.get('client_assertion')!;
      const header = decodeProtectedHeader(jwt);
      assert.equal(header.alg, alg);
      assert.equal(header.kid, 'key-1');
      assert.equal(header.jku, 'https://hub.example.org/jwks.json');
      const { payload } = await jwtVerify(jwt, publicKey, { audience: TOKEN_URL, issuer: 'hub-17', subject: 'hub-17', currentDate: new Date(now) });
      assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16);
      assert.ok(payload.exp! * 1000 > now && payload.exp! * 1000 <= now + 300_000);
      // a second assertion gets a new jti (replay protection at the server)
      source.invalidate();
      await source.header();
      const second = new URLSearchParams(requests[1]!.body).get('client_assertion')!;
      const { payload: p2 } = await jwtVerify(second, publicKey, { currentDate: new Date(now) });
      assert.notEqual(p2.jti, payload.jti);
    });
  }

  it('reports an unusable private key as an auth failure, not a crash', async () => {
    const { http, requests } = endpoint(() => ok({ access_token: 't' }));
    const r = await new OAuthTokenSource({ tokenUrl: TOKEN_URL, client: { kind: 'private_key_jwt', clientId: 'a', privateKeyPem: 'not a key', kid: 'k', alg: 'RS384' }, http, timeoutMs: 1000 }).header();
    assert.equal(!r.ok && r.reason, 'key');
    assert.equal(requests.length, 0);
  });
});
