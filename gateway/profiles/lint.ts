// `gw profiles lint [path]`: schema, known metrics, convertible units, every embedded test frame (serial) or
// payload (mqtt) decodes to its expected reading, and no two profiles of one model claim the same firmware version.
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { decodeWireFrame, frameBytes } from '../../device-drivers/serial/decode-record.ts';
import { decodeVendorJson } from '../../device-drivers/mqtt/vendor-json.ts';
import type { Issue, ReadingComponent } from '../types.ts';
import { rangesOverlap } from './firmware-range.ts';
import { formatProblem, loadProfileSet, type LoadedProfile, type ProfileProblem } from './registry.ts';
import { isBleProfile, isMqttProfile } from './schema.ts';
import { decodeCharacteristic } from '../../device-drivers/ble/gatt/index.ts';

const show = (c: ReadingComponent): string => `${c.metric} ${c.value} ${c.unit}`;

/** Every embedded test of one profile, as problems (none when all pass). */
export function checkProfileTests({ profile, file }: LoadedProfile): ProfileProblem[] {
  const problems: ProfileProblem[] = [];
  const adder = (i: number) => (sub: string, reason: string): void => void problems.push({ file, path: `tests[${i}]${sub}`, code: 'GW_ERR_FIRMWARE_PROFILE_TEST', reason });
  const describeIssues = (issues: Issue[]): string => issues.map((x) => `${x.code}${x.path ? ` at ${x.path}` : ''}: ${x.message}`).join('; ');
  if (isBleProfile(profile)) {
    profile.tests.forEach((t, i) => {
      const add = adder(i);
      const ctx = { deviceId: 'ble:00:00:00:00:00:00', profileId: profile.id, receivedAt: '2026-01-01T00:00:00.000Z', deviceUtcOffsetMinutes: profile.transport.clock.utcOffsetMinutes ?? 0 };
      const decoded = decodeCharacteristic(t.characteristic, Buffer.from(t.hex, 'hex'), ctx);
      if (!decoded.ok) return add('.hex', `does not decode: ${describeIssues(decoded.issues)}`);
      if (decoded.value.length !== 1) return add('.expect', `expected one reading, decoded ${decoded.value.length}`);
      compareExpected(t.expect, decoded.value[0]!, add);
    });
    return problems;
  }
  if (isMqttProfile(profile)) {
    profile.tests.forEach((t, i) => {
      const add = adder(i);
      const decoded = decodeVendorJson(profile, t.payload);
      if (!decoded.ok) return add('.payload', `does not map: ${describeIssues(decoded.issues)}`);
      compareExpected(t.expect, decoded.value, add);
    });
    return problems;
  }
  profile.tests.forEach((t, i) => {
    const add = adder(i);
    const decoded = decodeWireFrame(profile, frameBytes(t.frame));
    if (!decoded.ok) {
      add('.frame', `does not decode: ${describeIssues(decoded.issues)}`);
      return;
    }
    const got = decoded.value;
    if ('skipped' in t.expect) {
      if (got.kind !== 'skipped') add('.expect', `expected the record to be skipped, decoded ${got.components.map(show).join(', ')}`);
      return;
    }
    if (got.kind === 'skipped') {
      add('.expect.components', `expected ${t.expect.components.map(show).join(', ')}, but the record was skipped (${got.reason})`);
      return;
    }
    compareExpected(t.expect, got, add);
  });
  return problems;
}

/** Components compare as a set of `metric value unit`; the device time only when the test names one. */
function compareExpected(
  expect: { components: ReadingComponent[]; deviceTime?: string | undefined },
  got: { components: ReadingComponent[]; deviceTime?: string | undefined },
  add: (sub: string, reason: string) => void,
): void {
  const want = expect.components.map(show).sort();
  const have = got.components.map(show).sort();
  if (want.join('|') !== have.join('|')) add('.expect.components', `expected ${want.join(', ')}; decoded ${have.join(', ')}`);
  if (expect.deviceTime !== undefined && expect.deviceTime !== got.deviceTime) {
    add('.expect.deviceTime', `expected ${expect.deviceTime}; decoded ${got.deviceTime ?? '(none)'}`);
  }
}

/** Profiles of the same manufacturer and model whose firmware ranges share a version. */
export function checkFirmwareOverlaps(profiles: LoadedProfile[]): ProfileProblem[] {
  const problems: ProfileProblem[] = [];
  const key = (l: LoadedProfile): string => `${l.profile.manufacturer.toLowerCase()}\u0000${l.profile.model.toLowerCase()}`;
  const sorted = [...profiles].sort((a, b) => a.file.localeCompare(b.file) || a.profile.id.localeCompare(b.profile.id));
  sorted.forEach((b, j) => {
    for (const a of sorted.slice(0, j)) {
      if (key(a) !== key(b) || !rangesOverlap(a.profile.firmware, b.profile.firmware)) continue;
      problems.push({
        file: b.file,
        path: 'firmware',
        code: 'GW_ERR_FIRMWARE_RANGE_OVERLAP',
        reason: `"${b.profile.firmware}" overlaps "${a.profile.firmware}" of profile "${a.profile.id}" (${a.file}) for ${b.profile.manufacturer} ${b.profile.model}`,
      });
    }
  });
  return problems;
}

/** Lint a profile directory, or one file in its directory (its parents still resolve). */
export function lintProfiles(path: string): ProfileProblem[] {
  const target = resolve(path);
  let dir = target;
  let only: string | undefined;
  try {
    if (statSync(target).isFile()) {
      dir = dirname(target);
      only = target;
    }
  } catch (err) {
    return [{ file: path, path: '(file)', code: 'GW_ERR_FIRMWARE_PROFILE_INVALID', reason: `cannot read: ${(err as Error).message}` }];
  }
  const set = loadProfileSet(dir);
  const loaded = [...set.profiles.values()];
  const problems = [...set.problems, ...loaded.flatMap(checkProfileTests), ...checkFirmwareOverlaps(loaded)];
  return only === undefined ? problems : problems.filter((p) => resolve(p.file) === only);
}

/** The CLI face: prints one line per problem to `err`, a summary to `out`; exit 1 when anything is wrong. */
export function runProfilesLint(path: string, out: (s: string) => void, err: (s: string) => void): number {
  const problems = lintProfiles(path);
  for (const p of problems) err(`${formatProblem(p)}\n`);
  if (problems.length > 0) {
    err(`gw profiles lint: ${problems.length} problem(s)\n`);
    return 1;
  }
  const set = loadProfileSet(statSafeDir(path));
  const tests = [...set.profiles.values()].reduce((n, l) => n + l.profile.tests.length, 0);
  out(`gw profiles lint: ${set.profiles.size} profile(s), ${tests} embedded test frame(s), no problems\n`);
  return 0;
}

function statSafeDir(path: string): string {
  try {
    return statSync(path).isFile() ? dirname(path) : path;
  } catch {
    return path;
  }
}
