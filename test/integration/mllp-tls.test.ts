// The hardened MLLP destination: TLS to an independent receiver (node-hl7-server 2.5.0, which serves
// MLLP over TLS; @medplum/hl7 5.0.10 has no TLS), pinning, client certificates, enhanced-mode ACKs
// against @medplum/hl7's Hl7Server in enhanced mode, and the demo sink's TLS / drop / delay options.
// Certificates are made with openssl in a temp dir for this run.
import '../../gateway/fhir/websocket-shim.ts'; // @medplum/core reads globalThis.WebSocket on import
import { Hl7Server, type Hl7Connection, type Hl7MessageEvent } from '@medplum/hl7';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNodeHl7Receiver } from '../support/node-hl7-receiver.ts';
import { buildAck } from '../../ehr-bridge/hl7v2/ack.ts';
import { mllpDestinationSchema } from '../../ehr-bridge/hl7v2/config.ts';
import { heartRate } from '../../ehr-bridge/hl7v2/fixtures.ts';
import { MllpDestination } from '../../ehr-bridge/hl7v2/mllp-destination.ts';
import { MllpDecoder, frame } from '../../ehr-bridge/hl7v2/mllp-codec.ts';
import { sinkOptionsFromFlags, startMllpSink } from '../../ehr-bridge/hl7v2/mllp-sink.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import type { BufferedObservation, SendOutcome } from '../../gateway/types.ts';
import { freePort, tempDir, waitFor } from '../support/harness.ts';

const certs = tempDir('mllp-tls-');
const pem = (name: string): string => join(certs.dir, name);
const open: Array<() => Promise<unknown>> = [];

/** A test CA, a server certificate for 127.0.0.1/localhost and a client certificate, both signed by it. */
before(() => {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: certs.dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=RPM test CA');
  writeFileSync(pem('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(pem('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl('req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'rpm-gateway'}`);
    openssl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`);
  }
});

after(async () => {
  for (const close of open.reverse()) await close();
  certs.cleanup();
});

const fingerprintOf = (file: string): string => new X509Certificate(readFileSync(pem(file))).fingerprint256;

let n = 0;
function nextReading(): { item: BufferedObservation; controlId: string } {
  n += 1;
  const id = `7e57${String(n).padStart(16, '0')}${'0'.repeat(12)}`;
  return { item: { seq: BigInt(n), observation: heartRate(id), appendedAt: Date.now() }, controlId: id.slice(0, 20) };
}

function destinationFor(port: number, overrides: Record<string, unknown> = {}): { destination: MllpDestination; logs: Array<Record<string, unknown>> } {
  const config = mllpDestinationSchema.parse({
    id: 'ehr',
    type: 'mllp',
    host: '127.0.0.1',
    port,
    ackTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    ...overrides,
  });
  const { logger, lines } = createMemoryLogger();
  const destination = new MllpDestination(config, { siteId: 'SITE-7', logger });
  open.push(() => destination.close());
  return { destination, logs: lines };
}

const summary = (outcomes: SendOutcome[]): string[] =>
  outcomes.map((o) => (o.kind === 'delivered' ? `delivered:${o.receipt.detail}` : `${o.kind}:${o.code}`));

interface TlsReceiver {
  port: number;
  /** MSH-10 of each message handed to the application. */
  handled: string[];
}

/** node-hl7-server over TLS; `clientCa` makes it require a client certificate signed by that CA. */
async function tlsReceiver(options: { clientCa?: boolean } = {}): Promise<TlsReceiver> {
  const receiver = await startNodeHl7Receiver({
    tls: {
      key: readFileSync(pem('server.key')),
      cert: readFileSync(pem('server.crt')),
      ...(options.clientCa === true ? { requestCert: true, ca: readFileSync(pem('ca.crt')) } : {}),
    },
  });
  open.push(receiver.stop);
  return receiver;
}

interface EnhancedReceiver {
  port: number;
  /** Raw text of each message received. */
  received: string[];
}

/** @medplum/hl7's Hl7Server in enhanced mode: it answers CA itself, then `answer` (if any) as the application ACK. */
async function enhancedReceiver(answer: 'AA' | 'AE' | 'AR' | undefined): Promise<EnhancedReceiver> {
  const received: string[] = [];
  const server = new Hl7Server((connection: Hl7Connection) => {
    connection.addEventListener('message', ({ message }: Hl7MessageEvent) => {
      const text = message.toString();
      if (!text.split('\r')[0]?.split('|')[8]?.startsWith('ORU')) return; // a commit ACK of ours, not a message
      received.push(text);
      if (answer !== undefined) connection.send(message.buildAck({ ackCode: answer }));
    });
  });
  const port = await freePort();
  await server.start(port, undefined, true);
  open.push(() => server.stop({ forceDrainTimeoutMs: 0 }));
  return { port, received };
}

describe('MLLP over TLS to node-hl7-server', () => {
  it('a reading is delivered over TLS when the destination trusts the receiver CA', async () => {
    const receiver = await tlsReceiver();
    const { destination } = destinationFor(receiver.port, { tls: { caFile: pem('ca.crt') } });
    const { item, controlId } = nextReading();
    assert.deepEqual(summary(await destination.send([item])), ['delivered:AA']);
    assert.deepEqual(receiver.handled, [controlId]);
  });

  it('a receiver certificate that matches a pin is delivered, in either fingerprint spelling', async () => {
    const receiver = await tlsReceiver();
    const bare = fingerprintOf('server.crt').replace(/:/g, '').toLowerCase();
    const { destination } = destinationFor(receiver.port, { tls: { caFile: pem('ca.crt'), pinnedSha256: [fingerprintOf('client.crt'), bare] } });
    const { item, controlId } = nextReading();
    assert.deepEqual(summary(await destination.send([item])), ['delivered:AA']);
    assert.deepEqual(receiver.handled, [controlId]);
  });

  it('a receiver certificate that matches no pin is a retry with GW_ERR_MLLP_TLS and nothing is delivered', async () => {
    const receiver = await tlsReceiver();
    const { destination, logs } = destinationFor(receiver.port, { tls: { caFile: pem('ca.crt'), pinnedSha256: [fingerprintOf('client.crt')] } });
    const outcomes = await destination.send([nextReading().item]);
    assert.deepEqual(summary(outcomes), ['retry:GW_ERR_MLLP_TLS']);
    assert.match(outcomes[0]!.kind === 'retry' ? outcomes[0]!.reason : '', /matches none of the 1 pinned/);
    assert.deepEqual(receiver.handled, []);
    assert.ok(logs.some((l) => l.code === 'GW_ERR_MLLP_TLS' && l.msg === 'MLLP TLS handshake refused'));
  });

  it('a receiver certificate from an unknown CA is a retry with GW_ERR_MLLP_TLS and nothing is delivered', async () => {
    const receiver = await tlsReceiver();
    const { destination } = destinationFor(receiver.port, { tls: {} });
    const outcomes = await destination.send([nextReading().item]);
    assert.deepEqual(summary(outcomes), ['retry:GW_ERR_MLLP_TLS']);
    assert.deepEqual(receiver.handled, []);
  });

  it('a receiver that requires a client certificate takes the reading when the destination presents one', async () => {
    const receiver = await tlsReceiver({ clientCa: true });
    const { destination, logs } = destinationFor(receiver.port, {
      tls: { caFile: pem('ca.crt'), certFile: pem('client.crt'), keyFile: pem('client.key') },
    });
    const { item, controlId } = nextReading();
    assert.deepEqual(summary(await destination.send([item])), ['delivered:AA']);
    assert.deepEqual(receiver.handled, [controlId]);
    const keyText = readFileSync(pem('client.key'), 'utf8').split('\n')[1]!;
    assert.ok(!JSON.stringify(logs).includes(keyText), 'the private key never reaches the log');
  });

  it('a receiver that requires a client certificate refuses a destination without one, and nothing is delivered', async () => {
    const receiver = await tlsReceiver({ clientCa: true });
    const { destination } = destinationFor(receiver.port, { tls: { caFile: pem('ca.crt') } });
    const outcomes = await destination.send([nextReading().item]);
    // TLS 1.3: the refusal arrives as an alert after our handshake, still told apart from a plain drop.
    assert.deepEqual(summary(outcomes), ['retry:GW_ERR_MLLP_TLS']);
    assert.deepEqual(receiver.handled, []);
  });

  it('a TLS file that cannot be read stops the destination at start-up, naming the setting', () => {
    const config = mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp', tls: { caFile: pem('missing.crt') } });
    assert.throws(
      () => new MllpDestination(config, { siteId: 'SITE-7' }),
      (err: unknown) => err instanceof GatewayError && err.code === 'GW_ERR_CONFIG_INVALID' && err.issues[0]?.code === 'GW_ERR_MLLP_TLS_CONFIG' && /tls\.caFile|caFile/.test(err.message),
    );
  });

  it('a TLS client certificate without its key, or a malformed pin, is a config error', () => {
    assert.equal(mllpDestinationSchema.safeParse({ id: 'ehr', type: 'mllp', tls: { certFile: 'a.crt' } }).success, false);
    assert.equal(mllpDestinationSchema.safeParse({ id: 'ehr', type: 'mllp', tls: { pinnedSha256: ['abc'] } }).success, false);
    assert.equal(mllpDestinationSchema.safeParse({ id: 'ehr', type: 'mllp', tls: { caFile: 'ca.crt', verify: false } }).success, false);
  });
});

describe('enhanced-mode acknowledgments from @medplum/hl7 Hl7Server', () => {
  it('CA then AA is delivered once, and the message asks for enhanced mode in MSH-15/16', async () => {
    const receiver = await enhancedReceiver('AA');
    const { destination } = destinationFor(receiver.port, { ackMode: 'enhanced' });
    const { item } = nextReading();
    assert.deepEqual(summary(await destination.send([item])), ['delivered:AA']);
    assert.equal(receiver.received.length, 1);
    const msh = receiver.received[0]!.split('\r')[0]!.split('|');
    assert.deepEqual([msh[14], msh[15]], ['AL', 'AL']);
    // A second reading on the same connection is not confused by anything left of the first exchange.
    assert.deepEqual(summary(await destination.send([nextReading().item])), ['delivered:AA']);
    assert.equal(receiver.received.length, 2);
  });

  it('CA then AE is a retry', async () => {
    const receiver = await enhancedReceiver('AE');
    const { destination } = destinationFor(receiver.port, { ackMode: 'enhanced' });
    assert.deepEqual(summary(await destination.send([nextReading().item])), ['retry:GW_ERR_MLLP_ACK_ERROR']);
    assert.equal(receiver.received.length, 1);
  });

  it('CA alone is a timeout retry in enhanced mode, and delivered when the destination accepts commit as delivery', async () => {
    const silent = await enhancedReceiver(undefined);
    const strict = destinationFor(silent.port, { ackMode: 'enhanced', ackTimeoutMs: 300 }).destination;
    assert.deepEqual(summary(await strict.send([nextReading().item])), ['retry:GW_ERR_MLLP_ACK_TIMEOUT']);
    const lenient = destinationFor(silent.port, { ackMode: 'enhanced', acceptCommitAsDelivery: true }).destination;
    assert.deepEqual(summary(await lenient.send([nextReading().item])), ['delivered:CA']);
  });
});

describe('enhanced-mode acknowledgments that ask for a commit ACK back', () => {
  it('an application ACK with MSH-15 AL gets a CA from the gateway, and the next reading is not confused by its echo', async () => {
    const fromGateway: string[] = [];
    const server = net.createServer((socket) => {
      const decoder = new MllpDecoder();
      socket.on('data', (chunk: Buffer) => {
        for (const result of decoder.push(chunk)) {
          if (!result.ok) continue;
          const text = result.value;
          if (text.includes('\rMSA|CA|')) {
            fromGateway.push('CA');
            // An eager peer commit-ACKs the commit ACK (as @medplum/hl7 does in enhanced mode).
            socket.write(frame(buildAck(text, 'CA')));
            continue;
          }
          fromGateway.push('ORU');
          socket.write(frame(buildAck(text, 'CA')));
          // HL7 v2.5.1 table 0155: MSH-15 AL asks the original sender for a commit ACK of the application ACK.
          const [msh, ...rest] = buildAck(text, 'AA').split('\r');
          socket.write(frame([`${msh}|||AL|NE`, ...rest].join('\r')));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    open.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as net.AddressInfo;
    const { destination } = destinationFor(port, { ackMode: 'enhanced' });
    assert.deepEqual(summary(await destination.send([nextReading().item, nextReading().item])), ['delivered:AA', 'delivered:AA']);
    await waitFor('the commit ACK of the second application ACK', () => fromGateway.length >= 4);
    assert.deepEqual(fromGateway, ['ORU', 'CA', 'ORU', 'CA']);
  });
});

describe('the demo sink as a misbehaving EHR', () => {
  it('serves MLLP over TLS with --tls-cert/--tls-key', async () => {
    const flags = sinkOptionsFromFlags({ 'tls-cert': pem('server.crt'), 'tls-key': pem('server.key') });
    assert.ok(flags.ok);
    const received: string[] = [];
    const sink = await startMllpSink({ port: 0, ...flags.value, onMessage: (m) => received.push(m) });
    open.push(() => sink.close());
    const { destination } = destinationFor(sink.port, { tls: { caFile: pem('ca.crt') } });
    assert.deepEqual(summary(await destination.send([nextReading().item])), ['delivered:AA']);
    assert.equal(received.length, 1);
  });

  it('with --drop-every 2 hangs up on the second message, which is retried and then delivered', async () => {
    const flags = sinkOptionsFromFlags({ 'drop-every': '2', 'delay-ms': '20' });
    assert.ok(flags.ok);
    const sink = await startMllpSink({ port: 0, ...flags.value });
    open.push(() => sink.close());
    const { destination } = destinationFor(sink.port);
    const first = nextReading().item;
    const second = nextReading().item;
    assert.deepEqual(summary(await destination.send([first, second])), ['delivered:AA', 'retry:GW_ERR_MLLP_CLOSED']);
    assert.deepEqual(summary(await destination.send([second])), ['delivered:AA']);
  });

  it('refuses bad flags with a clear message', () => {
    const bad = sinkOptionsFromFlags({ 'drop-every': '0', 'delay-ms': 'soon', 'tls-cert': 'x.crt' });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.ok ? [] : bad.issues.map((i) => i.path), ['delay-ms', 'drop-every', 'tls-cert']);
  });
});
