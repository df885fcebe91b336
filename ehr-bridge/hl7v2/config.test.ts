import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mllpDestinationSchema, parseMllpDestinationConfig } from './config.ts';

describe('MLLP destination config', () => {
  it('fills the defaults from an id and a type', () => {
    assert.deepEqual(mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp' }), {
      id: 'ehr',
      type: 'mllp',
      host: '127.0.0.1',
      port: 2575,
      sendingApplication: 'RPM-GW',
      receivingApplication: '',
      receivingFacility: '',
      processingId: 'P',
      ackTimeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      maxFrameBytes: 1024 * 1024,
      hl7Version: '2.5.1',
      messageMode: 'per-reading',
      maxInFlight: 1,
      ackMode: 'original',
      acceptCommitAsDelivery: false,
      keepAliveMs: 30_000,
    });
  });

  it('refuses a typo in a key and a port out of range, naming every path', () => {
    const r = parseMllpDestinationConfig({ id: 'ehr', type: 'mllp', prot: 2575, port: 70000, processingId: 'X' }, 'destinations[0]');
    assert.ok(!r.ok);
    const paths = r.issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['destinations[0]', 'destinations[0].port', 'destinations[0].processingId']);
    assert.ok(r.issues.every((i) => i.code === 'GW_ERR_CONFIG_INVALID'));
    assert.match(r.issues.find((i) => i.path === 'destinations[0]')?.message ?? '', /prot/);
  });

  it('takes HL7 v2.3.1 and v2.6, per-patient messages and pipelining, and refuses a version it cannot write', () => {
    const ok = mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp', hl7Version: '2.3.1', messageMode: 'per-patient', maxInFlight: 4 });
    assert.equal(ok.hl7Version, '2.3.1');
    assert.equal(ok.messageMode, 'per-patient');
    assert.equal(ok.maxInFlight, 4);
    assert.equal(mllpDestinationSchema.parse({ id: 'ehr', type: 'mllp', hl7Version: '2.6' }).hl7Version, '2.6');
    const r = parseMllpDestinationConfig({ id: 'ehr', type: 'mllp', hl7Version: '2.4', messageMode: 'bulk', maxInFlight: 0 });
    assert.ok(!r.ok);
    assert.deepEqual(r.issues.map((i) => i.path).sort(), ['hl7Version', 'maxInFlight', 'messageMode']);
  });
});
