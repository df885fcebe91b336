// What the broker refuses, and how a device hears about it: wrong credentials, other devices' topics,
// `#` subscriptions by devices, bad payloads. Each refusal is counted, logged, answered (MQTT 5 reason code
// and/or a message on rpm/<id>/error) and stores nothing; the broker stays up for the next good reading.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient, Packet } from 'mqtt';
import { compactBp, connect, DEVICES, fullHeartRate, MQTT_BINDINGS, mqttSection, nextMessage, pubackCode } from '../../device-drivers/mqtt/fixtures.ts';
import { freePort, gatewayConfig, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

async function refusalCount(gateway: TestGateway, reason: string): Promise<number> {
  const text = await gateway.metrics.registry.getSingleMetricAsString('gateway_mqtt_refusals_total');
  const line = text.split('\n').find((l) => l.includes(`reason="${reason}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** Subscribe and return the SUBACK codes as sent, whether mqtt.js treats them as failures or not. */
async function subackCodes(client: MqttClient, filter: string): Promise<number[]> {
  let granted: number[] = [];
  const watch = (packet: Packet): void => {
    if (packet.cmd === 'suback') granted = packet.granted as number[];
  };
  client.on('packetreceive', watch);
  try {
    await client.subscribeAsync(filter, { qos: 1 });
  } catch {
    // refused filters reject in mqtt.js; the codes are what we check
  } finally {
    client.off('packetreceive', watch);
  }
  return granted;
}

describe('the MQTT broker refuses what it must and stays up', () => {
  let receiver: Receiver;
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let url: string;

  before(async () => {
    tmp = tempDir('mqtt-refusals');
    const mllpPort = await freePort();
    const mqttPort = await freePort();
    url = `mqtt://127.0.0.1:${mqttPort}`;
    receiver = await startReceiver(mllpPort);
    gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort, bindings: MQTT_BINDINGS, mqtt: await mqttSection(mqttPort) }));
  });

  after(async () => {
    await gateway.close();
    await receiver.stop();
    tmp.cleanup();
  });

  const device = (protocolVersion: 4 | 5, who: { username: string; password: string } = DEVICES.cuff7): Promise<MqttClient> =>
    connect(url, { protocolVersion, username: who.username, password: who.password });

  it('refuses a wrong password and an unknown device at CONNECT, counts and logs it', async () => {
    const before = await refusalCount(gateway, 'GW_ERR_MQTT_BAD_CREDENTIALS');
    // MQTT 5.0 §3.2.2.2 0x86 Bad User Name or Password; MQTT 3.1.1 §3.2.2.3 return code 4
    await assert.rejects(connect(url, { protocolVersion: 5, username: 'cuff-7', password: 'wrong' }), { code: 0x86 });
    await assert.rejects(connect(url, { protocolVersion: 4, username: 'cuff-7', password: 'wrong' }), { code: 4 });
    await assert.rejects(connect(url, { protocolVersion: 5, username: 'no-such-device', password: 'x' }), { code: 0x86 });
    // anonymous is off: 0x87 Not authorized / return code 5
    await assert.rejects(connect(url, { protocolVersion: 5 }), { code: 0x87 });
    await assert.rejects(connect(url, { protocolVersion: 4 }), { code: 5 });
    assert.equal(await refusalCount(gateway, 'GW_ERR_MQTT_BAD_CREDENTIALS'), before + 5);
    const logged = gateway.logs.filter((l) => l.msg === 'MQTT connect refused' && l.code === 'GW_ERR_MQTT_BAD_CREDENTIALS');
    assert.ok(logged.some((l) => l.username === 'no-such-device'), 'the refusal log names the user name');
    assert.ok(!JSON.stringify(logged).includes('wrong'), 'passwords never reach the log');
  });

  it("refuses a device publishing to another device's topic: 0x87 for MQTT 5, an error message for all, nothing stored", async () => {
    const entries = gateway.buffer.stats().entries;
    const v5 = await device(5);
    const error = nextMessage(v5, 'rpm/cuff-7/error');
    await v5.subscribeAsync('rpm/cuff-7/error', { qos: 1 });
    const answer = await pubackCode(v5, 'rpm/cuff-8/reading', compactBp(500));
    assert.equal(answer.code, 0x87); // MQTT 5.0 §3.4.2.1 Not authorized
    assert.match(answer.reason ?? '', /GW_ERR_MQTT_NOT_AUTHORIZED/);
    assert.deepEqual(await error, { code: 'GW_ERR_MQTT_NOT_AUTHORIZED', message: 'device cuff-7 may not publish to rpm/cuff-8/reading', seq: 500, topic: 'rpm/cuff-8/reading' });

    const v3 = await device(4);
    const error3 = nextMessage(v3, 'rpm/cuff-7/error');
    await v3.subscribeAsync('rpm/cuff-7/error', { qos: 1 });
    assert.equal((await pubackCode(v3, 'rpm/cuff-8/status', JSON.stringify({ online: true }))).code, 0, 'MQTT 3.1.1 §3.3.5: a plain PUBACK, the refusal travels on the error topic');
    assert.equal((await error3).code, 'GW_ERR_MQTT_NOT_AUTHORIZED');
    assert.equal(gateway.buffer.stats().entries, entries, 'nothing was buffered');
    assert.ok(gateway.logs.some((l) => l.msg === 'MQTT publish refused' && l.deviceId === 'cuff-7' && l.code === 'GW_ERR_MQTT_NOT_AUTHORIZED'));
    await v5.endAsync();
    await v3.endAsync();
  });

  it('refuses a device subscribing to # and grants an admin everything but readings', async () => {
    const before = await refusalCount(gateway, 'GW_ERR_MQTT_NOT_AUTHORIZED');
    const v5 = await device(5);
    assert.deepEqual(await subackCodes(v5, '#'), [0x87]); // MQTT 5.0 §3.9.3
    const v3 = await device(4);
    assert.deepEqual(await subackCodes(v3, '#'), [0x80]); // MQTT 3.1.1 §3.9.3 Failure
    assert.deepEqual(await subackCodes(v3, 'rpm/cuff-8/command'), [0x80]);
    assert.deepEqual(await subackCodes(v3, 'rpm/cuff-7/command'), [1]);
    assert.equal(await refusalCount(gateway, 'GW_ERR_MQTT_NOT_AUTHORIZED'), before + 3);

    const admin = await connect(url, { protocolVersion: 5, username: DEVICES.admin.username, password: DEVICES.admin.password });
    assert.deepEqual(await subackCodes(admin, '#'), [1]);
    const seen: string[] = [];
    admin.on('message', (topic) => seen.push(topic));
    assert.equal((await pubackCode(admin, 'rpm/cuff-7/reading', compactBp(501))).code, 0x87, 'an admin may not publish readings');
    await v3.publishAsync('rpm/cuff-7/reading', compactBp(502, 133), { qos: 1 });
    const command = new Promise<string>((resolve) => v3.once('message', (_t, p) => resolve(p.toString())));
    await admin.publishAsync('rpm/cuff-7/command', JSON.stringify({ op: 'measure' }), { qos: 1 });
    assert.deepEqual(JSON.parse(await command), { op: 'measure' }, 'an admin may send a device a command');
    await waitFor('the admin to see the command', () => seen.includes('rpm/cuff-7/command'));
    assert.ok(!seen.includes('rpm/cuff-7/reading'), 'readings go to the buffer, not to other subscribers');
    for (const c of [v5, v3, admin]) await c.endAsync();
  });

  it('refuses bad payloads with 0x99 and a reason, buffers none of them, and takes the next good reading', async () => {
    const client = await device(5);
    const entries = gateway.buffer.stats().entries;
    const at = '2026-11-23T09:30:00Z';
    const cases: Array<[string, string | Buffer, number, RegExp]> = [
      ['invalid JSON', '{"t":', 0x99, /GW_ERR_MQTT_PAYLOAD_ENCODING/],
      ['wrong types', JSON.stringify({ t: at, v: [['bp-systolic', '120', 'mm[Hg]']] }), 0x99, /GW_ERR_INVALID_READING: v\[0\]\[1\]/],
      ['unknown metric', JSON.stringify({ t: at, v: [['shoe-size', 44, '1']] }), 0x99, /GW_ERR_UNKNOWN_METRIC/],
      ['unknown field', JSON.stringify({ measuredAt: at, components: [{ metric: 'heart-rate', value: 60, unit: '/min' }], colour: 'red' }), 0x99, /unknown field/],
      ['implausible value', JSON.stringify({ t: at, v: [['heart-rate', 900, '/min']] }), 0x99, /GW_ERR_OUT_OF_RANGE/],
      ['1 MB payload', Buffer.alloc(1024 * 1024, 0x20), 0x99, /GW_ERR_MQTT_PAYLOAD_TOO_LARGE/],
      ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]), 0x99, /GW_ERR_MQTT_PAYLOAD_ENCODING/],
      ['another device id in the payload', JSON.stringify({ deviceId: 'cuff-8', measuredAt: at, components: [{ metric: 'heart-rate', value: 60, unit: '/min' }] }), 0x99, /GW_ERR_MQTT_DEVICE_MISMATCH/],
    ];
    for (const [what, payload, code, reason] of cases) {
      const answer = await pubackCode(client, 'rpm/cuff-7/reading', payload);
      assert.equal(answer.code, code, what);
      assert.match(answer.reason ?? '', reason, what);
    }
    // topic shapes: MQTT 5.0 §3.4.2.1 0x90 Topic Name invalid
    assert.equal((await pubackCode(client, 'rpm/cuff-7/reading/extra', compactBp(600))).code, 0x90);
    assert.equal((await pubackCode(client, 'rpm/cuff-7/telemetry', compactBp(601))).code, 0x90);
    assert.equal(gateway.buffer.stats().entries, entries, 'nothing was buffered');
    assert.ok((await refusalCount(gateway, 'GW_ERR_MQTT_PAYLOAD_ENCODING')) >= 2);

    // a wildcard in a PUBLISH topic is a protocol error (MQTT 3.1.1 §3.3.2.1): the broker closes that connection
    const rogue = await device(4);
    const closed = new Promise<void>((resolve) => rogue.once('close', () => resolve()));
    rogue.publish('rpm/+/reading', compactBp(602), { qos: 1 });
    await closed;
    rogue.end(true);

    // …and stays up: a good reading still reaches the EHR
    await client.publishAsync('rpm/cuff-7/reading', compactBp(603, 141), { qos: 1 });
    await waitFor('the good reading at the receiver', () => receiver.messages.some((m) => m.obx.some((f) => f[3]!.startsWith('8480-6') && f[5] === '141')));
    await client.endAsync();
  });

  it('tells an MQTT 3.1.1 device about a bad payload on its error topic, with the reading seq', async () => {
    const client = await device(4);
    const error = nextMessage(client, 'rpm/cuff-7/error');
    await client.subscribeAsync('rpm/cuff-7/error', { qos: 1 });
    await client.publishAsync('rpm/cuff-7/reading', fullHeartRate(700, 900), { qos: 1 });
    const e = await error;
    assert.equal(e.code, 'GW_ERR_OUT_OF_RANGE');
    assert.equal(e.seq, 700);
    await client.endAsync();
  });

  it('counts QoS 0 readings as unacknowledged and still stores them', async () => {
    const client = await device(4);
    client.publish('rpm/cuff-7/reading', compactBp(800, 128), { qos: 0 });
    await waitFor('the QoS 0 reading at the receiver', () => receiver.messages.some((m) => m.obx.some((f) => f[3]!.startsWith('8480-6') && f[5] === '128')));
    const text = await gateway.metrics.registry.getSingleMetricAsString('gateway_mqtt_unacknowledged_total');
    assert.match(text, /gateway_mqtt_unacknowledged_total\{[^}]*\} 1/);
    await client.endAsync();
  });
});

describe('the MQTT broker never acknowledges what the buffer refused', () => {
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let url: string;

  before(async () => {
    tmp = tempDir('mqtt-full');
    const mqttPort = await freePort();
    url = `mqtt://127.0.0.1:${mqttPort}`;
    // a high-water mark of ~100 bytes, below an empty LevelDB: the buffer refuses intake from the start
    gateway = await startTestGateway(
      gatewayConfig({ dataDir: tmp.dir, mllpPort: await freePort(), bindings: MQTT_BINDINGS, buffer: { quotaBytes: 1024 * 1024, highWaterRatio: 0.0001 }, mqtt: await mqttSection(mqttPort) }),
    );
  });

  after(async () => {
    await gateway.close();
    tmp.cleanup();
  });

  it('disconnects an MQTT 5 device with 0x97 Quota exceeded instead of a PUBACK', async () => {
    const client = await connect(url, { protocolVersion: 5, username: DEVICES.cuff7.username, password: DEVICES.cuff7.password });
    let acknowledged = false;
    const disconnect = new Promise<Packet>((resolve) => client.once('disconnect', resolve));
    client.publish('rpm/cuff-7/reading', compactBp(900), { qos: 1 }, (err) => {
      if (!err) acknowledged = true;
    });
    const packet = (await disconnect) as Packet & { reasonCode?: number; properties?: { reasonString?: string } };
    assert.equal(packet.reasonCode, 0x97); // MQTT 5.0 §3.14.2.1 Quota exceeded
    assert.match(packet.properties?.reasonString ?? '', /GW_ERR_BUFFER_FULL/);
    await waitFor('the connection to close', () => !client.connected);
    assert.equal(acknowledged, false, 'no PUBACK');
    assert.ok((await refusalCount(gateway, 'GW_ERR_BUFFER_FULL')) >= 1);
    client.end(true);
  });

  it('closes an MQTT 3.1.1 device connection without a PUBACK', async () => {
    const client = await connect(url, { protocolVersion: 4, username: DEVICES.cuff7.username, password: DEVICES.cuff7.password });
    let acknowledged = false;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('rpm/cuff-7/reading', compactBp(901), { qos: 1 }, (err) => {
      if (!err) acknowledged = true;
    });
    await closed;
    assert.equal(acknowledged, false);
    assert.ok(gateway.logs.some((l) => l.msg === 'buffer refused an MQTT reading; disconnecting without PUBACK' && l.deviceId === 'cuff-7'));
    client.end(true);
  });
});
