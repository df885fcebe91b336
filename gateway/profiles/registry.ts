// Loads firmware-profiles/*.yaml, resolves `extends`, validates (schema + catalog), and keeps the profiles
// in force. Watches the directory (fs.watch, debounced) and reloads; a file that breaks keeps its last
// good version in force and the problem is logged, counted and exposed (CONVENTIONS 7).
import { readdirSync, readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { convertToCanonical, isMetric, METRICS } from '../catalog.ts';
import type { ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { inRange } from './firmware-range.ts';
import { isBleProfile, isMqttProfile, isSerialProfile, parseFirmwareProfile, type BleFirmwareProfile, type FirmwareProfile, type MqttFirmwareProfile, type SerialFirmwareProfile } from './schema.ts';

/** One problem with one profile file: `file: path: reason` is how it is printed. */
export interface ProfileProblem {
  file: string;
  path: string;
  code: ErrorCode;
  reason: string;
}

export function formatProblem(p: ProfileProblem): string {
  return `${p.file}: ${p.path}: ${p.reason}`;
}

export interface LoadedProfile {
  profile: FirmwareProfile;
  file: string;
}

export interface ProfileSet {
  profiles: Map<string, LoadedProfile>;
  problems: ProfileProblem[];
  /** Files that had at least one problem (their previously good profiles stay in force on reload). */
  brokenFiles: Set<string>;
}

const PROFILE_FILE = /\.ya?ml$/;

export function formatZodPath(path: ReadonlyArray<PropertyKey>): string {
  const p = path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
  return p || '(root)';
}

function describeZodIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'unrecognized_keys') return `unknown key(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`;
  if (i.code === 'invalid_union' && 'note' in i && i.note === 'No matching discriminator') return 'unknown "kind"';
  return i.message;
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Child keys override the parent's; objects merge key by key, arrays and scalars replace. Tests are never inherited. */
function mergeProfile(parent: Raw, child: Raw): Raw {
  const out: Raw = { ...parent };
  delete out.tests;
  for (const [k, v] of Object.entries(child)) {
    if (k === 'extends') continue;
    out[k] = isObject(v) && isObject(out[k]) ? mergeProfile(out[k] as Raw, v) : v;
  }
  return out;
}

/** Field names a record grammar can produce (undefined: any, for key=value records). */
function grammarFields(profile: SerialFirmwareProfile): Set<string> | undefined {
  const r = profile.record;
  switch (r.kind) {
    case 'regex':
      return new Set([...r.pattern.matchAll(/\(\?<([A-Za-z][A-Za-z0-9_]*)>/g)].map((m) => m[1]!));
    case 'key-value':
      return undefined;
    case 'columns':
      return new Set(r.columns.map((c) => c.name));
    case 'binary':
      return new Set(r.fields.map((f) => f.name));
    default:
      return r satisfies never;
  }
}

type SemanticProblem = { path: string; code: ErrorCode; reason: string };

/** Checks the schema cannot: metrics exist in the catalog, units convert, referenced fields exist. */
export function checkProfileSemantics(profile: FirmwareProfile): SemanticProblem[] {
  if (isBleProfile(profile)) return checkBleSemantics(profile);
  return isSerialProfile(profile) ? checkSerialSemantics(profile) : checkMqttSemantics(profile);
}

/** BLE values are decoded by the standard GATT decoders; only the tests' expected metrics and units are checked here. */
function checkBleSemantics(profile: BleFirmwareProfile): SemanticProblem[] {
  return profile.tests.flatMap((t, i) => t.expect.components.flatMap((c, j) => checkMetricAndUnits(c.metric, [[c.unit, 'unit']], `tests[${i}].expect.components[${j}]`)));
}

function checkMetricAndUnits(metric: string, units: Array<[string, string]>, path: string): SemanticProblem[] {
  if (!isMetric(metric)) return [{ path: `${path}.metric`, code: 'GW_ERR_UNKNOWN_METRIC', reason: `unknown metric "${metric}"; known metrics: ${METRICS.join(', ')}` }];
  return units.flatMap(([unit, at]) => {
    const r = convertToCanonical(metric, 1, unit);
    return r.ok ? [] : [{ path: `${path}.${at}`, code: 'GW_ERR_UNIT_NOT_ACCEPTED' as const, reason: r.issues[0]!.message }];
  });
}

function checkMqttSemantics(profile: MqttFirmwareProfile): SemanticProblem[] {
  return profile.json.fields.flatMap((f, i) =>
    checkMetricAndUnits(
      f.metric,
      [...(f.unit !== undefined ? [[f.unit, 'unit'] as [string, string]] : []), ...Object.entries(f.unitMap ?? {}).map(([text, unit]): [string, string] => [unit, `unitMap.${text}`])],
      `json.fields[${i}]`,
    ),
  );
}

function checkSerialSemantics(profile: SerialFirmwareProfile): SemanticProblem[] {
  const out: SemanticProblem[] = [];
  const known = grammarFields(profile);
  const needField = (name: string, path: string): void => {
    if (known && !known.has(name)) out.push({ path, code: 'GW_ERR_FIRMWARE_PROFILE_INVALID', reason: `field "${name}" is not produced by the ${profile.record.kind} record grammar (fields: ${[...known].join(', ')})` });
  };
  const unitOk = (metric: string, unit: string, path: string): void => {
    if (!isMetric(metric)) return;
    const r = convertToCanonical(metric, 1, unit);
    if (!r.ok) out.push({ path, code: 'GW_ERR_UNIT_NOT_ACCEPTED', reason: r.issues[0]!.message });
  };
  profile.fields.forEach((f, i) => {
    needField(f.field, `fields[${i}].field`);
    if (!isMetric(f.metric)) {
      out.push({ path: `fields[${i}].metric`, code: 'GW_ERR_UNKNOWN_METRIC', reason: `unknown metric "${f.metric}"; known metrics: ${METRICS.join(', ')}` });
      return;
    }
    if (f.unit !== undefined) unitOk(f.metric, f.unit, `fields[${i}].unit`);
    if (f.unitField !== undefined) needField(f.unitField, `fields[${i}].unitField`);
    for (const [text, unit] of Object.entries(f.unitMap ?? {})) unitOk(f.metric, unit, `fields[${i}].unitMap.${text}`);
  });
  profile.unitOverrides.forEach((o, i) => {
    const f = profile.fields.find((m) => m.field === o.field);
    if (!f) {
      out.push({ path: `unitOverrides[${i}].field`, code: 'GW_ERR_FIRMWARE_PROFILE_INVALID', reason: `field "${o.field}" is not mapped in fields` });
      return;
    }
    unitOk(f.metric, o.to, `unitOverrides[${i}].to`);
  });
  profile.specialValues.forEach((s, i) => s.fields?.forEach((name, j) => needField(name, `specialValues[${i}].fields[${j}]`)));
  profile.deviceTime?.fields.forEach((name, i) => needField(name, `deviceTime.fields[${i}]`));
  if (profile.filter) needField(profile.filter.field, 'filter.field');
  return out;
}

/** Read and resolve every profile file in `dir`. Pure apart from reading the files. */
export function loadProfileSet(dir: string): ProfileSet {
  const problems: ProfileProblem[] = [];
  const brokenFiles = new Set<string>();
  const problem = (file: string, path: string, code: ErrorCode, reason: string): void => {
    problems.push({ file, path, code, reason });
    brokenFiles.add(file);
  };
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => PROFILE_FILE.test(n)).sort();
  } catch (err) {
    problems.push({ file: dir, path: '(directory)', code: 'GW_ERR_FIRMWARE_PROFILE_INVALID', reason: `cannot read the profile directory: ${(err as Error).message}` });
    return { profiles: new Map(), problems, brokenFiles };
  }
  const raws = new Map<string, { raw: Raw; file: string }>();
  for (const name of names) {
    const file = join(dir, name);
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      problem(file, '(file)', 'GW_ERR_FIRMWARE_PROFILE_INVALID', `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    if (!isObject(raw) || typeof raw.id !== 'string') {
      problem(file, 'id', 'GW_ERR_FIRMWARE_PROFILE_INVALID', 'a profile is a mapping with a string "id"');
      continue;
    }
    const other = raws.get(raw.id);
    if (other) {
      problem(file, 'id', 'GW_ERR_FIRMWARE_PROFILE_INVALID', `duplicate profile id "${raw.id}" (also in ${other.file})`);
      continue;
    }
    raws.set(raw.id, { raw, file });
  }

  const resolved = new Map<string, Raw | undefined>(); // undefined: failed to resolve
  const resolve = (id: string, chain: string[]): Raw | undefined => {
    if (resolved.has(id)) return resolved.get(id);
    const entry = raws.get(id)!;
    const parentId = entry.raw.extends;
    let result: Raw | undefined;
    if (parentId === undefined) {
      result = entry.raw;
    } else if (typeof parentId !== 'string' || !raws.has(parentId)) {
      problem(entry.file, 'extends', 'GW_ERR_FIRMWARE_PROFILE_UNKNOWN', `extends unknown profile "${String(parentId)}"`);
    } else if (chain.includes(parentId)) {
      problem(entry.file, 'extends', 'GW_ERR_FIRMWARE_PROFILE_INVALID', `extends cycle: ${[...chain, id, parentId].join(' → ')}`);
    } else {
      const parent = resolve(parentId, [...chain, id]);
      if (parent === undefined) problem(entry.file, 'extends', 'GW_ERR_FIRMWARE_PROFILE_INVALID', `parent profile "${parentId}" is invalid (see ${raws.get(parentId)!.file})`);
      else result = mergeProfile(parent, entry.raw);
    }
    if (result !== undefined) {
      const parsed = parseFirmwareProfile(result);
      if (!parsed.success) {
        for (const i of parsed.error.issues) problem(entry.file, formatZodPath(i.path), 'GW_ERR_FIRMWARE_PROFILE_INVALID', describeZodIssue(i));
        result = undefined;
      } else {
        const semantic = checkProfileSemantics(parsed.data);
        for (const s of semantic) problem(entry.file, s.path, s.code, s.reason);
        if (semantic.length > 0) result = undefined;
      }
    }
    resolved.set(id, result);
    return result;
  };

  const profiles = new Map<string, LoadedProfile>();
  for (const [id, { file }] of raws) {
    const raw = resolve(id, []);
    const parsed = raw === undefined ? undefined : parseFirmwareProfile(raw);
    if (parsed?.success) profiles.set(id, { profile: parsed.data, file });
  }
  return { profiles, problems, brokenFiles };
}

export interface ProfileRegistryOptions {
  dir: string;
  logger?: Logger;
  metrics?: GatewayMetrics;
  debounceMs?: number;
}

/** The profiles in force, reloaded on change. */
export class ProfileRegistry {
  readonly dir: string;
  #profiles = new Map<string, LoadedProfile>();
  #problems: ProfileProblem[] = [];
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #generation = 0;
  readonly #listeners = new Set<() => void>();
  readonly #options: ProfileRegistryOptions;

  constructor(options: ProfileRegistryOptions) {
    this.dir = options.dir;
    this.#options = options;
  }

  /** Load (or reload) the directory. Returns the problems found in this pass. */
  load(): ProfileProblem[] {
    const next = loadProfileSet(this.dir);
    const profiles = new Map(next.profiles);
    // A broken file keeps its last good profiles in force; a deleted file takes them away.
    for (const [id, old] of this.#profiles) {
      if (!profiles.has(id) && next.brokenFiles.has(old.file) && exists(old.file)) profiles.set(id, old);
    }
    this.#profiles = profiles;
    this.#problems = next.problems;
    this.#generation++;
    const log = this.#options.logger;
    for (const p of next.problems) {
      this.#options.metrics?.profileReloadFailures.inc({ reason: p.code });
      log?.warn({ file: p.file, path: p.path, code: p.code, reason: p.reason, keptLastGood: [...profiles.values()].some((l) => l.file === p.file) }, 'firmware profile problem');
    }
    log?.info({ dir: this.dir, profiles: [...profiles.keys()], problems: next.problems.length }, 'firmware profiles loaded');
    for (const l of this.#listeners) l();
    return next.problems;
  }

  get(id: string): FirmwareProfile | undefined {
    return this.#profiles.get(id)?.profile;
  }

  /** The profile by id, only if it describes that transport (a serial port cannot use an mqtt profile). */
  getSerial(id: string): SerialFirmwareProfile | undefined {
    const p = this.get(id);
    return p && isSerialProfile(p) ? p : undefined;
  }

  getMqtt(id: string): MqttFirmwareProfile | undefined {
    const p = this.get(id);
    return p && isMqttProfile(p) ? p : undefined;
  }

  getBle(id: string): BleFirmwareProfile | undefined {
    const p = this.get(id);
    return p && isBleProfile(p) ? p : undefined;
  }

  /** The profile for a device model and firmware version (manufacturer optional, case-insensitive). */
  pick(model: string, firmware: string, manufacturer?: string): FirmwareProfile | undefined {
    const same = (a: string, b: string): boolean => a.localeCompare(b, undefined, { sensitivity: 'accent' }) === 0;
    return [...this.#profiles.values()]
      .map((l) => l.profile)
      .find((p) => same(p.model, model) && (manufacturer === undefined || same(p.manufacturer, manufacturer)) && inRange(firmware, p.firmware));
  }

  list(): FirmwareProfile[] {
    return [...this.#profiles.values()].map((l) => l.profile);
  }

  problems(): readonly ProfileProblem[] {
    return this.#problems;
  }

  /** Increments on every (re)load, so a test can wait for one. */
  generation(): number {
    return this.#generation;
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reload `debounceMs` after the last change in the directory (editors write in several steps). */
  watch(): void {
    if (this.#watcher) return;
    this.#watcher = watch(this.dir, { persistent: false }, (_event, name) => {
      if (name !== null && !PROFILE_FILE.test(basename(String(name)))) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.load(), this.#options.debounceMs ?? 150);
      this.#timer.unref();
    });
    this.#watcher.on('error', (err) => this.#options.logger?.error({ err, dir: this.dir }, 'watching firmware profiles failed'));
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

function exists(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
