// MQTT over TLS with certificates made by openssl in the test: a CA, a server certificate for 127.0.0.1, and
// device certificates whose CN is the device id. A certificate is a device's login; a password still works.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mqttConfigSchema } from '../../device-drivers/mqtt/config.ts';
import { startMqttBroker } from '../../device-drivers/mqtt/driver.ts';
import { compactBp, connect, DEVICES, MQTT_BINDINGS, mqttSection } from '../../device-drivers/mqtt/fixtures.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { freePort, gatewayConfig, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const run = promisify(execFile);
type Receiver = Awaited<ReturnType<typeof startReceiver>>;
type TestGateway = Awaited<ReturnType<typeof startTestGateway>>;

async function makePki(dir: string): Promise<void> {
  const ssl = (...args: string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  const key = (name: string): Promise<unknown> => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`);
  await key('ca');
  await ssl('req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=rpm-test-ca');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn, ext] of [['server', 'localhost', 'server.ext'], ['scale-3', 'scale-3', 'client.ext'], ['intruder', 'intruder-9', 'client.ext']] as const) {
    await key(name);
    await ssl('req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    await ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext);
  }
}

describe('MQTT over TLS with device certificates', () => {
  let receiver: Receiver;
  let gateway: TestGateway;
  let tmp: ReturnType<typeof tempDir>;
  let tlsPort: number;
  const file = (name: string): string => join(tmp.dir, name);
  const tlsOptions = (name?: string): Record<string, unknown> => ({
    ca: readFileSync(file('ca.crt')),
    ...(name ? { cert: readFileSync(file(`${name}.crt`)), key: readFileSync(file(`${name}.key`)) } : {}),
    rejectUnauthorized: true,
  });
  const arrived = (systolic: number): boolean => receiver.messages.some((m) => m.obx.some((f) => f[3]!.startsWith('8480-6') && f[5] === String(systolic)));

  before(async () => {
    tmp = tempDir('mqtt-tls');
    await makePki(tmp.dir);
    const mllpPort = await freePort();
    tlsPort = await freePort();
    receiver = await startReceiver(mllpPort);
    const mqtt = await mqttSection(await freePort(), {
      tls: { host: '127.0.0.1', port: tlsPort, certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt') },
    });
    gateway = await startTestGateway(gatewayConfig({ dataDir: join(tmp.dir, 'data'), mllpPort, bindings: MQTT_BINDINGS, mqtt }));
  });

  after(async () => {
    await gateway.close();
    await receiver.stop();
    tmp.cleanup();
  });

  it('a device logs in with its client certificate alone (CN = device id) and its reading reaches the EHR', async () => {
    const client = await connect(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 5, ...tlsOptions('scale-3') });
    await client.publishAsync('rpm/scale-3/reading', compactBp(1, 151), { qos: 1 });
    await waitFor('the TLS reading at the receiver', () => arrived(151));
    assert.ok(gateway.logs.some((l) => l.msg === 'MQTT client authenticated' && l.deviceId === 'scale-3' && l.via === 'certificate' && l.listener === 'tls'));
    // the certificate names scale-3, so scale-3's ACL applies
    await assert.rejects(client.publishAsync('rpm/cuff-7/reading', compactBp(2, 152), { qos: 1 }), { code: 0x87 });
    await client.endAsync();
  });

  it('mosquitto_pub with a client certificate publishes over TLS', async () => {
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tlsPort), '-V', 'mqttv311', '-q', '1', '--cafile', file('ca.crt'),
      '--cert', file('scale-3.crt'), '--key', file('scale-3.key'), '-t', 'rpm/scale-3/reading', '-m', compactBp(3, 153)]);
    await waitFor('the mosquitto TLS reading at the receiver', () => arrived(153));
  });

  it('a device without a certificate may still log in with its password over TLS', async () => {
    const client = await connect(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 4, username: DEVICES.cuff7.username, password: DEVICES.cuff7.password, ...tlsOptions() });
    await client.publishAsync('rpm/cuff-7/reading', compactBp(4, 154), { qos: 1 });
    await waitFor('the password-over-TLS reading at the receiver', () => arrived(154));
    await client.endAsync();
  });

  it('refuses a valid certificate whose CN names no configured device', async () => {
    await assert.rejects(connect(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 5, ...tlsOptions('intruder') }), { code: 0x87 });
    assert.ok(gateway.logs.some((l) => l.msg === 'MQTT connect refused' && l.code === 'GW_ERR_MQTT_CERT_UNKNOWN'));
  });

  it('with requireClientCert, refuses a TLS client without a certificate before MQTT starts', async () => {
    const { logger, lines } = createMemoryLogger('info');
    const port = await freePort();
    const config = mqttConfigSchema.parse({
      ...(await mqttSection(await freePort())),
      tls: { host: '127.0.0.1', port, certFile: file('server.crt'), keyFile: file('server.key'), caFile: file('ca.crt'), requireClientCert: true },
    });
    const broker = await startMqttBroker(config, { logger, submit: () => Promise.reject(new Error('no reading expected')) });
    try {
      await assert.rejects(connect(`mqtts://127.0.0.1:${port}`, { protocolVersion: 4, username: DEVICES.cuff7.username, password: DEVICES.cuff7.password, ...tlsOptions() }));
      const device = await connect(`mqtts://127.0.0.1:${port}`, { protocolVersion: 4, ...tlsOptions('scale-3') });
      await device.endAsync();
      assert.ok(lines.some((l) => l.msg === 'TLS handshake refused'));
    } finally {
      await broker.stop();
    }
  });
});
