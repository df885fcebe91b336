// The MQTT payload contract, pure: bytes on rpm/<deviceId>/reading → Reading, bytes on rpm/<deviceId>/status
// → DeviceStatus. The full form is the kiosk reading (device-drivers/kiosk/reading.ts, reused, not copied)
// plus an optional `seq`; the compact form is for constrained devices. The deviceId comes from the topic.
import { z } from 'zod';
import { issue } from '../../gateway/errors.ts';
import { SPECIAL_VALUES, type Issue, type Reading, type Result, type SpecialValue } from '../../gateway/types.ts';
import type { MqttFirmwareProfile } from '../../gateway/profiles/schema.ts';
import { parseKioskReading } from '../kiosk/reading.ts';
import { decodeVendorJson, sequenceOf } from './vendor-json.ts';

export const MQTT_PROFILE_ID = 'mqtt-json';
/** Largest payload read at all; a reading is a few hundred bytes. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024;

const valueSchema = z.union([z.number(), z.enum(SPECIAL_VALUES as [SpecialValue, ...SpecialValue[]])]);
const seqSchema = z.number().int().min(0).max(2 ** 32 - 1);

/** `{"t":"2026-11-23T09:30:00Z","v":[["bp-systolic",120,"mm[Hg]"],["bp-diastolic",80,"mm[Hg]"]],"s":17}` */
export const compactReadingSchema = z
  .object({
    /** measuredAt */
    t: z.string().max(40).optional(),
    /** [metric, value, unit] triples */
    v: z.array(z.tuple([z.string().min(1).max(64), valueSchema, z.string().min(1).max(32)])).min(1).max(16),
    /** seq */
    s: seqSchema.optional(),
  })
  .strict();

export const deviceStatusSchema = z
  .object({
    online: z.boolean(),
    /** Battery charge in percent. */
    battery: z.number().min(0).max(100).optional(),
    firmware: z.string().min(1).max(64).optional(),
    /** Device time of the status, ISO 8601. */
    at: z.string().max(40).optional(),
  })
  .strict();
export type DeviceStatus = z.infer<typeof deviceStatusSchema>;

export interface ParsedMqttReading {
  reading: Reading;
  /** The device's sequence number, echoed in error messages so the device knows which reading failed. */
  seq?: number;
}

function zodIssues(error: z.ZodError, prefix = ''): Issue[] {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), prefix);
    const message = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message;
    return issue('GW_ERR_INVALID_READING', path || undefined, path ? `${path}: ${message}` : message);
  });
}

/** Bytes → JSON object; refuses oversize, non-UTF-8 and non-JSON payloads. */
export function decodeJsonPayload(payload: Uint8Array, maxBytes: number = DEFAULT_MAX_PAYLOAD_BYTES): Result<Record<string, unknown>> {
  if (payload.byteLength > maxBytes) {
    return { ok: false, issues: [issue('GW_ERR_MQTT_PAYLOAD_TOO_LARGE', undefined, payload.byteLength, maxBytes)] };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return { ok: false, issues: [issue('GW_ERR_MQTT_PAYLOAD_ENCODING', undefined, 'bytes are not valid UTF-8')] };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, issues: [issue('GW_ERR_MQTT_PAYLOAD_ENCODING', undefined, (err as Error).message)] };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [issue('GW_ERR_MQTT_PAYLOAD_ENCODING', undefined, 'expected a JSON object')] };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/** Best effort, for error messages only: the `seq`/`s` a refused payload carried. */
export function seqOf(payload: Uint8Array): number | undefined {
  const decoded = decodeJsonPayload(payload);
  if (!decoded.ok) return undefined;
  const seq = decoded.value.seq ?? decoded.value.s;
  return seqSchema.safeParse(seq).success ? (seq as number) : undefined;
}

export function parseMqttReading(deviceId: string, payload: Uint8Array, receivedAt: Date, maxBytes?: number): Result<ParsedMqttReading> {
  const decoded = decodeJsonPayload(payload, maxBytes);
  if (!decoded.ok) return decoded;
  const body = decoded.value;
  let full: Record<string, unknown>;
  if ('v' in body) {
    const compact = compactReadingSchema.safeParse(body);
    if (!compact.success) return { ok: false, issues: zodIssues(compact.error) };
    const { t, v, s } = compact.data;
    full = { components: v.map(([metric, value, unit]) => ({ metric, value, unit })) };
    if (t !== undefined) full.measuredAt = t;
    if (s !== undefined) full.seq = s;
  } else {
    full = { ...body };
  }
  const { seq, deviceId: claimed, ...kiosk } = full;
  if (claimed !== undefined && claimed !== deviceId) {
    return { ok: false, issues: [issue('GW_ERR_MQTT_DEVICE_MISMATCH', 'deviceId', String(claimed).slice(0, 128), deviceId)] };
  }
  const seqParsed = seqSchema.optional().safeParse(seq);
  if (!seqParsed.success) return { ok: false, issues: zodIssues(seqParsed.error, 'seq') };
  const parsed = parseKioskReading({ ...kiosk, deviceId }, receivedAt, 'mqtt');
  if (!parsed.ok) return parsed;
  const reading: Reading = { ...parsed.value, profileId: MQTT_PROFILE_ID, raw: Buffer.from(payload).toString('base64') };
  if (seqParsed.data !== undefined) reading.context = { ...reading.context, sequence: seqParsed.data };
  return { ok: true, value: seqParsed.data === undefined ? { reading } : { reading, seq: seqParsed.data } };
}

/**
 * A device whose config entry names an mqtt firmware profile: its own JSON → Reading through the profile's
 * `json` mapping instead of the gateway's contract. The profile id is the Reading's profileId.
 */
export function parseVendorReading(
  deviceId: string,
  profile: MqttFirmwareProfile,
  payload: Uint8Array,
  receivedAt: Date,
  maxBytes?: number,
): Result<ParsedMqttReading> {
  const decoded = decodeJsonPayload(payload, maxBytes);
  if (!decoded.ok) return decoded;
  const mapped = decodeVendorJson(profile, decoded.value);
  if (!mapped.ok) return mapped;
  const { components, deviceTime, sequence } = mapped.value;
  const reading: Reading = { deviceId, profileId: profile.id, transport: 'mqtt', components, receivedAt: receivedAt.toISOString(), raw: Buffer.from(payload).toString('base64') };
  if (deviceTime !== undefined) reading.deviceTime = deviceTime;
  if (sequence !== undefined) reading.context = { sequence };
  return { ok: true, value: sequence === undefined ? { reading } : { reading, seq: sequence } };
}

/** Best effort, for error messages only: the sequence number a refused vendor payload carried. */
export function vendorSeqOf(profile: MqttFirmwareProfile, payload: Uint8Array): number | undefined {
  const decoded = decodeJsonPayload(payload);
  if (!decoded.ok) return undefined;
  const seq = sequenceOf(profile, decoded.value);
  return seq.ok ? seq.value : undefined;
}

export function parseDeviceStatus(payload: Uint8Array, maxBytes?: number): Result<DeviceStatus> {
  const decoded = decodeJsonPayload(payload, maxBytes);
  if (!decoded.ok) return decoded;
  const parsed = deviceStatusSchema.safeParse(decoded.value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, issues: zodIssues(parsed.error) };
}

/** The device id of a reading topic, rpm/<deviceId>/reading; anything else is refused. */
export function readingTopicDevice(topic: string): Result<string> {
  const parts = topic.split('/');
  // MQTT 3.1.1 §4.7.1: no wildcards in a topic name
  if (topic.includes('+') || topic.includes('#') || parts.length !== 3 || parts[0] !== 'rpm' || parts[2] !== 'reading' || !/^[A-Za-z0-9._:-]{1,128}$/.test(parts[1]!)) {
    return { ok: false, issues: [issue('GW_ERR_MQTT_TOPIC', 'topic', topic.slice(0, 200), 'expected rpm/<deviceId>/reading')] };
  }
  return { ok: true, value: parts[1]! };
}

/**
 * `gw decode mqtt <topic> '<payload>'`: the topic must be rpm/<deviceId>/reading. Pure, no broker. With the
 * device's mqtt firmware profile the payload is the vendor's JSON, mapped as the broker would.
 */
export function decodeMqttPublish(topic: string, payload: string | undefined, receivedAt: Date, profile?: MqttFirmwareProfile): Result<Reading> {
  const device = readingTopicDevice(topic);
  if (!device.ok) return device;
  if (payload === undefined) return { ok: false, issues: [issue('GW_ERR_MQTT_PAYLOAD_ENCODING', undefined, 'the payload is missing')] };
  const bytes = Buffer.from(payload, 'utf8');
  const parsed = profile ? parseVendorReading(device.value, profile, bytes, receivedAt) : parseMqttReading(device.value, bytes, receivedAt);
  return parsed.ok ? { ok: true, value: parsed.value.reading } : parsed;
}
