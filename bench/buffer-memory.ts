// Memory of the LevelDB buffer holding a large backlog: what opening it costs (time, RSS, heap) and what
// draining it the way dispatch does (read 100, commit, repeat) costs at peak, against the same child
// process over an empty buffer.
//
//   node --import tsx --expose-gc bench/buffer-memory.ts        (BENCH_ENTRIES=1000000 by default)
//
// The fill runs in this process; every measurement runs in a FRESH child (`node --max-semi-space-size=4`
// as the Balena image runs it, importing the buffer through tsx), so nothing from the fill is counted.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEPLOYED_NODE_OPTIONS, benchDir, fmt, machine, openBenchBuffer, prefill } from './lib.ts';

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 1_000_000);
const READ_BATCH = 100;
const log = (msg: string): void => void process.stderr.write(`[buffer-memory] ${msg}\n`);
const MB = 1024 ** 2;

/** RSS split as the kernel counts it: anonymous memory (heap, malloc) and mapped file pages (LevelDB mmaps its tables). */
function rssParts(): { anon: number; file: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}


interface ChildResult {
  entries: number;
  startRss: number;
  openMs: number;
  openRss: number;
  openHeapUsed: number;
  openExternal: number;
  openAnon: number;
  openFile: number;
  peakAnon: number;
  peakFile: number;
  read: number;
  readMs: number;
  peakRss: number;
  peakHeapUsed: number;
  endRss: number;
  endHeapUsed: number;
}

/** Child: open, measure, then read everything in batches of 100 with a commit per batch, as dispatch does. */
async function child(dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  gc();
  const startRss = process.memoryUsage.rss();
  const buffer = openBenchBuffer(dir);
  const t0 = performance.now();
  await buffer.open();
  const openMs = performance.now() - t0;
  gc();
  await new Promise((r) => setTimeout(r, 100));
  gc();
  const afterOpen = process.memoryUsage();
  const openParts = rssParts();
  const entries = buffer.stats().entries;

  let peakRss = afterOpen.rss;
  let peakHeapUsed = afterOpen.heapUsed;
  let { anon: peakAnon, file: peakFile } = openParts;
  let cursor = buffer.cursor('ehr');
  let read = 0;
  const t1 = performance.now();
  for (;;) {
    const batch = await buffer.read(cursor, READ_BATCH);
    if (batch.length === 0) break;
    read += batch.length;
    cursor = (batch.at(-1) as { seq: bigint }).seq;
    await buffer.commit({ destination: 'ehr', cursor, deadLetters: [] });
    if (read % 1000 === 0) {
      const m = process.memoryUsage();
      if (m.rss > peakRss) peakRss = m.rss;
      if (m.heapUsed > peakHeapUsed) peakHeapUsed = m.heapUsed;
      const parts = rssParts();
      if (parts.anon > peakAnon) peakAnon = parts.anon;
      if (parts.file > peakFile) peakFile = parts.file;
    }
  }
  const readMs = performance.now() - t1;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  gc();
  const end = process.memoryUsage();
  await buffer.close();
  const result: ChildResult = {
    entries,
    startRss,
    openMs,
    openRss: afterOpen.rss,
    openHeapUsed: afterOpen.heapUsed,
    openExternal: afterOpen.external,
    openAnon: openParts.anon,
    openFile: openParts.file,
    peakAnon,
    peakFile,
    read,
    readMs,
    peakRss,
    peakHeapUsed,
    endRss: end.rss,
    endHeapUsed: end.heapUsed,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}


function runChild(dir: string): Promise<ChildResult> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [DEPLOYED_NODE_OPTIONS, '--expose-gc', '--import', 'tsx', script, '--child', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('error', reject);
    proc.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`child exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').at(-1) as string) as ChildResult);
    });
  });
}

async function main(): Promise<void> {
  log(`machine: ${machine()}`);
  const empty = benchDir('buffer-memory-empty');
  const full = benchDir('buffer-memory-full');
  try {
    await prefill(empty.dir, 0);
    log(`filling ${fmt(ENTRIES)} Observations`);
    const fillSeconds = await prefill(full.dir, ENTRIES, (done) => log(`fill ${fmt(done)}/${fmt(ENTRIES)}`));
    log(`filled in ${fmt(fillSeconds, 1)} s`);
    const base = await runChild(empty.dir);
    const big = await runChild(full.dir);
    const mb = (n: number): string => `${fmt(n / MB, 1)} MB`;
    const rows: Array<[string, string, string]> = [
      ['entries after open', fmt(base.entries), fmt(big.entries)],
      ['open time', `${fmt(base.openMs, 0)} ms`, `${fmt(big.openMs, 0)} ms`],
      ['RSS before open', mb(base.startRss), mb(big.startRss)],
      ['RSS after open + gc', mb(base.openRss), mb(big.openRss)],
      ['  of which anonymous / mapped files', `${mb(base.openAnon)} / ${mb(base.openFile)}`, `${mb(big.openAnon)} / ${mb(big.openFile)}`],
      ['heapUsed after open + gc', mb(base.openHeapUsed), mb(big.openHeapUsed)],
      ['external after open + gc', mb(base.openExternal), mb(big.openExternal)],
      [`read + commit in batches of ${READ_BATCH}`, `${fmt(base.read)} in ${fmt(base.readMs, 0)} ms`, `${fmt(big.read)} in ${fmt(big.readMs / 1000, 1)} s (${fmt(big.read / (big.readMs / 1000))} /s)`],
      ['peak RSS while reading', mb(base.peakRss), mb(big.peakRss)],
      ['  peak anonymous / peak mapped files', `${mb(base.peakAnon)} / ${mb(base.peakFile)}`, `${mb(big.peakAnon)} / ${mb(big.peakFile)}`],
      ['peak heapUsed while reading', mb(base.peakHeapUsed), mb(big.peakHeapUsed)],
      ['RSS / heapUsed after reading + gc', `${mb(base.endRss)} / ${mb(base.endHeapUsed)}`, `${mb(big.endRss)} / ${mb(big.endHeapUsed)}`],
    ];
    const lines = [
      `Buffer memory, ${fmt(ENTRIES)} entries (fill ${fmt(fillSeconds, 1)} s), child: node ${DEPLOYED_NODE_OPTIONS} --import tsx`,
      '',
      `| measure | empty buffer (baseline) | ${fmt(ENTRIES)} entries |`,
      '| --- | --- | --- |',
      ...rows.map(([name, a, b]) => `| ${name} | ${a} | ${b} |`),
      '',
      `buffer's share after open: ${mb(big.openRss - base.openRss)} RSS; while reading: ${mb(big.peakRss - base.peakRss)} peak RSS`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    empty.cleanup();
    full.cleanup();
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] as string);
else await main();
