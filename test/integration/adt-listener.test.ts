// The ADT MLLP listener against two independent MLLP senders written by others: @medplum/hl7's Hl7Client
// (5.0.10, plain TCP only) and node-hl7-client 2.3.1 (a dependency of node-hl7-server, also over TLS).
// ACKs per HL7 v2.5.1 §2.9 original mode; the roster they feed survives a restart.
import '../../gateway/fhir/websocket-shim.ts'; // @medplum/core reads globalThis.WebSocket on import
import { Hl7Message } from '@medplum/core';
import { Hl7Client } from '@medplum/hl7';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client as NodeHl7Client, Message as NodeHl7Message } from 'node-hl7-client';
import { MllpDecoder, frame } from '../../ehr-bridge/hl7v2/mllp-codec.ts';
import { adtListenSchema } from '../../ehr-bridge/hl7v2/adt-config.ts';
import { startAdtListener } from '../../ehr-bridge/hl7v2/adt-listener.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { createMetrics } from '../../gateway/metrics.ts';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { freePort, gatewayConfig, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

type Gw = Awaited<ReturnType<typeof startTestGateway>>;

const adt = (event: string, controlId: string, pid3: string, rest: { name?: string; dob?: string; extra?: string[]; type?: string } = {}): string =>
  [
    `MSH|^~\\&|EPIC|HOSP|RPM-GW|CLINIC|20261123093000||${rest.type ?? `ADT^${event}^ADT_A01`}|${controlId}|P|2.5.1`,
    `EVN|${event}|20261123093000`,
    `PID|1||${pid3}||${rest.name ?? 'Doe^Jane'}||${rest.dob ?? '19700101'}|F`,
    ...(rest.extra ?? []),
  ].join('\r');

const certs = tempDir('adt-tls');
const pem = (name: string): string => join(certs.dir, name);
const data = tempDir('adt-listener');
const cleanups: Array<() => Promise<unknown>> = [];
let gateway: Gw;

async function startGw(tls = false): Promise<Gw> {
  const gw = await startTestGateway(
    gatewayConfig({
      dataDir: data.dir,
      mllpPort: await freePort(),
      mllp: { listen: { port: 0, host: '127.0.0.1', ...(tls ? { tls: { certFile: pem('server.crt'), keyFile: pem('server.key') } } : {}) } },
    }),
  );
  return gw;
}

/** Send raw bytes over plain TCP and collect the ACK texts that come back. */
async function rawExchange(port: number, bytes: Buffer, expectAcks: number): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  const decoder = new MllpDecoder();
  const acks: string[] = [];
  socket.on('data', (chunk) => {
    for (const r of decoder.push(chunk)) if (r.ok) acks.push(r.value);
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(bytes);
  await waitFor(`${expectAcks} ACK(s)`, () => acks.length >= expectAcks, 5000);
  socket.destroy();
  return acks;
}

/**
 * @medplum/hl7 5.0.10's sendAndWait({ timeoutMs }) never clears its timer after the ACK arrives, which keeps
 * the test process alive for the whole timeout; so the time limit is ours, on an unref'd timer.
 */
async function withTimeout<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ACK within ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

const field = (message: string, segment: string, n: number): string => {
  const seg = message.split('\r').find((s) => s.startsWith(`${segment}|`))?.split('|') ?? [];
  return (segment === 'MSH' ? seg[n - 1] : seg[n]) ?? '';
};

before(async () => {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: certs.dir, stdio: 'ignore' });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=RPM ADT test CA');
  writeFileSync(pem('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext');
  writeFileSync(pem('client.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=ehr-interface-engine');
  openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext');
  gateway = await startGw();
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await gateway.close();
  data.cleanup();
  certs.cleanup();
});

describe('ADT listener', () => {
  it('an A04 sent by @medplum/hl7 Hl7Client gets AA and creates the roster entry', async () => {
    const client = new Hl7Client({ host: '127.0.0.1', port: gateway.adtPort()!, connectTimeout: 2000 });
    cleanups.push(() => client.close());
    const message = Hl7Message.parse(adt('A04', 'MEDPLUM-1', 'MRN100^^^HOSP&1.2.3.4&ISO^MR', { name: 'Medplum^Mia' }));
    const ack = (await withTimeout(client.sendAndWait(message as never))).toString();
    assert.equal(field(ack, 'MSA', 1), 'AA');
    assert.equal(field(ack, 'MSA', 2), 'MEDPLUM-1');
    assert.equal(field(ack, 'MSH', 3), 'RPM-GW'); // sender and receiver swapped
    assert.equal(field(ack, 'MSH', 5), 'EPIC');
    const patient = gateway.roster.lookup({ mrn: 'MRN100', system: 'urn:oid:1.2.3.4' });
    assert.deepEqual(patient?.name, { family: 'Medplum', given: 'Mia' });
    assert.equal(patient?.birthDate, '1970-01-01');
    await client.close();
  });

  it('an A04 sent by node-hl7-client gets AA and creates the roster entry', async () => {
    const acks: string[] = [];
    const client = new NodeHl7Client({ host: '127.0.0.1' });
    const connection = client.createConnection({ port: gateway.adtPort()!, waitAck: true }, async (res) => {
      acks.push(res.getMessage().toString());
    });
    cleanups.push(() => connection.close());
    await connection.sendMessage(new NodeHl7Message({ text: adt('A04', 'NODEHL7-1', 'MRN200^^^HOSP&1.2.3.4&ISO^MR', { name: 'Node^Nina' }) }));
    await waitFor('the ACK', () => acks.length > 0, 5000);
    assert.match(acks[0]!, /MSA\|AA\|NODEHL7-1/);
    assert.deepEqual(gateway.roster.lookup({ mrn: 'MRN200', system: 'urn:oid:1.2.3.4' })?.name, { family: 'Node', given: 'Nina' });
    await connection.close();
  });

  it('answers an ORM (an unsupported message type) with AR and ERR-3 200, and stores nothing', async () => {
    const client = new Hl7Client({ host: '127.0.0.1', port: gateway.adtPort()!, connectTimeout: 2000 });
    cleanups.push(() => client.close());
    const before = gateway.roster.size;
    const orm = Hl7Message.parse(adt('O01', 'ORM-1', 'MRN300^^^HOSP&1.2.3.4&ISO^MR', { type: 'ORM^O01^ORM_O01' }));
    const ack = (await withTimeout(client.sendAndWait(orm as never))).toString();
    assert.equal(field(ack, 'MSA', 1), 'AR');
    assert.equal(field(ack, 'MSA', 2), 'ORM-1');
    assert.match(field(ack, 'ERR', 3), /^200\^Unsupported message type\^HL70357$/);
    assert.equal(gateway.roster.size, before);
    await client.close();
  });

  it('answers AE with ERR 204 for an A40 naming an unknown MRN, and AE 101 for a missing PID-3', async () => {
    const a40 = adt('A40', 'MERGE-X', 'MRN100^^^HOSP&1.2.3.4&ISO^MR', { extra: ['MRG|NOPE999^^^HOSP&1.2.3.4&ISO^MR'] });
    const noPid3 = adt('A08', 'NOPID3', '');
    const acks = await rawExchange(gateway.adtPort()!, Buffer.concat([frame(a40), frame(noPid3)]), 2);
    assert.equal(field(acks[0]!, 'MSA', 1), 'AE');
    assert.equal(field(acks[0]!, 'MSA', 2), 'MERGE-X');
    assert.equal(field(acks[0]!, 'ERR', 2), 'MRG^1^1');
    assert.match(field(acks[0]!, 'ERR', 3), /^204\^/);
    assert.equal(field(acks[0]!, 'ERR', 4), 'E');
    assert.equal(field(acks[1]!, 'MSA', 1), 'AE');
    assert.equal(field(acks[1]!, 'ERR', 2), 'PID^1^3');
    assert.equal(gateway.roster.lookup({ mrn: 'MRN100', system: 'urn:oid:1.2.3.4' })?.mergedInto, undefined);
  });

  it('a garbage frame gets AR, is counted and logged, and the listener keeps serving', async () => {
    const acks = await rawExchange(
      gateway.adtPort()!,
      Buffer.concat([Buffer.from('noise before any frame'), frame('this is not HL7 at all'), frame(adt('A08', 'AFTER-GARBAGE', 'MRN100^^^HOSP&1.2.3.4&ISO^MR'))]),
      2,
    );
    assert.equal(field(acks[0]!, 'MSA', 1), 'AR');
    assert.equal(field(acks[0]!, 'MSA', 2), '');
    assert.equal(field(acks[1]!, 'MSA', 1), 'AA');
    const metrics = await gateway.metrics.registry.metrics();
    assert.match(metrics, /gateway_adt_refused_total\{[^}]*reason="AR-100"[^}]*\} 1/);
    assert.match(metrics, /gateway_frames_refused_total\{[^}]*transport="mllp"[^}]*reason="GW_ERR_ADT_FRAME"/);
    assert.ok(gateway.logs.some((l) => l.msg === 'ADT message refused' && l.ack === 'AR'));
    // No PHI above debug: the refused message's text never reaches the log.
    assert.ok(!JSON.stringify(gateway.logs).includes('Doe'));
  });

  it('a frame larger than the bound gets AR and the next frame is still answered', async () => {
    const big = frame(`MSH|^~\\&|A|B|C|D|20261123||ADT^A08|BIG|P|2.5.1\rNTE|${'x'.repeat(1024 * 1024 + 10)}`);
    const acks = await rawExchange(gateway.adtPort()!, Buffer.concat([big, frame(adt('A08', 'SMALL', 'MRN100^^^HOSP&1.2.3.4&ISO^MR'))]), 2);
    assert.equal(field(acks[0]!, 'MSA', 1), 'AR');
    assert.equal(field(acks[1]!, 'MSA', 2), 'SMALL');
  });

  it('the roster survives a restart, and the listener takes A04 over TLS from node-hl7-client', async () => {
    await gateway.close();
    gateway = await startGw(true);
    // MRN100 as the last A08 left it; MRN200 as node-hl7-client's A04 created it.
    assert.deepEqual(gateway.roster.lookup({ mrn: 'MRN100', system: 'urn:oid:1.2.3.4' })?.name, { family: 'Doe', given: 'Jane' });
    assert.deepEqual(gateway.roster.lookup({ mrn: 'MRN200', system: 'urn:oid:1.2.3.4' })?.name, { family: 'Node', given: 'Nina' });

    const acks: string[] = [];
    const client = new NodeHl7Client({ host: '127.0.0.1', tls: { ca: readFileSync(pem('ca.crt')), servername: 'localhost' } });
    const connection = client.createConnection({ port: gateway.adtPort()!, waitAck: true }, async (res) => {
      acks.push(res.getMessage().toString());
    });
    cleanups.push(() => connection.close());
    await connection.sendMessage(new NodeHl7Message({ text: adt('A28', 'TLS-1', 'MRN400^^^HOSP&1.2.3.4&ISO^MR', { name: 'Secure^Sam' }) }));
    await waitFor('the ACK over TLS', () => acks.length > 0, 5000);
    assert.match(acks[0]!, /MSA\|AA\|TLS-1/);
    assert.deepEqual(gateway.roster.lookup({ mrn: 'MRN400', system: 'urn:oid:1.2.3.4' })?.name, { family: 'Secure', given: 'Sam' });
    await connection.close();
  });
});

describe('ADT listener asking for client certificates', () => {
  it('a sender without a client certificate is refused at the handshake; one with a certificate from the CA gets its ACK', async () => {
    const metrics = createMetrics({ site: 't' }, { defaultMetrics: false });
    const { logger, lines } = createMemoryLogger('info');
    let calls = 0;
    const listener = await startAdtListener(
      adtListenSchema.parse({ port: 0, host: '127.0.0.1', tls: { certFile: pem('server.crt'), keyFile: pem('server.key'), caFile: pem('ca.crt'), requestCert: true } }),
      {
        logger,
        metrics,
        apply: async () => {
          calls += 1;
          throw new Error('disk on fire'); // broken storage: AE 207, never AA
        },
      },
    );
    cleanups.push(() => listener.close());
    const connect = (withCert: boolean): tls.TLSSocket =>
      tls.connect({
        host: '127.0.0.1',
        port: listener.port,
        ca: readFileSync(pem('ca.crt')),
        servername: 'localhost',
        ...(withCert ? { cert: readFileSync(pem('client.crt')), key: readFileSync(pem('client.key')) } : {}),
      });

    const anonymous = connect(false);
    anonymous.on('error', () => undefined);
    anonymous.write(frame(adt('A04', 'NO-CERT', 'M1')));
    await new Promise((resolve) => anonymous.once('close', resolve));
    await waitFor('the handshake refusal in the metrics', async () => /reason="GW_ERR_MLLP_TLS"/.test(await metrics.registry.metrics()), 5000);
    assert.equal(calls, 0);

    const trusted = connect(true);
    const decoder = new MllpDecoder();
    const acks: string[] = [];
    trusted.on('data', (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) if (r.ok) acks.push(r.value);
    });
    trusted.write(frame(adt('A04', 'WITH-CERT', 'M1')));
    await waitFor('the ACK', () => acks.length > 0, 5000);
    trusted.destroy();
    assert.equal(field(acks[0]!, 'MSA', 1), 'AE');
    assert.equal(field(acks[0]!, 'MSA', 2), 'WITH-CERT');
    assert.match(field(acks[0]!, 'ERR', 3), /^207\^/);
    assert.ok(lines.some((l) => l.msg === 'ADT message could not be applied'));
  });
});
