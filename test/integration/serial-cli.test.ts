// `gw decode serial` and `gw profiles lint` as a field tech runs them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../support/harness.ts';

const gw = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/gw.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, GATEWAY_CONFIG: '', GW_LOG_LEVEL: 'silent' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('gw decode serial and gw profiles lint', () => {
  it('prints the reading and observations of a binary BP frame, with the firmware unit bug corrected', () => {
    const r = gw('decode', 'serial', 'bp-binary-fw1', 'FA 5A 01 01 05 05 03 37 03 D1 48 26 11 23 09 30 49 F6');
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { reading: { components: Array<{ metric: string; value: number; unit: string }>; deviceTime: string } };
    assert.deepEqual(out.reading.components[0], { metric: 'bp-systolic', value: 128.5, unit: 'mmHg' });
    assert.equal(out.reading.deviceTime, '2026-11-23T09:30:00Z');
  });

  it('answers a corrupted frame with an error code and a non-zero exit', () => {
    const r = gw('decode', 'serial', 'spot-check-vitals-stx', '\\x02SYS=128,DIA=82,PR=71,TIME=2026-11-23 09:30:00\\x0300');
    assert.notEqual(r.status, 0);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'GW_ERR_SERIAL_CHECKSUM');
  });

  it('lints the shipped profiles clean, and exits non-zero with file: path: reason for a broken one', () => {
    const ok = gw('profiles', 'lint');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /9 profile\(s\), 18 embedded test frame\(s\), no problems/); // 7 serial/mqtt + 2 ble (ble-*.yaml)
    const tmp = tempDir('lint');
    try {
      copyFileSync(join(ROOT, 'firmware-profiles/masimo-rad8-ascii1.yaml'), join(tmp.dir, 'masimo-rad8-ascii1.yaml'));
      writeFileSync(join(tmp.dir, 'masimo-clone.yaml'), 'id: masimo-clone\nextends: masimo-rad8-ascii1\ndoc: a clone\nfirmware: ">=1.0"\n');
      const bad = gw('profiles', 'lint', tmp.dir);
      assert.equal(bad.status, 1);
      // Reported on the later file by name: one line for the pair.
      assert.match(bad.stderr, /masimo-rad8-ascii1\.yaml: firmware: "\*" overlaps ">=1\.0" of profile "masimo-clone" \(.*masimo-clone\.yaml\) for Masimo Rad-8\n/);
      assert.match(bad.stderr, /1 problem\(s\)/);
    } finally {
      tmp.cleanup();
    }
  });
});
