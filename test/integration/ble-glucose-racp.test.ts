// Glucose meters over BLE: indications are confirmed by BlueZ before the gateway sees them, so durability is
// recovered at the application layer: the central asks the meter's Record Access Control Point for every
// record ≥ (last durable sequence + 1), kept per meter in the buffer's state store across reconnects and restarts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasDbusDaemon, startPrivateBus, type PrivateBus } from '../support/fake-bluez/dbus-daemon.ts';
import { FAKE_UUID, FakeBluez, type FakeDevice } from '../support/fake-bluez/fake-bluez.ts';
import { ROOT, freePort, gatewayConfig, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const METER = 'A4:C1:38:00:00:07';

/** Glucose Measurement 0x2A18 (GSS §3.106): flags 0x06 = concentration + type/location, mol/L; sequence; base time; SFLOAT; type/location. */
function glucoseRecord(sequence: number, mmolPerL10: number): { sequence: number; bytes: Uint8Array } {
  const sfloat = (0xc << 12) | mmolPerL10; // exponent −4 mol/L: 55 → 0.0055 mol/L = 5.5 mmol/L
  return { sequence, bytes: Uint8Array.of(0x06, sequence & 0xff, sequence >> 8, 0xea, 0x07, 11, 23, 7, sequence, 0, sfloat & 0xff, sfloat >> 8, 0x11) };
}

const racpFrom = (bytes: Uint8Array): number => {
  // GLS 1.0 §4.10 / GSS §3.177: 01 (report stored records) 03 (≥) 01 (filter: sequence number) lo hi
  assert.deepEqual([...bytes.slice(0, 3)], [0x01, 0x03, 0x01]);
  return bytes[3]! | (bytes[4]! << 8);
};

const skip = hasDbusDaemon() ? false : 'dbus-daemon is not installed (Debian package "dbus"; .ci/run installs it)';

describe('glucose records through the Record Access Control Point', { skip }, () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let meter: FakeDevice;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gateway: Awaited<ReturnType<typeof startTestGateway>> | undefined;
  let tmp: ReturnType<typeof tempDir>;
  let port: number;

  const start = async () =>
    startTestGateway(
      gatewayConfig({
        dataDir: tmp.dir,
        mllpPort: port,
        bindings: [{ device: `ble:${METER}`, patient: { mrn: 'MRN-GLU', system: 'urn:oid:1.2.3.4' } }],
        ble: { dbusAddress: bus.address, profilesDir: join(ROOT, 'firmware-profiles'), scanIntervalMs: 50, reconnect: { initialMs: 50, maxMs: 400 }, operationTimeoutMs: 5000, devices: [{ address: METER }] },
      }),
    );

  before(async () => {
    bus = await startPrivateBus();
    bluez = await FakeBluez.start(bus.address);
    meter = bluez.addDevice({ address: METER, kind: 'glucose-meter', deviceInformation: { manufacturer: 'Acme', model: 'GM-1', serial: 'G1', firmware: '1.0' }, storedRecords: [glucoseRecord(1, 55), glucoseRecord(2, 61)] });
    tmp = tempDir('ble-racp');
    port = await freePort();
    receiver = await startReceiver(port);
    gateway = await start();
  });

  after(async () => {
    await gateway?.close();
    await receiver?.stop();
    await bluez?.stop();
    await bus?.stop();
    tmp?.cleanup();
  });

  it('on first contact the central asks for every stored record and each reaches the EHR', async () => {
    await waitFor('the RACP request', () => meter.writes(FAKE_UUID.racp).length === 1);
    assert.equal(racpFrom(meter.writes(FAKE_UUID.racp)[0]!), 0);
    await waitFor('two ORU^R01', () => receiver.messages.length === 2);
  });

  it('after a drop only records after the last durable one are asked for', async () => {
    meter.spec.storedRecords!.push(glucoseRecord(3, 72));
    meter.dropConnection();
    await waitFor('the second RACP request', () => meter.writes(FAKE_UUID.racp).length === 2);
    assert.equal(racpFrom(meter.writes(FAKE_UUID.racp)[1]!), 3);
    await waitFor('the third ORU^R01', () => receiver.messages.length === 3);
  });

  it('the last durable sequence survives a gateway restart', async () => {
    await gateway!.close();
    gateway = await start();
    await waitFor('the RACP request after restart', () => meter.writes(FAKE_UUID.racp).length === 3);
    assert.equal(racpFrom(meter.writes(FAKE_UUID.racp)[2]!), 4);
    assert.equal(receiver.messages.length, 3, 'nothing delivered twice');
  });
});
