// Test-side wrapper of the FHIR R4 test server: spawns main.ts as its own process (`node --import tsx`),
// reads the announcement line, and offers the control API as typed methods. restart() brings the server
// back on the same port with the same store file (a killed server keeps what it committed).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Resource } from '@medplum/fhirtypes';
import type { ClientRegistration, CreatedEntry, Fault, IdentifierCount, ServerAnnouncement, ServerOptions, ServerStats } from './options.ts';

export type { ClientRegistration, CreatedEntry, Fault, IdentifierCount, ServerOptions, ServerStats } from './options.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface SpawnOptions extends ServerOptions {
  /** Default 0 (ephemeral); restart() reuses the port the first start got. */
  port?: number;
  host?: string;
  /** JSONL store file; default a temp file removed by stop(). */
  storeFile?: string;
  /** Milliseconds to wait for the announcement line (default 30 s: loading the R4 definitions takes ~1–2 s). */
  startTimeoutMs?: number;
}

export interface FhirServerStats extends ServerStats {
  stored: Record<string, number>;
  activeFaults: (Fault & { remaining: number | null })[];
}

export interface FhirServerControl {
  stats(): Promise<FhirServerStats>;
  /** Add faults (each hits `count` matching requests, or all until clearFaults()). */
  fault(...faults: Fault[]): Promise<void>;
  clearFaults(): Promise<void>;
  /** Replace all active faults at once (clear + add without a gap a retry could fall into). */
  setFaults(...faults: Fault[]): Promise<void>;
  resources<T extends Resource = Resource>(type?: string): Promise<T[]>;
  /** `{ identifier: 'system|value', count }` for each identifier of `type`; count > 1 is a duplicate. */
  identifierCounts(type?: string): Promise<IdentifierCount[]>;
  duplicates(type?: string): Promise<IdentifierCount[]>;
  creationOrder(type?: string): Promise<CreatedEntry[]>;
  tokens(): Promise<{ token: string; clientId: string; scope: string; expiresAt: string; revoked: boolean }[]>;
  revoke(what: { token?: string; clientId?: string; all?: boolean }): Promise<number>;
  registerClient(client: ClientRegistration): Promise<void>;
  /** Skew the server's clock (token expiry, assertion exp checks, Date and Retry-After HTTP-dates). */
  skewClock(skewMs: number): Promise<void>;
  setTokenTtl(seconds: number): Promise<void>;
  setInteractions(interactions: { transaction?: boolean; batch?: boolean }): Promise<void>;
  reset(): Promise<void>;
}

export interface SpawnedFhirServer {
  baseUrl: string;
  tokenUrl: string;
  controlUrl: string;
  port: number;
  storeFile: string;
  control: FhirServerControl;
  /** The running child process (changes on restart). */
  readonly process: ChildProcess;
  /** Signal the process (default SIGKILL) and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port with the same store file (kills a running one first). */
  restart(): Promise<void>;
  /** The server's recent stderr (with `log: true`, one JSON line per refused request). */
  stderr(): string;
  /** Stop for good: terminate and remove the temp store file. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export async function spawnFhirServer(options: SpawnOptions = {}): Promise<SpawnedFhirServer> {
  installExitHook();
  const { port = 0, host = '127.0.0.1', storeFile: givenStore, startTimeoutMs = 30_000, ...serverOptions } = options;
  const tempDir = givenStore ? undefined : mkdtempSync(join(tmpdir(), 'fhir-test-server-'));
  const storeFile = givenStore ?? join(tempDir!, 'store.jsonl');
  let child: ChildProcess;
  let announced: ServerAnnouncement;
  let stderr = '';

  async function start(onPort: number): Promise<void> {
    const args = ['--import', 'tsx', MAIN, '--port', String(onPort), '--host', host, '--store-file', storeFile, '--exit-with-stdin', '--options-json', JSON.stringify(serverOptions)];
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
    child = proc;
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
    });
    announced = await new Promise<ServerAnnouncement>((resolve, reject) => {
      const lines = createInterface({ input: proc.stdout! });
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`FHIR test server did not announce itself within ${startTimeoutMs} ms: ${stderr}`));
      }, startTimeoutMs);
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line) as ServerAnnouncement);
        } catch {
          reject(new Error(`FHIR test server printed ${line} instead of its announcement; stderr: ${stderr}`));
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`FHIR test server exited (${code ?? signal}) before listening: ${stderr}`));
      });
    });
    proc.stdout!.resume();
  }

  async function kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = child;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  }

  await start(port);
  const fixedPort = announced!.port;

  // The control API shares the server's listener; over TLS it is reached trusting the server's own certificate.
  const tls = serverOptions.tls;
  const ca = tls ? (tls.cert ?? readFileSync(tls.certFile!, 'utf8')) : undefined;
  const call = <T>(method: string, path: string, body?: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const url = `${announced.controlUrl}${path}`;
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers = text === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) };
      const req = (ca ? httpsRequest(url, { method, headers, ca }) : httpRequest(url, { method, headers }));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 400) reject(new Error(`control ${method} ${path} → ${res.statusCode} ${answer}`));
          else resolve(JSON.parse(answer) as T);
        });
      });
      req.on('error', reject);
      req.end(text);
    });

  const control: FhirServerControl = {
    stats: () => call('GET', '/stats'),
    fault: async (...faults) => void (await call('POST', '/faults', faults)),
    clearFaults: async () => void (await call('DELETE', '/faults')),
    setFaults: async (...faults) => void (await call('PUT', '/faults', faults)),
    resources: (type = 'Observation') => call('GET', `/resources/${type}`),
    identifierCounts: (type = 'Observation') => call('GET', `/identifiers/${type}`),
    duplicates: (type = 'Observation') => call('GET', `/identifiers/${type}?duplicates=true`),
    creationOrder: (type) => call('GET', `/order${type ? `/${type}` : ''}`),
    tokens: () => call('GET', '/tokens'),
    revoke: async (what) => (await call<{ revoked: number }>('POST', '/revoke', what)).revoked,
    registerClient: async (client) => void (await call('POST', '/clients', client)),
    skewClock: async (skewMs) => void (await call('POST', '/clock', { skewMs })),
    setTokenTtl: async (seconds) => void (await call('POST', '/token-ttl', { seconds })),
    setInteractions: async (interactions) => void (await call('POST', '/interactions', interactions)),
    reset: async () => void (await call('POST', '/reset')),
  };

  return {
    get baseUrl() {
      return announced.baseUrl;
    },
    get tokenUrl() {
      return announced.tokenUrl;
    },
    get controlUrl() {
      return announced.controlUrl;
    },
    port: fixedPort,
    storeFile,
    control,
    get process() {
      return child;
    },
    kill,
    stderr: () => stderr,
    async restart() {
      await kill('SIGKILL');
      await start(fixedPort);
    },
    async stop() {
      await kill('SIGTERM');
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    },
  };
}
