// BLE GATT decoder benchmark: decodes/s per characteristic (pure functions, one run), beside the ceiling
// measured in the same run: a loop that only touches every byte of the same frames (no fields, no checks).
// `node --import tsx bench/ble-decode.ts` (a few seconds); writes docs/benchmarks-ble.md. run-all.ts runs it too.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DECODERS, decodeCharacteristic, type GattDecodeContext } from '../device-drivers/ble/gatt/index.ts';
import { fmt, machine, table, type BenchRow } from './lib.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const N = Number(process.env.BENCH_BLE_DECODES ?? 200_000);
const ctx: GattDecodeContext = { deviceId: 'ble:bench', profileId: 'ble-standard', receivedAt: '2026-11-23T09:31:00.000Z', deviceUtcOffsetMinutes: 60 };
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));

/** A typical full frame per characteristic (the test vectors in device-drivers/ble/gatt/*.test.ts). */
const FRAMES: ReadonlyArray<[string, string]> = [
  ['2a35', '1E 8000 5200 6100 EA07 0B 17 09 1E 00 4000 01 0400'], // BP: time stamp, pulse, user, status
  ['2a36', '00 8E00 FF07 FF07'], // intermediate cuff pressure (no Reading)
  ['2a37', '1E 55 3200 2100'], // HR: contact, energy, RR
  ['2a1c', '06 B00E00FE EA07 0B 17 09 1E 00 04'], // temperature: time stamp, type
  ['2a9d', '0E 9038 EA07 0B 17 07 05 00 02 EC00 D806'], // weight: time stamp, user, BMI + height
  ['2a9c', 'FE0F EA00 EA07 0B 17 07 05 00 01 6419 9C01 E015 F82A 1027 401F 0314 9038 D806'], // body composition, all fields
  ['2a5e', '0F 6100 4800 EA07 0B 17 09 1E 00 8001 000000 24F0'], // PLX spot check, all fields
  ['2a5f', '1F 6100 4800 6000 4A00 6200 4600 8001 000000 24F0'], // PLX continuous, all fields
  ['2a18', '0B 0700 EA07 0B 17 09 1E 00 0500 5FB0 11 0000'], // glucose: offset, concentration, status
  ['2a34', '46 0700 02 51 2DF1'], // glucose context: meal, tester/health, HbA1c
];

function rate(fn: () => void, n: number): number {
  for (let i = 0; i < Math.min(n, 20_000); i++) fn(); // warm up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn();
  return n / ((performance.now() - t0) / 1000);
}

export function runBleDecodeBench(log: (msg: string) => void = (m) => void process.stderr.write(`[bench:ble] ${m}\n`)): string {
  const rows: BenchRow[] = [];
  let sink = 0;
  for (const [uuid, frameHex] of FRAMES) {
    const bytes = hex(frameHex);
    const name = DECODERS.get(`0000${uuid}-0000-1000-8000-00805f9b34fb`)!.name;
    const check = decodeCharacteristic(uuid, bytes, ctx);
    if (!check.ok) throw new Error(`bench frame for ${uuid} does not decode: ${JSON.stringify(check.issues)}`);
    log(`${name} (${bytes.length} bytes)`);
    const ceiling = rate(() => {
      for (let i = 0; i < bytes.length; i++) sink += bytes[i]!;
    }, N);
    const decodes = rate(() => {
      const r = decodeCharacteristic(uuid, bytes, ctx);
      if (r.ok) sink += r.value.length;
    }, N);
    rows.push({
      name: `0x${uuid.toUpperCase()} ${name} (${bytes.length}-byte value)`,
      value: `${fmt(decodes)} decodes/s`,
      baseline: `${fmt(ceiling)} byte scans/s`,
      ratio: `${fmt((decodes / ceiling) * 100, 1)} %`,
      goal: '≫ 100/s (a hub sees a few values per second)',
      met: decodes > 100,
    });
  }
  if (sink === -1) log('unreachable'); // keeps the loops from being optimized away
  return `# BLE GATT decoder benchmarks

Command: \`node --import tsx bench/ble-decode.ts\` (BENCH_BLE_DECODES=${N})
Machine: ${machine()}
Date: ${new Date().toISOString()}

${table(rows)}

- Each row runs \`decodeCharacteristic\` ${fmt(N)} times on one full frame of that characteristic (every optional
  field its flags allow; the frames are in \`bench/ble-decode.ts\`), producing the Reading(s) and notes. The
  baseline loops over the same bytes adding them up: the least work any decoder must do.
- Normalize, FHIR validation and the buffer are not in these figures (see the spine's rows); a BLE hub receives a
  few values per second per device, so the decoders are never the bottleneck.
`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const doc = runBleDecodeBench();
  writeFileSync(join(ROOT, 'docs/benchmarks-ble.md'), doc);
  process.stdout.write(`${doc}\n`);
}
