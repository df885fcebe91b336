// Pipelining (maxInFlight > 1): several ORU^R01 written before the first ACK, ACKs matched by MSA-2, and any
// mismatch or timeout drops the connection with everything unacknowledged a retry. Against a scripted MLLP
// receiver (to hold ACKs back on purpose) and two independent ones: @medplum/hl7 Hl7Server (harness
// startReceiver) and node-hl7-server.
import '../../gateway/fhir/websocket-shim.ts';
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { startNodeHl7Receiver } from '../../test/support/node-hl7-receiver.ts';
import { freePort, startReceiver } from '../../test/support/harness.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import type { BufferedObservation, SendOutcome } from '../../gateway/types.ts';
import { buildAck, controlIdOfMessage } from './ack.ts';
import { mllpDestinationSchema } from './config.ts';
import { heartRate } from './fixtures.ts';
import { MllpDecoder, frame } from './mllp-codec.ts';
import { MllpDestination } from './mllp-destination.ts';

let seq = 0n;
/** Observation ids whose first 20 characters (the MSH-10 control id) differ. */
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`.padEnd(32, '0'));
const batchOf = (observationIds: string[]): BufferedObservation[] => observationIds.map((id) => ({ seq: ++seq, observation: heartRate(id), appendedAt: Date.now() }));
const ctl = (id: string): string => id.slice(0, 20);
const kinds = (outcomes: SendOutcome[]): string[] => outcomes.map((o) => (o.kind === 'delivered' ? `delivered:${o.receipt.id}` : `${o.kind}:${o.code}`));

const open: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const close of open.reverse()) await close();
});

function destinationFor(port: number, overrides: Record<string, unknown> = {}): MllpDestination {
  const config = mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp', host: '127.0.0.1', port, ackTimeoutMs: 1500, connectTimeoutMs: 1000, maxInFlight: 4, ...overrides });
  const destination = new MllpDestination(config, { siteId: 'SITE-7', logger: createMemoryLogger().logger });
  open.push(() => destination.close());
  return destination;
}

/**
 * A receiver that collects messages and lets the test decide when and what to answer: `script` is called
 * with every message received so far on the connection and returns the ACK frames to write now.
 */
async function scriptedReceiver(script: (received: string[], socket: net.Socket) => string[]): Promise<{ port: number; received: string[] }> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new MllpDecoder();
    socket.on('data', (chunk) => {
      for (const r of decoder.push(chunk)) {
        if (!r.ok) continue;
        received.push(r.value);
        for (const ack of script(received, socket)) socket.write(frame(ack));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  open.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port, received };
}

const aa = (message: string): string => buildAck(message, 'AA');

describe('MLLP pipelining (maxInFlight)', () => {
  it('writes four messages before the first ACK and delivers them all when the receiver answers together', async () => {
    const observationIds = ids('e1', 8);
    // Answers nothing until it holds four messages: without pipelining the first send would time out.
    const receiver = await scriptedReceiver((received) => (received.length % 4 === 0 ? received.slice(-4).map(aa) : []));
    const outcomes = await destinationFor(receiver.port).send(batchOf(observationIds));
    assert.deepEqual(kinds(outcomes), observationIds.map((id) => `delivered:${ctl(id)}`));
    assert.deepEqual(receiver.received.map(controlIdOfMessage), observationIds.map(ctl), 'written once each, in order');
  });

  it('matches ACKs by MSA-2 when the receiver answers out of order', async () => {
    const observationIds = ids('e2', 2);
    const receiver = await scriptedReceiver((received) => (received.length === 2 ? [aa(received[1]!), aa(received[0]!)] : []));
    const outcomes = await destinationFor(receiver.port, { maxInFlight: 2 }).send(batchOf(observationIds));
    assert.deepEqual(kinds(outcomes), observationIds.map((id) => `delivered:${ctl(id)}`));
  });

  it('drops the connection on an ACK for no message in flight: everything unacknowledged is a retry, nothing after is sent', async () => {
    const observationIds = ids('e3', 6);
    const receiver = await scriptedReceiver((received) =>
      received.length === 3 ? [aa(received[0]!), buildAck(received[1]!, 'AA', undefined, { controlId: 'x' }).replace(/MSA\|AA\|[^|\r]*/, 'MSA|AA|NOT-OURS')] : [],
    );
    const outcomes = await destinationFor(receiver.port, { maxInFlight: 3 }).send(batchOf(observationIds));
    assert.deepEqual(kinds(outcomes), [
      `delivered:${ctl(observationIds[0]!)}`,
      'retry:GW_ERR_MLLP_ACK_MISMATCH',
      'retry:GW_ERR_MLLP_CLOSED',
      'retry:GW_ERR_MLLP_NOT_SENT',
      'retry:GW_ERR_MLLP_NOT_SENT',
      'retry:GW_ERR_MLLP_NOT_SENT',
    ]);
    assert.equal(receiver.received.length, 3, 'nothing written after the mismatch');
  });

  it('drops the connection when an ACK times out and retries the messages behind it, never calling them delivered', async () => {
    const observationIds = ids('e4', 3);
    const receiver = await scriptedReceiver((received) => (received.length === 1 ? [aa(received[0]!)] : []));
    const outcomes = await destinationFor(receiver.port, { maxInFlight: 3, ackTimeoutMs: 300 }).send(batchOf(observationIds));
    assert.deepEqual(kinds(outcomes), [`delivered:${ctl(observationIds[0]!)}`, 'retry:GW_ERR_MLLP_ACK_TIMEOUT', 'retry:GW_ERR_MLLP_CLOSED']);
  });

  it('delivers a pipelined batch to @medplum/hl7 Hl7Server, each message received once', async () => {
    const port = await freePort();
    const receiver = await startReceiver(port);
    open.push(() => receiver.stop());
    const observationIds = ids('e5', 10);
    const outcomes = await destinationFor(port).send(batchOf(observationIds));
    assert.deepEqual(kinds(outcomes), observationIds.map((id) => `delivered:${ctl(id)}`));
    assert.deepEqual(receiver.messages.map((m) => m.controlId), observationIds.map(ctl));
  });

  it('delivers a pipelined batch to node-hl7-server, each message handled once', async () => {
    const receiver = await startNodeHl7Receiver();
    open.push(receiver.stop);
    const observationIds = ids('e6', 10);
    const outcomes = await destinationFor(receiver.port).send(batchOf(observationIds));
    assert.deepEqual(kinds(outcomes), observationIds.map((id) => `delivered:${ctl(id)}`));
    assert.deepEqual([...new Set(receiver.handled)], observationIds.map(ctl));
  });
});
