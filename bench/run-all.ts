// All benchmarks of the spine in one run, each beside the physical ceiling measured in the same run.
// `npm run bench` (≈10 min); writes docs/benchmarks.md. BENCH_BACKLOG=100000 shortens the backlog run.
import { writeFileSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { ClassicLevel } from 'classic-level';
import { Hl7Server, type Hl7Connection, type Hl7MessageEvent } from '@medplum/hl7';
import { LevelDbBuffer } from '../gateway/buffer/leveldb-buffer.ts';
import { seal } from '../gateway/buffer/seal.ts';
import { Intake } from '../gateway/ingest.ts';
import { createLogger } from '../gateway/logger.ts';
import { frame, MllpDecoder } from '../ehr-bridge/hl7v2/mllp-codec.ts';
import { buildOruR01 } from '../ehr-bridge/hl7v2/oru-r01.ts';
import { controlIdOfMessage } from '../ehr-bridge/hl7v2/ack.ts';
import { freePort, spawnGateway, waitFor, writeConfigFile } from '../test/support/harness.ts';
import { runBleDecodeBench } from './ble-decode.ts';
import { runFhirDrainBench } from './fhir-drain.ts';
import { BENCH_CONTEXT, BENCH_KEY, DEPLOYED_NODE_OPTIONS, benchDir, openBenchBuffer, prefill, benchKioskBody, benchObservation, benchReading, fmt, machine, percentile, table, type BenchRow } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const silent = createLogger('silent');
const rows: BenchRow[] = [];
const notes: string[] = [];
const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);

/** The ceiling: raw classic-level, batches of 100 puts of a sealed-record-sized value, each batch synced. */
async function rawLevelDb(): Promise<number> {
  const { dir, cleanup } = benchDir('raw-level');
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const obs = benchObservation(0);
  const value = seal(BENCH_KEY, Buffer.from('log/0000000000000001'), Buffer.from(JSON.stringify({ observation: obs, appendedAt: Date.now() })));
  const total = 200_000;
  const started = performance.now();
  for (let seq = 0; seq < total; seq += 100) {
    const ops = [];
    for (let i = 0; i < 100; i++) {
      const key = Buffer.alloc(8);
      key.writeBigUInt64BE(BigInt(seq + i));
      ops.push({ type: 'put' as const, key, value });
    }
    await db.batch(ops, { sync: true });
  }
  const rate = total / ((performance.now() - started) / 1000);
  await db.close();
  cleanup();
  notes.push(`Raw record size: ${value.length} bytes sealed (one heart-rate Observation).`);
  return rate;
}

/** Durable appends through normalize + validate + seal + group commit, no HTTP, `concurrency` readings outstanding. */
async function intakeThroughput(total: number, concurrency: number): Promise<number> {
  const { dir, cleanup } = benchDir('intake');
  const buffer = openBenchBuffer(dir);
  await buffer.open();
  const intake = new Intake({ buffer, logger: silent, normalizeContext: BENCH_CONTEXT });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let n = next++; n < total; n = next++) {
        const r = await intake.submit(benchReading(n));
        if (r.kind !== 'accepted') throw new Error(`not accepted: ${JSON.stringify(r)}`);
      }
    }),
  );
  const rate = total / ((performance.now() - started) / 1000);
  notes.push(`Intake run: ${fmt(buffer.batchesWritten)} synced batches for ${fmt(total)} readings (${fmt(total / buffer.batchesWritten, 1)} per batch) at ${concurrency} outstanding.`);
  await buffer.close();
  cleanup();
  return rate;
}

/** Open loop at `rate` readings/s for `seconds`: submit → durable latency. */
async function intakeLatency(rate: number, seconds: number): Promise<{ p50: number; p99: number; max: number }> {
  const { dir, cleanup } = benchDir('latency');
  const buffer = openBenchBuffer(dir);
  await buffer.open();
  const intake = new Intake({ buffer, logger: silent, normalizeContext: BENCH_CONTEXT });
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const tickMs = 10;
  const perTick = (rate * tickMs) / 1000;
  const started = performance.now();
  let n = 0;
  for (let tick = 0; tick < (seconds * 1000) / tickMs; tick++) {
    const due = started + tick * tickMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (let i = 0; i < perTick; i++) {
      const t0 = performance.now();
      pending.push(intake.submit(benchReading(n++)).then(() => void latencies.push(performance.now() - t0)));
    }
  }
  await Promise.all(pending);
  await buffer.close();
  cleanup();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! };
}

/** The kiosk API under autocannon: a gateway child process, unique readings, 202 only after sync. */
async function httpThroughput(seconds: number, connections: number): Promise<{ rps: number; p50: number; p99: number; non2xx: number }> {
  const { dir, cleanup } = benchDir('http');
  const config = writeConfigFile(dir, {
    site: { id: 'bench' },
    dataDir: join(dir, 'data'),
    http: { host: '127.0.0.1', port: 0 },
    bindings: [{ device: 'kiosk-1', patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' } }],
    log: { level: 'warn' },
  });
  const gw = spawnGateway(config, { GW_BUFFER_KEY: BENCH_KEY.toString('hex'), GW_LOG_LEVEL: 'info', GW_RUNTIME: 'dist', NODE_OPTIONS: DEPLOYED_NODE_OPTIONS });
  const url = await gw.url;
  let n = 0;
  const result = await autocannon({
    url: `${url}/v1/readings`,
    connections,
    duration: seconds,
    requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, body: benchKioskBody(n++) }) }],
  });
  gw.child.kill('SIGTERM');
  await gw.exited;
  cleanup();
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx };
}

/** A minimal MLLP peer answering every frame with a fixed AA: the receiver-side ceiling. */
async function startRawAcker(port: number): Promise<{ count: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const decoder = new MllpDecoder();
    socket.on('data', (chunk) => {
      for (const item of decoder.push(chunk)) {
        if (!item.ok) continue;
        count++;
        const controlId = controlIdOfMessage(item.value) ?? '';
        socket.write(frame(`MSH|^~\\&|EHR|CLINIC|RPM-GW|bench|20260101000000||ACK^R01^ACK|A${controlId}|P|2.5.1\rMSA|AA|${controlId}\r`));
      }
    });
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    count: () => count,
    close: () => new Promise((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

/**
 * The wire ceiling: a client in another process (as the gateway is in the drains) sends one ORU-sized
 * frame at a time and waits for the raw acker's ACK, over loopback.
 */
async function rawMllpEcho(seconds: number): Promise<number> {
  const port = await freePort();
  const acker = await startRawAcker(port);
  const built = buildOruR01(benchObservation(0), { sendingApplication: 'RPM-GW', sendingFacility: 'bench', receivingApplication: 'EHR', receivingFacility: 'CLINIC', processingId: 'P' });
  if (!built.ok) throw new Error('ORU did not build');
  const client = `
    const net = require('node:net');
    const payload = Buffer.from(${JSON.stringify(frame(built.value.message).toString('base64'))}, 'base64');
    const socket = net.connect(${port}, '127.0.0.1', () => { socket.setNoDelay(true); socket.write(payload); });
    let acks = 0; const deadline = Date.now() + ${seconds * 1000};
    socket.on('data', (chunk) => {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 0x1c) {
        acks++;
        if (Date.now() >= deadline) { process.stdout.write(String(acks)); socket.destroy(); return; }
        socket.write(payload);
      }
    });`;
  const child = spawn(process.execPath, ['-e', client], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => child.once('exit', r));
  await acker.close();
  return Number(out) / seconds;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** A gateway child process drains a prefilled buffer to a receiver on `port`; returns seconds and peak RSS. */
async function drain(dir: string, total: number, port: number, received: () => number, startReceiver: () => Promise<() => Promise<void>>): Promise<{ seconds: number; idleRss: number; peakRss: number }> {
  const config = writeConfigFile(dir, {
    site: { id: 'bench' },
    dataDir: join(dir, 'data'),
    http: { host: '127.0.0.1', port: 0 },
    destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port, receivingApplication: 'EHR', receivingFacility: 'CLINIC' }],
    dispatch: { batchSize: 100, backoffInitialMs: 50, backoffMaxMs: 200, breakerThreshold: 100000, breakerOpenMs: 200 },
    log: { level: 'warn' },
  });
  // The compiled gateway, as a hub runs it (GW_RUNTIME=dist): no tsx loader thread in the RSS.
  const gw = spawnGateway(config, { GW_BUFFER_KEY: BENCH_KEY.toString('hex'), GW_LOG_LEVEL: 'info', GW_RUNTIME: 'dist', NODE_OPTIONS: DEPLOYED_NODE_OPTIONS });
  await gw.url;
  await new Promise((r) => setTimeout(r, 3000)); // settled, receiver still down: the backlog is held
  const idleRss = rssOf(gw.child.pid!);
  let peakRss = idleRss;
  const sampler = setInterval(() => {
    try {
      peakRss = Math.max(peakRss, rssOf(gw.child.pid!));
    } catch {
      /* exited */
    }
  }, 500);
  const stop = await startReceiver();
  const started = performance.now();
  await waitFor(`${total} messages received`, () => received() >= total, 900_000, 50);
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  gw.child.kill('SIGTERM');
  await gw.exited;
  await stop();
  return { seconds, idleRss, peakRss };
}

async function main(): Promise<void> {
  log(`machine: ${machine()}`);
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  log('raw LevelDB ceiling');
  const raw = await rawLevelDb();
  rows.push({ name: 'raw `classic-level` synced batch puts (batches of 100)', value: `${fmt(raw)} puts/s`, baseline: 'the ceiling' });

  log('intake without HTTP');
  const intake = await intakeThroughput(100_000, 512);
  rows.push({ name: 'durable appends: normalize + validate + seal + group commit (no HTTP, 512 outstanding)', value: `${fmt(intake)} readings/s`, baseline: `${fmt(raw)} puts/s`, ratio: `${fmt((intake / raw) * 100, 1)} %`, goal: '≥ 50 %', met: intake / raw >= 0.5 });

  log('latency at 1,000 readings/s');
  const lat = await intakeLatency(1000, 10);
  rows.push({ name: 'submit → durable latency at 1,000 readings/s (10 s, open loop)', value: `p50 ${fmt(lat.p50, 2)} ms, p99 ${fmt(lat.p99, 2)} ms, max ${fmt(lat.max, 1)} ms` });

  log('HTTP intake (autocannon)');
  const http = await httpThroughput(10, 64);
  rows.push({ name: 'durable appends through `POST /v1/readings` (autocannon, 64 connections, 10 s)', value: `${fmt(http.rps)} req/s, p50 ${http.p50} ms, p99 ${http.p99} ms, non-202: ${http.non2xx}`, baseline: `${fmt(raw)} puts/s`, ratio: `${fmt((http.rps / raw) * 100, 1)} %` });

  log('raw MLLP echo');
  const echo = await rawMllpEcho(5);
  rows.push({ name: 'raw MLLP echo: client process ↔ acker, one ORU-sized frame in flight, loopback', value: `${fmt(echo)} msg/s`, baseline: 'the ceiling' });

  const drainCount = 20_000;
  log(`drain ${drainCount} to @medplum/hl7 Hl7Server`);
  {
    const { dir, cleanup } = benchDir('drain-medplum');
    await prefill(join(dir, 'data', 'buffer'), drainCount);
    const port = await freePort();
    let received = 0;
    const result = await drain(dir, drainCount, port, () => received, async () => {
      const server = new Hl7Server((connection: Hl7Connection) => {
        connection.addEventListener('message', ({ message }: Hl7MessageEvent) => {
          received++;
          connection.send(message.buildAck({ ackCode: 'AA' }));
        });
      });
      await server.start(port);
      return () => server.stop({ forceDrainTimeoutMs: 0 });
    });
    const rate = drainCount / result.seconds;
    rows.push({ name: `MLLP drain to an independent receiver (@medplum/hl7 Hl7Server), ${fmt(drainCount)} ORU, ACK per message`, value: `${fmt(rate)} ORU/s`, baseline: `${fmt(echo)} msg/s echo`, ratio: `${fmt((rate / echo) * 100, 1)} %`, goal: '≥ 50 %', met: rate / echo >= 0.5 });
    cleanup();
  }
  log(`drain ${drainCount} to the raw acker`);
  {
    const { dir, cleanup } = benchDir('drain-raw');
    await prefill(join(dir, 'data', 'buffer'), drainCount);
    const port = await freePort();
    let acker: Awaited<ReturnType<typeof startRawAcker>> | undefined;
    const result = await drain(dir, drainCount, port, () => acker?.count() ?? 0, async () => {
      acker = await startRawAcker(port);
      return () => acker!.close();
    });
    const rate = drainCount / result.seconds;
    rows.push({ name: `MLLP drain to the raw acker (receiver cost ≈ 0), ${fmt(drainCount)} ORU`, value: `${fmt(rate)} ORU/s`, baseline: `${fmt(echo)} msg/s echo`, ratio: `${fmt((rate / echo) * 100, 1)} %`, goal: '≥ 50 %', met: rate / echo >= 0.5 });
    cleanup();
  }

  log(`backlog of ${fmt(BACKLOG)}`);
  {
    const { dir, cleanup } = benchDir('backlog');
    const fillSeconds = await prefill(join(dir, 'data', 'buffer'), BACKLOG, (done) => log(`prefill ${fmt(done)}/${fmt(BACKLOG)}`));
    rows.push({ name: `prefill ${fmt(BACKLOG)} Observations (buffer.append, 4 × 1,000 per batch)`, value: `${fmt(fillSeconds, 1)} s (${fmt(BACKLOG / fillSeconds)} /s)` });
    const port = await freePort();
    let acker: Awaited<ReturnType<typeof startRawAcker>> | undefined;
    const result = await drain(dir, BACKLOG, port, () => acker?.count() ?? 0, async () => {
      acker = await startRawAcker(port);
      return () => acker!.close();
    });
    rows.push({ name: `RSS of the gateway process with ${fmt(BACKLOG)} readings buffered (idle, receiver down)`, value: `${fmt(result.idleRss / 1024 ** 2, 1)} MB`, goal: '≤ 120 MB', met: result.idleRss <= 120 * 1024 ** 2 });
    rows.push({ name: `drain a ${fmt(BACKLOG)}-reading backlog over MLLP (raw acker)`, value: `${fmt(result.seconds, 1)} s (${fmt(BACKLOG / result.seconds)} ORU/s), peak RSS ${fmt(result.peakRss / 1024 ** 2, 1)} MB`, goal: '≤ 300 s', met: result.seconds <= 300 });
    cleanup();
  }

  const doc = `# Benchmarks

## The spine: kiosk → buffer → MLLP

Latest run of \`npm run bench\` (\`bench/run-all.ts\`) on ${new Date().toISOString().slice(0, 10)}.

Machine: ${machine()}.

Each figure stands beside the ceiling measured in the same run: the raw synced LevelDB batch for the
buffer, the raw MLLP echo (one frame in flight over loopback) for delivery. Goals come from the spine's
issue; they are reported here, never asserted in tests.

${table(rows)}

Notes:
${notes.map((n) => `- ${n}`).join('\n')}
- The gateway under HTTP load and in the drains is a child process (\`gw start\`, compiled with \`GW_RUNTIME=dist\` and \`NODE_OPTIONS=${DEPLOYED_NODE_OPTIONS}\` as the Balena image runs it); autocannon, the receivers and the
  raw echo run in the bench process, so both share this machine's 2 cores.
- Reproduce: \`npm run bench\` (set \`BENCH_BACKLOG\` for a smaller backlog, \`BENCH_DIR\` for the disk to use).
`;
  // The BLE decoders are pure and take seconds: measured in this run (bench/ble-decode.ts).
  log('BLE GATT decoders');
  writeFileSync(join(ROOT, 'docs/benchmarks-ble.md'), runBleDecodeBench(log));
  // The cloud FHIR drain (bench/fhir-drain.ts, ≈6 min with its 10^6 memory run).
  log('cloud FHIR drain');
  await runFhirDrainBench();
  // The transports' own benchmarks (bench/mqtt.ts, bench/serial.ts) keep their latest tables beside this
  // one; docs/benchmarks.md carries them too, so one page has every figure.
  const transports = ['benchmarks-mqtt.md', 'benchmarks-serial.md', 'benchmarks-ble.md', 'benchmarks-fhir.md', 'benchmarks-fhir-backlog.md', 'benchmarks-mllp.md']
    .map((name) => {
      try {
        return `\n${readFileSync(join(ROOT, 'docs', name), 'utf8').replace(/^(#+) /gm, '#$1 ')}`;
      } catch {
        return '';
      }
    })
    .join('');
  writeFileSync(join(ROOT, 'docs/benchmarks.md'), `${doc}${transports}`);
  process.stdout.write(`${table(rows)}\n`);
}

await main();
