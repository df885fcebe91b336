// Per-patient messages and the HL7 version, end to end against an independent receiver (@medplum/hl7 Hl7Server
// via test/support/harness.ts startReceiver).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { freePort, startReceiver } from '../../test/support/harness.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import type { BufferedObservation, Observation, SendOutcome } from '../../gateway/types.ts';
import { mllpDestinationSchema } from './config.ts';
import { bloodPressure, heartRate } from './fixtures.ts';
import { MllpDestination } from './mllp-destination.ts';

let seq = 0n;
const buffered = (observation: Observation): BufferedObservation => ({ seq: ++seq, observation, appendedAt: Date.now() });

const open: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of open.reverse()) await close();
});

function destinationFor(port: number, overrides: Record<string, unknown>): MllpDestination {
  const config = mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp', host: '127.0.0.1', port, ackTimeoutMs: 2000, connectTimeoutMs: 1000, ...overrides });
  const destination = new MllpDestination(config, { siteId: 'SITE-7', logger: createMemoryLogger().logger });
  open.push(() => destination.close());
  return destination;
}

function withPatient(observation: Observation, mrn: string): Observation {
  return { ...observation, subject: { type: 'Patient', identifier: { system: 'urn:oid:1.2.3.4', value: mrn } } };
}

const kinds = (outcomes: SendOutcome[]): string[] => outcomes.map((o) => (o.kind === 'delivered' ? `delivered:${o.receipt.id}` : `${o.kind}:${o.code}`));

describe('an MLLP destination with messageMode per-patient', () => {
  it('sends consecutive readings of one patient as one ORU^R01 and marks each delivered with the same receipt', async () => {
    const port = await freePort();
    const receiver = await startReceiver(port);
    open.push(() => receiver.stop());
    const destination = destinationFor(port, { messageMode: 'per-patient', hl7Version: '2.6' });
    const batch = [
      withPatient(heartRate('a1000000000000000000000000000001'), 'MRN-A'),
      withPatient(bloodPressure('a1000000000000000000000000000002'), 'MRN-A'),
      withPatient(heartRate('b1000000000000000000000000000003'), 'MRN-B'),
    ].map(buffered);
    const outcomes = await destination.send(batch);
    assert.equal(receiver.messages.length, 2, 'one message for MRN-A, one for MRN-B');
    const [first, second] = receiver.messages;
    assert.equal(first!.pid[3]?.split('^')[0], 'MRN-A');
    assert.equal(first!.text.split('\r').filter((s) => s.startsWith('OBR|')).length, 2);
    assert.equal(first!.obx.length, 3);
    assert.equal(first!.text.split('\r')[0]!.split('|')[11], '2.6');
    assert.equal(second!.pid[3]?.split('^')[0], 'MRN-B');
    assert.deepEqual(kinds(outcomes), [`delivered:${first!.controlId}`, `delivered:${first!.controlId}`, `delivered:${second!.controlId}`]);
  });

  it('retries every reading of a message answered AE, and sends nothing after it', async () => {
    const port = await freePort();
    const receiver = await startReceiver(port, () => 'AE');
    open.push(() => receiver.stop());
    const destination = destinationFor(port, { messageMode: 'per-patient' });
    const batch = [
      withPatient(heartRate('c1000000000000000000000000000001'), 'MRN-A'),
      withPatient(heartRate('c1000000000000000000000000000002'), 'MRN-A'),
      withPatient(heartRate('c1000000000000000000000000000003'), 'MRN-B'),
    ].map(buffered);
    const outcomes = await destination.send(batch);
    assert.equal(receiver.messages.length, 1);
    assert.deepEqual(kinds(outcomes), ['retry:GW_ERR_MLLP_ACK_ERROR', 'retry:GW_ERR_MLLP_ACK_ERROR', 'retry:GW_ERR_MLLP_NOT_SENT']);
  });

  it('rejects a reading that cannot be built and still sends the patient\'s others in one message', async () => {
    const port = await freePort();
    const receiver = await startReceiver(port);
    open.push(() => receiver.stop());
    const destination = destinationFor(port, { messageMode: 'per-patient' });
    const broken = withPatient(heartRate('d1000000000000000000000000000002'), 'MRN-A');
    delete broken.effectiveDateTime;
    const outcomes = await destination.send([withPatient(heartRate('d1000000000000000000000000000001'), 'MRN-A'), broken].map(buffered));
    assert.equal(receiver.messages.length, 1);
    assert.deepEqual(kinds(outcomes), [`delivered:${receiver.messages[0]!.controlId}`, 'rejected:GW_ERR_HL7_BUILD']);
  });
});
