// Secrets as files (Balena/Docker secrets): `gw start` reads GW_BUFFER_KEY_FILE / GW_ADMIN_TOKEN_FILE once at start;
// a bad one stops the start with exit 78 (EX_CONFIG) naming the variable and never printing the secret.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnGateway, tempDir, writeConfigFile } from '../support/harness.ts';

describe('secrets from files at start', () => {
  const tmp = tempDir('secret-files');
  after(() => tmp.cleanup());

  const config = async (): Promise<string> =>
    writeConfigFile(tmp.dir, {
      site: { id: 'secrets' },
      dataDir: join(tmp.dir, 'data'),
      http: { host: '127.0.0.1', port: await freePort() },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port: await freePort(), receivingApplication: 'EHR', receivingFacility: 'C' }],
    });

  it('starts with the buffer key and admin token read from files, newline trimmed, and answers the admin API with that token', async () => {
    const keyFile = join(tmp.dir, 'buffer-key');
    const tokenFile = join(tmp.dir, 'admin-token');
    writeFileSync(keyFile, `${'d'.repeat(64)}\n`);
    writeFileSync(tokenFile, 'file-admin-token\n');
    const gw = spawnGateway(await config(), { GW_BUFFER_KEY: '', GW_BUFFER_KEY_FILE: keyFile, GW_ADMIN_TOKEN_FILE: tokenFile, GW_SIMULATE: '0' });
    try {
      const url = await gw.url;
      const res = await fetch(`${url}/v1/dead-letters`, { headers: { authorization: 'Bearer file-admin-token' } });
      assert.equal(res.status, 200);
      assert.doesNotMatch(gw.output(), /GW_BUFFER_KEY is not set/);
      assert.ok(!gw.output().includes('d'.repeat(64)) && !gw.output().includes('file-admin-token'), 'no secret in the logs');
    } finally {
      gw.child.kill('SIGTERM');
      await gw.exited;
    }
  });

  it('refuses to start with exit 78 when the file is missing or the secret is given both ways, naming the variable', async () => {
    const missing = spawnGateway(await config(), { GW_BUFFER_KEY: '', GW_BUFFER_KEY_FILE: join(tmp.dir, 'no-such-key') });
    assert.equal(await missing.exited, 78);
    assert.match(missing.output(), /GW_ERR_CONFIG_SECRET: secret GW_BUFFER_KEY_FILE: cannot read .*no-such-key \(ENOENT\)/);

    const both = spawnGateway(await config(), { GW_ADMIN_TOKEN: 'one-way', GW_ADMIN_TOKEN_FILE: join(tmp.dir, 'admin-token') });
    assert.equal(await both.exited, 78);
    assert.match(both.output(), /both GW_ADMIN_TOKEN and GW_ADMIN_TOKEN_FILE are set/);
    assert.ok(!both.output().includes('one-way'), 'the secret is not printed');
  });
});
