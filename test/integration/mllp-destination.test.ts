// The MLLP destination against two independent HL7 receivers on 127.0.0.1:
// @medplum/hl7's Hl7Server (which pins @medplum/core 5.0.10) and node-hl7-server 2.5.0.
import '../../gateway/fhir/websocket-shim.ts'; // @medplum/core reads globalThis.WebSocket on import
import { Hl7Server, type Hl7Connection, type Hl7MessageEvent } from '@medplum/hl7';
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { startNodeHl7Receiver, type NodeHl7Receiver } from '../support/node-hl7-receiver.ts';
import { mllpDestinationSchema } from '../../ehr-bridge/hl7v2/config.ts';
import { bloodPressure, heartRate } from '../../ehr-bridge/hl7v2/fixtures.ts';
import { MllpDestination } from '../../ehr-bridge/hl7v2/mllp-destination.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import type { BufferedObservation, Observation, SendOutcome } from '../../gateway/types.ts';

type MedplumMessage = Hl7MessageEvent['message'];

const HR_ID = '3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d';
const BP_ID = '9a8b7c6d5e4f30211203f4e5d6c7b8a9';
/** A 32-hex Observation id whose first 20 characters (the control id) end in n. */
const ids = (n: number): string => `c0ffee${String(n).padStart(14, '0')}${'0'.repeat(12)}`;
const ctl = (n: number): string => ids(n).slice(0, 20);

let seq = 0n;
function buffered(observation: Observation): BufferedObservation {
  return { seq: ++seq, observation, appendedAt: Date.now() };
}

const open: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of open.reverse()) await close();
});

function destinationFor(port: number, overrides: Record<string, unknown> = {}): MllpDestination {
  const config = mllpDestinationSchema.parse({
    id: 'ehr',
    type: 'mllp',
    host: '127.0.0.1',
    port,
    receivingApplication: 'EHR',
    receivingFacility: 'HOSP',
    ackTimeoutMs: 2000,
    connectTimeoutMs: 1000,
    ...overrides,
  });
  const destination = new MllpDestination(config, { siteId: 'SITE-7', logger: createMemoryLogger().logger });
  open.push(() => destination.close());
  return destination;
}

/** Segments of a received message as arrays of fields (index n = field n, except in MSH). */
function segmentsOf(text: string, name: string): string[][] {
  return text
    .split('\r')
    .filter((s) => s.startsWith(`${name}|`))
    .map((s) => s.split('|'));
}

function obxSummary(text: string): Array<[string, string, string]> {
  // [LOINC code (OBX-3.1), value (OBX-5), UCUM code (OBX-6.1) + coding system (OBX-6.3)]
  return segmentsOf(text, 'OBX').map((f) => {
    const units = (f[6] ?? '').split('^');
    return [(f[3] ?? '').split('^')[0] ?? '', f[5] ?? '', units[0] ? `${units[0]} ${units[2]}` : ''];
  });
}

function codes(outcomes: SendOutcome[]): string[] {
  return outcomes.map((o) => (o.kind === 'delivered' ? `delivered:${o.receipt.id}` : `${o.kind}:${o.code}`));
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// ---- @medplum/hl7 ---------------------------------------------------------------------------

interface MedplumReceiver {
  port: number;
  received: string[];
  stop(): Promise<void>;
}

/** `answer` decides what to do with each message; it may answer, answer late, or not at all. */
async function medplumReceiver(
  answer: (message: MedplumMessage, connection: Hl7Connection, n: number) => void,
  port = 0,
): Promise<MedplumReceiver> {
  const received: string[] = [];
  const server = new Hl7Server((connection) => {
    connection.addEventListener('message', ({ message }: Hl7MessageEvent) => {
      received.push(message.toString());
      answer(message, connection, received.length);
    });
  });
  await server.start(port); // listens on every interface; there is no host parameter
  const address = server.server?.address() as net.AddressInfo;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.stop({ forceDrainTimeoutMs: 0 });
  };
  open.push(stop);
  return { port: address.port, received, stop };
}

const ackWith = (code: 'AA' | 'AE' | 'AR', text?: string) => (message: MedplumMessage, connection: Hl7Connection): void => {
  const ack = message.buildAck({ ackCode: code });
  if (text !== undefined) ack.getSegment('MSA')?.setField(3, text);
  connection.send(ack);
};

describe('MLLP destination → @medplum/hl7 Hl7Server', () => {
  it('a reading acknowledged AA is delivered with its control id as the receipt', async () => {
    const receiver = await medplumReceiver(ackWith('AA'));
    const destination = destinationFor(receiver.port);
    const outcomes = await destination.send([
      buffered(heartRate(HR_ID)),
      buffered(bloodPressure(BP_ID, { systolic: 120, diastolic: 80, mean: 93 })),
    ]);
    assert.deepEqual(codes(outcomes), ['delivered:3f2a9c1d8e7b6a5f4c3d', 'delivered:9a8b7c6d5e4f30211203']);
    const first = outcomes[0];
    assert.ok(first?.kind === 'delivered' && first.receipt.detail === 'AA' && typeof first.receipt.latencyMs === 'number');
    assert.equal(destination.linkState(), 'connected');

    assert.equal(receiver.received.length, 2);
    assert.deepEqual(obxSummary(receiver.received[0]!), [['8867-4', '72', '/min UCUM']]);
    assert.deepEqual(obxSummary(receiver.received[1]!), [
      ['8480-6', '120', 'mm[Hg] UCUM'],
      ['8462-4', '80', 'mm[Hg] UCUM'],
      ['8478-0', '93', 'mm[Hg] UCUM'],
    ]);
    const msh = receiver.received[1]!.split('\r')[0]!.split('|');
    assert.equal(msh[3], 'SITE-7', 'MSH-4 defaults to the site id');
    assert.equal(msh[9], '9a8b7c6d5e4f30211203', 'MSH-10');
  });

  it('an AE answer is retried and the readings after it are not sent', async () => {
    const receiver = await medplumReceiver((m, c, n) => ackWith(n === 2 ? 'AE' : 'AA')(m, c));
    const destination = destinationFor(receiver.port);
    const outcomes = await destination.send([buffered(heartRate(ids(1))), buffered(heartRate(ids(2))), buffered(heartRate(ids(3)))]);
    assert.deepEqual(codes(outcomes), [
      `delivered:${ctl(1)}`,
      'retry:GW_ERR_MLLP_ACK_ERROR',
      'retry:GW_ERR_MLLP_NOT_SENT',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(receiver.received.length, 2);
  });

  it('an AR answer rejects the reading with the receiver reason', async () => {
    const receiver = await medplumReceiver(ackWith('AR', 'Unknown patient MRN0001'));
    const destination = destinationFor(receiver.port);
    const [outcome] = await destination.send([buffered(heartRate(HR_ID))]);
    assert.equal(outcome?.kind, 'rejected');
    assert.ok(outcome?.kind === 'rejected');
    assert.equal(outcome.code, 'GW_ERR_MLLP_ACK_REJECT');
    assert.match(outcome.reason, /3f2a9c1d8e7b6a5f4c3d with AR: Unknown patient MRN0001/);
  });

  it('a receiver that never answers gives a retry after the ACK timeout, and its late ACK is never taken for the next reading', async () => {
    let lateAck: (() => void) | undefined;
    const receiver = await medplumReceiver((message, connection, n) => {
      if (n === 1) lateAck = () => connection.send(message.buildAck({ ackCode: 'AA' }));
      else ackWith('AA')(message, connection);
    });
    const destination = destinationFor(receiver.port, { ackTimeoutMs: 250 });
    const started = Date.now();
    const [timedOut] = await destination.send([buffered(heartRate(ids(1)))]);
    assert.ok(timedOut?.kind === 'retry' && timedOut.code === 'GW_ERR_MLLP_ACK_TIMEOUT', JSON.stringify(timedOut));
    assert.ok(Date.now() - started >= 240);
    assert.equal(destination.linkState(), 'down', 'the connection is dropped after a timeout');
    lateAck?.(); // goes to the dropped connection
    const [next] = await destination.send([buffered(heartRate(ids(2)))]);
    assert.deepEqual(codes([next!]), [`delivered:${ctl(2)}`]);
    assert.equal(receiver.received.length, 2);
    assert.ok(receiver.received[1]!.includes(`|${ctl(2)}|`));
  });

  it('a receiver that closes the connection before answering gives a retry', async () => {
    const receiver = await medplumReceiver((_message, connection) => connection.socket.destroy());
    const destination = destinationFor(receiver.port);
    const [outcome] = await destination.send([buffered(heartRate(HR_ID))]);
    assert.ok(outcome?.kind === 'retry' && outcome.code === 'GW_ERR_MLLP_CLOSED', JSON.stringify(outcome));
    assert.equal(destination.linkState(), 'down');
  });

  it('an ACK naming another control id in MSA-2 is not a delivery', async () => {
    const receiver = await medplumReceiver((message, connection) => {
      const ack = message.buildAck({ ackCode: 'AA' });
      ack.getSegment('MSA')?.setField(2, 'SOMEONE-ELSE');
      connection.send(ack);
    });
    const destination = destinationFor(receiver.port);
    const [outcome] = await destination.send([buffered(heartRate(HR_ID))]);
    assert.ok(outcome?.kind === 'retry' && outcome.code === 'GW_ERR_MLLP_ACK_MISMATCH', JSON.stringify(outcome));
    assert.match(outcome.reason, /"SOMEONE-ELSE" does not match sent MSH-10 "3f2a9c1d8e7b6a5f4c3d"/);
  });

  it('with the receiver down a reading is retried, and once it is up the same destination delivers', async () => {
    const port = await freePort();
    const destination = destinationFor(port);
    const [down] = await destination.send([buffered(heartRate(HR_ID))]);
    assert.ok(down?.kind === 'retry' && down.code === 'GW_ERR_MLLP_CONNECT', JSON.stringify(down));
    assert.match(down.reason, /ECONNREFUSED/);
    assert.equal(destination.linkState(), 'down');

    const receiver = await medplumReceiver(ackWith('AA'), port);
    const [up] = await destination.send([buffered(heartRate(HR_ID))]);
    assert.deepEqual(codes([up!]), ['delivered:3f2a9c1d8e7b6a5f4c3d']);
    assert.equal(receiver.received.length, 1);

    await receiver.stop(); // and down again: the next send notices and reconnects when it can
    const [again] = await destination.send([buffered(heartRate(ids(5)))]);
    assert.equal(again?.kind, 'retry');
  });

  it('a reading that cannot be built into an ORU is rejected and the next one is still sent', async () => {
    const receiver = await medplumReceiver(ackWith('AA'));
    const destination = destinationFor(receiver.port);
    const broken = heartRate(ids(1));
    delete broken.subject;
    const outcomes = await destination.send([buffered(broken), buffered(heartRate(ids(2)))]);
    assert.deepEqual(codes(outcomes), ['rejected:GW_ERR_HL7_BUILD', `delivered:${ctl(2)}`]);
    assert.ok(outcomes[0]?.kind === 'rejected' && outcomes[0].reason.includes('patient identifier'));
    assert.equal(receiver.received.length, 1);
  });

  it('an aborted send stops between readings', async () => {
    const controller = new AbortController();
    const receiver = await medplumReceiver((message, connection) => {
      controller.abort(); // while the first reading waits for its ACK
      ackWith('AA')(message, connection);
    });
    const destination = destinationFor(receiver.port);
    const outcomes = await destination.send(
      [buffered(heartRate(ids(1))), buffered(heartRate(ids(2))), buffered(heartRate(ids(3)))],
      controller.signal,
    );
    assert.deepEqual(codes(outcomes), [`delivered:${ctl(1)}`, 'retry:GW_ERR_MLLP_NOT_SENT', 'retry:GW_ERR_MLLP_NOT_SENT']);
    assert.equal(receiver.received.length, 1);
  });

  it('a closed destination sends nothing', async () => {
    const receiver = await medplumReceiver(ackWith('AA'));
    const destination = destinationFor(receiver.port);
    await destination.close();
    assert.equal(destination.linkState(), 'closed');
    const [outcome] = await destination.send([buffered(heartRate(HR_ID))]);
    assert.ok(outcome?.kind === 'retry' && outcome.code === 'GW_ERR_MLLP_NOT_SENT');
    assert.equal(receiver.received.length, 0);
  });
});

// ---- node-hl7-server ------------------------------------------------------------------------

async function nodeHl7Receiver(decide: (controlId: string) => 'AA' | 'AE' | 'AR'): Promise<NodeHl7Receiver> {
  const receiver = await startNodeHl7Receiver({ decide });
  open.push(receiver.stop);
  return receiver;
}

describe('MLLP destination → node-hl7-server', () => {
  it('a reading acknowledged AA is delivered, and the receiver gets its OBX codes, values and units', async () => {
    const receiver = await nodeHl7Receiver(() => 'AA');
    const destination = destinationFor(receiver.port);
    const outcomes = await destination.send([buffered(bloodPressure(BP_ID, { systolic: 131, diastolic: 84 }))]);
    assert.deepEqual(codes(outcomes), ['delivered:9a8b7c6d5e4f30211203']);
    assert.deepEqual(receiver.handled, ['9a8b7c6d5e4f30211203']);
    assert.deepEqual(obxSummary(receiver.raw[0]!), [
      ['8480-6', '131', 'mm[Hg] UCUM'],
      ['8462-4', '84', 'mm[Hg] UCUM'],
    ]);
  });

  it('an AE answer is retried and an AR answer is rejected', async () => {
    const receiver = await nodeHl7Receiver((id) => (id === ctl(1) ? 'AE' : 'AR'));
    const destination = destinationFor(receiver.port);
    const [ae] = await destination.send([buffered(heartRate(ids(1)))]);
    assert.ok(ae?.kind === 'retry' && ae.code === 'GW_ERR_MLLP_ACK_ERROR', JSON.stringify(ae));
    const [ar] = await destination.send([buffered(heartRate(ids(2)))]);
    assert.ok(ar?.kind === 'rejected' && ar.code === 'GW_ERR_MLLP_ACK_REJECT', JSON.stringify(ar));
  });

  it('several readings on one connection are all delivered despite its repeated ACKs', async () => {
    // node-hl7-server 2.5.0 never clears its receive buffer: the n-th message on a connection is
    // parsed together with every earlier one, which are handed to the application and ACKed again.
    const receiver = await nodeHl7Receiver(() => 'AA');
    const destination = destinationFor(receiver.port);
    const outcomes = await destination.send([1, 2, 3].map((n) => buffered(heartRate(ids(n)))));
    assert.deepEqual(codes(outcomes), [`delivered:${ctl(1)}`, `delivered:${ctl(2)}`, `delivered:${ctl(3)}`]);
    assert.ok(receiver.handled.length > 3, `the receiver re-handled earlier messages: ${receiver.handled.join(',')}`);
  });
});
