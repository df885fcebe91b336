// `gw decode ble` as a field tech runs it on a captured GATT value: Reading, Observations, decoder notes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, tempDir, writeConfigFile } from '../support/harness.ts';

function gw(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gw.mjs'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, GATEWAY_CONFIG: '', GW_LOG_LEVEL: 'silent', ...env },
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('gw decode ble', () => {
  it('prints the Reading, the blood-pressure and heart-rate Observations and the status notes of a captured cuff value', () => {
    const tmp = tempDir('ble-cli');
    try {
      const config = writeConfigFile(tmp.dir, {
        site: { id: 'clinic-1' },
        dataDir: join(tmp.dir, 'data'),
        bindings: [{ device: 'ble:C0:FF:EE:00:00:01', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
      });
      // GSS §3.31 frame: flags 0x16 (time stamp, pulse rate, status), 128/82/97 mmHg, 2026-11-23 09:30:00, PR 64, irregular pulse
      const r = gw(['decode', 'ble', '--device', 'ble:C0:FF:EE:00:00:01', '--utc-offset', '60', '0x2A35', '16 8000 5200 6100 EA07 0B 17 09 1E 00 4000 0400'], { GATEWAY_CONFIG: config });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const out = JSON.parse(r.stdout) as {
        reading: { components: Array<{ metric: string; value: number; unit: string }>; deviceTime: string };
        observations: Array<{ code: { coding: Array<{ code: string }> }; effectiveDateTime: string }>;
        notes: Array<{ kind: string; detail: string }>;
      };
      assert.deepEqual(out.reading.components[0], { metric: 'bp-systolic', value: 128, unit: 'mm[Hg]' });
      assert.equal(out.reading.deviceTime, '2026-11-23T09:30:00+01:00');
      assert.deepEqual(out.observations.map((o) => o.code.coding[0]!.code), ['85354-9', '8867-4']);
      assert.deepEqual(out.notes.map((n) => [n.kind, n.detail]), [['status', 'irregular pulse detected']]);
    } finally {
      tmp.cleanup();
    }
  });

  it('says why an intermediate cuff pressure gives no Observation, and exits 0', () => {
    const r = gw(['decode', 'ble', '2a36', '00 8E00 FF07 FF07']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { skipped: string; observations: unknown[] };
    assert.match(out.skipped, /live display only/);
    assert.deepEqual(out.observations, []);
  });

  it('answers a cut frame, a control-solution glucose test and an unknown characteristic with their codes and a non-zero exit', () => {
    const cases: Array<[string[], string]> = [
      [['2a35', '03 0203 0405 0607'], 'GW_ERR_BLE_FRAME_SHORT'],
      [['2a18', '03 0900 EA07 0B 17 09 1E 00 0000 5FB0 1A'], 'GW_ERR_BLE_CONTROL_SOLUTION'],
      [['2a19', '64'], 'GW_ERR_BLE_UNKNOWN_CHARACTERISTIC'],
      [['2a35', 'not hex'], 'GW_ERR_INVALID_READING'],
    ];
    for (const [args, code] of cases) {
      const r = gw(['decode', 'ble', ...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, code);
    }
  });
});
