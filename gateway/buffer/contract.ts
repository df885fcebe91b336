// The storage contract every ObservationBuffer must pass (CONVENTIONS 9, aedes-persistence abstract.js style):
// runBufferContract('leveldb', factory) in one test file, runBufferContract('memory', factory) in another.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '../types.ts';
import type { BufferOptions, ObservationBuffer, QuarantinedReading } from './types.ts';

export interface ContractSubject {
  /** An open buffer over fresh, empty storage. */
  buffer: ObservationBuffer;
  /** A new open buffer over the same storage, after the current one was closed (a restart). */
  reopen?: () => Promise<ObservationBuffer>;
  /** Close whatever is open and remove the storage. */
  cleanup(): Promise<void>;
}

/**
 * The factory must honour `overrides` (merged over the contract's defaults: destinations `ehr` and
 * `fhir`, a large quota, one hour of retention); a factory that takes no argument only runs the
 * tests that need no overrides correctly.
 */
export type ContractFactory = (overrides?: Partial<BufferOptions>) => Promise<ContractSubject>;

export const CONTRACT_DEFAULTS = {
  destinations: ['ehr', 'fhir'],
  quotaBytes: 1 << 30,
  highWaterRatio: 0.9,
  retentionMs: 3600_000,
} as const satisfies Partial<BufferOptions>;

/** A FHIR R4 vital-signs blood pressure Observation carrying a patient MRN (PHI) in its subject. */
export function makeObservation(n: number, mrn = `MRN-${100000 + n}`): Observation {
  return {
    resourceType: 'Observation',
    id: `obs-${n.toString().padStart(8, '0')}`,
    identifier: [{ system: 'urn:ietf:rfc:3986', value: `urn:uuid:00000000-0000-4000-8000-${n.toString().padStart(12, '0')}` }],
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel with all children optional' }] },
    subject: { identifier: { system: 'urn:oid:1.2.36.146.595.217.0.1', value: mrn } },
    effectiveDateTime: '2024-05-01T08:30:00+02:00',
    component: [
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
        valueQuantity: { value: 120 + (n % 40), unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      },
      {
        code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] },
        valueQuantity: { value: 80 + (n % 20), unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
      },
    ],
  };
}

export function makeQuarantined(id: string, deviceId: string): QuarantinedReading {
  return {
    id,
    deviceId,
    reason: 'no patient bound to this device',
    at: '2024-05-01T06:30:00.000Z',
    reading: {
      deviceId,
      profileId: 'omron-bp7000',
      transport: 'ble',
      components: [{ metric: 'bp-systolic', value: 131, unit: 'mmHg' }],
      receivedAt: '2024-05-01T06:30:00.000Z',
    },
  };
}

const stored = (seq: bigint, observationId: string) => ({ kind: 'stored', seq, observationId });

export function runBufferContract(name: string, factory: ContractFactory): void {
  describe(`${name} buffer contract`, () => {
    let subject: ContractSubject;
    let buffer: ObservationBuffer;
    const start = async (overrides?: Partial<BufferOptions>): Promise<ObservationBuffer> => {
      await subject?.cleanup();
      subject = await factory(overrides);
      buffer = subject.buffer;
      return buffer;
    };
    beforeEach(async () => {
      subject = await factory();
      buffer = subject.buffer;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    describe('appending and reading', () => {
      it('an appended observation comes back from read with its seq and append time', async () => {
        const before = Date.now();
        const results = await buffer.append([makeObservation(1)]);
        assert.deepEqual(results, [stored(1n, 'obs-00000001')]);
        const entries = await buffer.read(0n, 10);
        assert.equal(entries.length, 1);
        const [entry] = entries;
        assert.equal(entry?.seq, 1n);
        assert.deepEqual(entry?.observation, makeObservation(1));
        assert.ok((entry?.appendedAt ?? 0) >= before && (entry?.appendedAt ?? 0) <= Date.now());
        assert.equal(entry?.only, undefined);
      });

      it('sequence numbers start at 1 and grow with every stored observation', async () => {
        const a = await buffer.append([makeObservation(1), makeObservation(2)]);
        const b = await buffer.append([makeObservation(3)]);
        const seqs = [...a, ...b].map((r) => (r.kind === 'stored' ? r.seq : -1n));
        assert.equal(seqs[0], 1n);
        for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as bigint) > (seqs[i - 1] as bigint));
        assert.equal(buffer.stats().headSeq, seqs.at(-1));
      });

      it('appending the same observation twice stores it once and points at the first copy', async () => {
        const [first] = await buffer.append([makeObservation(7)]);
        const [again] = await buffer.append([makeObservation(7)]);
        assert.equal(first?.kind, 'stored');
        assert.deepEqual(again, { kind: 'duplicate', seq: (first as { seq: bigint }).seq, observationId: 'obs-00000007' });
        assert.equal((await buffer.read(0n, 10)).length, 1);
        assert.equal(buffer.stats().entries, 1);
      });

      it('a retransmit inside one append call is stored once', async () => {
        const results = await buffer.append([makeObservation(1), makeObservation(1), makeObservation(2)]);
        assert.deepEqual(
          results.map((r) => r.kind),
          ['stored', 'duplicate', 'stored'],
        );
        assert.equal((results[1] as { seq: bigint }).seq, (results[0] as { seq: bigint }).seq);
        assert.equal((await buffer.read(0n, 10)).length, 2);
      });

      it('concurrent appends all land and each caller gets its own answer', async () => {
        const calls = Array.from({ length: 50 }, (_, i) => buffer.append([makeObservation(i)]));
        calls.push(buffer.append([makeObservation(3)])); // a retransmit racing its original
        const results = await Promise.all(calls);
        results.slice(0, 50).forEach(([r], i) => {
          assert.equal(r?.kind, 'stored');
          assert.equal((r as { observationId: string }).observationId, makeObservation(i).id);
        });
        assert.equal(results[50]?.[0]?.kind, 'duplicate');
        const entries = await buffer.read(0n, 100);
        assert.equal(entries.length, 50);
        assert.deepEqual(
          entries.map((e) => e.observation.id),
          Array.from({ length: 50 }, (_, i) => makeObservation(i).id),
          'the log keeps call order',
        );
      });

      it('read resumes after a given seq and honours the limit', async () => {
        await buffer.append(Array.from({ length: 10 }, (_, i) => makeObservation(i)));
        const page1 = await buffer.read(0n, 4);
        const page2 = await buffer.read((page1.at(-1) as { seq: bigint }).seq, 4);
        const page3 = await buffer.read((page2.at(-1) as { seq: bigint }).seq, 4);
        assert.deepEqual(
          [...page1, ...page2, ...page3].map((e) => e.observation.id),
          Array.from({ length: 10 }, (_, i) => makeObservation(i).id),
        );
        assert.equal(page3.length, 2);
        assert.deepEqual(await buffer.read(buffer.stats().headSeq, 10), []);
        assert.deepEqual(await buffer.read(0n, 0), []);
      });

      it('an observation without an id is a bug, not a refusal', async () => {
        const { id: _, ...noId } = makeObservation(1);
        await assert.rejects(buffer.append([noId as Observation]), TypeError);
      });

      it('appending nothing answers nothing', async () => {
        assert.deepEqual(await buffer.append([]), []);
      });

      it('lookup says where an observation sits, and nothing for one never seen', async () => {
        await buffer.append([makeObservation(1), makeObservation(2)]);
        assert.equal(await buffer.lookup('obs-00000002'), 2n);
        assert.equal(await buffer.lookup('obs-99999999'), undefined);
      });
    });

    describe('cursors and backlog', () => {
      it('a destination starts at cursor 0 and its cursor only moves forward', async () => {
        assert.equal(buffer.cursor('ehr'), 0n);
        await buffer.append([makeObservation(1), makeObservation(2)]);
        await buffer.commit({ destination: 'ehr', cursor: 2n, deadLetters: [] });
        assert.equal(buffer.cursor('ehr'), 2n);
        await assert.rejects(buffer.commit({ destination: 'ehr', cursor: 1n, deadLetters: [] }), assert.AssertionError);
        assert.equal(buffer.cursor('ehr'), 2n);
      });

      it('a cursor cannot pass the head', async () => {
        await buffer.append([makeObservation(1)]);
        await assert.rejects(buffer.commit({ destination: 'ehr', cursor: 5n, deadLetters: [] }), assert.AssertionError);
      });

      it('an unknown destination is an error, not a silent zero', async () => {
        assert.throws(() => buffer.cursor('nowhere'), { code: 'GW_ERR_NOT_FOUND' });
        await assert.rejects(buffer.commit({ destination: 'nowhere', cursor: 0n, deadLetters: [] }), { code: 'GW_ERR_NOT_FOUND' });
        await assert.rejects(buffer.deadLetters('nowhere'), { code: 'GW_ERR_NOT_FOUND' });
      });

      it('stats show each destination its own backlog, oldest pending time and bytes', async () => {
        const before = Date.now();
        await buffer.append([makeObservation(1), makeObservation(2), makeObservation(3)]);
        let stats = buffer.stats();
        assert.equal(stats.entries, 3);
        for (const d of stats.destinations) {
          assert.equal(d.pending, 3);
          assert.ok((d.oldestPendingAt ?? 0) >= before);
          assert.ok(d.pendingBytes > 0);
        }
        await buffer.commit({ destination: 'ehr', cursor: 3n, deadLetters: [] });
        stats = buffer.stats();
        const ehr = stats.destinations.find((d) => d.destination === 'ehr');
        const fhir = stats.destinations.find((d) => d.destination === 'fhir');
        assert.deepEqual({ cursor: ehr?.cursor, pending: ehr?.pending, bytes: ehr?.pendingBytes, oldest: ehr?.oldestPendingAt }, { cursor: 3n, pending: 0, bytes: 0, oldest: undefined });
        assert.equal(fhir?.pending, 3);
        assert.equal(stats.entries, 3, 'a delivered entry stays until compaction');
        assert.equal(stats.intakeRefused, false);
      });
    });

    describe('dead letters', () => {
      it('a rejected observation becomes a dead letter with its code and reason', async () => {
        await buffer.append([makeObservation(1), makeObservation(2), makeObservation(3)]);
        await buffer.commit({
          destination: 'ehr',
          cursor: 3n,
          deadLetters: [{ seq: 2n, observation: makeObservation(2), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR: unknown patient' }],
        });
        const letters = await buffer.deadLetters('ehr');
        assert.equal(letters.length, 1);
        const [letter] = letters;
        assert.equal(letter?.destination, 'ehr');
        assert.equal(letter?.seq, 2n);
        assert.equal(letter?.observationId, 'obs-00000002');
        assert.equal(letter?.code, 'GW_ERR_MLLP_ACK_REJECT');
        assert.equal(letter?.reason, 'AR: unknown patient');
        assert.ok(!Number.isNaN(Date.parse(letter?.at ?? '')));
        assert.deepEqual(letter?.observation, makeObservation(2));
        assert.deepEqual(await buffer.deadLetters('fhir'), []);
        assert.equal(buffer.stats().destinations.find((d) => d.destination === 'ehr')?.deadLetters, 1);
      });

      it('a dead letter must lie between the old and the new cursor', async () => {
        await buffer.append([makeObservation(1), makeObservation(2)]);
        await buffer.commit({ destination: 'ehr', cursor: 1n, deadLetters: [] });
        await assert.rejects(
          buffer.commit({ destination: 'ehr', cursor: 2n, deadLetters: [{ seq: 1n, observation: makeObservation(1), code: 'X', reason: 'y' }] }),
          assert.AssertionError,
        );
      });

      it('replaying dead letters puts them at the end of the log for that destination only', async () => {
        await buffer.append([makeObservation(1), makeObservation(2)]);
        await buffer.commit({
          destination: 'ehr',
          cursor: 2n,
          deadLetters: [{ seq: 1n, observation: makeObservation(1), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' }],
        });
        const head = buffer.stats().headSeq;
        assert.equal(await buffer.replayDeadLetters('ehr'), 1);
        assert.deepEqual(await buffer.deadLetters('ehr'), []);
        const [replayed, ...rest] = await buffer.read(buffer.cursor('ehr'), 10);
        assert.equal(rest.length, 0);
        assert.ok((replayed?.seq ?? 0n) > head);
        assert.deepEqual(replayed?.only, ['ehr']);
        assert.deepEqual(replayed?.observation, makeObservation(1));
        assert.equal(await buffer.lookup('obs-00000001'), replayed?.seq, 'dedupe follows the replayed copy');
        const [dup] = await buffer.append([makeObservation(1)]);
        assert.deepEqual(dup, { kind: 'duplicate', seq: replayed?.seq, observationId: 'obs-00000001' });
        assert.equal(buffer.stats().destinations.find((d) => d.destination === 'ehr')?.deadLetters, 0);
      });

      it('replaying chosen seqs leaves the other dead letters in place', async () => {
        await buffer.append([makeObservation(1), makeObservation(2), makeObservation(3)]);
        await buffer.commit({
          destination: 'fhir',
          cursor: 3n,
          deadLetters: [1n, 2n, 3n].map((seq) => ({ seq, observation: makeObservation(Number(seq)), code: 'GW_ERR_PROFILE_INVALID', reason: '422' })),
        });
        assert.equal(await buffer.replayDeadLetters('fhir', [2n, 99n]), 1);
        assert.deepEqual(
          (await buffer.deadLetters('fhir')).map((l) => l.seq),
          [1n, 3n],
        );
        assert.equal((await buffer.deadLetters('fhir', 1)).length, 1);
        assert.equal(await buffer.replayDeadLetters('fhir', [2n]), 0, 'a letter is replayed once');
      });

      it('discarding chosen dead letters removes them from the dead-letter store and keeps the log entry', async () => {
        await buffer.append([makeObservation(1), makeObservation(2), makeObservation(3)]);
        await buffer.commit({
          destination: 'ehr',
          cursor: 3n,
          deadLetters: [1n, 2n].map((seq) => ({ seq, observation: makeObservation(Number(seq)), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' })),
        });
        const [d1, d2] = await Promise.all([buffer.discardDeadLetters('ehr', [1n, 99n]), buffer.discardDeadLetters('ehr', [1n])]);
        assert.equal(d1 + d2, 1, 'a letter is discarded once');
        assert.deepEqual((await buffer.deadLetters('ehr')).map((l) => l.seq), [2n]);
        assert.equal(buffer.stats().destinations.find((d) => d.destination === 'ehr')?.deadLetters, 1);
        assert.equal(await buffer.lookup('obs-00000001'), 1n, 'the Observation stays in the log until retention');
        assert.equal(await buffer.replayDeadLetters('ehr', [1n]), 0, 'a discarded letter cannot be replayed');
        assert.equal(await buffer.discardDeadLetters('ehr', []), 0);
      });

      it('two operators replaying at the same time replay each letter once', async () => {
        await buffer.append([makeObservation(1), makeObservation(2)]);
        await buffer.commit({
          destination: 'ehr',
          cursor: 2n,
          deadLetters: [1n, 2n].map((seq) => ({ seq, observation: makeObservation(Number(seq)), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' })),
        });
        const counts = await Promise.all([buffer.replayDeadLetters('ehr'), buffer.replayDeadLetters('ehr')]);
        assert.equal(counts[0] + counts[1], 2);
        assert.equal((await buffer.read(2n, 10)).length, 2);
        assert.equal(buffer.stats().destinations.find((d) => d.destination === 'ehr')?.deadLetters, 0);
      });
    });

    describe('quarantine and state', () => {
      it('a quarantined reading can be listed by device and removed', async () => {
        await buffer.quarantine.add(makeQuarantined('q1', 'cuff-1'));
        await buffer.quarantine.add(makeQuarantined('q2', 'scale-9'));
        await buffer.quarantine.add(makeQuarantined('q1', 'cuff-1')); // a retransmit
        assert.equal(buffer.stats().quarantined, 2);
        assert.deepEqual(await buffer.quarantine.list('cuff-1'), [makeQuarantined('q1', 'cuff-1')]);
        assert.equal((await buffer.quarantine.list()).length, 2);
        await buffer.quarantine.remove(['q1', 'unknown']);
        assert.deepEqual((await buffer.quarantine.list()).map((q) => q.id), ['q2']);
        assert.equal(buffer.stats().quarantined, 1);
      });

      it('state values round-trip and list by prefix in key order', async () => {
        await buffer.state.put('binding:dev-2', { patient: 'MRN-2' });
        await buffer.state.put('binding:dev-1', { patient: 'MRN-1' });
        await buffer.state.put('roster:version', 7);
        assert.deepEqual(await buffer.state.get('binding:dev-1'), { patient: 'MRN-1' });
        assert.equal(await buffer.state.get('missing'), undefined);
        assert.deepEqual(await buffer.state.entries('binding:'), [
          ['binding:dev-1', { patient: 'MRN-1' }],
          ['binding:dev-2', { patient: 'MRN-2' }],
        ]);
        await buffer.state.del('binding:dev-1');
        assert.deepEqual((await buffer.state.entries('binding:')).map(([k]) => k), ['binding:dev-2']);
        assert.equal((await buffer.state.entries('')).length, 2);
      });
    });

    describe('compaction', () => {
      it('compaction keeps entries some destination has not passed', async () => {
        await start({ retentionMs: 0 });
        await buffer.append([makeObservation(1), makeObservation(2), makeObservation(3)]);
        await buffer.commit({ destination: 'ehr', cursor: 3n, deadLetters: [] });
        await buffer.commit({ destination: 'fhir', cursor: 1n, deadLetters: [] });
        assert.deepEqual(await buffer.compact(), { deleted: 1 });
        assert.deepEqual((await buffer.read(0n, 10)).map((e) => e.seq), [2n, 3n]);
        assert.equal(buffer.stats().entries, 2);
        assert.equal(buffer.stats().destinations.find((d) => d.destination === 'fhir')?.pending, 2);
      });

      it('delivered entries stay, and still dedupe, until their retention passes', async () => {
        await start({ retentionMs: 3600_000 });
        await buffer.append([makeObservation(1)]);
        await buffer.commit({ destination: 'ehr', cursor: 1n, deadLetters: [] });
        await buffer.commit({ destination: 'fhir', cursor: 1n, deadLetters: [] });
        assert.deepEqual(await buffer.compact(), { deleted: 0 });
        assert.equal((await buffer.append([makeObservation(1)]))[0]?.kind, 'duplicate');
      });

      it('after retention, delivered entries and their dedupe rows are forgotten, and seqs are not reused', async () => {
        await start({ retentionMs: 0 });
        await buffer.append([makeObservation(1), makeObservation(2)]);
        await buffer.commit({ destination: 'ehr', cursor: 2n, deadLetters: [] });
        await buffer.commit({ destination: 'fhir', cursor: 2n, deadLetters: [] });
        assert.deepEqual(await buffer.compact(), { deleted: 2 });
        assert.equal(buffer.stats().entries, 0);
        assert.deepEqual(await buffer.read(0n, 10), []);
        assert.equal(await buffer.lookup('obs-00000001'), undefined);
        const [again] = await buffer.append([makeObservation(1)]);
        assert.equal(again?.kind, 'stored');
        assert.ok((again as { seq: bigint }).seq > 2n, 'a compacted seq is never handed out again');
        assert.deepEqual((await buffer.read(2n, 10)).map((e) => e.observation.id), ['obs-00000001']);
      });

      it('with no destinations configured nothing is ever delivered, so nothing is compacted', async () => {
        await start({ destinations: [], retentionMs: 0 });
        await buffer.append([makeObservation(1)]);
        assert.deepEqual(await buffer.compact(), { deleted: 0 });
        assert.equal(buffer.stats().entries, 1);
        assert.deepEqual(buffer.stats().destinations, []);
      });
    });

    describe('lifecycle', () => {
      it('a closed buffer refuses appends with GW_ERR_BUFFER_CLOSED, and closing twice is fine', async () => {
        await buffer.close();
        await buffer.close();
        await assert.rejects(buffer.append([makeObservation(1)]), { code: 'GW_ERR_BUFFER_CLOSED' });
        await assert.rejects(buffer.read(0n, 1), { code: 'GW_ERR_BUFFER_CLOSED' });
      });

      it('close waits for appends already accepted', async () => {
        const pending = buffer.append([makeObservation(1)]);
        const closed = buffer.close();
        assert.equal((await pending)[0]?.kind, 'stored');
        await closed;
      });

      it('cursors, head, dedupe, dead letters, quarantine and state survive a restart', async (t) => {
        if (subject.reopen === undefined) return t.skip('this buffer cannot be reopened');
        await buffer.append([makeObservation(1), makeObservation(2), makeObservation(3)]);
        await buffer.commit({
          destination: 'ehr',
          cursor: 2n,
          deadLetters: [{ seq: 2n, observation: makeObservation(2), code: 'GW_ERR_MLLP_ACK_REJECT', reason: 'AR' }],
        });
        await buffer.quarantine.add(makeQuarantined('q1', 'cuff-1'));
        await buffer.state.put('binding:dev-1', { patient: 'MRN-1' });
        const before = buffer.stats();
        await buffer.close();
        buffer = await subject.reopen();
        const after = buffer.stats();
        assert.equal(after.headSeq, before.headSeq);
        assert.equal(after.entries, 3);
        assert.deepEqual(after.destinations, before.destinations);
        assert.equal(after.quarantined, 1);
        assert.equal(buffer.cursor('ehr'), 2n);
        assert.equal(buffer.cursor('fhir'), 0n);
        assert.equal((await buffer.append([makeObservation(3)]))[0]?.kind, 'duplicate');
        assert.deepEqual((await buffer.deadLetters('ehr')).map((l) => l.seq), [2n]);
        assert.equal((await buffer.quarantine.list()).length, 1);
        assert.deepEqual(await buffer.state.get('binding:dev-1'), { patient: 'MRN-1' });
        const [next] = await buffer.append([makeObservation(4)]);
        assert.ok((next as { seq: bigint }).seq > before.headSeq);
      });
    });
  });
}
