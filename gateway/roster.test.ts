import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAdt, type AdtMessage } from '../ehr-bridge/hl7v2/adt-parser.ts';
import { buildOruR01 } from '../ehr-bridge/hl7v2/oru-r01.ts';
import { heartRate } from '../ehr-bridge/hl7v2/fixtures.ts';
import { MemoryBuffer, MemoryBufferStore } from './buffer/memory-buffer.ts';
import { createMemoryLogger } from './logger.ts';
import { resolvePatient } from './roster-match.ts';
import { PatientRoster } from './roster.ts';
import type { Reading } from './types.ts';

const KEY = Buffer.alloc(32, 7);
let n = 0;

function message(event: string, pid: string, extra: string[] = []): AdtMessage {
  const parsed = parseAdt([`MSH|^~\\&|EHR|H|GW|C|20261123||ADT^${event}|C${++n}|P|2.5.1`, pid, ...extra].join('\r'));
  assert.ok(parsed.ok, 'fixture parses');
  return parsed.value;
}

async function roster(store = new MemoryBufferStore(), required = false): Promise<{ roster: PatientRoster; buffer: MemoryBuffer; store: MemoryBufferStore }> {
  const buffer = new MemoryBuffer({ destinations: [] }, undefined, store);
  await buffer.open();
  const r = new PatientRoster({ buffer, bufferKey: KEY, defaultSystem: 'urn:local', required, logger: createMemoryLogger().logger });
  await r.load();
  return { roster: r, buffer, store };
}

const reading = (extra: Partial<Reading>): Reading => ({
  deviceId: 'k1',
  profileId: 'kiosk',
  transport: 'kiosk',
  components: [{ metric: 'heart-rate', value: 70, unit: '/min' }],
  receivedAt: '2026-11-23T10:00:00Z',
  ...extra,
});

describe('patient roster', () => {
  it('an A08 with empty fields keeps what the roster knew, and the roster comes back after a restart', async () => {
    const { roster: r, store, buffer } = await roster();
    assert.deepEqual(await r.apply(message('A04', 'PID|1||M1^^^H&1.2&ISO^MR||Doe^Jane||19700101|F|||||555-0100')), { ok: true });
    await r.apply(message('A08', 'PID|1||M1^^^H&1.2&ISO^MR||Doe^Janet'));
    const p = r.lookup({ mrn: 'M1', system: 'urn:oid:1.2' });
    assert.deepEqual([p?.name?.given, p?.birthDate, p?.sex, p?.phone], ['Janet', '1970-01-01', 'F', '555-0100']);
    // Keys hold no PHI: neither the MRN nor the name appears in a state key.
    const keys = (await buffer.state.entries('roster/')).map(([k]) => k).join(' ');
    assert.doesNotMatch(keys, /M1|Doe|Jan/);
    const again = await roster(store);
    assert.equal(again.roster.lookup({ mrn: 'M1', system: 'urn:oid:1.2' })?.name?.given, 'Janet');
    assert.equal(again.roster.match({ name: { family: 'doe', given: 'JANET' }, birthDate: '1970-01-01' }).kind, 'matched');
  });

  it('matching is exact after case, whitespace and diacritics; a given phone must agree; two candidates are ambiguous', async () => {
    const { roster: r } = await roster();
    await r.apply(message('A04', 'PID|1||A1^^^^MR||Müller^José  Luis||19801231|M|||||+1 (555) 123-4567'));
    await r.apply(message('A04', 'PID|1||A2^^^^MR||Muller^Jose Luis||19801231|M'));
    const d = { name: { family: 'MULLER', given: ' jose luis ' }, birthDate: '1980-12-31' };
    assert.deepEqual(r.match(d), { kind: 'ambiguous', candidates: 2 });
    const byPhone = r.match({ ...d, phone: '555.123.4567' });
    assert.equal(byPhone.kind === 'matched' ? byPhone.patient.mrn : byPhone.kind, 'A1');
    assert.equal(r.match({ ...d, phone: '555 000 0000' }).kind, 'unmatched');
    assert.equal(r.match({ ...d, birthDate: '1980-12-30' }).kind, 'unmatched');
    assert.equal(r.match({ name: { family: 'Mull', given: 'Jose Luis' }, birthDate: '1980-12-31' }).kind, 'unmatched');
  });

  it('an A40 turns the old MRN into a pointer: lookups, bindings and matching follow the survivor', async () => {
    const { roster: r } = await roster(new MemoryBufferStore(), true);
    await r.apply(message('A04', 'PID|1||OLD^^^H^MR||Roe^Rick||19500101'));
    const merged = await r.apply(message('A40', 'PID|1||NEW^^^H^MR||Roe^Rick||19500101', ['MRG|OLD^^^H^MR']));
    assert.deepEqual(merged, { ok: true });
    assert.equal(r.lookup({ mrn: 'OLD', system: 'H' })?.mrn, 'NEW');
    const viaBinding = resolvePatient(reading({}), { mrn: 'OLD', system: 'H' }, r);
    assert.deepEqual(viaBinding, { kind: 'patient', patient: { mrn: 'NEW', system: 'H' }, via: 'binding' });
    const match = r.match({ name: { family: 'Roe', given: 'Rick' }, birthDate: '1950-01-01' });
    assert.equal(match.kind === 'matched' ? match.patient.mrn : match.kind, 'NEW');
    assert.deepEqual(r.stats(), { patients: 1, merged: 1 });
    // roster.required: an MRN nobody sent is patient-unknown.
    assert.deepEqual(resolvePatient(reading({ patient: { mrn: 'GHOST', system: 'H' } }), undefined, r), { kind: 'quarantine', reason: 'patient-unknown' });
  });

  it('an A40 for an unknown prior MRN is AE 204 and changes nothing', async () => {
    const { roster: r } = await roster();
    const result = await r.apply(message('A40', 'PID|1||NEW^^^H^MR||X^Y', ['MRG|NOPE^^^H^MR']));
    assert.equal(result.ok, false);
    if (!result.ok) assert.deepEqual([result.refusal.ack, result.refusal.error.code], ['AE', '204']);
    assert.equal(r.size, 0);
  });

  it("the ORU^R01 PID carries the roster's MRN, authority, name and birth date, escaped exactly", async () => {
    const { roster: r } = await roster();
    await r.apply(message('A04', "PID|1||ON1^^^HOSP&1.2.3&ISO^MR||O'Neil\\F\\Smith\\S\\Jr^Pat\\T\\Co||19450607|F"));
    const patient = r.lookup({ mrn: 'ON1', system: 'urn:oid:1.2.3' });
    assert.ok(patient);
    const built = buildOruR01(heartRate('7e5700000000000000000000000000000001'), {
      sendingApplication: 'RPM-GW', sendingFacility: 'S', receivingApplication: 'EHR', receivingFacility: 'C', processingId: 'P', patient,
    });
    assert.ok(built.ok);
    const pid = built.value.message.split('\r').find((s) => s.startsWith('PID|'))!;
    assert.equal(pid, "PID|1||ON1^^^HOSP&1.2.3&ISO^MR||O'Neil\\F\\Smith\\S\\Jr^Pat\\T\\Co||19450607|F");
  });
});
