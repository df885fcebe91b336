// Every bad input gets a clear refusal (RFC 9457 problem naming the field), a metric and a log line,
// and nothing already buffered is touched.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadConfig } from '../../gateway/config.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { ROOT, freePort, gatewayConfig, heartRateReading, postReading, startTestGateway, tempDir } from '../support/harness.ts';

type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;
interface Problem {
  type: string;
  status: number;
  code: string;
  detail: string;
  errors?: Array<{ code: string; detail: string; pointer?: string }>;
}

describe('bad input is refused clearly and touches nothing already buffered', () => {
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let bufferedIds: string[] = [];

  before(async () => {
    tmp = tempDir('bad-input');
    // No receiver: what is buffered stays buffered, so we can check it is untouched.
    gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: await freePort() }));
    for (let n = 0; n < 5; n++) {
      const res = await postReading(gateway.url, heartRateReading(n));
      assert.equal(res.status, 202);
      bufferedIds.push((res.json.observations as Array<{ id: string }>)[0]!.id);
    }
  });

  after(async () => {
    const entries = await gateway.buffer.read(0n, 100);
    assert.deepEqual(entries.map((e) => e.observation.id), bufferedIds, 'the buffer holds exactly what was accepted');
    await gateway.close();
    tmp.cleanup();
  });

  async function refused(body: unknown, status = 400): Promise<Problem> {
    const res = await fetch(`${gateway.url}/v1/readings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    assert.equal(res.status, status);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    return (await res.json()) as Problem;
  }

  it('refuses malformed JSON with 400 and says it is not JSON', async () => {
    const p = await refused('{"deviceId": "kiosk-1", "components": [');
    assert.equal(p.code, 'GW_ERR_MALFORMED_BODY');
    assert.match(p.detail, /not valid JSON/);
  });

  it('refuses an unknown metric and names the field', async () => {
    const p = await refused({ deviceId: 'kiosk-1', components: [{ metric: 'blood-sugarz', value: 5, unit: 'mmol/L' }] });
    assert.equal(p.code, 'GW_ERR_UNKNOWN_METRIC');
    assert.equal(p.errors?.[0]?.pointer, '#/components/0/metric');
    assert.match(p.detail, /blood-sugarz/);
  });

  it('refuses a unit that does not belong to the metric', async () => {
    const p = await refused({ deviceId: 'kiosk-1', components: [{ metric: 'heart-rate', value: 70, unit: 'mm[Hg]' }] });
    assert.equal(p.code, 'GW_ERR_UNIT_NOT_ACCEPTED');
    assert.equal(p.errors?.[0]?.pointer, '#/components/0/unit');
  });

  it('refuses a value outside the plausible range', async () => {
    const p = await refused({ deviceId: 'kiosk-1', components: [{ metric: 'spo2', value: 140, unit: '%' }] });
    assert.equal(p.code, 'GW_ERR_OUT_OF_RANGE');
    assert.equal(p.errors?.[0]?.pointer, '#/components/0/value');
  });

  it('refuses an IEEE-11073 special value instead of turning it into a number', async () => {
    for (const special of ['NaN', 'NRes', '+INF', '-INF']) {
      const p = await refused({ deviceId: 'kiosk-1', components: [{ metric: 'heart-rate', value: special, unit: '/min' }] });
      assert.ok(p.errors?.some((e) => e.code === 'GW_ERR_SPECIAL_VALUE'), `${special}: ${JSON.stringify(p)}`);
    }
  });

  it('refuses a measuredAt that is not a date-time with offset, pointing at measuredAt', async () => {
    const p = await refused({ deviceId: 'kiosk-1', measuredAt: '23/11/2026 09:30', components: [{ metric: 'heart-rate', value: 70, unit: '/min' }] });
    assert.equal(p.code, 'GW_ERR_BAD_TIME');
    assert.equal(p.errors?.[0]?.pointer, '#/measuredAt');
  });

  it('refuses a body over the size limit with 413', async () => {
    const huge = JSON.stringify({ ...heartRateReading(99), padding: 'x'.repeat(200 * 1024) });
    const p = await refused(huge, 413);
    assert.equal(p.code, 'GW_ERR_BODY_TOO_LARGE');
  });

  it('refuses unknown fields and a missing device id, listing every problem', async () => {
    const p = await refused({ components: [{ metric: 'heart-rate', value: 70, unit: '/min', colour: 'red' }] });
    assert.equal(p.code, 'GW_ERR_INVALID_READING');
    const pointers = (p.errors ?? []).map((e) => e.pointer);
    assert.ok(pointers.includes('#/deviceId'), JSON.stringify(p.errors));
    assert.ok(pointers.includes('#/components/0'), JSON.stringify(p.errors));
  });

  it('counts every refusal in gateway_readings_refused_total and logs it', async () => {
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    for (const reason of ['GW_ERR_UNKNOWN_METRIC', 'GW_ERR_UNIT_NOT_ACCEPTED', 'GW_ERR_OUT_OF_RANGE', 'GW_ERR_SPECIAL_VALUE']) {
      assert.match(metrics, new RegExp(`gateway_readings_refused_total\\{[^}]*reason="${reason}"[^}]*\\} [1-9]`), reason);
    }
    assert.match(metrics, /gateway_http_problems_total\{[^}]*code="GW_ERR_MALFORMED_BODY"[^}]*\} 1/);
    assert.ok(gateway.logs.some((l) => l.msg === 'reading refused'));
    const logged = JSON.stringify(gateway.logs);
    assert.ok(!logged.includes('MRN0001'), 'no patient identifier in logs at info');
  });
});

describe('a bad configuration stops start-up with a message naming the key', () => {
  it('names each bad key and what was expected', () => {
    const tmp = tempDir('bad-config');
    try {
      const file = join(tmp.dir, 'gateway.yaml');
      writeFileSync(file, 'site: { id: clinic-1 }\ndestinations:\n  - { id: ehr, type: mllp, host: 127.0.0.1, port: 99999, receivingApplication: EHR, receivingFacility: CLINIC }\nbindings:\n  - { device: kiosk-1, patient: { mrm: "MRN0001" } }\n');
      assert.throws(() => loadConfig({ GATEWAY_CONFIG: file }), (err: unknown) => {
        assert.ok(err instanceof GatewayError);
        assert.equal(err.code, 'GW_ERR_CONFIG_INVALID');
        assert.match(err.message, /destinations\[0\]\.port/);
        assert.match(err.message, /bindings\[0\]\.patient/);
        assert.match(err.message, /"mrm"/);
        return true;
      });
    } finally {
      tmp.cleanup();
    }
  });

  it('names the environment variable that carried a bad value', () => {
    assert.throws(() => loadConfig({ GW_HTTP_PORT: 'eighty' }), /http\.port \(from GW_HTTP_PORT\)/);
  });

  it('makes `gw start` exit non-zero with the message on stderr', () => {
    const tmp = tempDir('bad-config-cli');
    try {
      const file = join(tmp.dir, 'gateway.yaml');
      writeFileSync(file, 'site: { id: "bad site id!" }\nsimulate: { enabeld: true }\n');
      const run = spawnSync(process.execPath, [join(ROOT, 'bin/gw.mjs'), 'start'], {
        env: { ...process.env, GATEWAY_CONFIG: file, GW_DATA_DIR: join(tmp.dir, 'data') },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 78);
      assert.match(run.stderr, /site\.id/);
      assert.match(run.stderr, /simulate.*"enabeld"/);
    } finally {
      tmp.cleanup();
    }
  });
});
