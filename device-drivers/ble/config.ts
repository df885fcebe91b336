// The `ble:` config section (strict: a typo is an error). Kept apart from driver.ts so gateway/config.ts can
// validate it without loading node-ble / dbus-next.
import { z } from 'zod';

/** A Bluetooth device address as BlueZ prints it (Device.rst Address: "XX:XX:XX:XX:XX:XX"), upper-cased. */
export const BLE_ADDRESS = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;

/** Reading.deviceId of a BLE device: `ble:<ADDRESS>` (upper case, colons). Multi-user: `ble:<ADDRESS>/user/<n>` binds one user. */
export function bleDeviceId(address: string): string {
  return `ble:${address.toUpperCase()}`;
}

export const bleDeviceConfigSchema = z
  .object({
    /** The device's Bluetooth address; only listed devices are ever connected (the allow-list). */
    address: z
      .string()
      .regex(BLE_ADDRESS, 'a Bluetooth address like "A4:C1:38:00:11:22"')
      .transform((a) => a.toUpperCase()),
    /** A `ble` firmware profile id; without it the profile is chosen from Device Information (manufacturer, model, firmware). */
    profile: z.string().min(1).optional(),
    /** Pair (bond) before subscribing; the profile's `requiresPairing` does the same for a whole model. */
    pair: z.boolean().optional(),
  })
  .strict();

export const bleConfigSchema = z
  .object({
    /** BlueZ adapter name (`hciconfig`, `bluetoothctl list`). */
    adapter: z.string().regex(/^hci\d{1,2}$/, 'an adapter name like "hci0"').default('hci0'),
    /** D-Bus address of the system bus BlueZ is on; default DBUS_SYSTEM_BUS_ADDRESS, else /var/run/dbus/system_bus_socket. */
    dbusAddress: z.string().regex(/^unix:/, 'a unix: D-Bus address, e.g. "unix:path=/host/run/dbus/system_bus_socket"').optional(),
    devices: z.array(bleDeviceConfigSchema).default([]),
    /** Where `ble` firmware profiles are found. */
    profilesDir: z.string().min(1).default('./firmware-profiles'),
    /** Devices connected at the same time. 1 for adapters (many USB dongles, some Pi firmware) that cannot hold several links or scan while connected. */
    maxConnections: z.number().int().min(1).max(16).default(4),
    /** How often the discovered-device list is checked for allow-listed devices. */
    scanIntervalMs: z.number().int().min(20).max(60_000).default(1000),
    /**
     * Reconnect back-off after a drop or a failed connect: doubles from initialMs to maxMs, with ±50 % jitter.
     * Kept short by default: cuffs and scales advertise only for a few dozen seconds after a measurement.
     */
    reconnect: z
      .object({ initialMs: z.number().int().min(10).default(1000), maxMs: z.number().int().min(10).default(15_000) })
      .strict()
      .default({ initialMs: 1000, maxMs: 15_000 }),
    /** Longest wait for one D-Bus operation (Connect, Pair, a GATT read); BlueZ's own LE connect gives up after about 30 s. */
    operationTimeoutMs: z.number().int().min(100).max(120_000).default(40_000),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.devices.forEach((d, i) => {
      if (seen.has(d.address)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'address'], message: `device ${d.address} is listed twice` });
      seen.add(d.address);
    });
    if (cfg.reconnect.maxMs < cfg.reconnect.initialMs) ctx.addIssue({ code: 'custom', path: ['reconnect', 'maxMs'], message: 'must be ≥ reconnect.initialMs' });
  });

export type BleConfig = z.infer<typeof bleConfigSchema>;
export type BleDeviceConfig = z.infer<typeof bleDeviceConfigSchema>;
