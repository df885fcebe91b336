// Typed configuration: a YAML/JSON file named by GATEWAY_CONFIG, or a whole document in GATEWAY_CONFIG_YAML /
// GATEWAY_CONFIG_JSON (else the built-in default), then environment variables over single values: the generic
// GW_CONFIG__<path> form, then the friendly names of ENV_BINDINGS (how Balena fleet/device variables arrive).
// validate → plan → apply (CONVENTIONS 7): every problem is collected with its path before failing.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { mllpDestinationSchema } from '../ehr-bridge/hl7v2/config.ts';
import { serialConfigSchema } from '../device-drivers/serial/config.ts';
import { mqttConfigSchema } from '../device-drivers/mqtt/config.ts';
import { bleConfigSchema } from '../device-drivers/ble/config.ts';
import { mqttDestinationSchema } from '../ehr-bridge/mqtt/config.ts';
import { fhirDestinationSchema } from '../ehr-bridge/fhir/config.ts';
import { mllpListenerConfigSchema } from '../ehr-bridge/hl7v2/adt-config.ts';
import { adminConfigSchema, kioskConfigSchema, metricsTokenHashSchema } from './http/auth/config.ts';
import { GatewayError, issue } from './errors.ts';
import type { Issue, Result } from './types.ts';

const patientSchema = z
  .object({
    mrn: z.string().min(1).max(64),
    system: z.string().min(1).max(256).optional(),
  })
  .strict();

const bindingSchema = z
  .object({
    device: z.string().min(1).max(128),
    patient: patientSchema,
  })
  .strict();

const destinationSchema = z.discriminatedUnion('type', [mllpDestinationSchema, mqttDestinationSchema, fhirDestinationSchema]);

export const configSchema = z
  .object({
    site: z
      .object({
        id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash or underscore (1–64)'),
        name: z.string().max(128).optional(),
        /** The RPM program or fleet this hub serves; a label on every metric, so a fleet dashboard can group hubs. */
        program: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash or underscore (1–64)').optional(),
      })
      .strict()
      .default({ id: 'gateway' }),
    dataDir: z.string().min(1).default('./data'),
    http: z
      .object({
        host: z.string().default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8080),
        /** Largest request body the kiosk API takes. */
        bodyLimitBytes: z.number().int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
        tls: z.object({ certFile: z.string(), keyFile: z.string() }).strict().optional(),
        /** /metrics needs a viewer (session or token) or the metrics token; /healthz + /readyz, /v1/status likewise. */
        protectMetrics: z.boolean().default(false),
        protectHealth: z.boolean().default(false),
        protectStatus: z.boolean().default(false),
        metricsTokenHash: metricsTokenHashSchema.optional(),
      })
      .strict()
      .default({ host: '0.0.0.0', port: 8080, bodyLimitBytes: 64 * 1024, protectMetrics: false, protectHealth: false, protectStatus: false }),
    buffer: z
      .object({
        quotaBytes: z.number().int().min(1024 * 1024).default(2 * 1024 ** 3),
        highWaterRatio: z.number().gt(0).max(1).default(0.9),
        retentionHours: z.number().min(0).default(24 * 7),
      })
      .strict()
      .default({ quotaBytes: 2 * 1024 ** 3, highWaterRatio: 0.9, retentionHours: 24 * 7 }),
    dispatch: z
      .object({
        batchSize: z.number().int().min(1).max(1000).default(100),
        backoffInitialMs: z.number().int().min(1).default(500),
        backoffMaxMs: z.number().int().min(1).default(60_000),
        /** Consecutive failed attempts after which the circuit opens. */
        breakerThreshold: z.number().int().min(1).default(5),
        breakerOpenMs: z.number().int().min(1).default(30_000),
      })
      .strict()
      .default({ batchSize: 100, backoffInitialMs: 500, backoffMaxMs: 60_000, breakerThreshold: 5, breakerOpenMs: 30_000 }),
    clock: z
      .object({
        /** Device time further than this from gateway time is kept but not used as effective time. */
        skewToleranceSeconds: z.number().min(0).default(300),
      })
      .strict()
      .default({ skewToleranceSeconds: 300 }),
    patients: z
      .object({
        /** Identifier system used when a binding or the kiosk gives an MRN without one. */
        defaultSystem: z.string().min(1).default('urn:rpm-gateway:mrn'),
      })
      .strict()
      .default({ defaultSystem: 'urn:rpm-gateway:mrn' }),
    destinations: z.array(destinationSchema).default([]),
    bindings: z.array(bindingSchema).default([]),
    /** Serial devices (device-drivers/serial): ports, each with a firmware profile. */
    serial: serialConfigSchema.optional(),
    /** Embedded MQTT broker for Wi-Fi/LAN devices (device-drivers/mqtt); absent: no broker. */
    mqtt: mqttConfigSchema.optional(),
    /** MLLP listener for ADT feeds (`mllp.listen`); absent: no listener, the roster stays as stored. */
    mllp: mllpListenerConfigSchema.optional(),
    /** The ADT-fed patient roster. required: readings for MRNs it does not know wait in quarantine (patient-unknown). */
    roster: z.object({ required: z.boolean().default(false) }).strict().default({ required: false }),
    /** Bluetooth LE central through BlueZ (device-drivers/ble): allow-listed devices; absent: no BLE. */
    ble: bleConfigSchema.optional(),
    /** Access control of the admin API (gateway/http/auth): accounts from the file, session and login timing. */
    admin: adminConfigSchema.default({ users: [], sessions: { idleMinutes: 30, absoluteHours: 12 }, login: { maxFailures: 5, lockMinutes: 15 } }),
    /** Kiosk intake tokens; none: intake from loopback only. */
    kiosk: kioskConfigSchema.default({ tokens: [] }),
    simulate: z
      .object({
        enabled: z.boolean().default(false),
        deviceId: z.string().default('sim-kiosk-1'),
        intervalMs: z.number().int().min(100).default(5000),
      })
      .strict()
      .default({ enabled: false, deviceId: 'sim-kiosk-1', intervalMs: 5000 }),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.destinations.forEach((d, i) => {
      if (seen.has(d.id)) ctx.addIssue({ code: 'custom', path: ['destinations', i, 'id'], message: `duplicate destination id "${d.id}"` });
      seen.add(d.id);
    });
    const devices = new Set<string>();
    cfg.bindings.forEach((b, i) => {
      if (devices.has(b.device)) ctx.addIssue({ code: 'custom', path: ['bindings', i, 'device'], message: `device "${b.device}" is bound twice` });
      devices.add(b.device);
    });
  });

export type GatewayConfig = z.infer<typeof configSchema>;
export type PatientBindingConfig = z.infer<typeof bindingSchema>;

/** The demo that runs with no file: a simulated kiosk bound to a demo patient, one local MLLP receiver. */
export const DEFAULT_CONFIG: Readonly<Record<string, unknown>> = {
  site: { id: 'demo-clinic' },
  destinations: [
    { id: 'ehr', type: 'mllp', host: '127.0.0.1', port: 2575, receivingApplication: 'EHR', receivingFacility: 'CLINIC' },
  ],
  bindings: [{ device: 'sim-kiosk-1', patient: { mrn: 'DEMO0001', system: 'urn:oid:2.16.840.1.113883.19.5' } }],
  simulate: { enabled: true },
};

type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable mapped onto one config path. `parse` turns text into the JSON the schema expects. */
interface EnvBinding {
  name: string;
  path: Array<string | number>;
  parse: (text: string) => unknown;
  doc: string;
  /** For `destinations` paths: the destination created when no destination has that id. */
  create?: Record<string, unknown>;
}

const asInt = (text: string): unknown => (/^-?\d+$/.test(text.trim()) ? Number(text) : text);
const asNumber = (text: string): unknown => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);
const asBool = (text: string): unknown =>
  /^(1|true|yes|on)$/i.test(text) ? true : /^(0|false|no|off)$/i.test(text) ? false : text;
const asText = (text: string): unknown => text;
/** `id:sha256hex,id2:sha256hex` → kiosk.tokens (what does not fit is passed on for the schema to name). */
const asKioskTokens = (text: string): unknown =>
  text.split(',').map((pair) => pair.trim()).filter((pair) => pair !== '').map((pair) => {
    const colon = pair.lastIndexOf(':');
    return colon < 0 ? pair : { id: pair.slice(0, colon), tokenHash: pair.slice(colon + 1).toLowerCase() };
  });

/** The documented environment contract (README "Environment variables"). */
export const ENV_BINDINGS: readonly EnvBinding[] = [
  { name: 'GW_SITE_ID', path: ['site', 'id'], parse: asText, doc: 'site id (metrics label, meta.source)' },
  { name: 'GW_SITE_PROGRAM', path: ['site', 'program'], parse: asText, doc: 'RPM program or fleet (metrics label)' },
  { name: 'GW_DATA_DIR', path: ['dataDir'], parse: asText, doc: 'where the LevelDB buffer lives (default ./data)' },
  { name: 'GW_HTTP_HOST', path: ['http', 'host'], parse: asText, doc: 'HTTP listen address (default 0.0.0.0)' },
  { name: 'GW_HTTP_PORT', path: ['http', 'port'], parse: asInt, doc: 'HTTP port for the kiosk and ops API (default 8080)' },
  { name: 'GW_BUFFER_QUOTA_BYTES', path: ['buffer', 'quotaBytes'], parse: asInt, doc: 'disk quota of the buffer (default 2 GiB)' },
  { name: 'GW_BUFFER_RETENTION_HOURS', path: ['buffer', 'retentionHours'], parse: asNumber, doc: 'how long delivered entries stay (default 168)' },
  { name: 'GW_MLLP_HOST', path: ['destinations', 'ehr', 'host'], parse: asText, doc: 'host of the MLLP destination "ehr"' },
  { name: 'GW_MLLP_PORT', path: ['destinations', 'ehr', 'port'], parse: asInt, doc: 'port of the MLLP destination "ehr"' },
  { name: 'GW_FHIR_BASE_URL', path: ['destinations', 'cloud', 'baseUrl'], parse: asText, doc: 'base URL of the FHIR destination "cloud"', create: { type: 'fhir' } },
  { name: 'GW_FHIR_BATCH_SIZE', path: ['destinations', 'cloud', 'batchSize'], parse: asInt, doc: 'Observations per Bundle of the FHIR destination "cloud"', create: { type: 'fhir' } },
  { name: 'GW_MQTT_PORT', path: ['mqtt', 'port'], parse: asInt, doc: 'MQTT broker TCP port (default 1883); setting it turns the broker on' },
  { name: 'GW_MLLP_LISTEN_PORT', path: ['mllp', 'listen', 'port'], parse: asInt, doc: 'port of the MLLP listener for ADT feeds; setting it turns the listener on' },
  { name: 'GW_ROSTER_REQUIRED', path: ['roster', 'required'], parse: asBool, doc: '1: readings for an MRN the roster does not know wait in quarantine' },
  { name: 'GW_BLE_ADAPTER', path: ['ble', 'adapter'], parse: asText, doc: 'BlueZ adapter of the BLE central (default hci0); setting it turns the central on' },
  { name: 'GW_BLE_MAX_CONNECTIONS', path: ['ble', 'maxConnections'], parse: asInt, doc: 'BLE devices connected at once (default 4; 1 for adapters that need it)' },
  { name: 'GW_SIMULATE', path: ['simulate', 'enabled'], parse: asBool, doc: '1 runs the simulated kiosk, 0 turns it off' },
  { name: 'GW_KIOSK_TOKENS', path: ['kiosk', 'tokens'], parse: asKioskTokens, doc: 'kiosk intake tokens as id:sha256hex,… (gw kiosk token); unset: intake from loopback only' },
  { name: 'GW_PROTECT_METRICS', path: ['http', 'protectMetrics'], parse: asBool, doc: '1: /metrics needs a viewer or the metrics token' },
  { name: 'GW_LOG_LEVEL', path: ['log', 'level'], parse: asText, doc: 'fatal, error, warn, info (default), debug, trace' },
];

/**
 * The generic form for any key without a friendly name: `GW_CONFIG__destinations__ehr__tls__caFile=/data/ca.pem`.
 * Segments are separated by `__`; a list element is addressed by its `id` (bindings: `device`, accounts: `name`)
 * or by its index; the value is JSON when it parses as JSON, else the text itself.
 */
export const GENERIC_ENV_PREFIX = 'GW_CONFIG__';
/** A whole config document in one variable (a fleet variable); exclusive with GATEWAY_CONFIG. */
export const DOCUMENT_ENV = ['GATEWAY_CONFIG', 'GATEWAY_CONFIG_YAML', 'GATEWAY_CONFIG_JSON'] as const;
/** Secrets outside the config: the variable itself, or `<name>_FILE` naming a file holding it (never both). */
export const SECRET_ENV = { GW_BUFFER_KEY: 'bufferKey', GW_ADMIN_TOKEN: 'adminToken' } as const;
export type SecretName = keyof typeof SECRET_ENV;
export type Secrets = { -readonly [K in SecretName as (typeof SECRET_ENV)[K]]?: string };

export interface LoadedConfig {
  config: GatewayConfig;
  /** Where the config came from, for the start-up log line. */
  source: string;
}

/** Read, merge with the environment, validate. Throws GatewayError(GW_ERR_CONFIG_INVALID) naming every bad key. */
export function loadConfig(env: Env = process.env): LoadedConfig {
  const given = DOCUMENT_ENV.filter((name) => env[name] !== undefined && env[name] !== '');
  if (given.length > 1) throw new GatewayError('GW_ERR_CONFIG_INVALID', [`set only one of ${given.join(', ')}`]);
  const file = env.GATEWAY_CONFIG;
  let raw: unknown;
  let source: string;
  if (given[0] === 'GATEWAY_CONFIG_YAML' || given[0] === 'GATEWAY_CONFIG_JSON') {
    const name = given[0];
    try {
      // A JSON document is valid YAML too, but GATEWAY_CONFIG_JSON promises JSON (RFC 8259): hold it to that.
      raw = (name === 'GATEWAY_CONFIG_JSON' ? JSON.parse(env[name]!) : parseYaml(env[name]!)) ?? {};
    } catch (err) {
      throw new GatewayError('GW_ERR_CONFIG_INVALID', [`${name}: ${(err as Error).message}`], { cause: err });
    }
    source = name;
  } else if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new GatewayError('GW_ERR_CONFIG_READ', [file, (err as Error).message], { cause: err });
    }
    try {
      raw = parseYaml(text) ?? {}; // YAML is a superset of JSON, so one parser serves both
    } catch (err) {
      throw new GatewayError('GW_ERR_CONFIG_INVALID', [`${file}: ${(err as Error).message}`], { cause: err });
    }
    source = file;
  } else {
    raw = structuredClone(DEFAULT_CONFIG);
    source = 'built-in default';
  }
  return { config: parseConfig(raw, env, source), source };
}

export function parseConfig(raw: unknown, env: Env = {}, source = 'config'): GatewayConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new GatewayError('GW_ERR_CONFIG_INVALID', [`${source}: expected a mapping at the top level`]);
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  const origin = new Map<string, string>(); // config path → env var, for error messages
  const problems: string[] = [];
  // Precedence (README "Environment variables"): file < GW_CONFIG__… < friendly names, so a device-level
  // GW_MLLP_HOST beats a fleet-level GW_CONFIG__destinations__ehr__host.
  const texts = new Map<string, { path: Array<string | number>; text: string }>(); // generic values kept as typed
  for (const name of Object.keys(env).filter((n) => n.startsWith(GENERIC_ENV_PREFIX)).sort()) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const applied = applyGeneric(merged, name.slice(GENERIC_ENV_PREFIX.length), text);
    if (!applied.ok) {
      problems.push(`${name}: ${applied.reason}`);
      continue;
    }
    origin.set(formatPath(applied.value), name);
    // a list element the variable created is named by it too (its missing `type` is this variable's doing)
    if (applied.created) origin.set(formatPath(applied.created), origin.get(formatPath(applied.created)) ?? name);
    texts.set(formatPath(applied.value), { path: applied.value, text });
  }
  for (const binding of ENV_BINDINGS) {
    const text = env[binding.name];
    if (text === undefined || text === '') continue;
    const path = applyEnv(merged, binding, text);
    origin.set(path, binding.name);
    texts.delete(path);
  }
  if (problems.length > 0) throw new GatewayError('GW_ERR_CONFIG_INVALID', [`${source}: ${problems.join('; ')}`]);
  let parsed = configSchema.safeParse(merged);
  // `GW_CONFIG__site__id=0042` parses as the JSON number 42; where the schema wants text, take the text as typed.
  const retyped = parsed.success ? [] : parsed.error.issues.filter((i) => i.code === 'invalid_type' && i.expected === 'string' && texts.has(formatPath(i.path)));
  if (retyped.length > 0) {
    for (const i of retyped) setAt(merged, texts.get(formatPath(i.path))!.path, texts.get(formatPath(i.path))!.text);
    parsed = configSchema.safeParse(merged);
  }
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const path = formatPath(i.path);
      if (i.code === 'unrecognized_keys') {
        // a misspelt GW_CONFIG__http__prot → `http: unknown key "prot"`, named by its variable
        const vias = i.keys.map((k) => origin.get(path ? `${path}.${k}` : k)).filter(Boolean);
        if (vias.length > 0) return `${path || '(root)'} (from ${vias.join(', ')}): ${describeIssue(i)}`;
      }
      // an env variable setting a whole list or object (GW_KIOSK_TOKENS) is named for problems inside it too;
      // the longest (most specific) path wins
      const via =
        origin.get(path) ??
        [...origin].filter(([p]) => path.startsWith(`${p}[`) || path.startsWith(`${p}.`)).sort(([a], [b]) => b.length - a.length)[0]?.[1];
      return `${path || '(root)'}${via ? ` (from ${via})` : ''}: ${describeIssue(i)}`;
    });
    throw new GatewayError('GW_ERR_CONFIG_INVALID', [`${source}: ${issues.join('; ')}`]);
  }
  return parsed.data;
}

/**
 * Reads GW_BUFFER_KEY and GW_ADMIN_TOKEN, each from the variable or from the file its `_FILE` variant names
 * (a Docker/Balena secret; the trailing newline an editor leaves is trimmed). Problems name the variable, never
 * the secret. Read once at start: a changed secret takes a restart, like any variable on Balena.
 */
export function readSecrets(env: Env = process.env, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): Result<Secrets> {
  const value: Secrets = {};
  const issues: Issue[] = [];
  for (const name of Object.keys(SECRET_ENV) as SecretName[]) {
    const direct = env[name];
    const file = env[`${name}_FILE`];
    const hasDirect = direct !== undefined && direct !== '';
    const hasFile = file !== undefined && file !== '';
    if (hasDirect && hasFile) {
      issues.push(issue('GW_ERR_CONFIG_SECRET', name, name, `both ${name} and ${name}_FILE are set; set only one`));
    } else if (hasDirect) {
      value[SECRET_ENV[name]] = direct;
    } else if (hasFile) {
      let text: string;
      try {
        text = read(file).replace(/\r?\n$/, '');
      } catch (err) {
        // the errno code (ENOENT, EACCES) says why without echoing anything read
        issues.push(issue('GW_ERR_CONFIG_SECRET', `${name}_FILE`, `${name}_FILE`, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`));
        continue;
      }
      if (text.trim() === '') issues.push(issue('GW_ERR_CONFIG_SECRET', `${name}_FILE`, `${name}_FILE`, `${file} is empty`));
      else value[SECRET_ENV[name]] = text;
    }
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
}

/** What a config path holds in the schema, so a missing container is created as a list or a mapping. */
function schemaAt(path: ReadonlyArray<string | number>): z.core.$ZodType | undefined {
  let node: z.core.$ZodType | undefined = configSchema;
  for (const key of path) {
    node = unwrap(node);
    const def = node?._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType; options?: z.core.$ZodType[] } | undefined;
    if (def?.type === 'array') node = def.element;
    else if (def?.type === 'object') node = def.shape?.[String(key)];
    else if (def?.type === 'union') {
      // destinations: the first variant that has the key (all share id/type)
      node = def.options?.map((o) => (unwrap(o)?._zod.def as { shape?: Record<string, z.core.$ZodType> }).shape?.[String(key)]).find(Boolean);
    } else return undefined;
  }
  return unwrap(node);
}

function unwrap(node: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  let current = node;
  for (;;) {
    const def = current?._zod.def as { type: string; innerType?: z.core.$ZodType } | undefined;
    if (!def || !['default', 'optional', 'nullable', 'prefault', 'readonly', 'catch'].includes(def.type) || !def.innerType) return current;
    current = def.innerType;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The key that names a list element, in the order tried. */
const ELEMENT_KEYS = ['id', 'device', 'name'] as const;

/** Applies one `GW_CONFIG__a__b__c` variable; returns the config path it set (list elements resolved to indexes). */
function applyGeneric(
  target: Record<string, unknown>,
  rest: string,
  text: string,
): { ok: true; value: Array<string | number>; created?: Array<string | number> } | { ok: false; reason: string } {
  const segments = rest.split('__');
  if (segments.some((s) => s === '')) return { ok: false, reason: 'an empty path segment (two "__" in a row, or one at the end)' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text; // not JSON: the text itself (a host, a path, a URL)
  }
  const path: Array<string | number> = [];
  let created: Array<string | number> | undefined;
  let node: unknown = target;
  for (const [i, segment] of segments.entries()) {
    const last = i === segments.length - 1;
    let key: string | number = segment;
    if (Array.isArray(node)) {
      if (/^\d+$/.test(segment)) {
        key = Number(segment);
        if (key > node.length) return { ok: false, reason: `${formatPath(path)} has ${node.length} element(s); index ${key} would leave a gap` };
      } else {
        key = node.findIndex((e) => isRecord(e) && ELEMENT_KEYS.some((k) => e[k] === segment));
        if (key < 0) {
          // a new element named by the segment (bindings are named by device)
          node.push({ [path.at(-1) === 'bindings' ? 'device' : 'id']: segment });
          key = node.length - 1;
          created ??= [...path, key];
        }
      }
    } else if (!isRecord(node)) {
      return { ok: false, reason: `${formatPath(path)} is a single value, not a mapping or a list` };
    }
    path.push(key);
    const holder = node as Record<string | number, unknown>;
    if (last) {
      holder[key] = value;
    } else {
      if (typeof holder[key] !== 'object' || holder[key] === null) holder[key] = (schemaAt(path)?._zod.def.type === 'array' ? [] : {});
      node = holder[key];
    }
  }
  return created ? { ok: true, value: path, created } : { ok: true, value: path };
}

function setAt(target: Record<string, unknown>, path: ReadonlyArray<string | number>, value: unknown): void {
  let node = target as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
}

function applyEnv(target: Record<string, unknown>, binding: EnvBinding, text: string): string {
  const value = binding.parse(text);
  if (binding.path[0] === 'destinations') {
    // GW_MLLP_* address the destination with that id, which is created when absent.
    const [, id, key] = binding.path as [string, string, string];
    const list = (Array.isArray(target.destinations) ? target.destinations : []) as Array<Record<string, unknown>>;
    let index = list.findIndex((d) => d?.id === id);
    if (index < 0) {
      list.push({ id, ...(binding.create ?? { type: 'mllp', receivingApplication: 'EHR', receivingFacility: 'CLINIC' }) });
      index = list.length - 1;
    }
    list[index]![key] = value;
    target.destinations = list;
    return formatPath(['destinations', index, key]);
  }
  let node = target;
  binding.path.slice(0, -1).forEach((key) => {
    const next = node[key as string];
    node[key as string] = typeof next === 'object' && next !== null ? next : {};
    node = node[key as string] as Record<string, unknown>;
  });
  node[binding.path.at(-1) as string] = value;
  return formatPath(binding.path);
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator' && issue.path[0] === 'destinations' && issue.path.length === 3) {
    return `unknown destination type; expected one of: mllp, mqtt, fhir`;
  }
  return issue.message;
}
