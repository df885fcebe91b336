// `gw user` and `gw kiosk token`: accounts written into a stopped gateway's buffer, then used to log in;
// a running gateway's LevelDB lock makes the command refuse and name the API instead.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { freePort, gatewayConfig, loginSession, ROOT, startTestGatewayWithEnv, tempDir, TEST_BUFFER_KEY } from '../support/harness.ts';

/** Run `gw …` with stdin; async so the in-process gateway keeps serving meanwhile. */
function gw(args: string[], env: Record<string, string>, stdin = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/gw.mjs'), ...args], { env: { ...process.env, GATEWAY_CONFIG: '', GW_BUFFER_KEY: TEST_BUFFER_KEY, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('gw user and gw kiosk token', () => {
  it('a user added with gw user add while the gateway is stopped logs in once it runs; while it runs gw user refuses', async () => {
    const tmp = tempDir('access-cli');
    try {
      const env = { GW_DATA_DIR: tmp.dir };
      const added = await gw(['user', 'add', 'field-tech', '--role', 'operator'], env, 'a-long-enough-password\n');
      assert.equal(added.status, 0, added.stderr);
      assert.match(added.stdout, /user field-tech added with role operator/);
      const admin = await gw(['user', 'add', 'lead', '--role', 'admin'], env, 'another-long-password');
      assert.equal(admin.status, 0, admin.stderr);
      const token = await gw(['user', 'token', 'lead'], env);
      assert.equal(token.status, 0, token.stderr);
      const apiToken = token.stdout.trim();
      assert.match(apiToken, /^gwu_[A-Za-z0-9_-]{43}$/);
      const listed = await gw(['user', 'list'], env);
      assert.match(listed.stdout, /field-tech\toperator\tstore\ttokens: 0\nlead\tadmin\tstore\ttokens: 1\n/);
      const short = await gw(['user', 'add', 'x', '--role', 'viewer'], env, 'short');
      assert.equal(short.status, 1);
      assert.match(short.stderr, /GW_ERR_INVALID_USER/);
      const badRole = await gw(['user', 'add', 'x', '--role', 'root'], env, 'long-enough-pw');
      assert.equal(badRole.status, 2);

      const gateway = await startTestGatewayWithEnv(gatewayConfig({ dataDir: tmp.dir, mllpPort: await freePort() }));
      try {
        const session = await loginSession(gateway.url, 'field-tech', 'a-long-enough-password');
        assert.equal((await session.request('/v1/session')).json.role, 'operator');
        const users = await fetch(`${gateway.url}/v1/users`, { headers: { authorization: `Bearer ${apiToken}` } });
        assert.equal(users.status, 200, 'the API token printed by gw user token works');

        const locked = await gw(['user', 'add', 'late', '--role', 'viewer'], env, 'long-enough-pw');
        assert.equal(locked.status, 75);
        assert.match(locked.stderr, /GW_ERR_USER_STORE_LOCKED: .*running gateway.*POST \/v1\/users/);
        assert.equal(JSON.stringify(gateway.logs).includes('a-long-enough-password'), false);
      } finally {
        await gateway.close();
      }
      const removed = await gw(['user', 'remove', 'field-tech'], env);
      assert.equal(removed.status, 0, removed.stderr);
      const verify = await gw(['audit', 'verify', tmp.dir], env);
      assert.equal(verify.status, 0, verify.stderr);
    } finally {
      tmp.cleanup();
    }
  });

  it('gw kiosk token prints a token and the config entry holding only its SHA-256', async () => {
    const run = await gw(['kiosk', 'token', 'lobby-1'], {});
    assert.equal(run.status, 0, run.stderr);
    const token = /^token: (gwk_[A-Za-z0-9_-]{43})$/m.exec(run.stdout)?.[1];
    const hash = /tokenHash: ([0-9a-f]{64}) }$/m.exec(run.stdout)?.[1];
    assert.ok(token && hash, run.stdout);
    assert.equal(createHash('sha256').update(token).digest('hex'), hash);
  });
});
