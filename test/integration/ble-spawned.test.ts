// `gw start` as a hub runs it: the BLE central finds BlueZ through the standard DBUS_SYSTEM_BUS_ADDRESS (node-ble's
// createBluetooth, no `ble.dbusAddress`), delivers an indication, and SIGTERM disconnects and exits 0.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasDbusDaemon, startPrivateBus, type PrivateBus } from '../support/fake-bluez/dbus-daemon.ts';
import { FAKE_UUID, FakeBluez, type FakeDevice } from '../support/fake-bluez/fake-bluez.ts';
import { ROOT, freePort, spawnGateway, startReceiver, tempDir, waitFor, writeConfigFile, type GatewayChild } from '../support/harness.ts';

const CUFF = 'A4:C1:38:00:02:01';
const skip = hasDbusDaemon() ? false : 'dbus-daemon is not installed (Debian package "dbus"; .ci/run installs it)';

describe('the BLE central in a spawned gateway', { skip }, () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let cuff: FakeDevice;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gw: GatewayChild | undefined;
  let tmp: ReturnType<typeof tempDir>;

  before(async () => {
    bus = await startPrivateBus();
    bluez = await FakeBluez.start(bus.address);
    cuff = bluez.addDevice({ address: CUFF, kind: 'bp-cuff', deviceInformation: { manufacturer: 'Acme', model: 'BP-100', serial: 'SN9', firmware: '2.0' }, requirePairing: true });
    tmp = tempDir('ble-spawn');
    const port = await freePort();
    receiver = await startReceiver(port);
    const file = writeConfigFile(tmp.dir, {
      site: { id: 'home-1' },
      dataDir: join(tmp.dir, 'data'),
      http: { host: '127.0.0.1', port: 0 },
      destinations: [{ id: 'ehr', type: 'mllp', host: '127.0.0.1', port, receivingApplication: 'EHR', receivingFacility: 'CLINIC' }],
      bindings: [{ device: `ble:${CUFF}`, patient: { mrn: 'MRN-7' } }],
      ble: { profilesDir: join(ROOT, 'firmware-profiles'), scanIntervalMs: 50, reconnect: { initialMs: 50, maxMs: 200 }, devices: [{ address: CUFF }] },
    });
    gw = spawnGateway(file, { DBUS_SYSTEM_BUS_ADDRESS: bus.address });
    await gw.url;
  });

  after(async () => {
    if (gw && gw.child.exitCode === null) {
      gw.child.kill('SIGKILL');
      await gw.exited;
    }
    await receiver?.stop();
    await bluez?.stop();
    await bus?.stop();
    tmp?.cleanup();
  });

  it('delivers an indication found through DBUS_SYSTEM_BUS_ADDRESS, and SIGTERM disconnects and exits 0', async () => {
    await waitFor('the cuff subscribed', () => cuff.notifying(FAKE_UUID.bloodPressureMeasurement));
    assert.equal(cuff.paired, true);
    // flags 0: mmHg, no time stamp; 118/76, MAP 90 (SFLOAT exponent 0)
    assert.ok(cuff.indicate(FAKE_UUID.bloodPressureMeasurement, Uint8Array.of(0x00, 118, 0, 76, 0, 90, 0)));
    await waitFor('the ORU^R01', () => receiver.messages.some((m) => m.obx.some((f) => f[3]!.startsWith('8480-6') && f[5] === '118')));
    gw!.child.kill('SIGTERM');
    assert.equal(await gw!.exited, 0, gw!.output().slice(-2000));
    assert.equal(cuff.connected, false, 'disconnected on shutdown');
    assert.equal(bluez.discovering, false, 'discovery stopped on shutdown');
    assert.doesNotMatch(gw!.output(), /"level":(50|60)/, 'no error lines');
  });
});
