// The gateway's MQTT topic tree and who may use which part of it (the topic ACL). Pure functions.
//   rpm/<deviceId>/reading   device → gateway, QoS 1/2 acknowledged only once durable
//   rpm/<deviceId>/status    device → gateway, retained, last will { "online": false }
//   rpm/<deviceId>/command   gateway/admin → device
//   rpm/<deviceId>/error     gateway → device: why a publish was refused
import { issue } from '../../gateway/errors.ts';
import type { Result } from '../../gateway/types.ts';

export const TopicKind = {
  reading: 'reading',
  status: 'status',
  command: 'command',
  error: 'error',
} as const;
export type TopicKind = (typeof TopicKind)[keyof typeof TopicKind];
const KINDS = Object.values(TopicKind) as string[];

export const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/; // same alphabet as the kiosk contract's deviceId

export interface GatewayTopic {
  deviceId: string;
  kind: TopicKind;
}

/** Who is on the other end of a connection, once authenticated. */
export type Identity = { role: 'device'; deviceId: string; via: 'password' | 'certificate' } | { role: 'admin'; username: string };

export function describeIdentity(identity: Identity): string {
  return identity.role === 'device' ? `device ${identity.deviceId}` : `admin ${identity.username}`;
}

/** A concrete topic name (never a filter) of the form rpm/<deviceId>/<kind>. */
export function parseTopic(topic: string): Result<GatewayTopic> {
  const bad = (why: string): Result<GatewayTopic> => ({ ok: false, issues: [issue('GW_ERR_MQTT_TOPIC', 'topic', topic.slice(0, 200), why)] });
  // MQTT 3.1.1 §4.7.1: wildcards are for filters only; a topic name must not contain them
  if (topic.includes('+') || topic.includes('#')) return bad('wildcards are not allowed in a topic name');
  const parts = topic.split('/');
  if (parts.length !== 3 || parts[0] !== 'rpm') return bad('expected rpm/<deviceId>/<reading|status|command|error>');
  const [, deviceId, kind] = parts as [string, string, string];
  if (!DEVICE_ID.test(deviceId)) return bad('the device id must be 1–128 letters, digits or . _ : -');
  if (!KINDS.includes(kind)) return bad(`unknown kind "${kind}"; expected reading, status, command or error`);
  return { ok: true, value: { deviceId, kind: kind as TopicKind } };
}

export type AclDecision = { allowed: true; topic: GatewayTopic } | { allowed: false; code: 'GW_ERR_MQTT_TOPIC' | 'GW_ERR_MQTT_NOT_AUTHORIZED'; message: string };

/** A device publishes only its own reading and status; an admin publishes only commands (never a reading). */
export function authorizePublishTopic(identity: Identity, topic: string): AclDecision {
  const parsed = parseTopic(topic);
  if (!parsed.ok) return { allowed: false, code: 'GW_ERR_MQTT_TOPIC', message: parsed.issues[0]!.message };
  const t = parsed.value;
  const refuse = (): AclDecision => ({ allowed: false, code: 'GW_ERR_MQTT_NOT_AUTHORIZED', message: `${describeIdentity(identity)} may not publish to ${topic}` });
  switch (identity.role) {
    case 'device':
      return t.deviceId === identity.deviceId && (t.kind === 'reading' || t.kind === 'status') ? { allowed: true, topic: t } : refuse();
    case 'admin':
      return t.kind === 'command' ? { allowed: true, topic: t } : refuse();
    default:
      return identity satisfies never;
  }
}

/** A device subscribes only to its own command and error topics (exact names); an admin to anything, `#` included. */
export function authorizeSubscribeFilter(identity: Identity, filter: string): boolean {
  switch (identity.role) {
    case 'device':
      return filter === `rpm/${identity.deviceId}/command` || filter === `rpm/${identity.deviceId}/error`;
    case 'admin':
      return true;
    default:
      return identity satisfies never;
  }
}
