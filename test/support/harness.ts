// Shared pieces for integration suites: an independent MLLP receiver (@medplum/hl7's Hl7Server),
// a gateway in this process or as a child process, temp dirs, and waiting helpers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hl7Server, type Hl7Connection, type Hl7MessageEvent } from '@medplum/hl7';
import { parseConfig, type GatewayConfig } from '../../gateway/config.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { startGateway, type Gateway } from '../../gateway/main.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TEST_BUFFER_KEY = 'a'.repeat(64);

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), `rpm-gw-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A TCP port that is free right now (for a receiver that starts later). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface ReceivedMessage {
  controlId: string;
  text: string;
  /** OBX segments as field arrays (index 0 = "OBX"). */
  obx: string[][];
  pid: string[];
  ackCode: string;
}

/**
 * An independent MLLP receiver: @medplum/hl7's Hl7Server, answering each message with the code
 * `decide` returns (AA by default). Records everything it received, in arrival order.
 */
export async function startReceiver(port: number, decide: (controlId: string, count: number, text: string) => 'AA' | 'AE' | 'AR' = () => 'AA'): Promise<{
  messages: ReceivedMessage[];
  stop(): Promise<void>;
}> {
  const messages: ReceivedMessage[] = [];
  const seen = new Map<string, number>();
  const server = new Hl7Server((connection: Hl7Connection) => {
    connection.addEventListener('message', ({ message }: Hl7MessageEvent) => {
      const text = message.toString();
      const segments = text.split('\r').filter(Boolean).map((s: string) => s.split('|'));
      const msh = segments.find((s) => s[0] === 'MSH') ?? [];
      const controlId = msh[9] ?? ''; // MSH-10 (MSH-1 is the separator itself)
      const count = (seen.get(controlId) ?? 0) + 1;
      seen.set(controlId, count);
      const ackCode = decide(controlId, count, text);
      messages.push({
        controlId,
        text,
        obx: segments.filter((s) => s[0] === 'OBX'),
        pid: segments.find((s) => s[0] === 'PID') ?? [],
        ackCode,
      });
      connection.send(message.buildAck({ ackCode }));
    });
  });
  await server.start(port);
  return {
    messages,
    stop: () => server.stop({ forceDrainTimeoutMs: 0 }),
  };
}

export function gatewayConfig(overrides: { dataDir: string; mllpPort: number; httpPort?: number } & Partial<Record<string, unknown>>): GatewayConfig {
  const { dataDir, mllpPort, httpPort, ...rest } = overrides;
  return parseConfig({
    site: { id: 'test-clinic' },
    dataDir,
    http: { host: '127.0.0.1', port: httpPort ?? 0 },
    destinations: [
      { id: 'ehr', type: 'mllp', host: '127.0.0.1', port: mllpPort, receivingApplication: 'EHR', receivingFacility: 'CLINIC', ackTimeoutMs: 2000, connectTimeoutMs: 500 },
    ],
    bindings: [{ device: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
    dispatch: { backoffInitialMs: 20, backoffMaxMs: 200, breakerThreshold: 1000, breakerOpenMs: 200 },
    ...rest,
  });
}

export async function startTestGateway(config: GatewayConfig): Promise<Gateway & { logs: Array<Record<string, unknown>> }> {
  const { logger, lines } = createMemoryLogger('info');
  const gateway = await startGateway(config, logger, { bufferKey: TEST_BUFFER_KEY, adminToken: 'test-admin-token' });
  return Object.assign(gateway, { logs: lines });
}

/** Like startTestGateway, with the environment chosen by the test (e.g. no GW_ADMIN_TOKEN) and every log level kept. */
export async function startTestGatewayWithEnv(
  config: GatewayConfig,
  env: { adminToken?: string } = {},
  logLevel = 'trace',
): Promise<Gateway & { logs: Array<Record<string, unknown>> }> {
  const { logger, lines } = createMemoryLogger(logLevel);
  const gateway = await startGateway(config, logger, { bufferKey: TEST_BUFFER_KEY, ...env });
  return Object.assign(gateway, { logs: lines });
}

/** A browser-like admin session: log in, then send the cookie (and the CSRF header on state changes). */
export interface AdminSession {
  cookie: string;
  csrf: string;
  /** fetch with the session: JSON bodies, the CSRF header on anything but GET unless `csrf: false`. */
  request(path: string, init?: { method?: string; body?: unknown; csrf?: boolean }): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }>;
}

export async function loginSession(url: string, name: string, password: string): Promise<AdminSession> {
  const res = await fetch(`${url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
  const body = (await res.json()) as { csrfToken?: string };
  const setCookie = res.headers.get('set-cookie') ?? '';
  if (res.status !== 200 || !body.csrfToken) throw new Error(`login of ${name} failed: ${res.status} ${JSON.stringify(body)}`);
  const cookie = setCookie.split(';')[0]!;
  const csrf = body.csrfToken;
  return {
    cookie,
    csrf,
    async request(path, init = {}) {
      const method = init.method ?? 'GET';
      const headers: Record<string, string> = { cookie };
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      if (method !== 'GET' && init.csrf !== false) headers['x-csrf-token'] = csrf;
      const r = await fetch(`${url}${path}`, { method, headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
      const text = await r.text();
      return { status: r.status, headers: r.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
  };
}

export async function postReading(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/v1/readings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A kiosk reading with a distinct device time per `n`, so each one is its own Observation. */
export function heartRateReading(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const measuredAt = new Date(Date.UTC(2026, 10, 23, 8, 0, 0) + n * 1000).toISOString();
  return { deviceId: 'kiosk-1', measuredAt, components: [{ metric: 'heart-rate', value: 60 + (n % 40), unit: '/min' }], ...extra };
}

export interface GatewayChild {
  child: ChildProcess;
  url: Promise<string>;
  exited: Promise<number | null>;
  output(): string;
}

/** `gw start` as a child process with a config file; resolves `url` from its "gateway started" log line. */
export function spawnGateway(configFile: string, env: Record<string, string> = {}): GatewayChild {
  const child = spawn(process.execPath, [join(ROOT, 'bin/gw.mjs'), 'start'], {
    cwd: ROOT,
    env: { ...process.env, GATEWAY_CONFIG: configFile, GW_BUFFER_KEY: TEST_BUFFER_KEY, GW_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"gateway started"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before it started:\n${out.slice(-3000)}`)));
  });
  url.catch(() => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url, exited, output: () => out };
}

export function writeConfigFile(dir: string, config: Record<string, unknown>): string {
  const file = join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** A gateway in this process wired to an independent MLLP receiver, in a temp dir; `stop()` tears all of it down. */
export async function startGatewayWithReceiver(
  prefix: string,
  decide?: Parameters<typeof startReceiver>[1],
): Promise<{ gateway: Awaited<ReturnType<typeof startTestGateway>>; receiver: Awaited<ReturnType<typeof startReceiver>>; stop(): Promise<void> }> {
  const tmp = tempDir(prefix);
  const port = await freePort();
  const receiver = await startReceiver(port, decide);
  const gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort: port }));
  return {
    gateway,
    receiver,
    async stop() {
      await gateway.close();
      await receiver.stop();
      tmp.cleanup();
    },
  };
}
