// Pure parts of the BLE central: reconnect back-off, firmware profile selection, the `ble:` config section.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintProfiles } from '../../../gateway/profiles/lint.ts';
import { parseFirmwareProfile, type FirmwareProfile } from '../../../gateway/profiles/schema.ts';
import { bleConfigSchema } from '../config.ts';
import { reconnectDelayMs } from './backoff.ts';
import { firmwareVersion, selectBleProfile } from './profile-select.ts';

const profile = (raw: Record<string, unknown>): FirmwareProfile => {
  const parsed = parseFirmwareProfile({ doc: 'test', manufacturer: 'Acme', firmware: '*', transport: { kind: 'ble' }, ...raw });
  assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  return parsed.data;
};

describe('BLE reconnect back-off', () => {
  it('doubles per attempt, stays within [initial/2, max] whatever the jitter', () => {
    const b = { initialMs: 100, maxMs: 5000 };
    for (const r of [0, 0.5, 0.999]) {
      for (let attempt = 0; attempt < 40; attempt++) {
        const d = reconnectDelayMs(b, attempt, r);
        assert.ok(d >= 50 && d <= 5000, `attempt ${attempt}, random ${r}: ${d}`);
      }
    }
    assert.equal(reconnectDelayMs(b, 0, 0.5), 100);
    assert.equal(reconnectDelayMs(b, 3, 0.5), 800);
    assert.equal(reconnectDelayMs(b, 20, 0.5), 5000, 'capped');
  });
});

describe('BLE firmware profile selection from Device Information', () => {
  const profiles = [
    profile({ id: 'cuff-v1', model: 'BP-100', firmware: '>=1.0 <2.0' }),
    profile({ id: 'cuff-v2', model: 'BP-100', firmware: '>=2.0 <3.0', transport: { kind: 'ble', requiresPairing: true } }),
    profile({ id: 'serial-thing', model: 'X', transport: { kind: 'serial' }, framing: { kind: 'line' }, record: { kind: 'key-value' }, fields: [{ field: 'w', metric: 'body-weight', unit: 'kg' }] }),
  ];
  it('matches manufacturer, model and the firmware range, reading the version out of vendor text', () => {
    const got = selectBleProfile(profiles, { manufacturer: 'acme', model: 'BP-100', firmware: 'fw 2.1' }, undefined, 'ble:X');
    assert.equal(got.ok && got.value?.id, 'cuff-v2');
    assert.equal(firmwareVersion('V1.10-b7'), '1.10');
  });
  it('no match means the standard GATT behaviour, not an error', () => {
    const got = selectBleProfile(profiles, { manufacturer: 'Other', model: 'BP-100', firmware: '2.1' }, undefined, 'ble:X');
    assert.deepEqual(got, { ok: true, value: undefined });
  });
  it('a configured profile that is not a ble profile is refused with a code', () => {
    const got = selectBleProfile(profiles, {}, 'serial-thing', 'ble:X');
    assert.equal(got.ok, false);
    assert.equal(!got.ok && got.issues[0]!.code, 'GW_ERR_BLE_PROFILE');
  });
});

describe('the ble: config section', () => {
  it('upper-cases addresses and refuses a device listed twice or a typo', () => {
    const ok = bleConfigSchema.parse({ devices: [{ address: 'a4:c1:38:00:11:22' }] });
    assert.equal(ok.devices[0]!.address, 'A4:C1:38:00:11:22');
    assert.equal(ok.adapter, 'hci0');
    assert.equal(bleConfigSchema.safeParse({ devices: [{ address: 'A4:C1:38:00:11:22' }, { address: 'a4:c1:38:00:11:22' }] }).success, false);
    assert.equal(bleConfigSchema.safeParse({ devices: [{ address: 'A4:C1:38:00:11' }] }).success, false);
    assert.equal(bleConfigSchema.safeParse({ adapter: 'hci0', devcies: [] }).success, false);
  });
});

describe('gw profiles lint on ble profiles', () => {
  it('decodes each embedded captured value and names the file, path and reason of a wrong expectation or a typo', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rpm-gw-ble-lint-'));
    try {
      const header = 'doc: test\nmanufacturer: Acme\nmodel: M\nfirmware: "*"\n';
      writeFileSync(join(dir, 'good.yaml'), `id: good\n${header}transport: { kind: ble }\ntests:\n  - { characteristic: 2a9d, hex: "04 B036 01", expect: { components: [{ metric: body-weight, value: 70, unit: kg }] } }\n`);
      writeFileSync(join(dir, 'wrong.yaml'), `id: wrong\n${header.replace('model: M', 'model: N')}transport: { kind: ble }\ntests:\n  - { characteristic: 2a9d, hex: "04 B036 01", expect: { components: [{ metric: body-weight, value: 71, unit: kg }] } }\n`);
      writeFileSync(join(dir, 'typo.yaml'), `id: typo\n${header.replace('model: M', 'model: O')}transport: { kind: ble, requiresParing: true }\n`);
      const problems = lintProfiles(dir).map((p) => `${p.file.split('/').at(-1)}: ${p.path}: ${p.code}`);
      assert.deepEqual(problems.sort(), ['typo.yaml: transport: GW_ERR_FIRMWARE_PROFILE_INVALID', 'wrong.yaml: tests[0].expect.components: GW_ERR_FIRMWARE_PROFILE_TEST']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
