// `gw` sub-commands: start, decode, sink. Each returns an exit code; only `start` keeps running.
import { parseArgs } from 'node:util';
import { parseKioskReading } from '../device-drivers/kiosk/reading.ts';
import { mqttReadingFromInput } from '../device-drivers/mqtt/cli.ts';
import { hashPassword } from '../device-drivers/mqtt/password.ts';
import { sinkOptionsFromFlags, startMllpSink } from '../ehr-bridge/hl7v2/mllp-sink.ts';
import { serialReadingFromInput } from '../device-drivers/serial/cli.ts';
import { bleReadingFromInput } from '../device-drivers/ble/gatt/cli-input.ts';
import { runProfilesLint } from './profiles/lint.ts';
import { runAuditVerify } from './audit/verify.ts';
import { kioskCommand, USER_USAGE, userCommand, type CliIo } from './http/auth/cli.ts';
import { loadConfig, readSecrets, type GatewayConfig } from './config.ts';
import { GatewayError } from './errors.ts';
import { createLogger } from './logger.ts';
import { startGateway } from './main.ts';
import { normalize } from './normalize.ts';
import { decodeAdt } from '../ehr-bridge/hl7v2/adt-decode.ts';
import type { Issue, Reading, Result } from './types.ts';

const USAGE = `usage: gw <command>
  gw start                          run the gateway (config: GATEWAY_CONFIG file, else the built-in demo)
  gw decode kiosk '<json>'          print the Reading and FHIR Observations a kiosk reading becomes (no side effects)
  gw decode mqtt <topic> '<json>'   the same for an MQTT reading published on rpm/<deviceId>/reading
  gw decode serial <profile-id> '<text|hex>'
                                    the same for one serial frame decoded with a firmware profile
  gw decode ble [--device <id>] [--utc-offset <min>] <characteristic-uuid> <hex>
                                    the same for one BLE GATT value (e.g. 2a35 '1E 8A00 5800 …'), with the decoder's notes
  gw decode adt '<hl7>'             what the ADT listener reads from one message (segments split by CR or newlines) and the ACK it answers
  gw profiles lint [path]           check firmware profiles (schema, catalog units, embedded test frames, firmware overlaps)
  gw audit verify [dataDir]         check the audit trail's hash chain (gateway stopped; GW_BUFFER_KEY as for start)
  gw hash-password                  read a password on stdin, print its scrypt hash for mqtt.devices/admins or admin.users
${USER_USAGE}
  gw sink mllp [--port 2575] [--host 127.0.0.1] [--answer AA|AE|AR] [--answer-every N:AE|AR] [--tls-cert f --tls-key f] [--delay-ms N] [--drop-every N]
                                    a local MLLP receiver that prints each message and answers an ACK`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start();
    case 'decode':
      return decode(rest);
    case 'sink':
      return sink(rest);
    case 'profiles':
      if (rest[0] !== 'lint') {
        process.stderr.write(`gw profiles: unknown sub-command "${rest[0] ?? ''}"; known: lint\n`);
        return 2;
      }
      return runProfilesLint(rest[1] ?? 'firmware-profiles', (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    case 'hash-password':
      return hashPasswordCommand();
    case 'audit':
      return auditCommand(rest);
    case 'user':
      return userCommand(rest, cliIo());
    case 'kiosk':
      return kioskCommand(rest, cliIo());
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`gw: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

async function start(): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`gw start: ${(err as Error).message}\n`);
    return 78; // EX_CONFIG
  }
  // GW_BUFFER_KEY / GW_ADMIN_TOKEN, or their _FILE variants (Balena/Docker secrets); messages never hold the secret
  const secrets = readSecrets(process.env);
  if (!secrets.ok) {
    process.stderr.write(`gw start: ${secrets.issues.map((i) => `${i.code}: ${i.message}`).join('; ')}\n`);
    return 78; // EX_CONFIG
  }
  const { config, source } = loaded;
  const logger = createLogger(process.env.GW_LOG_LEVEL ?? config.log.level);
  logger.info({ config: source }, 'configuration loaded');
  const env = secrets.value;
  let gateway;
  try {
    gateway = await startGateway(config, logger, env);
  } catch (err) {
    logger.fatal({ err }, 'gateway failed to start');
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'stop requested');
      gateway.close().then(resolve, (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

function decodeError(code: string, message: string, issues?: unknown): number {
  printJson({ error: issues === undefined ? { code, message } : { code, message, issues } });
  return 1;
}

async function decode(args: string[]): Promise<number> {
  const [transport, ...rest] = args;
  if (transport === 'adt') {
    const { exitCode, output } = decodeAdt(rest[0]);
    printJson(output);
    return exitCode;
  }
  if (transport !== 'kiosk' && transport !== 'mqtt' && transport !== 'serial' && transport !== 'ble') {
    return decodeError('GW_ERR_INVALID_READING', `gw decode: unknown transport "${transport ?? ''}"; known: kiosk, mqtt, serial, ble`);
  }
  let config;
  try {
    config = loadConfig(process.env).config; // bindings, site id, profiles; no buffer, no network, no port
  } catch (err) {
    return decodeError(err instanceof GatewayError ? err.code : 'GW_ERR_CONFIG_INVALID', (err as Error).message);
  }
  const parsed = readingFromInput(transport, rest, config);
  if (!parsed.ok) return decodeError(parsed.issues[0]!.code, parsed.issues[0]!.message, parsed.issues);
  if ('skipped' in parsed) {
    printJson({ skipped: parsed.skipped, observations: [], ...('notes' in parsed ? { notes: parsed.notes } : {}) });
    return 0;
  }
  const reading = parsed.reading;
  const notes = 'notes' in parsed ? { notes: parsed.notes } : {}; // BLE: status bits, context, fields no Observation carries
  const bindings = new Map(config.bindings.map((b) => [b.device, b.patient]));
  const outcome = normalize(reading, {
    siteId: config.site.id,
    bindingFor: (deviceId) => bindings.get(deviceId),
    clockSkewToleranceMs: config.clock.skewToleranceSeconds * 1000,
    defaultPatientSystem: config.patients.defaultSystem,
  });
  switch (outcome.kind) {
    case 'refused':
      return decodeError(outcome.issues[0]!.code, outcome.issues[0]!.message, outcome.issues);
    case 'quarantine':
      printJson({ reading, observations: [], quarantine: { reason: outcome.reason }, ...notes });
      return 0;
    case 'observations':
      printJson(outcome.refused.length > 0 ? { reading, observations: outcome.observations, refused: outcome.refused, ...notes } : { reading, observations: outcome.observations, ...notes });
      return 0;
    default:
      return outcome satisfies never;
  }
}

/** Each transport's own input → the Reading its driver would submit. */
function readingFromInput(
  transport: 'kiosk' | 'mqtt' | 'serial' | 'ble',
  args: string[],
  config: GatewayConfig,
): { ok: true; reading: Reading; notes?: unknown[] } | { ok: true; skipped: string; notes?: unknown[] } | { ok: false; issues: Issue[] } {
  const usage = { code: 'GW_ERR_INVALID_READING', message: "gw decode kiosk '<json>' | gw decode mqtt <topic> '<json>' | gw decode serial <profile-id> '<text|hex>': the input is missing" };
  const asReading = (r: Result<Reading>): { ok: true; reading: Reading } | { ok: false; issues: Issue[] } => (r.ok ? { ok: true, reading: r.value } : r);
  switch (transport) {
    case 'serial':
      return serialReadingFromInput(args, config);
    case 'ble':
      return bleReadingFromInput(args);
    case 'mqtt':
      return args[0] === undefined ? { ok: false, issues: [usage] } : mqttReadingFromInput(args, config); // a device's profile, if it names one
    case 'kiosk': {
      if (args[0] === undefined) return { ok: false, issues: [usage] };
      let body: unknown;
      try {
        body = JSON.parse(args[0]);
      } catch (err) {
        return { ok: false, issues: [{ code: 'GW_ERR_MALFORMED_BODY', message: `request body is not valid JSON: ${(err as Error).message}` }] };
      }
      return asReading(parseKioskReading(body, new Date()));
    }
    default:
      return transport satisfies never;
  }
}

async function auditCommand(args: string[]): Promise<number> {
  if (args[0] !== 'verify') {
    process.stderr.write(`gw audit: unknown sub-command "${args[0] ?? ''}"; known: verify\n`);
    return 2;
  }
  let dataDir = args[1];
  if (dataDir === undefined) {
    try {
      dataDir = loadConfig(process.env).config.dataDir;
    } catch (err) {
      process.stderr.write(`gw audit verify: ${(err as Error).message}\n`);
      return 78; // EX_CONFIG
    }
  }
  const secrets = readSecrets(process.env);
  if (!secrets.ok) {
    process.stderr.write(`gw audit verify: ${secrets.issues.map((i) => `${i.code}: ${i.message}`).join('; ')}\n`);
    return 78; // EX_CONFIG
  }
  return runAuditVerify(dataDir, secrets.value.bufferKey, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
}

function cliIo(): CliIo {
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
  };
}

async function hashPasswordCommand(): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password.length === 0) {
    process.stderr.write('gw hash-password: give the password on stdin, e.g. `printf %s "$PW" | gw hash-password`\n');
    return 2;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

async function sink(args: string[]): Promise<number> {
  const [kind, ...rest] = args;
  if (kind !== 'mllp') {
    process.stderr.write(`gw sink: unknown sink "${kind ?? ''}"; known: mllp\n`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      port: { type: 'string', default: '2575' },
      host: { type: 'string', default: '127.0.0.1' },
      ack: { type: 'string' }, // the first name of --answer, kept
      answer: { type: 'string' },
      'answer-every': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'delay-ms': { type: 'string' },
      'drop-every': { type: 'string' },
    },
  });
  const extra = sinkOptionsFromFlags({ ...values, answer: values.answer ?? values.ack });
  if (!extra.ok) {
    for (const i of extra.issues) process.stderr.write(`gw sink mllp: ${i.message}\n`);
    return 2;
  }
  const ack = `${values.answer ?? values.ack ?? 'AA'}${values['answer-every'] === undefined ? '' : ` (every ${values['answer-every']})`}`;
  const port = Number(values.port);
  const server = await startMllpSink({
    host: values.host,
    port,
    ...extra.value,
    onMessage: (message) => process.stdout.write(`${message.replace(/\r/g, '\n')}\n\n`),
  });
  process.stderr.write(`gw sink mllp: listening on ${values.host}:${server.port}${extra.value.tls === undefined ? '' : ' (TLS)'}, answering ${ack}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}
