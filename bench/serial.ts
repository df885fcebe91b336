// Serial benchmarks: frames/s per framer (and framer + record decode), beside a raw Buffer.indexOf scan
// of the same bytes (the ceiling); and end to end from wire bytes to durable (framer → decode → normalize
// → LevelDB synced group commit), beside the intake of the same readings without framing.
// `node --import tsx bench/serial.ts` (≈1 min); writes docs/benchmarks-serial.md.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeRecord } from '../device-drivers/serial/decode-record.ts';
import { encodeFixed } from '../device-drivers/serial/framers/fixed.ts';
import { createFramer } from '../device-drivers/serial/framers/index.ts';
import { encodeStxEtx } from '../device-drivers/serial/framers/stx-etx.ts';
import { LevelDbBuffer } from '../gateway/buffer/leveldb-buffer.ts';
import { Intake } from '../gateway/ingest.ts';
import { createLogger } from '../gateway/logger.ts';
import { loadProfileSet } from '../gateway/profiles/registry.ts';
import type { SerialFirmwareProfile } from '../gateway/profiles/schema.ts';
import type { Reading } from '../gateway/types.ts';
import { BENCH_CONTEXT, BENCH_KEY, benchDir, fmt, machine, table, type BenchRow } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const FRAMES = Number(process.env.BENCH_SERIAL_FRAMES ?? 200_000);
const DURABLE = Number(process.env.BENCH_SERIAL_DURABLE ?? 20_000);
const CHUNK = 64; // a USB-serial adapter delivers small reads (FTDI: 64-byte packets)
const silent = createLogger('silent');
const rows: BenchRow[] = [];
const log = (msg: string): void => void process.stderr.write(`[bench:serial] ${msg}\n`);

const profiles = loadProfileSet(join(ROOT, 'firmware-profiles')).profiles;
const profile = (id: string): SerialFirmwareProfile => profiles.get(id)!.profile as SerialFirmwareProfile;

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
/** The n-th frame of each profile: distinct device times, so each becomes its own Observation. */
const makers: Record<string, (n: number) => Buffer> = {
  'masimo-rad8-ascii1': (n) => {
    const s = n % 86400;
    return Buffer.from(`11/${pad(1 + ((n / 86400) | 0) % 28)}/26 ${pad((s / 3600) | 0)}:${pad(((s / 60) | 0) % 60)}:${pad(s % 60)} SN=0000056661 SPO2=0${90 + (n % 10)}% BPM=0${60 + (n % 40)} PI=03.60% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n`);
  },
  'spot-check-vitals-stx': (n) => {
    const s = n % 86400;
    const text = `SYS=${100 + (n % 60)},DIA=${60 + (n % 30)},PR=${60 + (n % 40)},SPO2=${90 + (n % 10)},TEMP=36.${n % 10},TU=C,TIME=2026-${pad(1 + (((n / 86400) | 0) % 12))}-01 ${pad((s / 3600) | 0)}:${pad(((s / 60) | 0) % 60)}:${pad(s % 60)}`;
    return encodeStxEtx(Buffer.from(text), { checksum: 'sum8', checksumEncoding: 'ascii-hex', checksumCovers: 'payload-etx' });
  },
  'bp-binary-fw1': (n) => {
    const b = Buffer.alloc(14);
    b[0] = 1;
    b.writeUInt16BE(1000 + (n % 600), 2);
    b.writeUInt16BE(600 + (n % 300), 4);
    b.writeUInt16BE(800 + (n % 300), 6);
    b[8] = 60 + (n % 40);
    const bcd = (v: number): number => ((v / 10) | 0) * 16 + (v % 10);
    const m = n % (60 * 24 * 28);
    [26, 1 + (((n / (60 * 24 * 28)) | 0) % 12), 1 + ((m / 1440) | 0), ((m / 60) | 0) % 24, m % 60].forEach((v, i) => (b[9 + i] = bcd(v)));
    return encodeFixed(b, { sync: Buffer.from([0xfa, 0x5a]), length: 18, checksum: 'crc16-ccitt-false', checksumFrom: 2 });
  },
};

function stream(id: string, count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, (_, n) => makers[id]!(n)));
}

function chunks(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += CHUNK) out.push(bytes.subarray(i, i + CHUNK));
  return out;
}

/** The ceiling: scanning the same chunks for the frame start/end byte, nothing else. */
function rawScan(parts: Buffer[], byte: number): number {
  const started = performance.now();
  let found = 0;
  for (let round = 0; round < 5; round++) {
    for (const p of parts) for (let i = p.indexOf(byte); i >= 0; i = p.indexOf(byte, i + 1)) found++;
  }
  if (found === 0) throw new Error('scan found nothing');
  return (5 * FRAMES) / ((performance.now() - started) / 1000);
}

function framerRate(id: string, parts: Buffer[], decode: boolean): number {
  const p = profile(id);
  const framer = createFramer(p.framing);
  let frames = 0;
  const started = performance.now();
  for (const part of parts) {
    for (const e of framer.push(part)) {
      if (e.kind !== 'frame') throw new Error(`${id}: ${e.issue.message}`);
      if (decode) {
        const d = decodeRecord(p, e.payload);
        if (!d.ok || d.value.kind !== 'reading') throw new Error(`${id}: ${JSON.stringify(d)}`);
      }
      frames++;
    }
  }
  if (frames !== FRAMES) throw new Error(`${id}: ${frames} frames of ${FRAMES}`);
  return frames / ((performance.now() - started) / 1000);
}

/** Wire bytes → durable, `ports` devices streaming at once (each port strictly in order, as the driver does). */
async function endToEnd(id: 'spot-check-vitals-stx', ports: number, framed: boolean): Promise<number> {
  const { dir, cleanup } = benchDir('serial');
  const buffer = new LevelDbBuffer({ dir, key: BENCH_KEY, destinations: ['ehr'], quotaBytes: 64 * 1024 ** 3, highWaterRatio: 0.95, retentionMs: 7 * 24 * 3600_000 }, silent);
  await buffer.open();
  const intake = new Intake({ buffer, logger: silent, normalizeContext: BENCH_CONTEXT });
  const p = profile(id);
  const perPort = Math.ceil(DURABLE / ports);
  // Pre-decoded readings for the baseline: the same intake work without bytes, framer or decoder.
  const prepared = framed
    ? undefined
    : Array.from({ length: ports }, (_, port) =>
        Array.from({ length: perPort }, (_, n) => {
          const d = decodeRecord(p, makers[id]!(port * perPort + n).subarray(1, -3)); // STX payload ETX cc
          if (!d.ok || d.value.kind !== 'reading') throw new Error('bench frame did not decode');
          return d.value;
        }),
      );
  const started = performance.now();
  await Promise.all(
    Array.from({ length: ports }, async (_, port) => {
      const submit = async (components: Reading['components'], deviceTime: string | undefined, raw?: Buffer): Promise<void> => {
        const reading: Reading = { deviceId: `dev-${port}`, profileId: id, transport: 'serial', components, receivedAt: new Date().toISOString() };
        if (deviceTime) reading.deviceTime = deviceTime;
        if (raw) reading.raw = raw.toString('base64');
        const r = await intake.submit(reading);
        if (!r.durable) throw new Error(`not durable: ${JSON.stringify(r)}`);
      };
      if (!framed) {
        for (const d of prepared![port]!) if (d.kind === 'reading') await submit(d.components, d.deviceTime);
        return;
      }
      const framer = createFramer(p.framing);
      const bytes = Buffer.concat(Array.from({ length: perPort }, (_, n) => makers[id]!(port * perPort + n)));
      for (const part of chunks(bytes)) {
        for (const e of framer.push(part)) {
          if (e.kind !== 'frame') throw new Error(e.issue.message);
          const d = decodeRecord(p, e.payload);
          if (!d.ok || d.value.kind !== 'reading') throw new Error('decode failed');
          await submit(d.value.components, d.value.deviceTime, e.frame);
        }
      }
    }),
  );
  const rate = (perPort * ports) / ((performance.now() - started) / 1000);
  await buffer.close();
  cleanup();
  return rate;
}

async function main(): Promise<void> {
  const ceilingByte: Record<string, number> = { 'masimo-rad8-ascii1': 0x0a, 'spot-check-vitals-stx': 0x02, 'bp-binary-fw1': 0xfa };
  for (const id of Object.keys(makers)) {
    const parts = chunks(stream(id, FRAMES));
    framerRate(id, parts, true); // warm-up
    const scan = rawScan(parts, ceilingByte[id]!);
    const framing = profile(id).framing;
    const label = `${framing.kind}${framing.kind === 'stx-etx' || framing.kind === 'fixed' ? ` ${framing.checksum}` : ''}`;
    const f = framerRate(id, parts, false);
    const fd = framerRate(id, parts, true);
    log(`${id}: framer ${fmt(f)} frames/s, +decode ${fmt(fd)}, scan ${fmt(scan)}`);
    rows.push({ name: `${id} (${label}): framer only, ${CHUNK}-byte chunks`, value: `${fmt(f)} frames/s`, baseline: `${fmt(scan)} frames/s (indexOf scan)`, ratio: `${fmt((f / scan) * 100, 1)} %` });
    rows.push({ name: `${id}: framer + record decode`, value: `${fmt(fd)} frames/s`, baseline: `${fmt(scan)} frames/s (indexOf scan)`, ratio: `${fmt((fd / scan) * 100, 1)} %` });
  }
  for (const ports of [1, 8]) {
    const id = 'spot-check-vitals-stx' as const;
    const base = await endToEnd(id, ports, false);
    const e2e = await endToEnd(id, ports, true);
    log(`end to end, ${ports} port(s): ${fmt(e2e)} readings/s (intake alone ${fmt(base)})`);
    rows.push({
      name: `wire bytes → durable, ${id}, ${ports} port(s) streaming (5-metric record → 4 Observations)`,
      value: `${fmt(e2e)} readings/s`,
      baseline: `${fmt(base)} readings/s (same readings straight into intake)`,
      ratio: `${fmt((e2e / base) * 100, 1)} %`,
      goal: '≥ 1 reading/s per port (an oximeter streams 1 Hz)',
      met: e2e / ports >= 1,
    });
  }
  const doc = `# Serial benchmarks

Command: \`node --import tsx bench/serial.ts\` (BENCH_SERIAL_FRAMES=${FRAMES}, BENCH_SERIAL_DURABLE=${DURABLE})
Machine: ${machine()}
Date: ${new Date().toISOString()}

${table(rows)}

- Framer rows push ${fmt(FRAMES)} frames of each shipped profile in ${CHUNK}-byte chunks (an FTDI USB-serial
  adapter's packet size). The ceiling is \`Buffer.indexOf\` over the same chunks counting the frame's start or
  end byte: the least work any framer must do.
- End-to-end rows run ${fmt(DURABLE)} spot-check records from wire bytes through framer, decoder, normalize
  (FHIR validation), seal and LevelDB synced group commit, each port strictly in order (the driver waits
  for durability before the next frame's ACK). The baseline submits the same already-decoded readings.
- The two end-to-end runs of one row share the machine's disk; synced-batch latency varies by tens of percent
  between runs, so a ratio above 100 % means "framing and decoding cost nothing measurable", not a speed-up.
- Not measured here: the pty/kernel path (socat adds a copy per hop; a real UART at 115200 baud carries at most
  ~11,500 bytes/s, i.e. ~130 spot-check records/s per port, far below these figures).
`;
  writeFileSync(join(ROOT, 'docs/benchmarks-serial.md'), doc);
  process.stdout.write(`${doc}\n`);
}

await main();
