// The one place node-ble is loaded: a session on BlueZ's D-Bus (node-ble's createBluetooth, or its Bluetooth
// class on an explicit bus address when `ble.dbusAddress` is set), and the few node-ble internals we reach
// (Device1 properties node-ble has no getter for, listener clean-up after a link dropped).
import { createRequire } from 'node:module';
import type NodeBle from 'node-ble';

const require = createRequire(import.meta.url);

export type BleAdapter = NodeBle.Adapter;
export type BleDevice = NodeBle.Device;
export type BleCharacteristic = NodeBle.GattCharacteristic;

export interface BluezSession {
  bluetooth: NodeBle.Bluetooth;
  /** Closes the D-Bus connection (node-ble's destroy). */
  destroy(): void;
}

/** node-ble's BusHelper, which every node-ble object carries as `helper` (src/BusHelper.js). */
interface BusHelper {
  prop(name: string): Promise<unknown>;
  callMethod(name: string, ...args: unknown[]): Promise<unknown>;
  removeListeners(): void;
}

const helperOf = (o: unknown): BusHelper => (o as { helper: BusHelper }).helper;

export function openBluez(dbusAddress?: string): BluezSession {
  if (dbusAddress === undefined) {
    // dbus-next's systemBus(): DBUS_SYSTEM_BUS_ADDRESS, else unix:path=/var/run/dbus/system_bus_socket
    const { createBluetooth } = require('node-ble') as typeof NodeBle;
    return createBluetooth();
  }
  const dbus = require('dbus-next') as { sessionBus(opts: { busAddress: string }): { disconnect(): void } };
  const Bluetooth = require('node-ble/src/Bluetooth.js') as new (bus: unknown) => NodeBle.Bluetooth;
  const bus = dbus.sessionBus({ busAddress: dbusAddress });
  return { bluetooth: new Bluetooth(bus), destroy: () => bus.disconnect() };
}

/** Adapter.rst SetDiscoveryFilter + StartDiscovery. node-ble's startDiscovery() sets only Transport, and a second
 * SetDiscoveryFilter replaces the first, so the UUID filter is set here through node-ble's own bus helper. */
export async function startFilteredDiscovery(adapter: BleAdapter, serviceUuids: readonly string[]): Promise<void> {
  const dbus = require('dbus-next') as { Variant: new (sig: string, value: unknown) => unknown };
  const helper = helperOf(adapter);
  if (await adapter.isDiscovering()) return;
  await helper.callMethod('SetDiscoveryFilter', { UUIDs: new dbus.Variant('as', [...serviceUuids]), Transport: new dbus.Variant('s', 'le') });
  await helper.callMethod('StartDiscovery');
}

/** Device.rst UUIDs: the service UUIDs the device advertised or resolved. */
export async function deviceUuids(device: BleDevice): Promise<string[]> {
  try {
    return ((await helperOf(device).prop('UUIDs')) as string[] | undefined) ?? [];
  } catch {
    return []; // the property is absent until BlueZ saw an advertisement with UUIDs
  }
}

/** Forget a dropped link's D-Bus signal handlers (node-ble removes them only on a successful Disconnect()). */
export function releaseListeners(o: BleDevice | BleCharacteristic): void {
  o.removeAllListeners();
  try {
    helperOf(o).removeListeners();
  } catch {
    // not prepared yet: nothing subscribed
  }
}
