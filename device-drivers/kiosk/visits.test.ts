import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Reading } from '../../gateway/types.ts';
import { VisitStore } from './visits.ts';

function memoryState() {
  const map = new Map<string, unknown>();
  return {
    map,
    get: async (k: string) => map.get(k),
    put: async (k: string, v: unknown) => void map.set(k, structuredClone(v)),
    del: async (k: string) => void map.delete(k),
    entries: async (prefix: string) => [...map].filter(([k]) => k.startsWith(prefix)),
  };
}

const reading = (extra: Partial<Reading> = {}): Reading => ({
  deviceId: 'kiosk-1',
  profileId: 'kiosk',
  transport: 'kiosk',
  components: [{ metric: 'heart-rate', value: 70, unit: '/min' }],
  receivedAt: '2026-11-23T08:00:00.000Z',
  ...extra,
});

describe('kiosk visits', () => {
  it("a reading from a kiosk with an open visit takes the visit's patient and encounter", async () => {
    const store = new VisitStore(memoryState());
    const opened = await store.open({ encounterId: 'ENC-1', deviceId: 'kiosk-1', patient: { mrn: 'M1' } });
    assert.ok(opened.ok);
    const applied = store.applyTo(reading());
    assert.ok(applied.ok);
    assert.deepEqual(applied.value.patient, { mrn: 'M1' });
    assert.equal(applied.value.context?.encounterId, 'ENC-1');
    const other = store.applyTo(reading({ deviceId: 'kiosk-2' }));
    assert.ok(other.ok && other.value.patient === undefined, 'other kiosks are untouched');
  });

  it('a reading naming another encounter or another patient than the open visit is refused', async () => {
    const store = new VisitStore(memoryState());
    await store.open({ encounterId: 'ENC-1', deviceId: 'kiosk-1', patient: { mrn: 'M1' } });
    const enc = store.applyTo(reading({ context: { encounterId: 'ENC-9' } }));
    assert.ok(!enc.ok && enc.issues[0]!.code === 'GW_ERR_VISIT_MISMATCH' && enc.issues[0]!.path === 'encounterId');
    const pat = store.applyTo(reading({ patient: { mrn: 'M2' } }));
    assert.ok(!pat.ok && pat.issues[0]!.path === 'patient');
    assert.doesNotMatch(pat.ok ? '' : pat.issues[0]!.message, /M2|M1/, 'no MRN in the message');
  });

  it('one open visit per kiosk and per encounter; closing frees the kiosk', async () => {
    const store = new VisitStore(memoryState());
    const first = await store.open({ encounterId: 'ENC-1', deviceId: 'kiosk-1', patient: { mrn: 'M1' } });
    const [a, b] = await Promise.all([
      store.open({ encounterId: 'ENC-2', deviceId: 'kiosk-1', patient: { mrn: 'M1' } }),
      store.open({ encounterId: 'ENC-1', deviceId: 'kiosk-2', patient: { mrn: 'M1' } }),
    ]);
    assert.ok(!a.ok && a.issues[0]!.code === 'GW_ERR_VISIT_CONFLICT');
    assert.ok(!b.ok && b.issues[0]!.code === 'GW_ERR_VISIT_CONFLICT');
    assert.ok(first.ok);
    assert.equal((await store.close(first.value.id))?.status, 'closed');
    assert.equal((await store.close(first.value.id))?.status, 'closed', 'closing twice is fine');
    assert.ok((await store.open({ encounterId: 'ENC-2', deviceId: 'kiosk-1', patient: { mrn: 'M1' } })).ok);
  });

  it('open visits come back after a restart from the state store', async () => {
    const state = memoryState();
    const store = new VisitStore(state);
    const opened = await store.open({ encounterId: 'ENC-1', deviceId: 'kiosk-1', patient: { mrn: 'M1', system: 'urn:oid:1' } });
    assert.ok(opened.ok);
    const again = new VisitStore(state);
    await again.load();
    assert.equal(again.openFor('kiosk-1')?.id, opened.value.id);
    assert.deepEqual(again.get(opened.value.id), opened.value);
  });
});
