// The optional upstream MQTT bridge: a Destination publishing each Observation as FHIR JSON at QoS 1 to
// <upstreamTopicPrefix>/<deviceId>/observation on another broker (here an independent aedes), delivered on PUBACK.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { compactBp, connect, DEVICES, MQTT_BINDINGS, mqttSection } from '../../device-drivers/mqtt/fixtures.ts';
import { parseConfig } from '../../gateway/config.ts';
import { freePort, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

describe('Observations drain to an upstream MQTT broker', () => {
  let upstream: Aedes;
  let server: Server;
  let watcher: MqttClient;
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let mqttPort: number;
  const received: Array<{ topic: string; observation: { id: string; resourceType: string } }> = [];

  before(async () => {
    tmp = tempDir('mqtt-upstream');
    const upstreamPort = await freePort();
    upstream = await Aedes.createBroker();
    server = createServer(upstream.handle);
    await new Promise<void>((resolve) => server.listen(upstreamPort, '127.0.0.1', resolve));
    watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${upstreamPort}`, { reconnectPeriod: 0 });
    await watcher.subscribeAsync('fleet/clinic-1/#', { qos: 1 });
    watcher.on('message', (topic, payload) => received.push({ topic, observation: JSON.parse(payload.toString()) as { id: string; resourceType: string } }));
    mqttPort = await freePort();
    gateway = await startTestGateway(
      parseConfig({
        site: { id: 'test-clinic' },
        dataDir: tmp.dir,
        http: { host: '127.0.0.1', port: 0 },
        destinations: [{ id: 'fleet', type: 'mqtt', url: `mqtt://127.0.0.1:${upstreamPort}`, upstreamTopicPrefix: 'fleet/clinic-1', ackTimeoutMs: 2000 }],
        dispatch: { backoffInitialMs: 20, backoffMaxMs: 200 },
        bindings: MQTT_BINDINGS,
        mqtt: await mqttSection(mqttPort),
      }),
    );
  });

  after(async () => {
    await gateway.close();
    await watcher.endAsync();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    tmp.cleanup();
  });

  it('publishes the Observation of a device reading to <prefix>/<deviceId>/observation and moves the cursor on PUBACK', async () => {
    const device = await connect(`mqtt://127.0.0.1:${mqttPort}`, { protocolVersion: 5, username: DEVICES.cuff7.username, password: DEVICES.cuff7.password });
    await device.publishAsync('rpm/cuff-7/reading', compactBp(1, 125), { qos: 1 });
    const got = await waitFor('the Observation upstream', () => received.find((r) => r.topic === 'fleet/clinic-1/cuff-7/observation'));
    assert.equal(got.observation.resourceType, 'Observation');
    assert.ok(await gateway.buffer.lookup(got.observation.id), 'the upstream copy carries the buffered Observation id');
    await waitFor('the fleet cursor to pass it', () => gateway.buffer.stats().destinations.find((d) => d.destination === 'fleet')!.pending === 0);
    const status = (await (await fetch(`${gateway.url}/v1/status`)).json()) as { destinations: Array<{ id: string; type: string; link: string }> };
    assert.deepEqual(status.destinations.map((d) => [d.id, d.type, d.link]), [['fleet', 'mqtt', 'connected']]);
    await device.endAsync();
  });
});
