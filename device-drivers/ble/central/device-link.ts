// One allow-listed BLE device's link: connect → Device Information → firmware profile → pair if required →
// Current Time → subscribe → each value through the GATT decoder session → ctx.submit(); on a drop, flush and
// reconnect with jittered, capped back-off. One instance per configured address.
//
// Durability: BlueZ confirms an indication itself (ATT Handle Value Confirmation, Core Spec Vol 3 Part F
// §3.4.7.3) before the D-Bus PropertiesChanged reaches us, so "acknowledge only once durable" cannot be enforced
// at the ATT layer. What the gateway can do: glucose meters keep their records, so the Record Access Control
// Point asks for every record ≥ (last durable sequence + 1), stored per device in the buffer's state store;
// a record that was indicated but not made durable (gateway down, buffer refused) is fetched again next time.
import type { DriverContext } from '../../../gateway/driver.ts';
import { errorMessage, type ErrorCode } from '../../../gateway/errors.ts';
import type { Logger } from '../../../gateway/logger.ts';
import type { BleFirmwareProfile, FirmwareProfile } from '../../../gateway/profiles/schema.ts';
import type { Reading } from '../../../gateway/types.ts';
import { CHARACTERISTIC, HEALTH_SERVICES, SERVICE, createGattSession, decodeRacpResponse, encodeCurrentTime, encodeRacpReportSince, normalizeUuid, type DecodeNote, type GattSession } from '../gatt/index.ts';
import { createDecodeReporter } from '../gatt/report.ts';
import { bleDeviceId, type BleConfig, type BleDeviceConfig } from '../config.ts';
import { reconnectDelayMs } from './backoff.ts';
import { releaseListeners, type BleAdapter, type BleCharacteristic, type BleDevice } from './bluez.ts';
import { selectBleProfile, STANDARD_PROFILE_ID, type DeviceInformation } from './profile-select.ts';

const BATTERY_SERVICE = normalizeUuid('180f');
const BATTERY_LEVEL = normalizeUuid('2a19'); // Battery Service 1.0 §3.1, uint8 percent
const RACP_KEY_PREFIX = 'ble/racp-last-durable/';

/** The buffer's small sealed key/value store (gateway/buffer/types.ts ObservationBuffer.state). */
export interface StateStore {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
}

/** Connections at once (ble.maxConnections): a slot is held from connect until the link is gone. */
export class ConnectionSlots {
  #free: number;
  readonly #waiting: Array<() => void> = [];
  constructor(size: number) {
    this.#free = size;
  }
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

export const LinkState = {
  idle: 'idle',
  waiting: 'waiting-for-slot',
  connecting: 'connecting',
  connected: 'connected',
  backoff: 'backoff',
  stopped: 'stopped',
} as const;
export type LinkState = (typeof LinkState)[keyof typeof LinkState];

export const DropReason = { device: 'device', setupFailed: 'setup-failed', shutdown: 'shutdown' } as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export interface DeviceLinkDeps {
  adapter: BleAdapter;
  device: BleDeviceConfig;
  config: Pick<BleConfig, 'reconnect' | 'operationTimeoutMs'>;
  ctx: DriverContext;
  logger: Logger;
  profiles: () => readonly FirmwareProfile[];
  slots: ConnectionSlots;
  state?: StateStore | undefined;
}

/** A failed BLE operation: the registry code and the message, for the log, the metric and /v1/status. */
class LinkFault extends Error {
  constructor(readonly code: ErrorCode, args: unknown[]) {
    super(errorMessage(code, ...args));
  }
}

export interface DeviceLinkStatus {
  address: string;
  deviceId: string;
  state: LinkState;
  connected: boolean;
  profile?: string;
  manufacturer?: string;
  model?: string;
  firmware?: string;
  battery?: number;
  lastReadingAt?: string;
  lastError?: { code: string; at: string };
  connections: number;
}

export class DeviceLink {
  readonly address: string;
  readonly deviceId: string;
  readonly #deps: DeviceLinkDeps;
  readonly #log: Logger;
  #state: LinkState = LinkState.idle;
  #generation = 0;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #device: BleDevice | undefined;
  #characteristics: BleCharacteristic[] = [];
  #session: GattSession | undefined;
  #holdsSlot = false;
  #queue: Promise<void> = Promise.resolve();
  #profile: BleFirmwareProfile | undefined;
  #info: DeviceInformation = {};
  #battery: number | undefined;
  #lastReadingAt: string | undefined;
  #lastError: { code: string; at: string } | undefined;
  #connections = 0;
  #decodeCtx = { deviceId: '', profileId: STANDARD_PROFILE_ID, receivedAt: '', deviceUtcOffsetMinutes: undefined as number | undefined };

  constructor(deps: DeviceLinkDeps) {
    this.#deps = deps;
    this.address = deps.device.address;
    this.deviceId = bleDeviceId(this.address);
    this.#log = deps.logger.child({ driver: 'ble', deviceId: this.deviceId });
  }

  /** Discovery saw the device: connect unless a link or a back-off timer is already in place. */
  seen(): void {
    if (this.#state !== LinkState.idle) return;
    void this.#connect();
  }

  status(): DeviceLinkStatus {
    const s: DeviceLinkStatus = { address: this.address, deviceId: this.deviceId, state: this.#state, connected: this.#state === LinkState.connected, connections: this.#connections };
    if (this.#state === LinkState.connected || this.#profile) s.profile = this.#profile?.id ?? STANDARD_PROFILE_ID;
    if (this.#info.manufacturer !== undefined) s.manufacturer = this.#info.manufacturer;
    if (this.#info.model !== undefined) s.model = this.#info.model;
    if (this.#info.firmware !== undefined) s.firmware = this.#info.firmware;
    if (this.#battery !== undefined) s.battery = this.#battery;
    if (this.#lastReadingAt !== undefined) s.lastReadingAt = this.#lastReadingAt;
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    return s;
  }

  /** Stop reconnecting, disconnect, and wait until every value already received is submitted. */
  async stop(): Promise<void> {
    const wasConnected = this.#state === LinkState.connected || this.#state === LinkState.connecting;
    this.#state = LinkState.stopped;
    clearTimeout(this.#timer);
    if (wasConnected || this.#device) await this.#teardown(this.#generation, DropReason.shutdown);
    await this.#queue;
  }

  #isStopped(): boolean {
    return this.#state === LinkState.stopped;
  }

  async #connect(): Promise<void> {
    const gen = ++this.#generation;
    this.#state = LinkState.waiting;
    await this.#deps.slots.acquire();
    if (this.#isStopped() || gen !== this.#generation) {
      this.#deps.slots.release();
      return;
    }
    this.#holdsSlot = true;
    this.#state = LinkState.connecting;
    try {
      await this.#setUp(gen);
      if (gen !== this.#generation || this.#isStopped()) return;
      this.#state = LinkState.connected;
      this.#attempt = 0;
      this.#connections++;
      this.#deps.ctx.metrics?.bleConnections.inc({ transport: 'ble' });
      this.#log.info({ profile: this.#decodeCtx.profileId, subscribed: this.#characteristics.length }, 'BLE device connected and subscribed');
    } catch (err) {
      if (gen !== this.#generation || this.#isStopped()) return;
      const fault = err instanceof LinkFault ? err : new LinkFault('GW_ERR_BLE_CONNECT', [this.address, (err as Error).message]);
      this.#fault(fault);
      await this.#teardown(gen, DropReason.setupFailed);
    }
  }

  #fault(fault: LinkFault): void {
    this.#lastError = { code: fault.code, at: new Date().toISOString() };
    this.#deps.ctx.metrics?.bleErrors.inc({ transport: 'ble', reason: fault.code });
    this.#log.warn({ code: fault.code, err: fault.message }, 'BLE link problem');
  }

  /** One D-Bus operation with a deadline (a BlueZ call that never answers must not hold the link forever). */
  async #op<T>(what: ErrorCode, label: string, run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from BlueZ within ${this.#deps.config.operationTimeoutMs} ms`)), this.#deps.config.operationTimeoutMs);
    });
    try {
      return await Promise.race([run(), deadline]);
    } catch (err) {
      if (err instanceof LinkFault) throw err;
      const text = (err as Error).message ?? String(err);
      throw what === 'GW_ERR_BLE_GATT' ? new LinkFault(what, [this.address, label, text]) : new LinkFault(what, [this.address, text]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #setUp(gen: number): Promise<void> {
    const { adapter, device: deviceConfig } = this.#deps;
    const alive = (): void => {
      if (gen !== this.#generation || this.#isStopped()) throw new LinkFault('GW_ERR_BLE_CONNECT', [this.address, 'link closed during set-up']);
    };
    const device = await this.#op('GW_ERR_BLE_CONNECT', 'find', () => adapter.getDevice(this.address));
    this.#device = device;
    device.on('disconnect', () => void this.#dropped(gen));
    await this.#op('GW_ERR_BLE_CONNECT', 'connect', () => device.connect());
    alive();
    const gatt = await this.#op('GW_ERR_BLE_GATT', 'service discovery', () => device.gatt());
    alive();
    const services = new Set((await gatt.services()).map(normalizeUuid));

    // Device identity: address + Device Information Service 0x180A (DIS 1.1 §3: every characteristic optional).
    this.#info = {};
    if (services.has(SERVICE.deviceInformation)) {
      const dis = await gatt.getPrimaryService(await this.#serviceUuid(gatt, SERVICE.deviceInformation));
      const present = new Map((await dis.characteristics()).map((u) => [normalizeUuid(u), u]));
      const read = async (uuid: string): Promise<string | undefined> => {
        const raw = present.get(uuid);
        if (raw === undefined) return undefined;
        const c = await dis.getCharacteristic(raw);
        const bytes = await this.#op('GW_ERR_BLE_GATT', `read ${uuid.slice(4, 8)}`, () => c.readValue());
        return bytes.toString('utf8').replace(/\0+$/, '').trim(); // GSS: utf8s, some devices pad with NUL
      };
      const [manufacturer, model, serial, firmware] = [await read(CHARACTERISTIC.manufacturerName), await read(CHARACTERISTIC.modelNumber), await read(CHARACTERISTIC.serialNumber), await read(CHARACTERISTIC.firmwareRevision)];
      this.#info = { ...(manufacturer ? { manufacturer } : {}), ...(model ? { model } : {}), ...(serial ? { serial } : {}), ...(firmware ? { firmware } : {}) };
    }
    alive();
    const selected = selectBleProfile(this.#deps.profiles(), this.#info, deviceConfig.profile, this.deviceId);
    if (!selected.ok) throw new LinkFault('GW_ERR_BLE_PROFILE', [this.deviceId, selected.issues[0]!.message]);
    this.#profile = selected.value;
    const profile = selected.value;
    this.#log.info({ manufacturer: this.#info.manufacturer, model: this.#info.model, firmware: this.#info.firmware, profile: profile?.id ?? STANDARD_PROFILE_ID }, 'BLE device identified');

    // Pairing (Device.rst Pair()): the config or the model's profile says the device refuses measurements without a bond.
    if ((deviceConfig.pair ?? profile?.transport.requiresPairing ?? false) && !(await device.isPaired())) {
      await this.#op('GW_ERR_BLE_PAIR', 'pair', () => device.pair());
      this.#log.info('BLE device paired');
    }
    alive();

    const offset = profile?.transport.clock.utcOffsetMinutes;
    this.#decodeCtx = { deviceId: this.deviceId, profileId: profile?.id ?? STANDARD_PROFILE_ID, receivedAt: new Date().toISOString(), deviceUtcOffsetMinutes: offset };
    const reporter = createDecodeReporter(this.#log, this.#deps.ctx.metrics);
    this.#session = createGattSession(Object.assign(this.#decodeCtxView(), { onNote: (n: DecodeNote) => reporter.note(n) }));

    // Current Time 0x2A2B (CTS 1.1 §3.1): keep the device clock on the hub's; a failure is logged, not fatal.
    if (services.has(SERVICE.currentTime) && profile?.transport.writeCurrentTime !== false) {
      try {
        const c = await this.#characteristic(gatt, SERVICE.currentTime, CHARACTERISTIC.currentTime);
        if (c) await this.#op('GW_ERR_BLE_GATT', 'write Current Time', () => c.writeValue(Buffer.from(encodeCurrentTime(new Date(), offset)), { type: 'request' }));
      } catch (err) {
        if (!(err instanceof LinkFault)) throw err;
        this.#fault(err);
      }
    }
    alive();

    // Battery Level 0x2A19 (optional, for /v1/status).
    if (services.has(BATTERY_SERVICE)) {
      try {
        const c = await this.#characteristic(gatt, BATTERY_SERVICE, BATTERY_LEVEL);
        if (c) this.#battery = (await this.#op('GW_ERR_BLE_GATT', 'read Battery Level', () => c.readValue()))[0];
      } catch (err) {
        if (!(err instanceof LinkFault)) throw err;
        this.#fault(err);
      }
    }

    // Subscribe to every measurement characteristic of the health services the device has.
    this.#characteristics = [];
    for (const hs of HEALTH_SERVICES) {
      if (!services.has(hs.service)) continue;
      for (const spec of hs.characteristics) {
        const c = await this.#characteristic(gatt, hs.service, spec.uuid);
        if (!c) continue;
        c.on('valuechanged', (bytes: Buffer) => this.#received(gen, spec.uuid, spec.name, bytes));
        await this.#op('GW_ERR_BLE_GATT', `subscribe ${spec.name}`, () => c.startNotifications());
        this.#characteristics.push(c);
        alive();
      }
    }
    if (this.#characteristics.length === 0) throw new LinkFault('GW_ERR_BLE_GATT', [this.address, 'subscribe', 'the device has none of the health measurement characteristics']);

    // Glucose: ask for the records the buffer does not hold yet (GLS 1.0 §4.10 RACP, Report Stored Records ≥ N).
    if (services.has(SERVICE.glucose)) {
      const racp = await this.#characteristic(gatt, SERVICE.glucose, CHARACTERISTIC.racp);
      if (racp) {
        racp.on('valuechanged', (bytes: Buffer) => this.#racpAnswer(gen, bytes));
        await this.#op('GW_ERR_BLE_GATT', 'subscribe RACP', () => racp.startNotifications());
        this.#characteristics.push(racp);
        const last = await this.#lastDurableSequence();
        const from = last === undefined ? 0 : (last + 1) & 0xffff;
        await this.#op('GW_ERR_BLE_GATT', 'write RACP', () => racp.writeValue(Buffer.from(encodeRacpReportSince(from)), { type: 'request' }));
        this.#log.info({ fromSequence: from }, 'glucose records requested through RACP');
      }
    }
  }

  #decodeCtxView(): { deviceId: string; profileId: string; readonly receivedAt: string; deviceUtcOffsetMinutes?: number } {
    const ctx = this.#decodeCtx;
    const view = {
      deviceId: ctx.deviceId,
      profileId: ctx.profileId,
      get receivedAt() {
        return ctx.receivedAt; // set when each value arrives
      },
    };
    return ctx.deviceUtcOffsetMinutes === undefined ? view : Object.assign(view, { deviceUtcOffsetMinutes: ctx.deviceUtcOffsetMinutes });
  }

  async #serviceUuid(gatt: Awaited<ReturnType<BleDevice['gatt']>>, canonical: string): Promise<string> {
    return (await gatt.services()).find((u) => normalizeUuid(u) === canonical) ?? canonical;
  }

  async #characteristic(gatt: Awaited<ReturnType<BleDevice['gatt']>>, service: string, uuid: string): Promise<BleCharacteristic | undefined> {
    const s = await gatt.getPrimaryService(await this.#serviceUuid(gatt, service));
    const raw = (await s.characteristics()).find((u) => normalizeUuid(u) === uuid);
    return raw === undefined ? undefined : s.getCharacteristic(raw);
  }

  #received(gen: number, uuid: string, name: string, bytes: Buffer): void {
    if (gen !== this.#generation) return;
    const value = Uint8Array.from(bytes);
    this.#queue = this.#queue.then(() => this.#decodeAndSubmit(uuid, name, value)).catch((err: unknown) => this.#log.error({ err }, 'BLE value handling failed'));
  }

  async #decodeAndSubmit(uuid: string, name: string, bytes: Uint8Array): Promise<void> {
    const session = this.#session;
    if (!session) return;
    this.#decodeCtx.receivedAt = new Date().toISOString();
    this.#log.debug({ characteristic: name, hex: Buffer.from(bytes).toString('hex') }, 'BLE value');
    const result = session.accept(uuid, bytes);
    if (!result.ok) {
      createDecodeReporter(this.#log, this.#deps.ctx.metrics).refused(name, result.issues);
      for (const i of result.issues) this.#deps.ctx.metrics?.bleDecodeFailures.inc({ transport: 'ble', reason: i.code, characteristic: uuid.slice(4, 8) });
      await this.#submitAll(result.released);
      return;
    }
    await this.#submitAll(result.value);
  }

  async #submitAll(readings: readonly Reading[]): Promise<void> {
    for (const reading of readings) await this.#submit(reading);
  }

  async #submit(reading: Reading): Promise<void> {
    if (this.#profile?.transport.clock.trust === false && reading.deviceTime !== undefined) {
      // The model's clock is known to be useless: gateway receive time becomes the effective time.
      this.#log.debug({ deviceTime: reading.deviceTime }, 'device time dropped: the firmware profile does not trust this clock');
      delete reading.deviceTime;
    }
    const result = await this.#deps.ctx.submit(reading);
    const sequence = reading.context?.sequence;
    switch (result.kind) {
      case 'accepted':
        this.#lastReadingAt = reading.receivedAt;
        this.#log.info({ observations: result.observations.map((o) => o.id), refused: result.refused.map((i) => i.code) }, 'BLE reading durable');
        break;
      case 'quarantined':
        this.#lastReadingAt = reading.receivedAt;
        this.#log.warn({ quarantineId: result.quarantineId, userIndex: reading.context?.userIndex }, 'BLE reading quarantined until its device or user is bound');
        break;
      case 'invalid':
        this.#log.warn({ issues: result.issues.map((i) => ({ code: i.code, path: i.path })) }, 'BLE reading refused by normalize');
        break;
      case 'unavailable':
        // Already confirmed at the ATT layer: the device will not resend. Glucose records come back through RACP.
        this.#log.error({ code: result.code, sequence }, 'BLE reading NOT stored: the buffer refused intake');
        return;
      default:
        return result satisfies never;
    }
    // A record that is durable, or that can never be taken (invalid), is not asked for again.
    if (sequence !== undefined && this.#deps.state) await this.#recordSequence(sequence);
  }

  async #lastDurableSequence(): Promise<number | undefined> {
    const v = await this.#deps.state?.get(RACP_KEY_PREFIX + this.address);
    return typeof v === 'number' ? v : undefined;
  }

  async #recordSequence(sequence: number): Promise<void> {
    const last = await this.#lastDurableSequence();
    if (last !== undefined && last >= sequence) return;
    await this.#deps.state!.put(RACP_KEY_PREFIX + this.address, sequence);
  }

  #racpAnswer(gen: number, bytes: Buffer): void {
    if (gen !== this.#generation) return;
    const answer = decodeRacpResponse(Uint8Array.from(bytes));
    // The transfer ended (or was refused): a glucose record still waiting for its context goes now.
    this.#queue = this.#queue
      .then(async () => {
        if (!answer.ok) {
          for (const i of answer.issues) this.#deps.ctx.metrics?.bleDecodeFailures.inc({ transport: 'ble', reason: i.code, characteristic: '2a52' });
          this.#log.warn({ issues: answer.issues.map((i) => i.code) }, 'RACP answer refused');
          return;
        }
        this.#log.info({ racp: answer.value }, 'RACP answer');
        await this.#submitAll(this.#session?.flush() ?? []);
      })
      .catch((err: unknown) => this.#log.error({ err }, 'RACP answer handling failed'));
  }

  async #dropped(gen: number): Promise<void> {
    if (gen !== this.#generation || this.#isStopped()) return;
    this.#log.warn({ state: this.#state }, 'BLE device disconnected');
    await this.#teardown(gen, DropReason.device);
  }

  /** Release this link's D-Bus handlers and slot, submit what the session still holds, and schedule a reconnect. */
  async #teardown(gen: number, reason: DropReason): Promise<void> {
    if (gen !== this.#generation) return;
    this.#generation++; // handlers of this link are now stale
    const device = this.#device;
    const characteristics = this.#characteristics;
    this.#device = undefined;
    this.#characteristics = [];
    for (const c of characteristics) releaseListeners(c);
    if (device) {
      if (reason !== DropReason.device) {
        try {
          await this.#op('GW_ERR_BLE_CONNECT', 'disconnect', () => device.disconnect()); // also frees node-ble's handlers
        } catch (err) {
          this.#log.debug({ err: (err as Error).message }, 'disconnect on teardown failed');
        }
      }
      releaseListeners(device);
    }
    const session = this.#session;
    this.#session = undefined;
    if (session) {
      const held = session.flush();
      this.#queue = this.#queue.then(() => this.#submitAll(held)).catch((err: unknown) => this.#log.error({ err }, 'BLE flush failed'));
    }
    if (this.#holdsSlot) {
      this.#holdsSlot = false;
      this.#deps.slots.release();
    }
    this.#deps.ctx.metrics?.bleDisconnects.inc({ transport: 'ble', reason });
    if (this.#isStopped()) return;
    const delay = reconnectDelayMs(this.#deps.config.reconnect, this.#attempt++);
    this.#state = LinkState.backoff;
    this.#log.info({ delayMs: delay, attempt: this.#attempt }, 'BLE reconnect scheduled');
    this.#timer = setTimeout(() => {
      if (this.#state !== LinkState.backoff) return;
      this.#deps.ctx.metrics?.bleReconnectAttempts.inc({ transport: 'ble' });
      void this.#connect();
    }, delay);
    this.#timer.unref();
  }
}
