// The BLE central: one BlueZ adapter, discovery filtered to the health services (Adapter.rst
// SetDiscoveryFilter UUIDs), and a DeviceLink for each allow-listed address. Devices outside `ble.devices`
// are never connected. An adapter that is missing or off at start (BlueZ not up yet on a booting hub) is
// retried with back-off instead of stopping the gateway; /v1/status says what is wrong.
import { resolve } from 'node:path';
import type { DriverContext, RunningDriver } from '../../../gateway/driver.ts';
import { GatewayError, errorMessage } from '../../../gateway/errors.ts';
import { ProfileRegistry } from '../../../gateway/profiles/registry.ts';
import { HEALTH_SERVICES } from '../gatt/index.ts';
import type { BleConfig } from '../config.ts';
import { reconnectDelayMs } from './backoff.ts';
import { openBluez, startFilteredDiscovery, type BleAdapter, type BluezSession } from './bluez.ts';
import { ConnectionSlots, DeviceLink, type StateStore } from './device-link.ts';

export interface BleCentralDeps {
  /** The buffer's state store: the last durable glucose record per meter (RACP). */
  state?: StateStore;
}

export async function startBleCentral(config: BleConfig, ctx: DriverContext, deps: BleCentralDeps = {}): Promise<RunningDriver> {
  const log = ctx.logger.child({ driver: 'ble' });
  const registry = new ProfileRegistry({ dir: resolve(config.profilesDir), logger: log.child({ stage: 'profiles' }), ...(ctx.metrics ? { metrics: ctx.metrics } : {}) });
  registry.load();
  // validate → plan → apply: a configured profile must exist and be a ble one before anything connects.
  const bad = config.devices.flatMap((d, i) => {
    if (d.profile === undefined) return [];
    const p = registry.get(d.profile);
    if (!p) return [`ble.devices[${i}].profile: unknown firmware profile "${d.profile}" in ${registry.dir}`];
    return p.transport.kind === 'ble' ? [] : [`ble.devices[${i}].profile: firmware profile "${d.profile}" is a ${p.transport.kind} profile, not a ble one`];
  });
  if (bad.length > 0) {
    registry.close();
    throw new GatewayError('GW_ERR_CONFIG_INVALID', [bad.join('; ')]);
  }
  registry.watch();
  if (config.devices.length === 0) log.warn('ble: no devices configured; the central scans but connects nothing (add ble.devices)');

  let session: BluezSession;
  try {
    session = openBluez(config.dbusAddress);
  } catch (err) {
    registry.close();
    throw new GatewayError('GW_ERR_BLE_ADAPTER', [config.adapter, `cannot open the D-Bus connection: ${(err as Error).message}`], { cause: err });
  }
  // dbus-next emits 'error' when the bus goes away; unhandled it would end the process.
  (session.bluetooth as unknown as { dbus?: { on?(e: string, f: (err: Error) => void): void } }).dbus?.on?.('error', (err) => {
    ctx.metrics?.bleErrors.inc({ transport: 'ble', reason: 'GW_ERR_BLE_ADAPTER' });
    log.error({ code: 'GW_ERR_BLE_ADAPTER', err: err.message }, errorMessage('GW_ERR_BLE_ADAPTER', config.adapter, `D-Bus connection error: ${err.message}`));
  });

  const allowed = new Set(config.devices.map((d) => d.address));
  const slots = new ConnectionSlots(config.maxConnections);
  const links = new Map<string, DeviceLink>();
  let adapter: BleAdapter | undefined;
  let adapterProblem: string | undefined = 'not started';
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let polling: Promise<void> | undefined;
  const ignored = new Set<string>();

  const linkFor = (address: string): DeviceLink => {
    let link = links.get(address);
    if (!link) {
      const device = config.devices.find((d) => d.address === address)!;
      link = new DeviceLink({ adapter: adapter!, device, config, ctx, logger: ctx.logger, profiles: () => registry.list(), slots, state: deps.state });
      links.set(address, link);
    }
    return link;
  };

  const schedule = (ms: number): void => {
    if (stopping) return;
    timer = setTimeout(() => {
      polling = tick().finally(() => (polling = undefined));
    }, ms);
    timer.unref();
  };

  /** Adapter up? discovery on? any allow-listed device discovered? Then the next tick. */
  const tick = async (): Promise<void> => {
    try {
      if (!adapter) {
        const a = await session.bluetooth.getAdapter(config.adapter);
        if (!(await a.isPowered())) throw new Error('powered off (bluetoothctl power on; rfkill unblock bluetooth)');
        await startFilteredDiscovery(a, HEALTH_SERVICES.map((s) => s.service));
        adapter = a;
        adapterProblem = undefined;
        attempt = 0;
        log.info({ adapter: config.adapter, devices: config.devices.length, services: HEALTH_SERVICES.map((s) => s.name) }, 'BLE discovery started');
      }
      for (const address of await adapter.devices()) {
        const upper = address.toUpperCase();
        if (allowed.has(upper)) {
          linkFor(upper).seen();
        } else if (!ignored.has(upper)) {
          ignored.add(upper); // the allow-list: never connected, logged once
          log.info({ address: upper }, 'BLE device discovered but not in ble.devices: ignored');
        }
      }
      schedule(config.scanIntervalMs);
    } catch (err) {
      if (stopping) return;
      adapterProblem = (err as Error).message;
      adapter = undefined;
      ctx.metrics?.bleErrors.inc({ transport: 'ble', reason: 'GW_ERR_BLE_ADAPTER' });
      const delay = reconnectDelayMs(config.reconnect, attempt++);
      log.error({ code: 'GW_ERR_BLE_ADAPTER', retryInMs: delay }, errorMessage('GW_ERR_BLE_ADAPTER', config.adapter, adapterProblem));
      schedule(delay);
    }
  };
  polling = tick().finally(() => (polling = undefined));
  await polling;

  return {
    status() {
      return {
        adapter: config.adapter,
        adapterUp: adapter !== undefined,
        ...(adapterProblem !== undefined ? { adapterProblem } : {}),
        devices: config.devices.map((d) => links.get(d.address)?.status() ?? { address: d.address, deviceId: `ble:${d.address}`, state: 'not-discovered', connected: false, connections: 0 }),
      };
    },
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await polling;
      await Promise.all([...links.values()].map((l) => l.stop()));
      if (adapter) {
        try {
          if (await adapter.isDiscovering()) await adapter.stopDiscovery();
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'stop discovery failed');
        }
      }
      registry.close();
      session.destroy();
      log.info('BLE central stopped');
    },
  };
}
