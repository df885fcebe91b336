// Pure parts of the MQTT driver: password hashes, the topic ACL, the payload contract, the config section.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../gateway/config.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { FAST_SCRYPT } from './fixtures.ts';
import { hashPassword, parsePasswordHash, verifyPassword } from './password.ts';
import { decodeMqttPublish, parseDeviceStatus, parseMqttReading } from './payload.ts';
import { authorizePublishTopic, authorizeSubscribeFilter, parseTopic, type Identity } from './topics.ts';

const cuff7: Identity = { role: 'device', deviceId: 'cuff-7', via: 'password' };
const ops: Identity = { role: 'admin', username: 'ops' };
const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const NOW = new Date('2026-11-23T09:31:00Z');

describe('device passwords', () => {
  it('verifies the right password against a scrypt$N$r$p$salt$hash string and refuses a wrong one', async () => {
    const text = await hashPassword('s3cret', FAST_SCRYPT);
    assert.match(text, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    const parsed = parsePasswordHash(text);
    assert.ok(parsed.ok);
    assert.equal(await verifyPassword('s3cret', parsed.value), true);
    assert.equal(await verifyPassword('s3cret ', parsed.value), false);
  });

  it('gives two hashes of the same password different salts', async () => {
    assert.notEqual(await hashPassword('same', FAST_SCRYPT), await hashPassword('same', FAST_SCRYPT));
  });

  it('refuses hash strings gw hash-password did not make, saying what is wrong', () => {
    for (const bad of ['plaintext', 'scrypt$1000$8$1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA==', 'bcrypt$1$2$3$4$5', 'scrypt$1024$8$1$!!$??']) {
      const r = parsePasswordHash(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.issues[0]!.code, 'GW_ERR_MQTT_PASSWORD_HASH');
    }
  });
});

describe('the topic ACL', () => {
  it('lets a device publish only its own reading and status', () => {
    assert.equal(authorizePublishTopic(cuff7, 'rpm/cuff-7/reading').allowed, true);
    assert.equal(authorizePublishTopic(cuff7, 'rpm/cuff-7/status').allowed, true);
    for (const t of ['rpm/cuff-8/reading', 'rpm/cuff-7/command', 'rpm/cuff-7/error']) {
      assert.deepEqual(authorizePublishTopic(cuff7, t), { allowed: false, code: 'GW_ERR_MQTT_NOT_AUTHORIZED', message: `device cuff-7 may not publish to ${t}` });
    }
  });

  it('refuses topic names with wildcards, extra levels or unknown kinds as not gateway topics', () => {
    for (const t of ['rpm/+/reading', 'rpm/#', 'rpm/cuff-7/reading/x', 'rpm/cuff-7/telemetry', 'other/cuff-7/reading', 'rpm//reading', 'rpm/cuff 7/reading']) {
      const r = parseTopic(t);
      assert.equal(r.ok, false, t);
      assert.equal(authorizePublishTopic(cuff7, t).allowed, false, t);
    }
  });

  it('lets a device subscribe only to its own command and error topics, and an admin to everything', () => {
    assert.equal(authorizeSubscribeFilter(cuff7, 'rpm/cuff-7/command'), true);
    assert.equal(authorizeSubscribeFilter(cuff7, 'rpm/cuff-7/error'), true);
    for (const f of ['#', 'rpm/+/command', 'rpm/cuff-7/#', 'rpm/cuff-8/error', 'rpm/cuff-7/reading']) assert.equal(authorizeSubscribeFilter(cuff7, f), false, f);
    assert.equal(authorizeSubscribeFilter(ops, '#'), true);
  });

  it('lets an admin publish commands but never a reading', () => {
    assert.equal(authorizePublishTopic(ops, 'rpm/cuff-7/command').allowed, true);
    assert.equal(authorizePublishTopic(ops, 'rpm/cuff-7/reading').allowed, false);
  });
});

describe('the reading payload contract', () => {
  it('reads the compact form into the same Reading as the full form', () => {
    const compact = parseMqttReading('cuff-7', bytes({ t: '2026-11-23T09:30:00Z', v: [['bp-systolic', 120, 'mm[Hg]'], ['bp-diastolic', 80, 'mm[Hg]']], s: 5 }), NOW);
    const full = parseMqttReading(
      'cuff-7',
      bytes({ measuredAt: '2026-11-23T09:30:00Z', components: [{ metric: 'bp-systolic', value: 120, unit: 'mm[Hg]' }, { metric: 'bp-diastolic', value: 80, unit: 'mm[Hg]' }], seq: 5 }),
      NOW,
    );
    assert.ok(compact.ok && full.ok);
    const strip = ({ raw: _raw, ...r }: typeof compact.value.reading): unknown => r;
    assert.deepEqual(strip(compact.value.reading), strip(full.value.reading));
    assert.equal(compact.value.seq, 5);
    assert.deepEqual(compact.value.reading.context, { sequence: 5 });
    assert.equal(compact.value.reading.transport, 'mqtt');
    assert.equal(compact.value.reading.deviceId, 'cuff-7', 'the device id comes from the topic');
  });

  it('carries IEEE-11073 special values by name in the compact form', () => {
    const r = parseMqttReading('cuff-7', bytes({ v: [['spo2', 'NaN', '%']] }), NOW);
    assert.ok(r.ok);
    assert.equal(r.value.reading.components[0]!.value, 'NaN');
  });

  it('refuses bad payloads with a code and a path', () => {
    const cases: Array<[unknown, string, string?]> = [
      ['{"t":', 'GW_ERR_MQTT_PAYLOAD_ENCODING'],
      [Buffer.from([0xc3, 0x28]), 'GW_ERR_MQTT_PAYLOAD_ENCODING'],
      ['[1,2]', 'GW_ERR_MQTT_PAYLOAD_ENCODING'],
      [{ v: [['bp-systolic', '120', 'mm[Hg]']] }, 'GW_ERR_INVALID_READING', 'v[0][1]'],
      [{ v: [] }, 'GW_ERR_INVALID_READING', 'v'],
      [{ components: [{ metric: 'heart-rate', value: 60, unit: '/min' }], seq: -1 }, 'GW_ERR_INVALID_READING', 'seq'],
      [{ components: [{ metric: 'heart-rate', value: 60, unit: '/min' }], extra: 1 }, 'GW_ERR_INVALID_READING'],
      [{ deviceId: 'cuff-8', components: [{ metric: 'heart-rate', value: 60, unit: '/min' }] }, 'GW_ERR_MQTT_DEVICE_MISMATCH', 'deviceId'],
    ];
    for (const [payload, code, path] of cases) {
      const r = parseMqttReading('cuff-7', Buffer.isBuffer(payload) ? payload : bytes(payload), NOW);
      assert.equal(r.ok, false, JSON.stringify(payload));
      if (!r.ok) {
        assert.equal(r.issues[0]!.code, code, JSON.stringify(payload));
        if (path) assert.equal(r.issues[0]!.path, path);
      }
    }
    const big = parseMqttReading('cuff-7', Buffer.alloc(20_000, 0x20), NOW, 16_384);
    assert.equal(big.ok ? '' : big.issues[0]!.code, 'GW_ERR_MQTT_PAYLOAD_TOO_LARGE');
  });

  it('reads a status payload and refuses one with unknown fields', () => {
    assert.deepEqual(parseDeviceStatus(bytes({ online: true, battery: 80, firmware: '1.2' })), { ok: true, value: { online: true, battery: 80, firmware: '1.2' } });
    assert.equal(parseDeviceStatus(bytes({ online: true, batery: 80 })).ok, false);
    assert.equal(parseDeviceStatus(bytes({ online: 'yes' })).ok, false);
  });

  it('decodes a topic and payload for gw decode mqtt, refusing topics that are not rpm/<id>/reading', () => {
    assert.equal(decodeMqttPublish('rpm/cuff-7/reading', '{"v":[["heart-rate",60,"/min"]]}', NOW).ok, true);
    for (const t of ['rpm/cuff-7/status', 'rpm/+/reading', 'cuff-7']) {
      const r = decodeMqttPublish(t, '{"v":[["heart-rate",60,"/min"]]}', NOW);
      assert.equal(r.ok ? '' : r.issues[0]!.code, 'GW_ERR_MQTT_TOPIC', t);
    }
  });
});

describe('the mqtt config section', () => {
  it('is optional, and GW_MQTT_PORT turns the broker on with defaults', () => {
    assert.equal(parseConfig({}).mqtt, undefined);
    const cfg = parseConfig({}, { GW_MQTT_PORT: '1999' });
    assert.equal(cfg.mqtt?.port, 1999);
    assert.equal(cfg.mqtt?.host, '0.0.0.0');
    assert.deepEqual(cfg.mqtt?.devices, []);
  });

  it('names every bad key: typos, plaintext passwords, duplicate devices, requireClientCert without a CA', () => {
    const err = (() => {
      try {
        parseConfig({
          mqtt: {
            prot: 1883,
            devices: [{ id: 'cuff-7', username: 'cuff-7', passwordHash: 'hunter2' }, { id: 'cuff-7' }],
            tls: { certFile: 'a', keyFile: 'b', requireClientCert: true },
          },
        });
      } catch (e) {
        return e as GatewayError;
      }
      return undefined;
    })();
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_ERR_CONFIG_INVALID');
    assert.match(err.message, /mqtt: unknown key\(s\) "prot"/);
    assert.match(err.message, /mqtt\.devices\[0\]\.passwordHash: not a password hash/);
    assert.match(err.message, /mqtt\.tls\.caFile: requireClientCert needs caFile/);
  });
});
