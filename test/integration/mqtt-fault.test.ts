// Acknowledgement under fault: the gateway (a child process) SIGKILLs itself after a reading PUBLISH arrived
// but before it was made durable (test hook GW_FAULT_INJECT=mqtt-kill-before-durable). The device never got a
// PUBACK, so it resends after the gateway is back, and the reading is stored and delivered exactly once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { compactBp, DEVICES, MQTT_BINDINGS, mqttSection } from '../../device-drivers/mqtt/fixtures.ts';
import { freePort, spawnGateway, startReceiver, tempDir, waitFor, writeConfigFile, type GatewayChild } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

describe('an MQTT reading survives a gateway crash before it was durable', () => {
  let receiver: Receiver;
  let tmp: ReturnType<typeof tempDir>;
  let configFile: string;
  let mqttPort: number;
  const children: GatewayChild[] = [];

  before(async () => {
    tmp = tempDir('mqtt-fault');
    const mllpPort = await freePort();
    mqttPort = await freePort();
    receiver = await startReceiver(mllpPort);
    configFile = writeConfigFile(tmp.dir, {
      site: { id: 'test-clinic' },
      dataDir: join(tmp.dir, 'data'),
      http: { host: '127.0.0.1', port: 0 },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port: mllpPort, receivingApplication: 'EHR', receivingFacility: 'CLINIC', ackTimeoutMs: 2000, connectTimeoutMs: 500 }],
      dispatch: { backoffInitialMs: 20, backoffMaxMs: 200 },
      bindings: MQTT_BINDINGS,
      mqtt: await mqttSection(mqttPort),
    });
  });

  after(async () => {
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await receiver.stop();
    tmp.cleanup();
  });

  it('a QoS 1 reading not acknowledged before the crash is redelivered after restart and stored once', async () => {
    const first = spawnGateway(configFile, { GW_FAULT_INJECT: 'mqtt-kill-before-durable' });
    children.push(first);
    await first.url;
    const client = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, {
      protocolVersion: 4,
      clientId: 'cuff-7-fault',
      clean: false, // keep the session; mqtt.js keeps unacknowledged QoS 1 messages in its outgoing store
      reconnectPeriod: 100,
      username: DEVICES.cuff7.username,
      password: DEVICES.cuff7.password,
    });
    client.on('error', () => undefined); // connection refused while the gateway is down
    let acknowledged = false;
    const reading = compactBp(42, 142);
    const puback = client.publishAsync('rpm/cuff-7/reading', reading, { qos: 1 }).then(() => {
      acknowledged = true;
    });

    await first.exited;
    assert.equal(first.child.signalCode, 'SIGKILL', 'the test hook killed the gateway');
    assert.equal(acknowledged, false, 'no PUBACK for a reading that was never durable');
    assert.equal(receiver.messages.length, 0);

    const second = spawnGateway(configFile); // no fault hook this time
    children.push(second);
    await second.url;
    await puback; // mqtt.js resent the message after reconnecting; this PUBACK means durable
    const delivered = await waitFor('the reading at the receiver', () => receiver.messages.find((m) => m.obx.some((f) => f[3]!.startsWith('8480-6') && f[5] === '142')));

    // The device, unsure, sends the same reading again as a new message: same Observation id, no second delivery.
    await client.publishAsync('rpm/cuff-7/reading', reading, { qos: 1 });
    await client.publishAsync('rpm/cuff-7/reading', compactBp(43, 143), { qos: 1 });
    await waitFor('a later reading at the receiver', () => receiver.messages.some((m) => m.obx.some((f) => f[5] === '143')));
    assert.equal(receiver.messages.filter((m) => m.controlId === delivered.controlId).length, 1, 'one MSH-10, one delivery');
    assert.match(second.output(), /"result":"duplicate"/, 'the resend was recognised as the same Observation');

    await client.endAsync();
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
