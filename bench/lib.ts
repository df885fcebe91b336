// Shared bench plumbing: machine description, percentiles, a temp dir, and the results table.
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LevelDbBuffer } from '../gateway/buffer/leveldb-buffer.ts';
import { createLogger } from '../gateway/logger.ts';
import { normalize } from '../gateway/normalize.ts';
import type { Observation, Reading } from '../gateway/types.ts';

export interface BenchRow {
  name: string;
  value: string;
  /** The ceiling measured in the same run, and our figure's ratio to it. */
  baseline?: string;
  ratio?: string;
  goal?: string;
  met?: boolean;
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  return `${cpus().length} × ${cpu.trim()}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function benchDir(name: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), `rpm-bench-${name}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const BENCH_KEY = Buffer.alloc(32, 7);

export const BENCH_CONTEXT = {
  siteId: 'bench',
  bindingFor: () => ({ mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' }),
  clockSkewToleranceMs: 300_000,
  defaultPatientSystem: 'urn:rpm-gateway:mrn',
};

const BASE_TIME = Date.UTC(2026, 0, 1);

/** The n-th distinct heart-rate reading, as the kiosk would send it. */
export function benchReading(n: number): Reading {
  const t = new Date(BASE_TIME + n * 1000).toISOString();
  return {
    deviceId: 'kiosk-1',
    profileId: 'kiosk',
    transport: 'kiosk',
    components: [{ metric: 'heart-rate', value: 50 + (n % 100), unit: '/min' }],
    deviceTime: t,
    receivedAt: t,
  };
}

export function benchKioskBody(n: number): string {
  return JSON.stringify({ deviceId: 'kiosk-1', measuredAt: new Date(BASE_TIME + n * 1000).toISOString(), components: [{ metric: 'heart-rate', value: 50 + (n % 100), unit: '/min' }] });
}

/** A realistic Observation for the n-th reading (normalized for real). */
export function benchObservation(n: number): Observation {
  const outcome = normalize(benchReading(n), BENCH_CONTEXT);
  if (outcome.kind !== 'observations') throw new Error(`bench reading did not normalize: ${JSON.stringify(outcome)}`);
  return outcome.observations[0]!;
}

export function table(rows: BenchRow[]): string {
  const lines = ['| measure | result | baseline (same run) | ratio | goal | met |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.value} | ${r.baseline ?? '—'} | ${r.ratio ?? '—'} | ${r.goal ?? '—'} | ${r.met === undefined ? '—' : r.met ? 'yes' : 'no'} |`);
  }
  return lines.join('\n');
}

/** The V8 settings the Balena image runs with (deploy/balena/Dockerfile.template): a small young generation. */
export const DEPLOYED_NODE_OPTIONS = '--max-semi-space-size=4';

export function openBenchBuffer(dir: string, destinations: string[] = ['ehr']): LevelDbBuffer {
  return new LevelDbBuffer(
    { dir, key: BENCH_KEY, destinations, quotaBytes: 64 * 1024 ** 3, highWaterRatio: 0.95, retentionMs: 7 * 24 * 3600_000 },
    createLogger('silent'),
  );
}

/** Fill a buffer with `total` realistic Observations: 4 concurrent appends of 1,000. Returns seconds taken. */
export async function prefill(dir: string, total: number, progress: (done: number) => void = () => undefined): Promise<number> {
  const buffer = openBenchBuffer(dir);
  await buffer.open();
  const started = performance.now();
  const chunk = 1000;
  for (let base = 0; base < total; base += chunk * 4) {
    await Promise.all(
      [0, 1, 2, 3].map(async (k) => {
        const from = base + k * chunk;
        if (from >= total) return;
        await buffer.append(Array.from({ length: Math.min(chunk, total - from) }, (_, i) => benchObservation(from + i)));
      }),
    );
    if (base % 100_000 === 0 && base > 0) progress(base);
  }
  const seconds = (performance.now() - started) / 1000;
  await buffer.close();
  return seconds;
}
