// The BLE central under adapter limits: one connection at a time when configured, connects that fail are retried
// with back-off, and a missing adapter does not stop the gateway (it says why in /v1/status and the metrics).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasDbusDaemon, startPrivateBus, type PrivateBus } from '../support/fake-bluez/dbus-daemon.ts';
import { FAKE_UUID, FakeBluez, type FakeDevice } from '../support/fake-bluez/fake-bluez.ts';
import { ROOT, freePort, gatewayConfig, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const A = 'A4:C1:38:00:01:0A';
const B = 'A4:C1:38:00:01:0B';
const skip = hasDbusDaemon() ? false : 'dbus-daemon is not installed (Debian package "dbus"; .ci/run installs it)';

describe('BLE central under adapter limits', { skip }, () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let a: FakeDevice;
  let b: FakeDevice;
  const tmps: Array<ReturnType<typeof tempDir>> = [];
  const gateways: Array<Awaited<ReturnType<typeof startTestGateway>>> = [];

  const start = async (ble: Record<string, unknown>) => {
    const tmp = tempDir('ble-limits');
    tmps.push(tmp);
    const gw = await startTestGateway(
      gatewayConfig({
        dataDir: tmp.dir,
        mllpPort: await freePort(),
        ble: { dbusAddress: bus.address, profilesDir: join(ROOT, 'firmware-profiles'), scanIntervalMs: 50, reconnect: { initialMs: 40, maxMs: 200 }, operationTimeoutMs: 5000, ...ble },
      }),
    );
    gateways.push(gw);
    return gw;
  };
  const metric = async (gw: Awaited<ReturnType<typeof startTestGateway>>, name: string): Promise<string> =>
    (await gw.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name)).join('\n');

  before(async () => {
    bus = await startPrivateBus();
    bluez = await FakeBluez.start(bus.address);
    a = bluez.addDevice({ address: A, kind: 'bp-cuff' });
    b = bluez.addDevice({ address: B, kind: 'bp-cuff' });
  });

  after(async () => {
    for (const gw of gateways) await gw.close();
    await bluez?.stop();
    await bus?.stop();
    for (const t of tmps) t.cleanup();
  });

  it('with maxConnections 1 the second device waits until the first link is gone', async () => {
    bluez.refuseConnections.add(A); // a first refusal, to see the back-off retry too
    const gw = await start({ maxConnections: 1, devices: [{ address: A }, { address: B }] });
    await waitFor('one device subscribed', () => a.notifying(FAKE_UUID.bloodPressureMeasurement) || b.notifying(FAKE_UUID.bloodPressureMeasurement));
    const [first, second] = a.connected ? [a, b] : [b, a];
    await new Promise((r) => setTimeout(r, 300)); // several scan ticks
    assert.equal(second.connected, false, 'never two links at once');

    bluez.refuseConnections.delete(A);
    first.dropConnection();
    await waitFor('the other device gets the slot', () => second.notifying(FAKE_UUID.bloodPressureMeasurement), 10_000);
    assert.equal(first.connected, false);
    await gw.close();
    gateways.pop();
    assert.equal(a.connected || b.connected, false);
  });

  it('a refused connect is retried with back-off until it succeeds', async () => {
    bluez.refuseConnections.add(B);
    const gw = await start({ devices: [{ address: B }] });
    await waitFor('three refused connects', () => b.connectCalls >= 3 && b);
    const status = (await (await fetch(`${gw.url}/v1/status`)).json()) as { drivers: { ble: { devices: Array<{ lastError?: { code: string } }> } } };
    assert.equal(status.drivers.ble.devices[0]!.lastError?.code, 'GW_ERR_BLE_CONNECT');
    assert.match(await metric(gw, 'gateway_ble_errors_total'), /reason="GW_ERR_BLE_CONNECT"/);
    assert.match(await metric(gw, 'gateway_ble_disconnects_total'), /reason="setup-failed"/);
    bluez.refuseConnections.delete(B);
    await waitFor('connected after the refusals', () => b.notifying(FAKE_UUID.bloodPressureMeasurement), 10_000);
  });

  it('a missing adapter leaves the gateway running and says why', async () => {
    const gw = await start({ adapter: 'hci7', devices: [{ address: A }] });
    const status = (await (await fetch(`${gw.url}/v1/status`)).json()) as { drivers: { ble: { adapterUp: boolean; adapterProblem?: string } } };
    assert.equal(status.drivers.ble.adapterUp, false);
    assert.match(status.drivers.ble.adapterProblem ?? '', /Adapter not found/);
    assert.match(await metric(gw, 'gateway_ble_errors_total'), /reason="GW_ERR_BLE_ADAPTER"/);
    assert.ok(gw.logs.some((l) => l.code === 'GW_ERR_BLE_ADAPTER' && l.driver === 'ble'));
  });
});
