// Cloud FHIR drain benchmarks (issue #7): Observations/s drained from a real buffer backlog into the FHIR
// test server process for batch sizes 1, 10, 100 and 500, beside the raw HTTP POST rate of the same server
// (autocannon) in the same run; and the process's memory while a 10^6 backlog drains, with the duplicate
// count at the server (must be 0).
// `node --import tsx --expose-gc bench/fhir-drain.ts` (≈6 min; BENCH_FHIR_MEMORY_N=100000 for a short run);
// writes docs/benchmarks-fhir.md.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { FhirDestination } from '../ehr-bridge/fhir/fhir-destination.ts';
import { parseFhirDestinationConfig } from '../ehr-bridge/fhir/config.ts';
import { DestinationDispatcher } from '../gateway/dispatch.ts';
import { createLogger } from '../gateway/logger.ts';
import { spawnFhirServer, type SpawnedFhirServer } from '../test/support/fhir-server/client.ts';
import { DEPLOYED_NODE_OPTIONS, benchDir, benchObservation, fmt, machine, openBenchBuffer, prefill, table, type BenchRow } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const MEMORY_N = Number(process.env.BENCH_FHIR_MEMORY_N ?? 1_000_000);
const silent = createLogger('silent');
const log = (msg: string): void => void process.stderr.write(`[bench:fhir] ${msg}\n`);
const rows: BenchRow[] = [];
const notes: string[] = [];

/** Drain `total` prefilled Observations into `server` with Bundles of `batchSize`; Observations/s and peak RSS. */
interface DrainResult { rate: number; seconds: number; peakRssMb: number; startRssMb: number }

async function prefilled(total: number, label: string): Promise<{ dir: string; cleanup(): void }> {
  const tmp = benchDir(`fhir-${label}`);
  log(`prefill ${fmt(total)} (${label})`);
  await prefill(tmp.dir, total, (done) => log(`  prefill ${fmt(done)}`));
  return tmp;
}

async function drain(dir: string, baseUrl: string, total: number, batchSize: number, sampleRss = false): Promise<DrainResult> {
  {
    // prefill writes for destination 'ehr'; the FHIR destination takes that id so its cursor starts at 0
    const buffer = openBenchBuffer(dir, ['ehr']);
    await buffer.open();
    const parsed = parseFhirDestinationConfig({ id: 'ehr', type: 'fhir', baseUrl, batchSize, requestTimeoutMs: 60_000 });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const destination = new FhirDestination(parsed.value, { logger: silent });
    const dispatcher = new DestinationDispatcher({
      destination,
      buffer,
      logger: silent,
      options: { batchSize: Math.max(batchSize, 1), backoffInitialMs: 50, backoffMaxMs: 500, breakerThreshold: 1000, breakerOpenMs: 200 },
    });
    global.gc?.();
    const startRss = process.memoryUsage().rss;
    let peakRss = startRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (sampleRss) {
        const pending = buffer.stats().destinations[0]?.pending ?? 0;
        if (pending % 100_000 < 2_000) log(`  pending ${fmt(pending)}, rss ${fmt(process.memoryUsage().rss / 1024 ** 2)} MB`);
      }
    }, 250);
    const started = performance.now();
    dispatcher.start();
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if ((buffer.stats().destinations[0]?.pending ?? 1) === 0) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    await dispatcher.stop();
    await destination.close();
    await buffer.close();
    return { rate: total / seconds, seconds, peakRssMb: peakRss / 1024 ** 2, startRssMb: startRss / 1024 ** 2 };
  }
}

/**
 * The memory run drains in a child process of its own (the deployed V8 settings, nothing else in its heap),
 * so its RSS is the gateway's drain path and not this bench's autocannon and prefill leftovers.
 */
async function drainInChild(dir: string, server: SpawnedFhirServer, total: number): Promise<DrainResult & AtServer> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', new URL(import.meta.url).pathname, '--child', dir, server.baseUrl, String(total)], {
    env: { ...process.env, NODE_OPTIONS: DEPLOYED_NODE_OPTIONS },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`drain child exited ${code}`);
  return { ...(JSON.parse(out.trim().split('\n').pop()!) as DrainResult), ...(await atServer(server)) };
}

interface AtServer { duplicates: number; stored: number }

async function atServer(server: SpawnedFhirServer): Promise<AtServer> {
  return { duplicates: (await server.control.duplicates('Observation')).length, stored: (await server.control.stats()).stored.Observation ?? 0 };
}

/** autocannon against the same server: single Observation POSTs, and 100-entry transaction Bundles. */
async function raw(server: SpawnedFhirServer): Promise<{ postsPerSecond: number; bundleObservationsPerSecond: number }> {
  const one = JSON.stringify(benchObservation(1));
  const single = await autocannon({ url: `${server.baseUrl}/Observation`, method: 'POST', connections: 4, duration: 8, headers: { 'content-type': 'application/fhir+json' }, body: one });
  const bundle = JSON.stringify({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: 100 }, (_, i) => ({ resource: benchObservation(i), request: { method: 'POST', url: 'Observation' } })),
  });
  const bundles = await autocannon({ url: `${server.baseUrl}/`, method: 'POST', connections: 4, duration: 8, headers: { 'content-type': 'application/fhir+json' }, body: bundle });
  if (single.non2xx > 0 || bundles.non2xx > 0) throw new Error(`raw POSTs refused: ${single.non2xx} single, ${bundles.non2xx} bundles`);
  return { postsPerSecond: single.requests.average, bundleObservationsPerSecond: bundles.requests.average * 100 };
}

async function main(): Promise<void> {
  log(machine());
  const server = await spawnFhirServer({ slimStore: true });
  try {
    const baseline = await raw(server);
    log(`raw: ${fmt(baseline.postsPerSecond)} POST/s, ${fmt(baseline.bundleObservationsPerSecond)} Observations/s in 100-entry transactions`);
    for (const [batchSize, total] of [[1, 3_000], [10, 20_000], [100, 50_000], [500, 50_000]] as const) {
      await server.control.reset();
      const tmp = await prefilled(total, `batch-${batchSize}`);
      const r = { ...(await drain(tmp.dir, server.baseUrl, total, batchSize)), ...(await atServer(server)) };
      tmp.cleanup();
      const ceiling = batchSize === 1 ? baseline.postsPerSecond : baseline.bundleObservationsPerSecond;
      log(`batch ${batchSize}: ${fmt(r.rate)} Observations/s (${fmt(r.seconds, 1)} s), ${r.stored} stored, ${r.duplicates} duplicated`);
      rows.push({
        name: `FHIR drain, Bundles of ${batchSize} (${fmt(total)} Observations)`,
        value: `${fmt(r.rate)} Observations/s`,
        baseline: batchSize === 1 ? `${fmt(ceiling)} raw POST/s` : `${fmt(ceiling)} Observations/s raw (Bundles of 100)`,
        ratio: `${fmt((100 * r.rate) / ceiling)}%`,
      });
      if (r.duplicates !== 0 || r.stored !== total) notes.push(`batch ${batchSize}: ${r.stored} stored of ${total}, ${r.duplicates} duplicated identifiers`);
    }
    await server.control.reset();
    const tmp = await prefilled(MEMORY_N, 'memory');
    const m = await drainInChild(tmp.dir, server, MEMORY_N);
    tmp.cleanup();
    rows.push({ name: `FHIR drain of ${fmt(MEMORY_N)} Observations (Bundles of 100): peak RSS of the draining process`, value: `${fmt(m.peakRssMb, 1)} MB (${fmt(m.startRssMb, 1)} MB with the buffer open, before the drain)` });
    rows.push({ name: `… its rate, and duplicates at the server`, value: `${fmt(m.rate)} Observations/s in ${fmt(m.seconds / 60, 1)} min; ${m.duplicates} duplicates, ${fmt(m.stored)} stored` });
    if (m.duplicates !== 0 || m.stored !== MEMORY_N) notes.push(`memory drain: ${m.stored} stored of ${MEMORY_N}, ${m.duplicates} duplicated identifiers`);
  } finally {
    await server.stop();
  }
  const doc = `# Cloud FHIR drain

Latest run of \`node --import tsx --expose-gc bench/fhir-drain.ts\` on ${new Date().toISOString().slice(0, 10)}.

Machine: ${machine()}.

The FHIR server is the test double in \`test/support/fhir-server/\` (its own process, validating every resource
against the R4 definitions, store reduced to identifiers for the 10⁶ run). The drain runs the real buffer
(prefilled, synced LevelDB), dispatch and FHIR destination in the bench process, with conditional creates
(\`ifNoneExist\`) in transaction Bundles; the baseline is autocannon (4 connections, 8 s) POSTing to the same server
in the same run: single Observations for Bundles of 1, 100-entry transaction Bundles of plain creates otherwise.
Both share this machine's 2 cores with the server process. The memory run's draining process runs the TypeScript
through tsx (≈75 MB RSS before any gateway module loads); the deployed image runs compiled JavaScript.

${table(rows)}
${notes.length > 0 ? `\nProblems seen:\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
  writeFileSync(join(ROOT, 'docs/benchmarks-fhir.md'), doc);
  process.stdout.write(`${table(rows)}\n`);
}

if (process.argv[2] === '--child') {
  process.stdout.write(`${JSON.stringify(await drain(process.argv[3]!, process.argv[4]!, Number(process.argv[5]), 100, true))}\n`);
} else if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
export { main as runFhirDrainBench };
