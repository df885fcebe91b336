// A vendor bridge with no code: a device whose mqtt.devices entry names an mqtt firmware profile publishes its
// vendor's own JSON; the profile maps it to readings that reach the EHR as ORU^R01. Payloads that do not fit
// are refused like any bad payload (v5 reason code, error topic, metric) while the broker keeps running.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mqttDriver } from '../../device-drivers/mqtt/driver.ts';
import { connect, FAST_SCRYPT, MQTT_BINDINGS, mqttSection, nextMessage, pubackCode } from '../../device-drivers/mqtt/fixtures.ts';
import { hashPassword } from '../../device-drivers/mqtt/password.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { freePort, gatewayConfig, ROOT, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

const LOINC = { systolic: '8480-6', diastolic: '8462-4', heartRate: '8867-4' } as const;
const PROFILE_FILE = 'cellular-bp-cuff-json.yaml';
const CUFF = { id: 'bp-cell-1', username: 'bp-cell-1', password: 'bp-cell-1-secret' } as const;

/** The cellular cuff bridge's JSON, one distinct measurement time per n. */
const vendorJson = (n: number, sys: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ imei: '356938035643809', ts: 1732350000 + n * 60, sys, dia: 82, pul: 71, unit: 'mmHg', ihb: false, bat: 87, ...extra });


describe('a vendor JSON device mapped by an mqtt firmware profile', () => {
  let receiver: Receiver;
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let profilesDir: string;
  let url: string;

  const arrivals = (loinc: string, value: number | string): Receiver['messages'] =>
    receiver.messages.filter((m) => m.obx.some((f) => f[3]!.startsWith(loinc) && f[5] === String(value)));

  before(async () => {
    tmp = tempDir('mqtt-vendor');
    profilesDir = join(tmp.dir, 'profiles');
    mkdirSync(profilesDir);
    copyFileSync(join(ROOT, 'firmware-profiles', PROFILE_FILE), join(profilesDir, PROFILE_FILE));
    const mllpPort = await freePort();
    const mqttPort = await freePort();
    url = `mqtt://127.0.0.1:${mqttPort}`;
    receiver = await startReceiver(mllpPort);
    const mqtt = await mqttSection(mqttPort, { profilesDir });
    (mqtt.devices as unknown[]).push({ id: CUFF.id, username: CUFF.username, passwordHash: await hashPassword(CUFF.password, FAST_SCRYPT), profile: 'cellular-bp-cuff-json' });
    const bindings = [...MQTT_BINDINGS, { device: CUFF.id, patient: { mrn: 'MRN0042', system: 'urn:oid:1.2.3.4' } }];
    gateway = await startTestGateway(gatewayConfig({ dataDir: tmp.dir, mllpPort, bindings, mqtt }));
  });

  after(async () => {
    await gateway.close();
    await receiver.stop();
    tmp.cleanup();
  });

  it('a cellular BP cuff bridge publishing its own JSON reaches the EHR as ORU^R01 with systolic, diastolic and pulse', async () => {
    const client = await connect(url, { protocolVersion: 5, username: CUFF.username, password: CUFF.password });
    const before = gateway.buffer.stats().entries;
    assert.deepEqual(await pubackCode(client, `rpm/${CUFF.id}/reading`, vendorJson(1, 128)), { code: 0 });
    assert.ok(gateway.buffer.stats().entries > before, 'durable before the PUBACK');
    await waitFor('the blood pressure and pulse at the receiver', () => arrivals(LOINC.systolic, 128).length > 0 && arrivals(LOINC.heartRate, 71).length > 0);
    const bp = arrivals(LOINC.systolic, 128)[0]!;
    assert.ok(bp.obx.some((f) => f[3]!.startsWith(LOINC.diastolic) && f[5] === '82'), 'diastolic 82 in the same ORU^R01');
    assert.ok(bp.obx.some((f) => f[6]!.startsWith('mm[Hg]')), 'OBX-6 carries the UCUM unit');
    assert.ok(bp.pid.join('|').includes('MRN0042'), 'PID names the bound patient');
    await client.endAsync();
  });

  it('a vendor payload that does not fit the profile is refused with 0x99 and the reason on the error topic, and the broker keeps taking readings', async () => {
    const client = await connect(url, { protocolVersion: 5, username: CUFF.username, password: CUFF.password });
    await client.subscribeAsync(`rpm/${CUFF.id}/error`, { qos: 1 });
    const entries = gateway.buffer.stats().entries;
    const error = nextMessage(client, `rpm/${CUFF.id}/error`);
    const answer = await pubackCode(client, `rpm/${CUFF.id}/reading`, vendorJson(2, 0, { sys: '130', pul: undefined }));
    assert.equal(answer.code, 0x99);
    assert.match(answer.reason ?? '', /^GW_ERR_RECORD_FIELD: field "sys": expected a number, got string "130"; field "pul": missing from the payload \(profile cellular-bp-cuff-json\)$/);
    assert.deepEqual(await error, { code: 'GW_ERR_RECORD_FIELD', message: answer.reason!.replace(/^GW_ERR_RECORD_FIELD: /, ''), topic: `rpm/${CUFF.id}/reading` });
    assert.equal(gateway.buffer.stats().entries, entries, 'nothing was buffered');
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('gateway_mqtt_refusals_total');
    assert.match(metrics, /reason="GW_ERR_RECORD_FIELD"[^\n]* 1$/m);
    assert.ok(gateway.logs.some((l) => l.msg === 'MQTT publish refused' && l.code === 'GW_ERR_RECORD_FIELD' && l.deviceId === CUFF.id));

    assert.deepEqual(await pubackCode(client, `rpm/${CUFF.id}/reading`, vendorJson(3, 133)), { code: 0 }, 'the next good payload is taken');
    await waitFor('the good reading after the refusal', () => arrivals(LOINC.systolic, 133).length === 1);
    await client.endAsync();
  });

  it('an edited profile applies to the next message without a restart', async () => {
    const loads = (): number => gateway.logs.filter((l) => l.msg === 'firmware profiles loaded' && l.stage === 'profiles').length;
    const seen = loads();
    const file = join(profilesDir, PROFILE_FILE);
    // The vendor renamed "pul" to "pulse" in a bridge update: a field tech edits the path, nothing else.
    writeFileSync(file, readFileSync(file, 'utf8').replace('- { path: pul, metric: heart-rate', '- { path: pulse, metric: heart-rate').replace(/pul: (\d+)/g, 'pulse: $1'));
    await waitFor('the profile reload', () => loads() > seen);
    const client = await connect(url, { protocolVersion: 4, username: CUFF.username, password: CUFF.password });
    await client.publishAsync(`rpm/${CUFF.id}/reading`, vendorJson(4, 136, { pul: undefined, pulse: 66 }), { qos: 1 });
    await waitFor('the reading mapped by the edited profile', () => arrivals(LOINC.systolic, 136).length === 1 && arrivals(LOINC.heartRate, 66).length === 1);
    await client.endAsync();
  });
});

describe('mqtt devices naming firmware profiles at start-up', () => {
  it('refuses to start when a device names an unknown profile or a serial one, naming each device', async () => {
    const { logger } = createMemoryLogger('silent');
    const config = mqttDriver.configSchema.parse({
      host: '127.0.0.1',
      port: 0,
      profilesDir: join(ROOT, 'firmware-profiles'),
      devices: [{ id: 'a-1', profile: 'no-such-profile' }, { id: 'b-1', profile: 'masimo-rad8-ascii1' }, { id: 'c-1', profile: 'cellular-bp-cuff-json' }],
    });
    await assert.rejects(mqttDriver.start(config, { logger, submit: () => Promise.reject(new Error('no submit expected')) }), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'GW_ERR_CONFIG_INVALID');
      assert.match(err.message, /mqtt\.devices\[0\]\.profile: unknown firmware profile "no-such-profile"/);
      assert.match(err.message, /mqtt\.devices\[1\]\.profile: firmware profile "masimo-rad8-ascii1" is a serial profile, not an mqtt one/);
      assert.doesNotMatch(err.message, /devices\[2\]/);
      return true;
    });
  });
});
