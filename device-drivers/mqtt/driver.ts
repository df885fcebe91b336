// The MQTT driver: an embedded aedes broker (TCP, TLS, WebSocket) for Wi-Fi/LAN devices. Devices log in
// with a scrypt-hashed password or a TLS client certificate (CN = device id), may touch only their own
// topics, and a QoS 1/2 reading is acknowledged (PUBACK/PUBREC) only after ctx.submit() made it durable:
// aedes writes the PUBACK after authorizePublish calls back (aedes lib/handlers/publish.js: runSeries
// [authorizePublish, enqueuePublish]; enqueuePublish writes PubAck / stores then PubRec).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { DriverContext, DriverDefinition, RunningDriver } from '../../gateway/driver.ts';
import { GatewayError, errorMessage, type ErrorCode } from '../../gateway/errors.ts';
import { formatProblem, ProfileRegistry } from '../../gateway/profiles/registry.ts';
import { mqttConfigSchema, type MqttConfig } from './config.ts';
import { MqttConnection } from './mqtt5-bridge.ts';
import { parseDeviceStatus, parseMqttReading, parseVendorReading, seqOf, vendorSeqOf, type DeviceStatus } from './payload.ts';
import { burnPasswordCheck, parsePasswordHash, verifyPassword, type ScryptHash } from './password.ts';
import { authorizePublishTopic, authorizeSubscribeFilter, describeIdentity, type Identity } from './topics.ts';

export const Listener = { tcp: 'tcp', tls: 'tls', websocket: 'websocket' } as const;
export type Listener = (typeof Listener)[keyof typeof Listener];

/** Test hook (README "Test hooks"): GW_FAULT_INJECT=mqtt-kill-before-durable makes the process SIGKILL itself
 * after a reading PUBLISH arrived but before it was submitted. Honoured only when the variable is set. */
export const FAULT_KILL_BEFORE_DURABLE = 'mqtt-kill-before-durable';

// MQTT 5.0 §3.4.2.1 PUBACK reason codes
const PUBACK = {
  unspecified: 0x80,
  notAuthorized: 0x87,
  topicNameInvalid: 0x90,
  payloadFormatInvalid: 0x99,
} as const;
// MQTT 5.0 §3.14.2.1 DISCONNECT reason codes
const DISCONNECT = { serverBusy: 0x89, quotaExceeded: 0x97 } as const;
// MQTT 3.1.1 §3.2.2.3 CONNACK return codes (aedes maps them to the v3 answer; the bridge to v5)
const CONNACK = { badUserNameOrPassword: 4, notAuthorized: 5 } as const;

interface ConnectionInfo {
  conn: MqttConnection;
  listener: Listener;
  /** CN of a client certificate the TLS handshake verified against caFile. */
  certificateCn?: string;
}

interface DeviceState {
  connected: number;
  status?: DeviceStatus;
  statusAt?: string;
  lastReadingAt?: string;
}

interface Credential {
  identity: Identity;
  hash: ScryptHash;
}

function readingRefusalCode(code: string): number {
  switch (code) {
    case 'GW_ERR_MQTT_NOT_AUTHORIZED':
      return PUBACK.notAuthorized;
    case 'GW_ERR_MQTT_TOPIC':
      return PUBACK.topicNameInvalid;
    default:
      // payload shape, encoding, size and clinical checks: the device sent something we cannot take
      return code.startsWith('GW_ERR_') ? PUBACK.payloadFormatInvalid : PUBACK.unspecified;
  }
}

export async function startMqttBroker(config: MqttConfig, ctx: DriverContext): Promise<RunningDriver & { ports: Partial<Record<Listener, number>> }> {
  const log = ctx.logger.child({ driver: 'mqtt' });
  const fault = process.env.GW_FAULT_INJECT === FAULT_KILL_BEFORE_DURABLE;
  if (fault) log.warn({ fault: FAULT_KILL_BEFORE_DURABLE }, 'TEST HOOK ACTIVE: the process kills itself on the next MQTT reading');

  const byUsername = new Map<string, Credential>();
  const devicesById = new Map(config.devices.map((d) => [d.id, d]));
  for (const d of config.devices) {
    if (d.username !== undefined && d.passwordHash !== undefined) {
      const parsed = parsePasswordHash(d.passwordHash);
      if (parsed.ok) byUsername.set(d.username, { identity: { role: 'device', deviceId: d.id, via: 'password' }, hash: parsed.value });
    }
  }
  for (const a of config.admins) {
    const parsed = parsePasswordHash(a.passwordHash);
    if (parsed.ok) byUsername.set(a.username, { identity: { role: 'admin', username: a.username }, hash: parsed.value });
  }

  // Devices that name an mqtt firmware profile publish their vendor's JSON. validate → plan → apply: every
  // named profile must exist and be an mqtt profile before a listener opens; edits apply to the next message.
  const profiled = config.devices.flatMap((d, i) => (d.profile === undefined ? [] : [{ i, id: d.id, profile: d.profile }]));
  let registry: ProfileRegistry | undefined;
  if (profiled.length > 0) {
    registry = new ProfileRegistry({ dir: resolve(config.profilesDir), logger: log.child({ stage: 'profiles' }), ...(ctx.metrics ? { metrics: ctx.metrics } : {}) });
    registry.load();
    const r = registry;
    const bad = profiled.flatMap(({ i, profile }) =>
      r.getMqtt(profile) ? [] : [`mqtt.devices[${i}].profile: ${r.get(profile) ? `firmware profile "${profile}" is a ${r.get(profile)!.transport.kind} profile, not an mqtt one` : `unknown firmware profile "${profile}"`} in ${r.dir}`],
    );
    if (bad.length > 0) throw new GatewayError('GW_ERR_CONFIG_INVALID', [bad.join('; ')]);
    registry.watch();
  }

  const connections = new WeakMap<object, ConnectionInfo>();
  const identities = new WeakMap<Client, Identity>();
  const devices = new Map<string, DeviceState>();
  const stateOf = (deviceId: string): DeviceState => {
    let s = devices.get(deviceId);
    if (!s) devices.set(deviceId, (s = { connected: 0 }));
    return s;
  };
  const inFlight = new Set<Promise<unknown>>();
  let stopping = false;

  const refuse = (reason: string, fields: Record<string, unknown>, message: string): void => {
    ctx.metrics?.mqttRefusals.inc({ transport: 'mqtt', reason });
    log.warn({ ...fields, code: reason }, message);
  };

  const publishError = (deviceId: string, body: { code: string; message: string; seq?: number; topic: string }): void => {
    broker.publish({ cmd: 'publish', topic: `rpm/${deviceId}/error`, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false }, (err) => {
      if (err) log.error({ err, deviceId }, 'cannot publish error message to the device');
    });
  };

  /** A refused PUBLISH: counted, logged, explained on rpm/<id>/error (and in the v5 PUBACK), never stored or forwarded. */
  const refusePublish = (
    client: Client,
    identity: Identity,
    packet: PublishPacket,
    code: string,
    message: string,
    callback: (error?: Error | null) => void,
    seqFrom: { seq?: number | undefined } = { seq: seqOf(packet.payload as Buffer) },
  ): void => {
    const seq = seqFrom.seq;
    const deviceId = identity.role === 'device' ? identity.deviceId : undefined;
    refuse(code, { deviceId, username: identity.role === 'admin' ? identity.username : undefined, clientId: client.id, qos: packet.qos, seq }, 'MQTT publish refused');
    const info = connections.get(client.conn);
    const isWill = (packet as { cmd?: string }).cmd !== 'publish';
    // MQTT 5.0 §3.4.2.1: a PUBACK reason code ≥ 0x80 tells a v5 client the publish failed. A 3.1.1 client has no
    // such code (§3.3.5: positive ack or close); it gets a plain PUBACK, since resending cannot help, and the error topic.
    if (!isWill && packet.qos > 0 && packet.messageId !== undefined && info?.conn.protocolVersion === 5) {
      info.conn.overrideAck(packet.messageId, { reasonCode: readingRefusalCode(code), reasonString: `${code}: ${message}` });
    }
    if (deviceId !== undefined) publishError(deviceId, seq === undefined ? { code, message, topic: packet.topic } : { code, message, seq, topic: packet.topic });
    // aedes has no "drop" answer for authorizePublish besides closing the client: send the packet to a `$` topic
    // nobody can subscribe to (the ACL allows no `$` filters; MQTT 3.1.1 §4.7.2: `#` does not match `$` topics).
    packet.topic = '$GW/refused';
    packet.retain = false;
    packet.payload = Buffer.alloc(0);
    callback(null);
  };

  /** What to answer a reading PUBLISH, decided only after submit() said whether it is durable. */
  type ReadingOutcome = { kind: 'ack' } | { kind: 'refuse'; code: string; message: string; seqFrom?: { seq?: number | undefined } } | { kind: 'disconnect'; error: Error };

  /** The gateway's own contract, or the vendor JSON of a device whose entry names a profile (the one in force now). */
  const parseReading = (deviceId: string, payload: Buffer): ReadingOutcome | ReturnType<typeof parseMqttReading> => {
    const profileId = devicesById.get(deviceId)?.profile;
    if (profileId === undefined) return parseMqttReading(deviceId, payload, new Date(), config.maxPayloadBytes);
    const profile = registry?.getMqtt(profileId);
    if (!profile) return { kind: 'refuse', code: 'GW_ERR_FIRMWARE_PROFILE_UNKNOWN', message: errorMessage('GW_ERR_FIRMWARE_PROFILE_UNKNOWN', profileId) };
    const parsed = parseVendorReading(deviceId, profile, payload, new Date(), config.maxPayloadBytes);
    if (parsed.ok) return parsed;
    const message = parsed.issues.map((i) => i.message).join('; ');
    return { kind: 'refuse', code: parsed.issues[0]!.code, message: `${message} (profile ${profile.id})`, seqFrom: { seq: vendorSeqOf(profile, payload) } };
  };

  const handleReading = async (client: Client, deviceId: string, packet: PublishPacket): Promise<ReadingOutcome> => {
    const parsed = parseReading(deviceId, packet.payload as Buffer);
    if ('kind' in parsed) return parsed;
    if (!parsed.ok) return { kind: 'refuse', code: parsed.issues[0]!.code, message: parsed.issues[0]!.message };
    if (fault) process.kill(process.pid, 'SIGKILL');
    if (packet.qos === 0) ctx.metrics?.mqttUnacknowledged.inc({ transport: 'mqtt' });
    const { reading, seq } = parsed.value;
    const result = await ctx.submit(reading);
    switch (result.kind) {
      case 'accepted':
      case 'quarantined':
        stateOf(deviceId).lastReadingAt = new Date().toISOString();
        log.info({ deviceId, clientId: client.id, qos: packet.qos, seq, result: result.kind }, 'MQTT reading durable; acknowledging');
        packet.retain = false; // readings are never kept as retained messages (PHI stays in the sealed buffer)
        return { kind: 'ack' };
      case 'invalid':
        return { kind: 'refuse', code: result.issues[0]!.code, message: result.issues[0]!.message };
      case 'unavailable': {
        // Never acknowledge what is not durable: no PUBACK; the client keeps the message and resends it after
        // reconnecting (MQTT 3.1.1 §4.4). v5 clients are told why (DISCONNECT 0x97 Quota exceeded / 0x89 Server busy).
        refuse(result.code, { deviceId, clientId: client.id, seq }, 'buffer refused an MQTT reading; disconnecting without PUBACK');
        publishError(deviceId, { code: result.code, message: result.reason, topic: packet.topic, ...(seq === undefined ? {} : { seq }) });
        const conn = connections.get(client.conn)?.conn;
        conn?.sendDisconnect(result.code === 'GW_ERR_BUFFER_FULL' ? DISCONNECT.quotaExceeded : DISCONNECT.serverBusy, `${result.code}: ${result.reason}`);
        return { kind: 'disconnect', error: new Error(`${result.code}: ${result.reason}`) };
      }
      default:
        return result satisfies never;
    }
  };

  const broker = await Aedes.createBroker({
    preConnect(_client, _packet, callback) {
      callback(null, !stopping);
    },
    authenticate(client, username, password, done) {
      const info = connections.get(client.conn);
      const fail = (code: ErrorCode, returnCode: number, arg: string): void => {
        refuse(code, { clientId: client.id, username, listener: info?.listener }, 'MQTT connect refused');
        done(Object.assign(new Error(errorMessage(code, arg)), { returnCode }) as never, false);
      };
      const ok = (identity: Identity): void => {
        identities.set(client, identity);
        log.info({ clientId: client.id, listener: info?.listener, ...(identity.role === 'device' ? { deviceId: identity.deviceId, via: identity.via } : { admin: identity.username }) }, 'MQTT client authenticated');
        done(null, true);
      };
      if (info?.certificateCn !== undefined) {
        const device = devicesById.get(info.certificateCn);
        if (!device) return fail('GW_ERR_MQTT_CERT_UNKNOWN', CONNACK.notAuthorized, info.certificateCn);
        if (username !== undefined && username !== device.id && username !== device.username) {
          return fail('GW_ERR_MQTT_NOT_AUTHORIZED', CONNACK.notAuthorized, `certificate ${device.id} logging in as ${username}`);
        }
        return ok({ role: 'device', deviceId: device.id, via: 'certificate' });
      }
      if (username === undefined) return fail('GW_ERR_MQTT_BAD_CREDENTIALS', CONNACK.notAuthorized, client.id); // anonymous: off
      const credential = byUsername.get(username);
      const check = credential ? verifyPassword(password ?? Buffer.alloc(0), credential.hash) : burnPasswordCheck(password ?? Buffer.alloc(0));
      check.then(
        (valid) => (valid && credential ? ok(credential.identity) : fail('GW_ERR_MQTT_BAD_CREDENTIALS', CONNACK.badUserNameOrPassword, username)),
        (err: unknown) => {
          log.error({ err }, 'password check failed');
          fail('GW_ERR_MQTT_BAD_CREDENTIALS', CONNACK.badUserNameOrPassword, username);
        },
      );
    },
    authorizePublish(client, packet, callback) {
      if (client === null) return callback(null); // broker-side publish (error messages, persisted wills)
      const identity = identities.get(client);
      if (!identity) return callback(new Error('publish from an unauthenticated client'));
      const acl = authorizePublishTopic(identity, packet.topic);
      if (!acl.allowed) return refusePublish(client, identity, packet, acl.code, acl.message, callback);
      const { topic } = acl;
      switch (topic.kind) {
        case 'status': {
          const status = parseDeviceStatus(packet.payload as Buffer, config.maxPayloadBytes);
          if (!status.ok) return refusePublish(client, identity, packet, status.issues[0]!.code, status.issues[0]!.message, callback);
          const s = stateOf(topic.deviceId);
          s.status = status.value;
          s.statusAt = new Date().toISOString();
          return callback(null);
        }
        case 'command':
          return callback(null);
        case 'error':
          return refusePublish(client, identity, packet, 'GW_ERR_MQTT_NOT_AUTHORIZED', `${describeIdentity(identity)} may not publish to ${packet.topic}`, callback);
        case 'reading': {
          if ((packet as { cmd?: string }).cmd !== 'publish') {
            return refusePublish(client, identity, packet, 'GW_ERR_MQTT_NOT_AUTHORIZED', 'a last will cannot carry a reading', callback);
          }
          const work = handleReading(client, topic.deviceId, packet).then(
            (outcome) => {
              switch (outcome.kind) {
                case 'ack':
                  return callback(null); // aedes now writes PUBACK / stores and writes PUBREC
                case 'refuse':
                  return refusePublish(client, identity, packet, outcome.code, outcome.message, callback, outcome.seqFrom);
                case 'disconnect':
                  return callback(outcome.error); // aedes closes the client; no PUBACK
                default:
                  return outcome satisfies never;
              }
            },
            (err: unknown) => {
              log.error({ err, deviceId: topic.deviceId }, 'MQTT reading intake failed; not acknowledged');
              callback(err as Error);
            },
          );
          inFlight.add(work);
          void work.finally(() => inFlight.delete(work));
          return;
        }
        default:
          return topic.kind satisfies never;
      }
    },
    authorizeSubscribe(client, subscription, callback) {
      const identity = identities.get(client);
      if (identity && authorizeSubscribeFilter(identity, subscription.topic)) return callback(null, subscription);
      const who = identity ? describeIdentity(identity) : 'an unauthenticated client';
      refuse('GW_ERR_MQTT_NOT_AUTHORIZED', { clientId: client.id, deviceId: identity?.role === 'device' ? identity.deviceId : undefined, filter: subscription.topic }, 'MQTT subscription refused');
      if (identity?.role === 'device') publishError(identity.deviceId, { code: 'GW_ERR_MQTT_NOT_AUTHORIZED', message: errorMessage('GW_ERR_MQTT_NOT_AUTHORIZED', who, 'subscribe to', subscription.topic), topic: subscription.topic });
      callback(null, null); // MQTT 3.1.1 §3.9.3 SUBACK 0x80 Failure (MQTT 5: 0x87 Not authorized, via the bridge)
    },
    authorizeForward(_client, packet) {
      // Readings go to the buffer, not to other subscribers (PHI leaves only through a Destination).
      return /^rpm\/[^/]+\/reading$/.test(packet.topic) ? null : packet;
    },
  });

  broker.on('clientReady', (client) => {
    const identity = identities.get(client);
    if (identity?.role === 'device') stateOf(identity.deviceId).connected++;
  });
  broker.on('clientDisconnect', (client) => {
    const identity = identities.get(client);
    if (identity?.role === 'device') {
      const s = stateOf(identity.deviceId);
      s.connected = Math.max(0, s.connected - 1);
    }
  });
  broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'));

  const handle = (stream: Duplex, listener: Listener, extra: Partial<ConnectionInfo> = {}, req?: Parameters<Aedes['handle']>[1]): void => {
    const conn = new MqttConnection(stream);
    connections.set(conn, { conn, listener, ...extra });
    broker.handle(conn, req);
  };

  const servers: Array<{ listener: Listener; close(): Promise<void>; port: number }> = [];
  const listen = async (listener: Listener, server: NetServer | HttpServer, host: string, port: number): Promise<number> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new GatewayError('GW_ERR_MQTT_LISTEN', [listener, `${host}:${port}`, err.message], { cause: err })));
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };
  const closeServer = (server: NetServer | HttpServer): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

  try {
    const tcp = createNetServer((socket) => handle(socket, 'tcp'));
    servers.push({ listener: 'tcp', port: await listen('tcp', tcp, config.host, config.port), close: () => closeServer(tcp) });

    if (config.tls) {
      const t = config.tls;
      const read = (file: string): Buffer => {
        try {
          return readFileSync(file);
        } catch (err) {
          throw new GatewayError('GW_ERR_CONFIG_INVALID', [`mqtt.tls: cannot read ${file}: ${(err as Error).message}`], { cause: err });
        }
      };
      const tls = createTlsServer(
        {
          cert: read(t.certFile),
          key: read(t.keyFile),
          ...(t.caFile ? { ca: read(t.caFile), requestCert: true } : {}),
          rejectUnauthorized: t.requireClientCert,
        },
        (socket: TLSSocket) => {
          // RFC 5280 §4.1.2.6 subject CN of a certificate chain-verified against caFile (socket.authorized)
          const cn = socket.authorized ? socket.getPeerCertificate()?.subject?.CN : undefined;
          handle(socket, 'tls', typeof cn === 'string' ? { certificateCn: cn } : {});
        },
      );
      tls.on('tlsClientError', (err) => refuse('GW_ERR_MQTT_NOT_AUTHORIZED', { listener: 'tls', err: err.message }, 'TLS handshake refused'));
      servers.push({ listener: 'tls', port: await listen('tls', tls, t.host ?? config.host, t.port), close: () => closeServer(tls) });
    }

    if (config.websocket) {
      const w = config.websocket;
      const http = createHttpServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket only\n'));
      const wss = new WebSocketServer({ server: http, path: w.path, handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false) });
      wss.on('connection', (ws, req) => handle(createWebSocketStream(ws), 'websocket', {}, req));
      servers.push({
        listener: 'websocket',
        port: await listen('websocket', http, w.host ?? config.host, w.port),
        close: async () => {
          for (const ws of wss.clients) ws.terminate();
          await new Promise<void>((resolve) => wss.close(() => resolve()));
          await closeServer(http);
        },
      });
    }
  } catch (err) {
    registry?.close();
    await Promise.all(servers.map((s) => s.close()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw err;
  }

  const ports = Object.fromEntries(servers.map((s) => [s.listener, s.port])) as Partial<Record<Listener, number>>;
  log.info({ ports, devices: config.devices.length, admins: config.admins.length, profiled: profiled.map((p) => `${p.id}:${p.profile}`) }, 'MQTT broker listening');

  return {
    ports,
    async stop() {
      stopping = true;
      registry?.close();
      const closing = servers.map((s) => s.close()); // stop accepting; resolves once every connection is gone
      await Promise.allSettled([...inFlight]); // readings already being made durable finish (and get their PUBACK)
      await new Promise<void>((resolve) => broker.close(() => resolve())); // closes every client
      await Promise.all(closing);
      log.info('MQTT broker stopped');
    },
    status() {
      return {
        ports,
        clientsConnected: broker.connectedClients,
        // Problems name files and paths, never clinical values: safe for /v1/status.
        ...(registry ? { profileProblems: registry.problems().map(formatProblem) } : {}),
        devices: [...devices.entries()].map(([id, s]) => ({
          id,
          connected: s.connected > 0,
          ...(s.status ? { status: s.status, statusAt: s.statusAt } : {}),
          ...(s.lastReadingAt ? { lastReadingAt: s.lastReadingAt } : {}),
        })),
      };
    },
  };
}

export const mqttDriver: DriverDefinition<typeof mqttConfigSchema> = {
  id: 'mqtt',
  configSchema: mqttConfigSchema,
  start: (config, ctx) => startMqttBroker(config, ctx),
};
