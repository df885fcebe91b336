// A fake `org.bluez` on a private bus, written with dbus-next: the objects, properties, methods and signals
// BlueZ exposes (doc/org.bluez.Adapter.rst, Device.rst, GattService.rst, GattCharacteristic.rst,
// AgentManager.rst) as node-ble reads them, plus a scriptable device model: "AA:BB:… is a BP cuff with Device
// Information Acme/BP-100/SN123/2.1", "indicate this frame now", "drop the connection now", "what did the central
// write to Current Time / RACP", "require pairing".
import dbus from 'dbus-next';

const { Interface } = dbus.interface;
type DbusInterface = InstanceType<typeof Interface>;
type MessageBus = ReturnType<typeof dbus.sessionBus>;

const BASE = '-0000-1000-8000-00805f9b34fb';
const uuid16 = (short: string): string => `0000${short.toLowerCase()}${BASE}`;

export const FAKE_UUID = {
  deviceInformation: uuid16('180a'),
  currentTimeService: uuid16('1805'),
  bloodPressure: uuid16('1810'),
  weightScale: uuid16('181d'),
  glucose: uuid16('1808'),
  battery: uuid16('180f'),
  manufacturerName: uuid16('2a29'),
  modelNumber: uuid16('2a24'),
  serialNumber: uuid16('2a25'),
  firmwareRevision: uuid16('2a26'),
  currentTime: uuid16('2a2b'),
  bloodPressureMeasurement: uuid16('2a35'),
  bloodPressureFeature: uuid16('2a49'),
  weightMeasurement: uuid16('2a9d'),
  weightScaleFeature: uuid16('2a9e'),
  glucoseMeasurement: uuid16('2a18'),
  glucoseMeasurementContext: uuid16('2a34'),
  glucoseFeature: uuid16('2a51'),
  racp: uuid16('2a52'),
  batteryLevel: uuid16('2a19'),
} as const;

interface MemberSpec {
  properties: Record<string, { signature: string; access?: 'read' | 'readwrite' }>;
  methods?: Record<string, { inSignature?: string; outSignature?: string; fn: (this: FakeIface, ...args: any[]) => unknown }>;
  signals?: Record<string, { signature: string }>;
}

/** An exported interface whose properties live in `values`; `set` changes them and emits PropertiesChanged. */
class FakeIface extends Interface {
  values: Record<string, unknown> = {};
  owner: unknown;
  set(changes: Record<string, unknown>): void {
    Object.assign(this.values, changes);
    Interface.emitPropertiesChanged(this, changes, []);
  }
}

const classes = new Map<string, new (name: string) => FakeIface>();

function ifaceClass(name: string, spec: MemberSpec): new (name: string) => FakeIface {
  const existing = classes.get(name);
  if (existing) return existing;
  const C = class extends FakeIface {};
  for (const key of Object.keys(spec.properties)) {
    Object.defineProperty(C.prototype, key, {
      get(this: FakeIface) {
        return this.values[key];
      },
      set(this: FakeIface, v: unknown) {
        this.values[key] = v;
      },
    });
  }
  for (const [key, m] of Object.entries(spec.methods ?? {})) (C.prototype as any)[key] = m.fn;
  for (const key of Object.keys(spec.signals ?? {})) (C.prototype as any)[key] = (...args: unknown[]) => args;
  C.configureMembers({
    properties: Object.fromEntries(Object.entries(spec.properties).map(([k, p]) => [k, { signature: p.signature, access: p.access ?? 'read' }])),
    methods: Object.fromEntries(Object.entries(spec.methods ?? {}).map(([k, m]) => [k, { inSignature: m.inSignature ?? '', outSignature: m.outSignature ?? '' }])),
    signals: spec.signals ?? {},
  });
  classes.set(name, C);
  return C;
}

const bluezError = (name: string, text: string): Error => new dbus.DBusError(`org.bluez.Error.${name}`, text);

// --- the device model ---------------------------------------------------------------------------

export interface DeviceInformation {
  manufacturer: string;
  model: string;
  serial: string;
  firmware: string;
}

export type FakeDeviceKind = 'bp-cuff' | 'scale' | 'glucose-meter';

export interface FakeDeviceSpec {
  address: string;
  name?: string;
  kind: FakeDeviceKind;
  deviceInformation?: DeviceInformation;
  /** Measurement characteristics refuse StartNotify until the device is paired (org.bluez.Error.NotPermitted). */
  requirePairing?: boolean;
  /** Battery Level 0x2A19, percent. */
  battery?: number;
  /** Glucose meters: stored records (Glucose Measurement 0x2A18 values) the RACP replays. */
  storedRecords?: Array<{ sequence: number; bytes: Uint8Array }>;
}

interface CharacteristicSpec {
  uuid: string;
  flags: string[];
  value?: Uint8Array;
}

const serviceSpecs = (spec: FakeDeviceSpec): Array<{ uuid: string; characteristics: CharacteristicSpec[] }> => {
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
  const out: Array<{ uuid: string; characteristics: CharacteristicSpec[] }> = [];
  if (spec.deviceInformation) {
    const d = spec.deviceInformation;
    out.push({
      uuid: FAKE_UUID.deviceInformation,
      characteristics: [
        { uuid: FAKE_UUID.manufacturerName, flags: ['read'], value: utf8(d.manufacturer) },
        { uuid: FAKE_UUID.modelNumber, flags: ['read'], value: utf8(d.model) },
        { uuid: FAKE_UUID.serialNumber, flags: ['read'], value: utf8(d.serial) },
        { uuid: FAKE_UUID.firmwareRevision, flags: ['read'], value: utf8(d.firmware) },
      ],
    });
  }
  out.push({ uuid: FAKE_UUID.currentTimeService, characteristics: [{ uuid: FAKE_UUID.currentTime, flags: ['read', 'write', 'notify'], value: new Uint8Array(10) }] });
  switch (spec.kind) {
    case 'bp-cuff':
      out.push({
        uuid: FAKE_UUID.bloodPressure,
        characteristics: [
          { uuid: FAKE_UUID.bloodPressureMeasurement, flags: ['indicate'] },
          { uuid: FAKE_UUID.bloodPressureFeature, flags: ['read'], value: Uint8Array.of(0x00, 0x00) },
        ],
      });
      break;
    case 'scale':
      out.push({
        uuid: FAKE_UUID.weightScale,
        characteristics: [
          { uuid: FAKE_UUID.weightMeasurement, flags: ['indicate'] },
          { uuid: FAKE_UUID.weightScaleFeature, flags: ['read'], value: Uint8Array.of(0x0a, 0, 0, 0) }, // multiple users + time stamp
        ],
      });
      break;
    case 'glucose-meter':
      out.push({
        uuid: FAKE_UUID.glucose,
        characteristics: [
          { uuid: FAKE_UUID.glucoseMeasurement, flags: ['notify'] },
          { uuid: FAKE_UUID.glucoseMeasurementContext, flags: ['notify'] },
          { uuid: FAKE_UUID.glucoseFeature, flags: ['read'], value: Uint8Array.of(0, 0) },
          { uuid: FAKE_UUID.racp, flags: ['write', 'indicate'] },
        ],
      });
      break;
    default:
      spec.kind satisfies never;
  }
  if (spec.battery !== undefined) out.push({ uuid: FAKE_UUID.battery, characteristics: [{ uuid: FAKE_UUID.batteryLevel, flags: ['read', 'notify'], value: Uint8Array.of(spec.battery) }] });
  return out;
};

export class FakeDevice {
  readonly address: string;
  readonly path: string;
  readonly spec: FakeDeviceSpec;
  /** Connect calls the central made (a device outside the allow-list must stay at 0). */
  connectCalls = 0;
  pairCalls = 0;
  readonly #bluez: FakeBluez;
  readonly device: FakeIface;
  readonly #characteristics = new Map<string, FakeIface>();
  readonly #writes = new Map<string, Uint8Array[]>();
  #servicesExported = false;

  constructor(bluez: FakeBluez, spec: FakeDeviceSpec) {
    this.#bluez = bluez;
    this.spec = spec;
    this.address = spec.address.toUpperCase();
    this.path = `${bluez.adapterPath}/dev_${this.address.replace(/:/g, '_')}`;
    const self = this;
    const Device1 = ifaceClass('org.bluez.Device1', {
      properties: {
        Address: { signature: 's' },
        AddressType: { signature: 's' },
        Name: { signature: 's' },
        Alias: { signature: 's' },
        UUIDs: { signature: 'as' },
        Paired: { signature: 'b' },
        Bonded: { signature: 'b' },
        Trusted: { signature: 'b', access: 'readwrite' },
        Blocked: { signature: 'b' },
        LegacyPairing: { signature: 'b' },
        Connected: { signature: 'b' },
        ServicesResolved: { signature: 'b' },
        RSSI: { signature: 'n' },
        Adapter: { signature: 'o' },
      },
      methods: {
        // Device.rst: Connect() connects all auto-connectable profiles; GATT objects appear, then ServicesResolved.
        Connect: { fn(this: FakeIface) { (this.owner as FakeDevice).connect(); } },
        Disconnect: { fn(this: FakeIface) { (this.owner as FakeDevice).dropConnection(); } },
        Pair: {
          fn(this: FakeIface) {
            const d = this.owner as FakeDevice;
            d.pairCalls++;
            if (d.device.values.Paired === true) throw bluezError('AlreadyExists', 'Already Exists');
            d.device.set({ Paired: true, Bonded: true });
          },
        },
        CancelPair: { fn() {} },
      },
    });
    this.device = new Device1('org.bluez.Device1');
    this.device.owner = self;
    this.device.values = {
      Address: this.address,
      AddressType: 'public',
      Name: spec.name ?? spec.kind,
      Alias: spec.name ?? spec.kind,
      UUIDs: serviceSpecs(spec).map((s) => s.uuid),
      Paired: false,
      Bonded: false,
      Trusted: false,
      Blocked: false,
      LegacyPairing: false,
      Connected: false,
      ServicesResolved: false,
      RSSI: -60,
      Adapter: bluez.adapterPath,
    };
  }

  get connected(): boolean {
    return this.device.values.Connected === true;
  }

  get paired(): boolean {
    return this.device.values.Paired === true;
  }

  /** What the central wrote to a characteristic (Current Time, RACP), oldest first. */
  writes(uuid: string): Uint8Array[] {
    return this.#writes.get(uuid) ?? [];
  }

  notifying(uuid: string): boolean {
    return this.#characteristics.get(uuid)?.values.Notifying === true;
  }

  connect(): void {
    this.connectCalls++;
    if (this.#bluez.refuseConnections.has(this.address)) throw bluezError('Failed', 'le-connection-abort-by-local');
    if (this.connected) throw bluezError('AlreadyConnected', 'Already Connected');
    this.device.set({ Connected: true });
    if (!this.#servicesExported) this.#exportServices();
    this.device.set({ ServicesResolved: true });
  }

  /** The device goes away (out of range, powered off, or Disconnect()): Notifying off, ServicesResolved and Connected false. */
  dropConnection(): void {
    if (!this.connected) return;
    for (const c of this.#characteristics.values()) if (c.values.Notifying === true) c.set({ Notifying: false });
    this.device.set({ ServicesResolved: false });
    this.device.set({ Connected: false });
  }

  /** Send a notification or indication: PropertiesChanged(Value) on the characteristic (GattCharacteristic.rst). False if nobody subscribed. */
  indicate(uuid: string, bytes: Uint8Array): boolean {
    const c = this.#characteristics.get(uuid);
    if (!c || c.values.Notifying !== true || !this.connected) return false;
    c.set({ Value: Buffer.from(bytes) });
    return true;
  }

  #exportServices(): void {
    this.#servicesExported = true;
    let handle = 0x0a;
    const hex = (n: number): string => n.toString(16).padStart(4, '0');
    const Service1 = ifaceClass('org.bluez.GattService1', {
      properties: { UUID: { signature: 's' }, Primary: { signature: 'b' }, Device: { signature: 'o' } },
    });
    const Characteristic1 = ifaceClass('org.bluez.GattCharacteristic1', {
      properties: {
        UUID: { signature: 's' },
        Service: { signature: 'o' },
        Value: { signature: 'ay' },
        Notifying: { signature: 'b' },
        Flags: { signature: 'as' },
      },
      methods: {
        ReadValue: { inSignature: 'a{sv}', outSignature: 'ay', fn(this: FakeIface) { return (this.owner as CharOwner).read(this); } },
        WriteValue: { inSignature: 'aya{sv}', fn(this: FakeIface, value: Buffer) { (this.owner as CharOwner).write(this, value); } },
        StartNotify: { fn(this: FakeIface) { (this.owner as CharOwner).startNotify(this); } },
        StopNotify: { fn(this: FakeIface) { if (this.values.Notifying === true) this.set({ Notifying: false }); } },
      },
    });
    const owner: CharOwner = {
      read: (c) => {
        this.#needConnection();
        return Buffer.from((c.values.Value as Buffer | undefined) ?? Buffer.alloc(0));
      },
      write: (c, value) => {
        this.#needConnection();
        const uuid = c.values.UUID as string;
        if (!(c.values.Flags as string[]).some((f) => f === 'write' || f === 'write-without-response')) throw bluezError('NotPermitted', 'Write not permitted');
        const bytes = Uint8Array.from(value);
        this.#writes.set(uuid, [...this.writes(uuid), bytes]);
        if (uuid === FAKE_UUID.racp) setImmediate(() => this.#answerRacp(bytes));
      },
      startNotify: (c) => {
        this.#needConnection();
        const flags = c.values.Flags as string[];
        if (!flags.includes('notify') && !flags.includes('indicate')) throw bluezError('NotSupported', 'Operation is not supported');
        if (this.spec.requirePairing && !this.paired && c.values.UUID !== FAKE_UUID.currentTime) throw bluezError('NotPermitted', 'Insufficient Authentication'); // ATT 0x05
        if (c.values.Notifying === true) return;
        c.set({ Notifying: true });
      },
    };
    for (const s of serviceSpecs(this.spec)) {
      const servicePath = `${this.path}/service${hex(handle)}`;
      handle++;
      const service = new Service1('org.bluez.GattService1');
      service.values = { UUID: s.uuid, Primary: true, Device: this.path };
      this.#bluez.export(servicePath, [service]);
      for (const cs of s.characteristics) {
        const charPath = `${servicePath}/char${hex(handle)}`;
        handle += 2;
        const c = new Characteristic1('org.bluez.GattCharacteristic1');
        c.owner = owner;
        c.values = { UUID: cs.uuid, Service: servicePath, Value: Buffer.from(cs.value ?? new Uint8Array(0)), Notifying: false, Flags: cs.flags };
        this.#characteristics.set(cs.uuid, c);
        this.#bluez.export(charPath, [c]);
      }
    }
  }

  #needConnection(): void {
    if (!this.connected) throw bluezError('NotConnected', 'Not Connected');
  }

  /** Glucose Profile 1.0 §4.10: Report Stored Records ≥ N (01 03 01 lo hi) → the records, then Response Code success / no records. */
  #answerRacp(bytes: Uint8Array): void {
    if (bytes[0] !== 0x01) return void this.indicate(FAKE_UUID.racp, Uint8Array.of(0x06, 0x00, bytes[0] ?? 0, 0x02)); // op code not supported
    const from = bytes[1] === 0x03 && bytes[2] === 0x01 ? (bytes[3] ?? 0) | ((bytes[4] ?? 0) << 8) : 0;
    const records = (this.spec.storedRecords ?? []).filter((r) => r.sequence >= from);
    for (const r of records) this.indicate(FAKE_UUID.glucoseMeasurement, r.bytes);
    this.indicate(FAKE_UUID.racp, Uint8Array.of(0x06, 0x00, 0x01, records.length > 0 ? 0x01 : 0x06));
  }
}

interface CharOwner {
  read(c: FakeIface): Buffer;
  write(c: FakeIface, value: Buffer): void;
  startNotify(c: FakeIface): void;
}

// --- the service --------------------------------------------------------------------------------

export class FakeBluez {
  readonly adapterPath = '/org/bluez/hci0';
  readonly bus: MessageBus;
  readonly adapter: FakeIface;
  /** The last SetDiscoveryFilter the central set (Adapter.rst: UUIDs, Transport, …). */
  discoveryFilter: Record<string, unknown> = {};
  /** Addresses whose Connect() fails (org.bluez.Error.Failed), to test back-off. */
  readonly refuseConnections = new Set<string>();
  readonly #devices = new Map<string, FakeDevice>();
  readonly #inRange = new Set<string>();
  readonly #objects = new Map<string, DbusInterface[]>();
  readonly #objectManager: FakeIface;

  private constructor(bus: MessageBus) {
    this.bus = bus;
    const ObjectManager = ifaceClass('org.freedesktop.DBus.ObjectManager', {
      properties: {},
      methods: {
        GetManagedObjects: { outSignature: 'a{oa{sa{sv}}}', fn(this: FakeIface) { return (this.owner as FakeBluez).#managedObjects(); } },
      },
      signals: { InterfacesAdded: { signature: 'oa{sa{sv}}' }, InterfacesRemoved: { signature: 'oas' } },
    });
    this.#objectManager = new ObjectManager('org.freedesktop.DBus.ObjectManager');
    this.#objectManager.owner = this;
    bus.export('/', this.#objectManager);

    const AgentManager1 = ifaceClass('org.bluez.AgentManager1', {
      properties: {},
      methods: {
        RegisterAgent: { inSignature: 'os', fn() {} },
        UnregisterAgent: { inSignature: 'o', fn() {} },
        RequestDefaultAgent: { inSignature: 'o', fn() {} },
      },
    });
    this.export('/org/bluez', [new AgentManager1('org.bluez.AgentManager1')]);

    const Adapter1 = ifaceClass('org.bluez.Adapter1', {
      properties: {
        Address: { signature: 's' },
        AddressType: { signature: 's' },
        Name: { signature: 's' },
        Alias: { signature: 's' },
        Powered: { signature: 'b', access: 'readwrite' },
        Discoverable: { signature: 'b' },
        Pairable: { signature: 'b' },
        Discovering: { signature: 'b' },
        UUIDs: { signature: 'as' },
      },
      methods: {
        StartDiscovery: {
          fn(this: FakeIface) {
            if (this.values.Discovering === true) throw bluezError('InProgress', 'Operation already in progress');
            if (this.values.Powered !== true) throw bluezError('NotReady', 'Resource Not Ready');
            this.set({ Discovering: true });
            (this.owner as FakeBluez).#discover();
          },
        },
        StopDiscovery: {
          fn(this: FakeIface) {
            if (this.values.Discovering !== true) throw bluezError('Failed', 'No discovery started');
            this.set({ Discovering: false });
          },
        },
        SetDiscoveryFilter: {
          inSignature: 'a{sv}',
          fn(this: FakeIface, filter: Record<string, { value: unknown }>) {
            (this.owner as FakeBluez).discoveryFilter = Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, v.value]));
          },
        },
        RemoveDevice: { inSignature: 'o', fn() {} },
      },
    });
    this.adapter = new Adapter1('org.bluez.Adapter1');
    this.adapter.owner = this;
    this.adapter.values = { Address: '00:1A:7D:DA:71:13', AddressType: 'public', Name: 'hub', Alias: 'hub', Powered: true, Discoverable: false, Pairable: true, Discovering: false, UUIDs: [] };
    this.export(this.adapterPath, [this.adapter]);
  }

  /** Connect to the private bus at `address` and own the name org.bluez. */
  static async start(address: string): Promise<FakeBluez> {
    const bus = dbus.sessionBus({ busAddress: address });
    const bluez = new FakeBluez(bus);
    await bus.requestName('org.bluez', 0);
    return bluez;
  }

  /** A device near the hub: it shows up (Device1 object) once discovery runs and its advertised UUIDs pass the filter. */
  addDevice(spec: FakeDeviceSpec): FakeDevice {
    const device = new FakeDevice(this, spec);
    this.#devices.set(device.address, device);
    this.#inRange.add(device.address);
    if (this.adapter.values.Discovering === true) this.#discover();
    return device;
  }

  device(address: string): FakeDevice {
    const d = this.#devices.get(address.toUpperCase());
    if (!d) throw new Error(`no fake device ${address}`);
    return d;
  }

  get discovering(): boolean {
    return this.adapter.values.Discovering === true;
  }

  export(path: string, ifaces: FakeIface[]): void {
    for (const i of ifaces) this.bus.export(path, i);
    this.#objects.set(path, [...(this.#objects.get(path) ?? []), ...ifaces]);
    (this.#objectManager as any).InterfacesAdded(path, Object.fromEntries(ifaces.map((i) => [(i as any).$name, variants(i)])));
  }

  async stop(): Promise<void> {
    for (const d of this.#devices.values()) d.dropConnection();
    this.bus.disconnect();
  }

  #discover(): void {
    const wanted = ((this.discoveryFilter.UUIDs as string[] | undefined) ?? []).map((u) => u.toLowerCase());
    for (const address of this.#inRange) {
      const d = this.#devices.get(address)!;
      if (this.#objects.has(d.path)) continue;
      // Adapter.rst SetDiscoveryFilter UUIDs: only devices advertising one of them are reported.
      const advertised = (d.device.values.UUIDs as string[]).map((u) => u.toLowerCase());
      if (wanted.length > 0 && !advertised.some((u) => wanted.includes(u))) continue;
      this.export(d.path, [d.device]);
    }
  }

  #managedObjects(): Record<string, Record<string, Record<string, InstanceType<typeof dbus.Variant>>>> {
    const out: Record<string, Record<string, Record<string, InstanceType<typeof dbus.Variant>>>> = {};
    for (const [path, ifaces] of this.#objects) out[path] = Object.fromEntries(ifaces.map((i) => [(i as any).$name, variants(i)]));
    return out;
  }
}

function variants(i: DbusInterface): Record<string, InstanceType<typeof dbus.Variant>> {
  const props = ((i as any).$properties ?? {}) as Record<string, { signature: string }>;
  const values = (i as FakeIface).values ?? {};
  return Object.fromEntries(Object.entries(props).filter(([k]) => values[k] !== undefined).map(([k, p]) => [k, new dbus.Variant(p.signature, values[k])]));
}
