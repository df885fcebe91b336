// Firmware profiles as a field tech meets them: lint names the file, the path and the reason; the
// registry picks profiles by id or model+firmware and reloads edits, keeping the last good version.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMemoryLogger } from '../logger.ts';
import { inRange, rangesOverlap } from './firmware-range.ts';
import { lintProfiles } from './lint.ts';
import { formatProblem, ProfileRegistry } from './registry.ts';

const PROFILES = fileURLToPath(new URL('../../firmware-profiles', import.meta.url));
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A temp profile dir holding copies of the named real profiles. */
function workspace(...names: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'rpm-gw-profiles-'));
  dirs.push(dir);
  for (const n of names) copyFileSync(join(PROFILES, n), join(dir, n));
  return dir;
}
const edit = (file: string, from: string | RegExp, to: string): void => {
  const text = readFileSync(file, 'utf8');
  const next = text.replace(from, to);
  assert.notEqual(next, text, `edit of ${file} changed nothing`);
  writeFileSync(file, next);
};

describe('gw profiles lint', () => {
  it('passes the shipped profiles, every embedded test frame included', () => {
    assert.deepEqual(lintProfiles(PROFILES).map(formatProblem), []);
  });

  it('names an unknown metric with its file and path', () => {
    const dir = workspace('masimo-rad8-ascii1.yaml');
    edit(join(dir, 'masimo-rad8-ascii1.yaml'), 'metric: heart-rate, unit: /min }', 'metric: pulse, unit: /min }');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.some((l) => l.startsWith(`${join(dir, 'masimo-rad8-ascii1.yaml')}: fields[1].metric: unknown metric "pulse"`)), lines.join('\n'));
  });

  it('names a unit the catalog cannot convert for that metric', () => {
    const dir = workspace('and-scale-standard-format.yaml');
    edit(join(dir, 'and-scale-standard-format.yaml'), 'lb: lb,', 'lb: stone,');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.some((l) => /and-scale-standard-format\.yaml: fields\[0\]\.unitMap\.lb: unit "stone" is not accepted for body-weight/.test(l)), lines.join('\n'));
  });

  it('names an embedded test frame that decodes to something other than expected', () => {
    const dir = workspace('ir-thermometer-columns.yaml');
    edit(join(dir, 'ir-thermometer-columns.yaml'), 'value: 36.8,', 'value: 36.9,');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.deepEqual(lines, [
      `${join(dir, 'ir-thermometer-columns.yaml')}: tests[0].expect.components: expected body-temperature 36.9 Cel; decoded body-temperature 36.8 Cel`,
    ]);
  });

  it('names a test frame with a bad checksum', () => {
    const dir = workspace('spot-check-vitals-stx.yaml');
    edit(join(dir, 'spot-check-vitals-stx.yaml'), '\\x03B1"', '\\x03B2"');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.some((l) => l.includes('tests[0].frame: does not decode: GW_ERR_SERIAL_CHECKSUM')), lines.join('\n'));
  });

  it('names overlapping firmware ranges of the same model', () => {
    const dir = workspace('bp-binary-fw1.yaml', 'bp-binary-fw21.yaml');
    edit(join(dir, 'bp-binary-fw21.yaml'), 'firmware: ">=2.1"', 'firmware: ">=2.0"');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.deepEqual(lines, [
      `${join(dir, 'bp-binary-fw21.yaml')}: firmware: ">=2.0" overlaps "<2.1" of profile "bp-binary-fw1" (${join(dir, 'bp-binary-fw1.yaml')}) for Generic BP-binary-cuff`,
    ]);
  });

  it('names a schema problem and an unknown parent', () => {
    const dir = workspace('bp-binary-fw21.yaml');
    writeFileSync(join(dir, 'typo.yaml'), readFileSync(join(PROFILES, 'masimo-rad8-ascii1.yaml'), 'utf8').replace('framing: { kind: line', 'framing: { kind: lines'));
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.includes(`${join(dir, 'bp-binary-fw21.yaml')}: extends: extends unknown profile "bp-binary-fw1"`), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith(`${join(dir, 'typo.yaml')}: framing`)), lines.join('\n'));
  });
});

describe('firmware ranges', () => {
  it('matches versions and finds overlaps the way semver comparators do', () => {
    assert.ok(inRange('2.0.9', '<2.1'));
    assert.ok(!inRange('2.1', '<2.1'));
    assert.ok(inRange('2.1.0', '>=2.1'));
    assert.ok(!rangesOverlap('<2.1', '>=2.1'));
    assert.ok(rangesOverlap('<=2.1', '>=2.1'));
    assert.ok(rangesOverlap('*', '=3.0'));
    assert.ok(!rangesOverlap('>=1.0 <2.0', '>=2.0 <3.0'));
  });
});

describe('the profile registry', () => {
  it('resolves extends and picks a profile by model and firmware', () => {
    const registry = new ProfileRegistry({ dir: PROFILES });
    assert.deepEqual(registry.load(), []);
    assert.equal(registry.pick('BP-binary-cuff', '1.4')?.id, 'bp-binary-fw1');
    assert.equal(registry.pick('bp-binary-cuff', '2.3.1', 'generic')?.id, 'bp-binary-fw21');
    const child = registry.getSerial('bp-binary-fw21')!;
    assert.deepEqual(child.unitOverrides, []);
    assert.equal(child.framing.kind, 'fixed', 'framing inherited from bp-binary-fw1');
  });

  it('puts an edited profile in force, and keeps the last good one when an edit breaks it', async () => {
    const dir = workspace('and-scale-standard-format.yaml');
    const file = join(dir, 'and-scale-standard-format.yaml');
    const { logger, lines } = createMemoryLogger('info');
    const registry = new ProfileRegistry({ dir, logger, debounceMs: 30 });
    registry.load();
    registry.watch();
    try {
      const reloaded = (n: number): Promise<void> =>
        new Promise((resolve, reject) => {
          // The watcher does not keep the process alive (a gateway exits on SIGTERM); this timer does, and bounds the wait.
          const timer = setTimeout(() => reject(new Error('no reload within 5 s')), 5000);
          const off = registry.onChange(() => {
            if (registry.generation() >= n) {
              off();
              clearTimeout(timer);
              resolve();
            }
          });
        });
      assert.equal(registry.getSerial('and-scale-standard-format')!.transport.baudRate, 2400);

      let next = reloaded(registry.generation() + 1);
      edit(file, 'baudRate: 2400', 'baudRate: 9600');
      await next;
      assert.equal(registry.getSerial('and-scale-standard-format')!.transport.baudRate, 9600, 'the edit is in force');
      assert.deepEqual(registry.problems(), []);

      next = reloaded(registry.generation() + 1);
      edit(file, 'metric: body-weight', 'metric: body-mass');
      await next;
      assert.equal(registry.getSerial('and-scale-standard-format')!.fields[0]!.metric, 'body-weight', 'the last good version stays');
      assert.equal(registry.getSerial('and-scale-standard-format')!.transport.baudRate, 9600);
      assert.deepEqual(registry.problems().map((p) => [p.path, p.code]), [['fields[0].metric', 'GW_ERR_UNKNOWN_METRIC']]);
      assert.ok(lines.some((l) => l.msg === 'firmware profile problem' && l.keptLastGood === true && l.path === 'fields[0].metric'));
    } finally {
      registry.close();
    }
  });
});

describe('mqtt profiles in gw profiles lint', () => {
  const FILE = 'cellular-bp-cuff-json.yaml';

  it('passes the shipped cellular BP cuff profile and runs its embedded test payloads', () => {
    const dir = workspace(FILE);
    assert.deepEqual(lintProfiles(dir).map(formatProblem), []);
    const registry = new ProfileRegistry({ dir });
    registry.load();
    assert.equal(registry.getMqtt('cellular-bp-cuff-json')?.tests.length, 3);
    assert.equal(registry.getSerial('cellular-bp-cuff-json'), undefined, 'a serial port cannot use it');
  });

  it('names an unknown metric in a json field with its file and path', () => {
    const dir = workspace(FILE);
    edit(join(dir, FILE), 'metric: heart-rate, unit: /min', 'metric: pulse, unit: /min');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.some((l) => l.startsWith(`${join(dir, FILE)}: json.fields[2].metric: unknown metric "pulse"`)), lines.join('\n'));
  });

  it('names a unitMap unit the catalog cannot convert, and a json path that is not a path', () => {
    const dir = workspace(FILE);
    edit(join(dir, FILE), 'path: sys, metric: bp-systolic, unitPath: unit, unitMap: { mmHg: mmHg, kPa: kPa }', 'path: sys, metric: bp-systolic, unitPath: unit, unitMap: { mmHg: mmHg, kPa: psi }');
    edit(join(dir, FILE), 'path: pul,', 'path: "pul..x",');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.some((l) => /json\.fields\[2\]\.path: "pul\.\.x": expected a key/.test(l)), lines.join('\n'));
    edit(join(dir, FILE), 'path: "pul..x",', 'path: pul,');
    const units = lintProfiles(dir).map(formatProblem);
    assert.ok(units.some((l) => /json\.fields\[0\]\.unitMap\.kPa: unit "psi" is not accepted for bp-systolic/.test(l)), units.join('\n'));
  });

  it('names an embedded test payload that maps to something other than expected, and one that does not map', () => {
    const dir = workspace(FILE);
    edit(join(dir, FILE), '- { metric: heart-rate, value: 71, unit: /min }', '- { metric: heart-rate, value: 72, unit: /min }');
    edit(join(dir, FILE), 'sys: 17.1, dia: 10.9, pul: 64, unit: kPa', 'sys: 17.1, dia: "10.9", pul: 64, unit: kPa');
    assert.deepEqual(lintProfiles(dir).map(formatProblem), [
      `${join(dir, FILE)}: tests[0].expect.components: expected bp-diastolic 82 mmHg, bp-systolic 128 mmHg, heart-rate 72 /min; decoded bp-diastolic 82 mmHg, bp-systolic 128 mmHg, heart-rate 71 /min`,
      `${join(dir, FILE)}: tests[1].payload: does not map: GW_ERR_RECORD_FIELD at dia: field "dia": expected a number, got string "10.9"`,
    ]);
  });

  it('refuses serial keys in an mqtt profile and a field with both unit and unitPath', () => {
    const dir = workspace(FILE);
    edit(join(dir, FILE), 'transport: { kind: mqtt }', 'transport: mqtt\nframing: { kind: line }');
    edit(join(dir, FILE), 'metric: heart-rate, unit: /min', 'metric: heart-rate, unit: /min, unitPath: unit');
    const lines = lintProfiles(dir).map(formatProblem);
    assert.ok(lines.some((l) => l.endsWith(': (root): unknown key(s) "framing"')), lines.join('\n'));
    assert.ok(lines.some((l) => l.endsWith(': json.fields[2].unit: give exactly one of "unit" or "unitPath"')), lines.join('\n'));
  });
});
