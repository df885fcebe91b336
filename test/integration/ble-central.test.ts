// The BLE central for real, without radio hardware: a private dbus-daemon, a fake org.bluez on it
// (test/support/fake-bluez), and the gateway's central using the real node-ble. A cuff is discovered,
// paired, identified, its clock set, an indication becomes an ORU^R01 at an independent MLLP receiver; the
// link drops and comes back; a stranger is never connected; a multi-user scale's unbound user waits in quarantine.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hasDbusDaemon, startPrivateBus, type PrivateBus } from '../support/fake-bluez/dbus-daemon.ts';
import { FAKE_UUID, FakeBluez, type FakeDevice } from '../support/fake-bluez/fake-bluez.ts';
import { ROOT, freePort, gatewayConfig, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const CUFF = 'A4:C1:38:00:00:01';
const SCALE = 'A4:C1:38:00:00:02';
const STRANGER = 'A4:C1:38:00:00:99';
const LOINC = { systolic: '8480-6', diastolic: '8462-4', weight: '29463-7' } as const;

/** Blood Pressure Measurement 0x2A35 (GSS §3.31): flags, systolic/diastolic/MAP SFLOAT mmHg, optional time stamp. */
function bpFrame(systolic: number, diastolic: number, mean: number, at?: { year: number; month: number; day: number; hour: number; minute: number }): Uint8Array {
  const sfloat = (v: number): number[] => [v & 0xff, (v >> 8) & 0x0f]; // exponent 0
  const head = [at ? 0x02 : 0x00, ...sfloat(systolic), ...sfloat(diastolic), ...sfloat(mean)];
  return Uint8Array.from(at ? [...head, at.year & 0xff, at.year >> 8, at.month, at.day, at.hour, at.minute, 0] : head);
}

/** Weight Measurement 0x2A9D (GSS §3.236): flags 0x04 = SI, user id present; weight uint16 × 0.005 kg. */
function weightFrame(kg: number, user: number): Uint8Array {
  const raw = Math.round(kg / 0.005);
  return Uint8Array.of(0x04, raw & 0xff, raw >> 8, user);
}

const skip = hasDbusDaemon() ? false : 'dbus-daemon is not installed (Debian package "dbus"; .ci/run installs it)';

describe('BLE central through BlueZ on a private D-Bus', { skip }, () => {
  let bus: PrivateBus;
  let bluez: FakeBluez;
  let cuff: FakeDevice;
  let scale: FakeDevice;
  let stranger: FakeDevice;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let gateway: Awaited<ReturnType<typeof startTestGateway>>;
  let tmp: ReturnType<typeof tempDir>;
  let closed = false;

  const withValue = (loinc: string, value: string) => receiver.messages.filter((m) => m.obx.some((f) => f[3]!.startsWith(loinc) && f[5] === value));
  const metric = async (name: string): Promise<string> => {
    const text = await gateway.metrics.registry.metrics();
    return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
  };

  before(async () => {
    bus = await startPrivateBus();
    bluez = await FakeBluez.start(bus.address);
    cuff = bluez.addDevice({
      address: CUFF,
      name: 'BP-100',
      kind: 'bp-cuff',
      deviceInformation: { manufacturer: 'Acme', model: 'BP-100', serial: 'SN123', firmware: 'fw 2.1' },
      requirePairing: true,
      battery: 87,
    });
    scale = bluez.addDevice({ address: SCALE, name: 'WS-20', kind: 'scale', deviceInformation: { manufacturer: 'Acme', model: 'WS-20', serial: 'SC9', firmware: '1.4' } });
    stranger = bluez.addDevice({ address: STRANGER, name: 'neighbour cuff', kind: 'bp-cuff' });
    tmp = tempDir('ble');
    const port = await freePort();
    receiver = await startReceiver(port);
    gateway = await startTestGateway(
      gatewayConfig({
        dataDir: tmp.dir,
        mllpPort: port,
        clock: { skewToleranceSeconds: 300 },
        bindings: [
          { device: `ble:${CUFF}`, patient: { mrn: 'MRN-CUFF', system: 'urn:oid:1.2.3.4' } },
          { device: `ble:${SCALE}`, patient: { mrn: 'MRN-DEVICE-LEVEL', system: 'urn:oid:1.2.3.4' } },
          { device: `ble:${SCALE}/user/1`, patient: { mrn: 'MRN-USER-1', system: 'urn:oid:1.2.3.4' } },
        ],
        ble: {
          dbusAddress: bus.address,
          adapter: 'hci0',
          profilesDir: join(ROOT, 'firmware-profiles'),
          scanIntervalMs: 50,
          reconnect: { initialMs: 50, maxMs: 400 },
          operationTimeoutMs: 5000,
          devices: [{ address: CUFF.toLowerCase() }, { address: SCALE }],
        },
      }),
    );
  });

  after(async () => {
    if (!closed) await gateway?.close();
    await receiver?.stop();
    await bluez?.stop();
    await bus?.stop();
    tmp?.cleanup();
  });

  it('discovers the cuff with a health-service filter, pairs, reads Device Information and writes Current Time', async () => {
    const before = Date.now();
    await waitFor('the cuff subscribed', () => cuff.notifying(FAKE_UUID.bloodPressureMeasurement));
    const afterSubscribe = Date.now();
    assert.ok((bluez.discoveryFilter.UUIDs as string[]).includes(FAKE_UUID.bloodPressure), 'discovery is filtered to the health services');
    assert.equal(bluez.discoveryFilter.Transport, 'le');
    assert.equal(cuff.paired, true, 'the Acme BP-100 profile requires pairing');
    assert.equal(cuff.pairCalls, 1);

    // CTS 1.1 / GSS §3.62 Current Time: year LE, month, day, hours, minutes, seconds, day of week, fractions256, adjust reason
    const writes = cuff.writes(FAKE_UUID.currentTime);
    assert.equal(writes.length, 1, 'Current Time written once per connection');
    const b = writes[0]!;
    assert.equal(b.length, 10);
    const written = new Date(b[0]! | (b[1]! << 8), b[2]! - 1, b[3]!, b[4]!, b[5]!, b[6]!); // the hub's local wall clock
    assert.ok(written.getTime() >= before - 2000 && written.getTime() <= afterSubscribe + 1000, `Current Time ${written.toISOString()} is the hub's clock`);
    const dow = written.getDay() === 0 ? 7 : written.getDay();
    assert.equal(b[7], dow, 'day of week, 1 = Monday … 7 = Sunday');
    assert.equal(b[9], 0x02, 'adjust reason: external reference time update');

    const status = (await (await fetch(`${gateway.url}/v1/status`)).json()) as { drivers: { ble: { devices: Array<Record<string, unknown>> } } };
    const cuffStatus = status.drivers.ble.devices.find((d) => d.address === CUFF)!;
    assert.equal(cuffStatus.connected, true);
    assert.equal(cuffStatus.profile, 'ble-acme-bp-100', 'selected from Device Information Acme / BP-100 / fw 2.1');
    assert.equal(cuffStatus.battery, 87);
  });

  it('an indicated blood pressure with a wrong device clock reaches the EHR; both times are kept and gateway time is used', async () => {
    assert.ok(cuff.indicate(FAKE_UUID.bloodPressureMeasurement, bpFrame(121, 79, 93, { year: 2020, month: 1, day: 1, hour: 0, minute: 0 })));
    const [msg] = await waitFor('the ORU^R01', () => withValue(LOINC.systolic, '121').length > 0 && withValue(LOINC.systolic, '121'));
    assert.ok(msg!.obx.some((f) => f[3]!.startsWith(LOINC.diastolic) && f[5] === '79'), 'diastolic in the same message');
    assert.match(msg!.text, /ORU\^R01/);
    assert.ok(msg!.pid.join('|').includes('MRN-CUFF'));

    const entry = (await gateway.buffer.read(0n, 100)).find((e) => JSON.stringify(e.observation).includes(`ble:${CUFF}`));
    const obs = entry!.observation;
    const ext = (url: string) => obs.extension?.find((e) => e.url === url);
    assert.equal(ext('urn:rpm-gateway:fhir:effective-time-source')?.valueCode, 'gateway', 'the 2020 device clock is outside the skew tolerance');
    assert.equal(ext('urn:rpm-gateway:fhir:device-time')?.valueDateTime?.slice(0, 10), '2020-01-01', 'the device time is kept');
    assert.notEqual(obs.effectiveDateTime?.slice(0, 4), '2020');
  });

  it('shows the cuff\'s battery level on the status page\'s device list once it has sent a reading', async () => {
    const devices = async (): Promise<Array<{ deviceId: string; batteryPercent?: number }>> =>
      ((await (await fetch(`${gateway.url}/v1/devices`, { headers: { authorization: 'Bearer test-admin-token' } })).json()) as { devices: Array<{ deviceId: string; batteryPercent?: number }> }).devices;
    assert.ok(cuff.indicate(FAKE_UUID.bloodPressureMeasurement, bpFrame(118, 76, 90)));
    const row = await waitFor('the cuff in the device list', async () => (await devices()).find((d) => d.deviceId === `ble:${CUFF}`));
    assert.equal(row.batteryPercent, 87);
  });

  it('after the cuff drops the link mid-session, the central reconnects and the next indication is delivered', async () => {
    const connects = cuff.connectCalls;
    cuff.dropConnection();
    await waitFor('the reconnect', () => cuff.connectCalls > connects && cuff.notifying(FAKE_UUID.bloodPressureMeasurement));
    assert.equal(cuff.writes(FAKE_UUID.currentTime).length, 2, 'the clock is set again on the new connection');
    assert.ok(cuff.indicate(FAKE_UUID.bloodPressureMeasurement, Uint8Array.of(0x02, 0x78, 0x00)), 'a corrupt frame first: flags announce fields the bytes lack');
    assert.ok(cuff.indicate(FAKE_UUID.bloodPressureMeasurement, bpFrame(133, 86, 101)));
    await waitFor('the second ORU^R01', () => withValue(LOINC.systolic, '133').length > 0);
    assert.match(await metric('gateway_ble_decode_failures_total'), /characteristic="2a35"[^\n]*reason="GW_ERR_BLE_FRAME_SHORT"[^\n]* 1|reason="GW_ERR_BLE_FRAME_SHORT"[^\n]*characteristic="2a35"[^\n]* 1/);
    assert.ok(gateway.logs.some((l) => l.deviceId === `ble:${CUFF}` && String(l.msg).startsWith('BLE value refused: GW_ERR_BLE_FRAME_SHORT')));
    assert.match(await metric('gateway_ble_disconnects_total'), /reason="device"[^\n]* 1/);
    assert.match(await metric('gateway_ble_reconnect_attempts_total'), /\} [1-9]/);
    assert.match(await metric('gateway_ble_connections_total'), /\} [2-9]/);
  });

  it('a device outside the allow-list is discovered but never connected', async () => {
    await waitFor('the ignore log line', () => gateway.logs.some((l) => l.msg === 'BLE device discovered but not in ble.devices: ignored' && l.address === STRANGER));
    assert.equal(stranger.connectCalls, 0);
    assert.equal(stranger.connected, false);
  });

  it("a multi-user scale: user 1's weight goes to user 1's patient; unbound user 2 waits in quarantine despite the device-level binding", async () => {
    await waitFor('the scale subscribed', () => scale.notifying(FAKE_UUID.weightMeasurement));
    assert.equal(scale.writes(FAKE_UUID.currentTime).length, 0, 'the WS-20 profile skips Current Time');
    assert.ok(scale.indicate(FAKE_UUID.weightMeasurement, weightFrame(70, 1)));
    const [one] = await waitFor('user 1 delivered', () => withValue(LOINC.weight, '70').length > 0 && withValue(LOINC.weight, '70'));
    assert.ok(one!.pid.join('|').includes('MRN-USER-1'));

    assert.ok(scale.indicate(FAKE_UUID.weightMeasurement, weightFrame(82.5, 2)));
    const [held] = await waitFor('user 2 quarantined', async () => {
      const q = await gateway.buffer.quarantine.list(`ble:${SCALE}`);
      return q.length > 0 && q;
    });
    assert.match(held!.reason, /user 2/);
    assert.equal(withValue(LOINC.weight, '82.5').length, 0, 'never attributed to the device-level patient');

    // The field tech binds user 2 through the admin API: the held weight is released to that patient.
    const res = await fetch(`${gateway.url}/v1/bindings/${encodeURIComponent(`ble:${SCALE}/user/2`)}`, {
      method: 'PUT',
      headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' },
      body: JSON.stringify({ patient: { mrn: 'MRN-USER-2', system: 'urn:oid:1.2.3.4' } }),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { release: { released: number } }).release.released, 1);
    const [two] = await waitFor('user 2 delivered', () => withValue(LOINC.weight, '82.5').length > 0 && withValue(LOINC.weight, '82.5'));
    assert.ok(two!.pid.join('|').includes('MRN-USER-2'));
  });

  it('the gateway stops cleanly: discovery off, devices disconnected', async () => {
    await gateway.close();
    closed = true;
    assert.equal(cuff.connected, false);
    assert.equal(scale.connected, false);
    assert.equal(bluez.discovering, false);
  });
});
