// The sink against our own client: the wire contract both ends share (independent peers are in
// test/integration/mllp-destination.test.ts).
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { heartRate } from './fixtures.ts';
import { buildAck } from './ack.ts';
import { MllpClient } from './mllp-client.ts';
import { MllpDecoder, frame } from './mllp-codec.ts';
import { sinkOptionsFromFlags, startMllpSink } from './mllp-sink.ts';
import { buildOruR01 } from './oru-r01.ts';

const header = { sendingApplication: 'RPM-GW', sendingFacility: 'SITE', receivingApplication: 'EHR', receivingFacility: 'HOSP', processingId: 'P' } as const;

describe('the demo MLLP sink', () => {
  it('hands each message on and answers AA with MSA-2 = its MSH-10', async () => {
    const received: string[] = [];
    const sink = await startMllpSink({ port: 0, onMessage: (m) => received.push(m) });
    const client = new MllpClient({ host: '127.0.0.1', port: sink.port, connectTimeoutMs: 1000, ackTimeoutMs: 1000 });
    try {
      const built = buildOruR01(heartRate(), header);
      assert.ok(built.ok);
      const result = await client.send(built.value.message, built.value.controlId);
      assert.equal(result.kind, 'delivered');
      assert.ok(result.kind === 'delivered' && result.ack.controlId === built.value.controlId && result.latencyMs >= 0);
      assert.deepEqual(received, [built.value.message]);
      assert.equal(client.linkState(), 'connected');
    } finally {
      await client.close();
      await sink.close();
    }
    assert.equal(client.linkState(), 'closed');
  });

  it('answers with the code and text the ack callback chooses, on one connection', async () => {
    const answers = ['AE', { code: 'AR', text: 'unknown MRN' }, 'AA'] as const;
    let n = 0;
    const sink = await startMllpSink({ port: 0, ack: () => answers[n++] ?? 'AA' });
    const { logger } = createMemoryLogger();
    const client = new MllpClient({ host: '127.0.0.1', port: sink.port, connectTimeoutMs: 1000, ackTimeoutMs: 1000, logger });
    try {
      const kinds: string[] = [];
      for (const id of ['a0000000000000000000000000000001', 'a0000000000000000000000000000002', 'a0000000000000000000000000000003']) {
        const built = buildOruR01(heartRate(id), header);
        assert.ok(built.ok);
        const r = await client.send(built.value.message, built.value.controlId);
        kinds.push(r.kind === 'delivered' ? r.kind : `${r.kind}:${r.code}:${r.reason}`);
      }
      assert.deepEqual(kinds, [
        'retry:GW_ERR_MLLP_ACK_ERROR:receiver answered AE for a0000000000000000000: (no text)',
        'rejected:GW_ERR_MLLP_ACK_REJECT:receiver rejected a0000000000000000000 with AR: unknown MRN',
        'delivered',
      ]);
    } finally {
      await client.close();
      await sink.close();
    }
  });

  it('answers AR to a frame that is not HL7', async () => {
    const sink = await startMllpSink({ port: 0 });
    const client = new MllpClient({ host: '127.0.0.1', port: sink.port, connectTimeoutMs: 1000, ackTimeoutMs: 1000 });
    try {
      // MSA-2 is empty, so the client cannot take it for an answer to anything: malformed.
      const r = await client.send('hello', 'X1');
      assert.equal(r.kind, 'retry');
      assert.ok(r.kind === 'retry' && r.code === 'GW_ERR_MLLP_ACK_MALFORMED');
    } finally {
      await client.close();
      await sink.close();
    }
  });

  it('queues concurrent sends so only one message is in flight', async () => {
    // A receiver that answers 20 ms late and notes whether a second message arrived meanwhile.
    let pending = 0;
    let maxPending = 0;
    const server = net.createServer((socket) => {
      const decoder = new MllpDecoder();
      socket.on('data', (chunk: Buffer) => {
        for (const r of decoder.push(chunk)) {
          if (!r.ok) continue;
          maxPending = Math.max(maxPending, ++pending);
          setTimeout(() => {
            pending--;
            socket.write(frame(buildAck(r.value, 'AA')));
          }, 20);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = new MllpClient({ host: '127.0.0.1', port, connectTimeoutMs: 1000, ackTimeoutMs: 1000 });
    try {
      const sends = ['b1', 'b2', 'b3', 'b4'].map((id) => {
        const built = buildOruR01(heartRate(id), header);
        assert.ok(built.ok);
        return client.send(built.value.message, built.value.controlId);
      });
      const results = await Promise.all(sends);
      assert.deepEqual(results.map((r) => (r.kind === 'delivered' ? r.ack.controlId : r.kind)), ['b1', 'b2', 'b3', 'b4']);
      assert.equal(maxPending, 1);
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('answers AR to every third message with --answer-every 3:AR and AA to the rest', async () => {
    const flags = sinkOptionsFromFlags({ 'answer-every': '3:AR' });
    assert.ok(flags.ok);
    const sink = await startMllpSink({ port: 0, ...flags.value });
    const client = new MllpClient({ host: '127.0.0.1', port: sink.port, connectTimeoutMs: 1000, ackTimeoutMs: 1000 });
    try {
      const kinds: string[] = [];
      for (let i = 1; i <= 6; i++) {
        const built = buildOruR01(heartRate(`b00000000000000000000000000000${String(i).padStart(2, '0')}`), header);
        assert.ok(built.ok);
        kinds.push((await client.send(built.value.message, built.value.controlId)).kind);
      }
      assert.deepEqual(kinds, ['delivered', 'delivered', 'rejected', 'delivered', 'delivered', 'rejected']);
    } finally {
      await client.close();
      await sink.close();
    }
  });

  it('refuses an answer code or an --answer-every it does not know, naming the flag', () => {
    const r = sinkOptionsFromFlags({ answer: 'OK', 'answer-every': '0:AE' });
    assert.ok(!r.ok);
    assert.deepEqual(r.issues.map((i) => [i.code, i.path]), [['GW_ERR_CONFIG_INVALID', 'answer'], ['GW_ERR_CONFIG_INVALID', 'answer-every']]);
    assert.ok(!sinkOptionsFromFlags({ 'answer-every': 'AR' }).ok);
    assert.ok(sinkOptionsFromFlags({ answer: 'AE' }).ok);
  });
});
