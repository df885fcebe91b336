// Test fixtures for the MQTT suites (test/integration/mqtt-*.test.ts) and bench/mqtt.ts: device credentials,
// mqtt.js clients that resolve on CONNACK, and a way to await one message on a topic.
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import { hashPassword } from './password.ts';

/** Cheap scrypt parameters so suites stay fast; production hashes use DEFAULT_SCRYPT. */
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 } as const;

export const DEVICES = {
  cuff7: { id: 'cuff-7', username: 'cuff-7', password: 'cuff-7-secret' },
  cuff8: { id: 'cuff-8', username: 'cuff-8', password: 'cuff-8-secret' },
  /** Certificate-only device (TLS client cert with CN = scale-3). */
  scale3: { id: 'scale-3' },
  admin: { username: 'ops', password: 'ops-secret' },
} as const;

export async function mqttSection(port: number, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const { cuff7, cuff8, scale3, admin } = DEVICES;
  return {
    host: '127.0.0.1',
    port,
    devices: [
      { id: cuff7.id, username: cuff7.username, passwordHash: await hashPassword(cuff7.password, FAST_SCRYPT) },
      { id: cuff8.id, username: cuff8.username, passwordHash: await hashPassword(cuff8.password, FAST_SCRYPT) },
      { id: scale3.id },
    ],
    admins: [{ username: admin.username, passwordHash: await hashPassword(admin.password, FAST_SCRYPT) }],
    ...extra,
  };
}

/** Bindings so MQTT devices' readings become Observations (not quarantine). */
export const MQTT_BINDINGS = [
  { device: 'cuff-7', patient: { mrn: 'MRN0007', system: 'urn:oid:1.2.3.4' } },
  { device: 'cuff-8', patient: { mrn: 'MRN0008', system: 'urn:oid:1.2.3.4' } },
  { device: 'scale-3', patient: { mrn: 'MRN0003', system: 'urn:oid:1.2.3.4' } },
];

/** Connect and resolve on CONNACK; reject with the broker's refusal (mqtt.js error with `code`). */
export function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** Resolve with the next message on `topic` (the client must already be subscribed). */
export function nextMessage(client: MqttClient, topic: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      client.off('message', on);
      resolve(JSON.parse(payload.toString()) as Record<string, unknown>);
    };
    client.on('message', on);
  });
}

/** A blood-pressure reading in the compact form, with a distinct device time per n. */
export function compactBp(n: number, systolic = 120): string {
  const t = new Date(Date.UTC(2026, 10, 23, 9, 0, 0) + n * 1000).toISOString();
  return JSON.stringify({ t, v: [['bp-systolic', systolic, 'mm[Hg]'], ['bp-diastolic', 80, 'mm[Hg]']], s: n });
}

/** The same in the full (kiosk) form. */
export function fullHeartRate(n: number, value = 72): string {
  const measuredAt = new Date(Date.UTC(2026, 10, 23, 10, 0, 0) + n * 1000).toISOString();
  return JSON.stringify({ measuredAt, components: [{ metric: 'heart-rate', value, unit: '/min' }], seq: n });
}

/** Publish at QoS 1 and return the PUBACK reason code (0 = success) and reason string (MQTT 5.0 §3.4.2.2.2). */
export async function pubackCode(client: MqttClient, topic: string, payload: string | Buffer): Promise<{ code: number; reason?: string }> {
  let reason: string | undefined;
  const watch = (packet: Packet): void => {
    if (packet.cmd === 'puback') reason = packet.properties?.reasonString;
  };
  client.on('packetreceive', watch);
  try {
    await client.publishAsync(topic, payload, { qos: 1 });
    return { code: 0 };
  } catch (err) {
    return { code: (err as { code?: number }).code ?? -1, ...(reason === undefined ? {} : { reason }) };
  } finally {
    client.off('packetreceive', watch);
  }
}
