// Typed configuration: a YAML/JSON file named by GATEWAY_CONFIG (else the built-in default), then
// environment variables over single values (how Balena fleet/device variables arrive).
// validate → plan → apply (CONVENTIONS 7): every problem is collected with its path before failing.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { mllpDestinationSchema } from '../ehr-bridge/hl7v2/config.ts';
import { serialConfigSchema } from '../device-drivers/serial/config.ts';
import { mqttConfigSchema } from '../device-drivers/mqtt/config.ts';
import { mqttDestinationSchema } from '../ehr-bridge/mqtt/config.ts';
import { GatewayError } from './errors.ts';

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

const destinationSchema = z.discriminatedUnion('type', [mllpDestinationSchema, mqttDestinationSchema]);

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
      })
      .strict()
      .default({ host: '0.0.0.0', port: 8080, bodyLimitBytes: 64 * 1024 }),
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
}

const asInt = (text: string): unknown => (/^-?\d+$/.test(text.trim()) ? Number(text) : text);
const asNumber = (text: string): unknown => (text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text);
const asBool = (text: string): unknown =>
  /^(1|true|yes|on)$/i.test(text) ? true : /^(0|false|no|off)$/i.test(text) ? false : text;
const asText = (text: string): unknown => text;

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
  { name: 'GW_MQTT_PORT', path: ['mqtt', 'port'], parse: asInt, doc: 'MQTT broker TCP port (default 1883); setting it turns the broker on' },
  { name: 'GW_SIMULATE', path: ['simulate', 'enabled'], parse: asBool, doc: '1 runs the simulated kiosk, 0 turns it off' },
  { name: 'GW_LOG_LEVEL', path: ['log', 'level'], parse: asText, doc: 'fatal, error, warn, info (default), debug, trace' },
];

export interface LoadedConfig {
  config: GatewayConfig;
  /** Where the config came from, for the start-up log line. */
  source: string;
}

/** Read, merge with the environment, validate. Throws GatewayError(GW_ERR_CONFIG_INVALID) naming every bad key. */
export function loadConfig(env: Env = process.env): LoadedConfig {
  const file = env.GATEWAY_CONFIG;
  let raw: unknown;
  let source: string;
  if (file) {
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
  for (const binding of ENV_BINDINGS) {
    const text = env[binding.name];
    if (text === undefined || text === '') continue;
    const path = applyEnv(merged, binding, text);
    origin.set(path, binding.name);
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = formatPath(i.path);
      const via = origin.get(path);
      return `${path || '(root)'}${via ? ` (from ${via})` : ''}: ${describeIssue(i)}`;
    });
    throw new GatewayError('GW_ERR_CONFIG_INVALID', [`${source}: ${problems.join('; ')}`]);
  }
  return parsed.data;
}

function applyEnv(target: Record<string, unknown>, binding: EnvBinding, text: string): string {
  const value = binding.parse(text);
  if (binding.path[0] === 'destinations') {
    // GW_MLLP_* address the destination with that id, which is created when absent.
    const [, id, key] = binding.path as [string, string, string];
    const list = (Array.isArray(target.destinations) ? target.destinations : []) as Array<Record<string, unknown>>;
    let index = list.findIndex((d) => d?.id === id);
    if (index < 0) {
      list.push({ id, type: 'mllp', receivingApplication: 'EHR', receivingFacility: 'CLINIC' });
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
  if (issue.code === 'invalid_union' && 'note' in issue && issue.note === 'No matching discriminator') {
    return `unknown destination type; expected one of: mllp, mqtt`;
  }
  return issue.message;
}
