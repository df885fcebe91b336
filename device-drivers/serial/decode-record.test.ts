// Record decoding with the shipped profiles: values, units, special markers, firmware unit bugs, clocks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadProfileSet } from '../../gateway/profiles/registry.ts';
import type { SerialFirmwareProfile } from '../../gateway/profiles/schema.ts';
import { decodeRecord, decodeWireFrame } from './decode-record.ts';

const profiles = loadProfileSet(fileURLToPath(new URL('../../firmware-profiles', import.meta.url))).profiles;
const p = (id: string): SerialFirmwareProfile => profiles.get(id)!.profile as SerialFirmwareProfile;
const text = (s: string) => Buffer.from(s, 'latin1');

describe('decoding serial records with firmware profiles', () => {
  it('turns dashes from an oximeter without a finger into NaN, never a number', () => {
    const r = decodeRecord(p('masimo-rad8-ascii1'), text('11/23/26 09:30:01 SN=1 SPO2=---% BPM=--- PI=--.--% SPCO=--.-%'));
    assert.ok(r.ok && r.value.kind === 'reading');
    assert.deepEqual(r.value.components.map((c) => c.value), ['NaN', 'NaN']);
  });

  it('refuses a field that is not a number, naming the field', () => {
    const r = decodeRecord(p('spot-check-vitals-stx'), text('SYS=12O,DIA=80,PR=70,TIME=2026-11-23 09:30:00'));
    assert.ok(!r.ok);
    assert.deepEqual(r.issues.map((i) => [i.code, i.path]), [['GW_ERR_RECORD_FIELD', 'SYS']]);
  });

  it('refuses a record that does not follow the grammar', () => {
    const r = decodeRecord(p('masimo-rad8-ascii1'), text('hello'));
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.code, 'GW_ERR_RECORD_MISMATCH');
  });

  it('corrects the kPa label of firmware < 2.1 and trusts it from 2.1 on', () => {
    const frame = Buffer.from('FA5A01010505033703D14826112309304 9F6'.replace(/ /g, ''), 'hex');
    const old = decodeWireFrame(p('bp-binary-fw1'), frame);
    const fixed = decodeWireFrame(p('bp-binary-fw21'), frame);
    assert.ok(old.ok && old.value.kind === 'reading' && fixed.ok && fixed.value.kind === 'reading');
    assert.deepEqual(old.value.components[0], { metric: 'bp-systolic', value: 128.5, unit: 'mmHg' });
    assert.deepEqual(fixed.value.components[0], { metric: 'bp-systolic', value: 128.5, unit: 'kPa' });
  });

  it('skips an unstable weight line instead of refusing it', () => {
    const r = decodeRecord(p('and-scale-standard-format'), text('US,+00070.45 kg'));
    assert.ok(r.ok);
    assert.equal(r.value.kind, 'skipped');
  });

  it('refuses an impossible device date', () => {
    const r = decodeRecord(p('ir-thermometer-columns'), text('T 2613230930 036.8 C'));
    assert.ok(!r.ok);
    assert.equal(r.issues[0]!.path, 'time');
  });
});
