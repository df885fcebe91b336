// `gw hash-password` makes the passwordHash the mqtt config takes; `gw decode mqtt` shows what an MQTT
// publish becomes, through the same code path as `gw decode kiosk`, with no side effects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parsePasswordHash, verifyPassword } from '../../device-drivers/mqtt/password.ts';
import { ROOT, tempDir, writeConfigFile } from '../support/harness.ts';

function gw(args: string[], options: { input?: string; env?: Record<string, string> } = {}): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'bin/gw.mjs'), ...args], {
    encoding: 'utf8',
    input: options.input ?? '',
    env: { ...process.env, ...options.env },
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('gw hash-password', () => {
  it('reads the password on stdin and prints a scrypt hash that verifies it', async () => {
    const run = gw(['hash-password'], { input: 'correct horse\n' });
    assert.equal(run.status, 0, run.stderr);
    const parsed = parsePasswordHash(run.stdout.trim());
    assert.ok(parsed.ok, run.stdout);
    assert.equal(await verifyPassword('correct horse', parsed.value), true, 'one trailing newline is not part of the password');
    assert.ok(!run.stdout.includes('correct horse'));
  });

  it('refuses an empty password', () => {
    const run = gw(['hash-password'], { input: '' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /stdin/);
  });
});

describe('gw decode mqtt', () => {
  it('prints the Reading and Observations a compact reading on rpm/<id>/reading becomes', () => {
    const tmp = tempDir('mqtt-cli');
    try {
      const config = writeConfigFile(tmp.dir, { bindings: [{ device: 'cuff-7', patient: { mrn: 'MRN0007' } }] });
      const run = gw(['decode', 'mqtt', 'rpm/cuff-7/reading', '{"t":"2026-11-23T09:30:00Z","v":[["bp-systolic",120,"mm[Hg]"],["bp-diastolic",80,"mm[Hg]"]],"s":3}'], {
        env: { GATEWAY_CONFIG: config },
      });
      assert.equal(run.status, 0, run.stderr);
      const out = JSON.parse(run.stdout) as { reading: { deviceId: string; transport: string; context: { sequence: number } }; observations: Array<{ code: { coding: Array<{ code: string }> } }> };
      assert.equal(out.reading.deviceId, 'cuff-7');
      assert.equal(out.reading.transport, 'mqtt');
      assert.equal(out.reading.context.sequence, 3);
      assert.equal(out.observations[0]!.code.coding[0]!.code, '85354-9'); // LOINC blood pressure panel
    } finally {
      tmp.cleanup();
    }
  });

  it('decodes a vendor payload with the firmware profile named by the device config entry', () => {
    const tmp = tempDir('mqtt-cli-vendor');
    try {
      const config = writeConfigFile(tmp.dir, {
        bindings: [{ device: 'bp-cell-1', patient: { mrn: 'MRN0042' } }],
        mqtt: { profilesDir: join(ROOT, 'firmware-profiles'), devices: [{ id: 'bp-cell-1', profile: 'cellular-bp-cuff-json' }] },
      });
      const ok = gw(['decode', 'mqtt', 'rpm/bp-cell-1/reading', '{"imei":"356938035643809","ts":1732350000,"sys":128,"dia":82,"pul":71,"unit":"mmHg"}'], { env: { GATEWAY_CONFIG: config } });
      assert.equal(ok.status, 0, ok.stderr);
      const out = JSON.parse(ok.stdout) as { reading: { profileId: string; deviceTime: string; components: Array<{ metric: string; value: number }> } };
      assert.equal(out.reading.profileId, 'cellular-bp-cuff-json');
      assert.equal(out.reading.deviceTime, '2024-11-23T08:20:00Z');
      assert.deepEqual(out.reading.components.map((c) => [c.metric, c.value]), [['bp-systolic', 128], ['bp-diastolic', 82], ['heart-rate', 71]]);
      const bad = gw(['decode', 'mqtt', 'rpm/bp-cell-1/reading', '{"ts":1732350000,"sys":"128","dia":82,"pul":71,"unit":"mmHg"}'], { env: { GATEWAY_CONFIG: config } });
      assert.equal(bad.status, 1);
      assert.deepEqual((JSON.parse(bad.stdout) as { error: { code: string; message: string } }).error.message, 'field "sys": expected a number, got string "128"');
    } finally {
      tmp.cleanup();
    }
  });

  it('answers a wildcard topic or a bad payload with an error code and a non-zero exit', () => {
    const topic = gw(['decode', 'mqtt', 'rpm/+/reading', '{"v":[["heart-rate",60,"/min"]]}']);
    assert.equal(topic.status, 1);
    assert.equal((JSON.parse(topic.stdout) as { error: { code: string } }).error.code, 'GW_ERR_MQTT_TOPIC');
    const payload = gw(['decode', 'mqtt', 'rpm/cuff-7/reading', '{"v":[["shoe-size",44,"1"]]}']);
    assert.equal(payload.status, 1);
    assert.equal((JSON.parse(payload.stdout) as { error: { code: string } }).error.code, 'GW_ERR_UNKNOWN_METRIC');
  });
});
