// How fast the FHIR test server can take Observations, so drain benchmarks know whether they measure the
// gateway or this test double:  node --import tsx test/support/fhir-server/measure.ts [n=20000]
// 1) validateFhirResource alone, in this process (one core), with and without the shape cache; 2) transaction Bundles of 100 conditional
// creates POSTed to a server process, with validation on and off (--validate=false, the raw baseline).
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { BP, observationFor } from '../../../ehr-bridge/fhir/fixtures.ts';
import { spawnFhirServer } from './client.ts';
import { loadDefinitions, setValidationCache, validateFhirResource } from './validate.ts';

const n = Number(process.argv[2] ?? 20_000);
const observations: Observation[] = Array.from({ length: n }, (_, i) =>
  observationFor(i, { mrn: `MRN-${i % 50}`, ...(i % 3 === 0 ? { components: BP } : {}) }),
);

loadDefinitions();
for (const cache of [false, true]) {
  setValidationCache(cache);
  const sample = cache ? observations : observations.slice(0, 1000); // uncached is ~300/s
  const started = performance.now();
  for (const o of sample) {
    if (validateFhirResource(o).length > 0) throw new Error('fixture invalid');
  }
  const rate = sample.length / ((performance.now() - started) / 1000);
  console.log(`validateFhirResource, shape cache ${cache ? 'on' : 'off'}: ${Math.round(rate)} Observations/s on one core (${sample.length}, 1/3 bp panels)`);
}
for (const validate of [true, false]) {
  const fhir = await spawnFhirServer({ validate });
  const bundles: Bundle[] = [];
  for (let i = 0; i < n; i += 100) {
    bundles.push({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: observations.slice(i, i + 100).map((o) => ({
        resource: o,
        request: { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${o.identifier![0]!.system}|${o.identifier![0]!.value}` },
      })),
    } as Bundle);
  }
  const started = performance.now();
  for (const b of bundles) {
    const res = await fetch(fhir.baseUrl, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(b) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }
  const rate = n / ((performance.now() - started) / 1000);
  const stats = await fhir.control.stats();
  console.log(`server process, transactions of 100, validate=${validate}: ${Math.round(rate)} Observations/s (stored ${stats.stored.Observation})`);
  await fhir.stop();
}
