// An uplink outage in miniature: the FHIR server is down while a backlog of a few thousand readings from six
// patients builds up; when it returns the gateway drains it in order per patient, is SIGKILLed mid-drain,
// restarts, and finishes — with every Observation exactly once at the server. (The 100,000 run is in bench/.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OBSERVATION_ID_SYSTEM } from '../../gateway/fhir/constants.ts';
import { heartRateReading, postReading, spawnGateway, tempDir, waitFor, writeConfigFile } from '../support/harness.ts';
import { spawnFhirServer } from '../support/fhir-server/client.ts';

const PATIENTS = 6;
/** GW_FHIR_BACKLOG_PER_PATIENT=16667 runs the 100,000-Observation backlog (≈3 min; docs/benchmarks-fhir.md). */
const PER_PATIENT = Number(process.env.GW_FHIR_BACKLOG_PER_PATIENT ?? 400);
const LARGE = PER_PATIENT > 1000;
const TOTAL = PATIENTS * PER_PATIENT;

describe('a FHIR server outage loses nothing and duplicates nothing', () => {
  it(`drains a backlog of ${TOTAL.toLocaleString('en-US')} Observations in order per patient, each created once, across a SIGKILL mid-drain`, { timeout: LARGE ? 1_800_000 : 180_000 }, async () => {
    const tmp = tempDir('fhir-backlog');
    const server = await spawnFhirServer({});
    let gateway: ReturnType<typeof spawnGateway> | undefined;
    try {
      await server.kill('SIGKILL'); // the uplink is down from the start; restart() brings it back on the same port
      const configFile = writeConfigFile(tmp.dir, {
        site: { id: 'test-clinic' },
        dataDir: tmp.dir,
        http: { host: '127.0.0.1', port: 0 },
        destinations: [
          // paced (8 Bundles/s of 40; 20 of 100 for the large run) so that the drain is still under way when the gateway is killed
          { id: 'cloud', type: 'fhir', baseUrl: server.baseUrl, batchSize: LARGE ? 100 : 40, concurrency: 2, rateLimitPerSecond: LARGE ? 20 : 8, requestTimeoutMs: 5000 },
        ],
        bindings: Array.from({ length: PATIENTS }, (_, d) => ({ device: `kiosk-${d + 1}`, patient: { mrn: `MRN-${d + 1}`, system: 'urn:oid:1.2.3.4' } })),
        dispatch: { backoffInitialMs: 50, backoffMaxMs: 500, breakerThreshold: 1000, breakerOpenMs: 500 },
        // The kiosks' clocks are trusted (their readings are from this morning), so each Observation's effective
        // time is its measurement time: distinct and increasing per patient, which the order check below reads.
        clock: { skewToleranceSeconds: 400 * 86_400 },
      });
      gateway = spawnGateway(configFile);
      const url = await gateway.url;

      // Each kiosk posts its readings one after another (its own order); the six kiosks post side by side.
      const accepted: string[] = [];
      await Promise.all(
        Array.from({ length: PATIENTS }, async (_, d) => {
          for (let i = 0; i < PER_PATIENT; i++) {
            const res = await postReading(url, heartRateReading(i * PATIENTS + d, { deviceId: `kiosk-${d + 1}` }));
            assert.equal(res.status, 202, JSON.stringify(res.json));
            accepted.push((res.json.observations as Array<{ id: string }>)[0]!.id);
          }
        }),
      );
      assert.equal(new Set(accepted).size, TOTAL);
      const backlog = (await (await fetch(`${url}/v1/status`)).json()) as { destinations: Array<{ id: string; pending: number; link: string }> };
      assert.equal(backlog.destinations[0]!.pending, TOTAL, 'all of them wait for the server');
      assert.notEqual(backlog.destinations[0]!.link, 'connected');

      await server.restart();
      const atKill = await waitFor('a third of the backlog at the server', async () => {
        const n = (await server.control.stats()).stored.Observation ?? 0;
        return n >= TOTAL / 3 && n;
      }, 60_000, 20);
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      assert.ok(atKill < TOTAL, `killed mid-drain (${atKill} of ${TOTAL} delivered)`);

      gateway = spawnGateway(configFile);
      const url2 = await gateway.url;
      await waitFor('every Observation at the server', async () => ((await server.control.stats()).stored.Observation ?? 0) >= TOTAL, LARGE ? 900_000 : 120_000, 100);
      await waitFor('the cursor at the head', async () => {
        const st = (await (await fetch(`${url2}/v1/status`)).json()) as { destinations: Array<{ pending: number }> };
        return st.destinations[0]!.pending === 0;
      });

      assert.deepEqual(await server.control.duplicates('Observation'), [], 'zero duplicates');
      const counts = await server.control.identifierCounts('Observation');
      const ours = counts.filter((c) => c.identifier.startsWith(`${OBSERVATION_ID_SYSTEM}|`));
      assert.equal(ours.length, TOTAL);
      assert.deepEqual(new Set(ours.map((c) => c.identifier.slice(OBSERVATION_ID_SYSTEM.length + 1))), new Set(accepted));

      // In order per patient: each patient's Observations were created in measurement order.
      const order = await server.control.creationOrder('Observation');
      const byPatient = new Map<string, string[]>();
      for (const entry of order) byPatient.set(entry.subject ?? '?', [...(byPatient.get(entry.subject ?? '?') ?? []), entry.effective ?? '']);
      assert.equal(byPatient.size, PATIENTS);
      for (const [patient, times] of byPatient) {
        assert.equal(times.length, PER_PATIENT, patient);
        for (let i = 1; i < times.length; i++) assert.ok(Date.parse(times[i]!) > Date.parse(times[i - 1]!), `${patient}: Observation ${i} created out of order`);
      }
    } finally {
      if (gateway && gateway.child.exitCode === null && gateway.child.signalCode === null) {
        gateway.child.kill('SIGTERM');
        await gateway.exited;
      }
      await server.stop();
      tmp.cleanup();
    }
  });
});
