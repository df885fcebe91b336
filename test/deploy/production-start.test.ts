// The production start a Balena hub runs: the compiled gateway (`npm run build`, GW_RUNTIME=dist), configured
// ONLY by environment variables (no GATEWAY_CONFIG file), delivering to an independent MLLP receiver, and
// shutting down on SIGTERM without losing a reading it answered 202 for.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, ROOT, startReceiver, TEST_BUFFER_KEY, tempDir, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

interface Hub {
  child: ChildProcess;
  url: Promise<string>;
  exited: Promise<number | null>;
  output(): string;
}

/** `node bin/gw.mjs start` as on the hub: compiled JavaScript, environment variables only. */
function startHub(vars: Record<string, string>): Hub {
  const env: Record<string, string | undefined> = { ...process.env, ...vars };
  delete env.GATEWAY_CONFIG; // configuration comes from the environment alone
  const child = spawn(process.execPath, [join(ROOT, 'bin/gw.mjs'), 'start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"gateway started"/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before it started:\n${out.slice(-3000)}`)));
  });
  url.catch(() => undefined);
  return { child, url, exited, output: () => out };
}

/** Resolves true when the process exited by itself within `ms`; otherwise SIGKILLs it and resolves false. */
async function exitsWithin(hub: Hub, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const done = await Promise.race([hub.exited.then(() => true as const), deadline]);
  clearTimeout(timer);
  if (!done) {
    hub.child.kill('SIGKILL');
    await hub.exited;
  }
  return done;
}

let n = 0;
/** A kiosk reading that names its patient, so the default (demo) bindings need no change. */
function reading(): Record<string, unknown> {
  n += 1;
  return {
    deviceId: 'kiosk-balena-1',
    patient: { mrn: 'ENV0001' },
    measuredAt: new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + n * 1000).toISOString(),
    components: [{ metric: 'heart-rate', value: 60 + (n % 40), unit: '/min' }],
  };
}

/** POST one reading as a kiosk does (a kept-alive connection: shutdown must not wait for it). */
async function post(url: string, body: unknown): Promise<{ status: number; controlIds: string[] }> {
  const res = await fetch(`${url}/v1/readings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json().catch(() => ({}))) as { observations?: Array<{ id: string }> };
  return { status: res.status, controlIds: (json.observations ?? []).map((o) => o.id.slice(0, 20)) };
}

describe('the production start on a hub (compiled, environment variables only)', () => {
  const tmp = tempDir('balena-start');
  let receiver: Receiver;
  let vars: Record<string, string>;
  const hubs: Hub[] = [];

  before(async () => {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(build.status, 0, `npm run build failed:\n${build.stdout}\n${build.stderr}`);
    const mllpPort = await freePort();
    receiver = await startReceiver(mllpPort);
    vars = {
      GW_RUNTIME: 'dist',
      NODE_OPTIONS: '--max-semi-space-size=4',
      GW_DATA_DIR: join(tmp.dir, 'data'),
      GW_HTTP_HOST: '127.0.0.1',
      GW_HTTP_PORT: String(await freePort()),
      GW_MLLP_HOST: '127.0.0.1',
      GW_MLLP_PORT: String(mllpPort),
      GW_BUFFER_KEY: TEST_BUFFER_KEY,
      GW_SIMULATE: '0',
      GW_LOG_LEVEL: 'info',
      GW_SITE_ID: 'balena-test',
    };
  });

  after(async () => {
    for (const hub of hubs) {
      if (hub.child.exitCode !== null || hub.child.signalCode !== null) continue;
      hub.child.kill('SIGTERM');
      await exitsWithin(hub, 10_000);
    }
    await receiver?.stop();
    tmp.cleanup();
  });

  it('delivers a posted reading to the EHR receiver over MLLP', async () => {
    const hub = startHub(vars);
    hubs.push(hub);
    const url = await hub.url;
    assert.ok(hub.output().includes('"config":"built-in default"'), 'no config file was read');
    const res = await post(url, reading());
    assert.equal(res.status, 202);
    assert.equal(res.controlIds.length, 1);
    const message = await waitFor('the ORU^R01 at the receiver', () => receiver.messages.find((m) => m.controlId === res.controlIds[0]));
    assert.equal(message.pid[3]!.split('^')[0], 'ENV0001');
  });

  it('on SIGTERM while readings arrive, exits within 10 s and delivers every 202 after a restart on the same data dir', async () => {
    const hub = hubs[0]!;
    const url = await hub.url;
    const accepted: string[] = [];
    let stopped = false;
    // Two kiosks post back to back until the gateway stops accepting.
    const poster = async (): Promise<void> => {
      while (!stopped) {
        try {
          const res = await post(url, reading());
          if (res.status !== 202) return; // 503 while closing: a kiosk backs off and retries later
          accepted.push(...res.controlIds);
        } catch {
          return; // connection refused or reset: the listener is closed
        }
      }
    };
    const posting = [poster(), poster()];
    await waitFor('a few readings accepted', () => accepted.length >= 10);
    hub.child.kill('SIGTERM');
    const exitedOnItsOwn = await exitsWithin(hub, 10_000);
    stopped = true;
    await Promise.all(posting);
    assert.ok(exitedOnItsOwn, `the gateway did not exit within 10 s of SIGTERM:\n${hub.output().slice(-2000)}`);
    assert.equal(await hub.exited, 0);

    const again = startHub(vars);
    hubs.push(again);
    await again.url;
    const missing = (): string[] => accepted.filter((id) => !receiver.messages.some((m) => m.controlId === id && m.ackCode === 'AA'));
    await waitFor('every accepted reading at the receiver', () => missing().length === 0);
    assert.deepEqual(missing(), []);
  });
});
