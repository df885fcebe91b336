// aedes 1.2.0 speaks MQTT 3.1/3.1.1 only (its README: "MQTT 5.0 (not support yet)"; lib/handlers/connect.js
// answers a v5 CONNECT with return code 1). This stream sits between a device's socket and aedes: a v3/v4
// client passes through byte for byte; a v5 client's packets are parsed and re-encoded as 3.1.1 for aedes,
// and aedes' answers are re-encoded as MQTT 5, where we can add the reason codes aedes cannot send
// (PUBACK 0x99/0x87/0x80, DISCONNECT 0x97). v5 properties from the client (user properties, expiry…) are dropped.
import { Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';

export interface AckOverride {
  reasonCode: number;
  reasonString: string;
}

type Mode = 'detect' | 'v4' | 'v5';

// MQTT 3.1.1 §3.2.2.3 CONNACK return code → MQTT 5.0 §3.2.2.2 CONNACK reason code
const CONNACK_V5: Record<number, number> = { 0: 0x00, 1: 0x84, 2: 0x85, 3: 0x88, 4: 0x86, 5: 0x87 };

export class MqttConnection extends Duplex {
  readonly socket: Duplex;
  #mode: Mode = 'detect';
  #pending: Buffer[] = [];
  readonly #inbound = mqttPacket.parser();
  readonly #outbound = mqttPacket.parser({ protocolVersion: 4 });
  readonly #ackOverrides = new Map<number, AckOverride>();
  readonly #unsubscribeCounts = new Map<number, number>();
  #ended = false;

  constructor(socket: Duplex) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#fromDevice(chunk));
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
    this.#inbound.on('packet', (packet: Packet) => this.#inboundPacket(packet));
    this.#inbound.on('error', (err: Error) => {
      if (this.#mode === 'detect') return this.#passThrough(); // let aedes see the bytes and refuse them itself
      this.destroy(err);
    });
    this.#outbound.on('packet', (packet: Packet) => this.#toDevice(packet));
    this.#outbound.on('error', (err: Error) => this.destroy(err));
  }

  /** 5 for an MQTT 5 client, 4/3 otherwise; undefined before CONNECT. */
  get protocolVersion(): number | undefined {
    return this.#mode === 'v5' ? 5 : this.#mode === 'v4' ? 4 : undefined;
  }

  /** MQTT 5.0 §3.4.2.1: the next PUBACK/PUBREC for this packet id carries this reason code instead of 0x00. */
  overrideAck(messageId: number, override: AckOverride): void {
    this.#ackOverrides.set(messageId, override);
  }

  /** MQTT 5.0 §3.14: a server-sent DISCONNECT with a reason code; the caller then closes the client. */
  sendDisconnect(reasonCode: number, reasonString: string): void {
    if (this.#mode !== 'v5' || !this.socket.writable) return;
    this.socket.write(mqttPacket.generate({ cmd: 'disconnect', reasonCode, properties: { reasonString } } as Packet, { protocolVersion: 5 }));
  }

  #fromDevice(chunk: Buffer): void {
    switch (this.#mode) {
      case 'v4':
        if (!this.push(chunk)) this.socket.pause();
        return;
      case 'detect':
        this.#pending.push(chunk);
        this.#inbound.parse(chunk);
        return;
      case 'v5':
        this.#inbound.parse(chunk);
        return;
      default:
        return this.#mode satisfies never;
    }
  }

  #passThrough(): void {
    this.#mode = 'v4';
    const buffered = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#inbound.removeAllListeners('packet');
    if (buffered.length > 0) this.push(buffered);
  }

  #inboundPacket(packet: Packet): void {
    if (this.#mode === 'detect') {
      if (packet.cmd !== 'connect' || packet.protocolVersion !== 5) return this.#passThrough();
      this.#mode = 'v5';
      this.#pending = [];
    }
    const down = downgrade(packet, this.#unsubscribeCounts);
    if (down === undefined) return void this.destroy(new Error(`MQTT 5 ${packet.cmd} is not supported by this broker`));
    if (!this.push(mqttPacket.generate(down, { protocolVersion: 4 }))) this.socket.pause();
  }

  #toDevice(packet: Packet): void {
    const up = upgrade(packet, this.#ackOverrides, this.#unsubscribeCounts);
    if (this.socket.writable) this.socket.write(mqttPacket.generate(up, { protocolVersion: 5 }));
  }

  override _read(): void {
    if (this.socket.isPaused()) this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#mode === 'v5') {
      this.#outbound.parse(chunk);
      return callback();
    }
    if (!this.socket.writable) return callback();
    if (this.socket.write(chunk)) return callback();
    const done = (): void => {
      this.socket.off('drain', done);
      this.socket.off('close', done);
      callback();
    };
    this.socket.once('drain', done);
    this.socket.once('close', done);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#endSocket();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#endSocket();
    callback(error);
  }

  /** End (flush what was written, e.g. a DISCONNECT with its reason) rather than cut; cut after a grace period. */
  #endSocket(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.socket.destroyed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }
}

/** MQTT 5 → 3.1.1 for aedes. Returns undefined for packets 3.1.1 cannot express (AUTH). */
function downgrade(packet: Packet, unsubscribeCounts: Map<number, number>): Packet | undefined {
  const p = { ...packet } as Packet & Record<string, unknown>;
  delete p.properties;
  delete p.reasonCode;
  switch (p.cmd) {
    case 'connect': {
      p.protocolVersion = 4;
      p.protocolId = 'MQTT';
      if (p.will) p.will = { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain };
      return p;
    }
    case 'subscribe':
      p.subscriptions = p.subscriptions.map((s) => ({ topic: s.topic, qos: s.qos }));
      return p;
    case 'unsubscribe':
      if (p.messageId !== undefined) unsubscribeCounts.set(p.messageId, p.unsubscriptions.length);
      return p;
    case 'auth':
      return undefined; // MQTT 5.0 §4.12 enhanced authentication: not offered
    default:
      return p;
  }
}

/** 3.1.1 from aedes → MQTT 5 for the device. */
function upgrade(packet: Packet, overrides: Map<number, AckOverride>, unsubscribeCounts: Map<number, number>): Packet {
  const p = { ...packet } as Packet & Record<string, unknown>;
  switch (p.cmd) {
    case 'connack':
      // MQTT 5.0 §3.2.2.2 CONNACK reason codes
      return { cmd: 'connack', sessionPresent: p.sessionPresent, reasonCode: CONNACK_V5[p.returnCode ?? 0] ?? 0x80 } as Packet;
    case 'suback':
      // MQTT 5.0 §3.9.3: aedes grants 0x80 for a refused filter; the only refusal here is the topic ACL → 0x87 Not authorized
      return { ...p, granted: p.granted.map((g) => (g === 0x80 ? 0x87 : g)) } as Packet;
    case 'unsuback': {
      // MQTT 5.0 §3.11.3: one reason code per topic filter
      const n = p.messageId === undefined ? 1 : (unsubscribeCounts.get(p.messageId) ?? 1);
      if (p.messageId !== undefined) unsubscribeCounts.delete(p.messageId);
      return { ...p, granted: new Array<number>(n).fill(0) } as unknown as Packet;
    }
    case 'puback':
    case 'pubrec': {
      const o = p.messageId === undefined ? undefined : overrides.get(p.messageId);
      if (o === undefined) return p;
      overrides.delete(p.messageId!);
      return { ...p, reasonCode: o.reasonCode, properties: { reasonString: o.reasonString.slice(0, 200) } } as Packet;
    }
    default:
      return p;
  }
}
