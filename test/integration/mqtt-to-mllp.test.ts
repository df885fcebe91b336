// End to end over MQTT: mqtt.js (v5 and v3.1.1), mosquitto_pub and MQTT over WebSocket publish readings to
// the embedded broker; each arrives at an independent MLLP receiver as ORU^R01, and the PUBACK comes only
// after the reading is durable.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { compactBp, connect, DEVICES, fullHeartRate, MQTT_BINDINGS, mqttSection, nextMessage } from '../../device-drivers/mqtt/fixtures.ts';
import { freePort, gatewayConfig, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const run = promisify(execFile);
type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

const LOINC_SYSTOLIC = '8480-6';
const LOINC_HEART_RATE = '8867-4';

describe('MQTT devices reach the EHR over MLLP', () => {
  let receiver: Receiver;
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let mqttPort: number;
  let wsPort: number;

  /** Messages whose OBX carries this LOINC code and value. */
  const arrivals = (loinc: string, value: number): Receiver['messages'] =>
    receiver.messages.filter((m) => m.obx.some((f) => f[3]!.startsWith(loinc) && f[5] === String(value)));

  before(async () => {
    tmp = tempDir('mqtt-e2e');
    const mllpPort = await freePort();
    mqttPort = await freePort();
    wsPort = await freePort();
    receiver = await startReceiver(mllpPort);
    gateway = await startTestGateway(
      gatewayConfig({ dataDir: tmp.dir, mllpPort, bindings: MQTT_BINDINGS, mqtt: await mqttSection(mqttPort, { websocket: { host: '127.0.0.1', port: wsPort } }) }),
    );
  });

  after(async () => {
    await gateway.close();
    await receiver.stop();
    tmp.cleanup();
  });

  it('an MQTT 5 device publishing a compact reading at QoS 1 gets its PUBACK once the reading is durable, and the EHR gets an ORU^R01', async () => {
    const client = await connect(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 5, username: DEVICES.cuff7.username, password: DEVICES.cuff7.password, clientId: 'cuff-7-v5' });
    const before = gateway.buffer.stats().entries;
    await client.publishAsync('rpm/cuff-7/reading', compactBp(1, 131), { qos: 1 });
    // PUBACK received: the Observations must already be in the buffer (durable before acknowledged)
    assert.equal(gateway.buffer.stats().entries, before + 1, 'the blood-pressure Observation is buffered when the PUBACK arrives');
    const [message] = await waitFor('the ORU^R01 at the receiver', () => arrivals(LOINC_SYSTOLIC, 131).length > 0 && arrivals(LOINC_SYSTOLIC, 131));
    assert.match(message!.text, /^MSH\|\^~\\&\|[^\r]*ORU\^R01/);
    assert.ok(message!.pid.join('|').includes('MRN0007'), 'PID names the bound patient');
    await client.endAsync();
  });

  it('an MQTT 3.1.1 device publishing the full (kiosk) form at QoS 1 and QoS 2 reaches the EHR', async () => {
    const client = await connect(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 4, username: DEVICES.cuff8.username, password: DEVICES.cuff8.password });
    await client.publishAsync('rpm/cuff-8/reading', fullHeartRate(1, 61), { qos: 1 });
    await client.publishAsync('rpm/cuff-8/reading', fullHeartRate(2, 62), { qos: 2 });
    await waitFor('both readings at the receiver', () => arrivals(LOINC_HEART_RATE, 61).length === 1 && arrivals(LOINC_HEART_RATE, 62).length === 1);
    await client.endAsync();
  });

  for (const version of ['mqttv311', 'mqttv5'] as const) {
    it(`mosquitto_pub (${version}) publishes a reading that arrives as ORU^R01`, async () => {
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-V', version, '-q', '1', '-i', `mosquitto-${version}`,
        '-u', DEVICES.cuff7.username, '-P', DEVICES.cuff7.password, '-t', 'rpm/cuff-7/reading', '-m', fullHeartRate(version === 'mqttv5' ? 11 : 10, version === 'mqttv5' ? 65 : 64)]);
      const value = version === 'mqttv5' ? 65 : 64;
      await waitFor('the mosquitto reading at the receiver', () => arrivals(LOINC_HEART_RATE, value).length === 1);
    });
  }

  it('mosquitto_sub on the device error topic hears why a reading was refused', async () => {
    // stdbuf -oL: mosquitto_sub's stdout is a pipe here, and -d's "received SUBACK" must arrive before we publish
    const sub = execFile('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-i', 'sub-cuff-7', '-h', '127.0.0.1', '-p', String(mqttPort), '-V', 'mqttv311', '-q', '1', '-C', '1', '-W', '10',
      '-u', DEVICES.cuff7.username, '-P', DEVICES.cuff7.password, '-t', 'rpm/cuff-7/error']);
    let out = '';
    sub.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => sub.once('exit', resolve));
    await waitFor('mosquitto_sub subscribed', () => out.includes('received SUBACK')); // -d prints the SUBACK
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-u', DEVICES.cuff7.username, '-P', DEVICES.cuff7.password,
      '-t', 'rpm/cuff-7/reading', '-m', JSON.stringify({ measuredAt: '2026-11-23T09:00:00Z', components: [{ metric: 'shoe-size', value: 44, unit: '1' }], seq: 99 })]);
    assert.equal(await exited, 0);
    const error = JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { code: string; message: string; seq: number };
    assert.equal(error.code, 'GW_ERR_UNKNOWN_METRIC');
    assert.equal(error.seq, 99);
  });

  it('a browser kiosk publishes over MQTT-over-WebSocket and its reading arrives', async () => {
    const client = await connect(`ws://127.0.0.1:${wsPort}/mqtt`, { protocolVersion: 4, username: DEVICES.cuff8.username, password: DEVICES.cuff8.password });
    await client.publishAsync('rpm/cuff-8/reading', fullHeartRate(20, 77), { qos: 1 });
    await waitFor('the WebSocket reading at the receiver', () => arrivals(LOINC_HEART_RATE, 77).length === 1);
    await client.endAsync();
  });

  it('keeps the last retained status per device for /v1/status and marks it offline through its last will', async () => {
    const will = { topic: 'rpm/cuff-8/status', payload: Buffer.from(JSON.stringify({ online: false })), qos: 1 as const, retain: true };
    const device = await connect(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 5, username: DEVICES.cuff8.username, password: DEVICES.cuff8.password, will });
    await device.publishAsync('rpm/cuff-8/status', JSON.stringify({ online: true, battery: 87, firmware: '2.4.1' }), { qos: 1, retain: true });
    const status = async (): Promise<Array<{ id: string; connected: boolean; status?: { online: boolean; battery?: number; firmware?: string } }>> =>
      ((await (await fetch(`${gateway.url}/v1/status`)).json()) as { drivers: { mqtt: { devices: Array<{ id: string; connected: boolean; status?: { online: boolean } }> } } }).drivers.mqtt.devices;
    const cuff8 = (await status()).find((d) => d.id === 'cuff-8')!;
    assert.deepEqual(cuff8.status, { online: true, battery: 87, firmware: '2.4.1' });
    assert.equal(cuff8.connected, true);

    const admin = await connect(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 5, username: DEVICES.admin.username, password: DEVICES.admin.password });
    const retained = nextMessage(admin, 'rpm/cuff-8/status');
    await admin.subscribeAsync('rpm/+/status', { qos: 1 });
    assert.deepEqual(await retained, { online: true, battery: 87, firmware: '2.4.1' }, 'a new subscriber gets the retained status');

    const offline = nextMessage(admin, 'rpm/cuff-8/status');
    device.stream.destroy(); // vanish without DISCONNECT: the broker publishes the will
    assert.deepEqual(await offline, { online: false });
    await waitFor('/v1/status to show cuff-8 offline', async () => (await status()).find((d) => d.id === 'cuff-8' && d.status?.online === false && !d.connected));
    device.end(true);
    await admin.endAsync();
  });
});
