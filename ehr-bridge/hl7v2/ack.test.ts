import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAck, controlIdOfMessage, parseAck } from './ack.ts';

const ack = (code: string, controlId = 'CTRL1', extra = ''): string =>
  `MSH|^~\\&|EHR|HOSP|RPM-GW|SITE|20261123091502||ACK^R01^ACK|A1|P|2.5.1\rMSA|${code}|${controlId}${extra}`;

describe('ACK parsing', () => {
  for (const code of ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'] as const) {
    it(`reads MSA-1 ${code} and MSA-2`, () => {
      assert.deepEqual(parseAck(ack(code)), { ok: true, value: { code, controlId: 'CTRL1' } });
    });
  }

  it('reads the MSA-3 text and the ERR segment, unescaped', () => {
    const r = parseAck(`${ack('AR', 'CTRL1', '|Unknown patient \\T\\ visit')}\rERR|||204^Unknown key identifier^HL70357|E||||MRN0001 not on file`);
    assert.ok(r.ok);
    assert.equal(r.value.text, 'Unknown patient & visit; MRN0001 not on file');
  });

  it('reads the error text from ERR-3 and from a v2.4 ERR-1', () => {
    const v25 = parseAck(`${ack('AE')}\rERR|||207^Application internal error^HL70357|E`);
    assert.ok(v25.ok && v25.value.text === 'Application internal error');
    const v24 = parseAck(`${ack('AE')}\rERR|PID^1^3^204&Unknown key identifier&HL70357`);
    assert.ok(v24.ok && v24.value.text === 'Unknown key identifier');
  });

  it('accepts LF or CRLF segment separators', () => {
    assert.ok(parseAck(ack('AA').replace('\r', '\n')).ok);
    assert.ok(parseAck(ack('AA').replace('\r', '\r\n')).ok);
  });

  it('calls an ACK without MSH malformed', () => {
    const r = parseAck('MSA|AA|CTRL1', 'CTRL1');
    assert.ok(!r.ok);
    assert.equal(r.issues[0]?.code, 'GW_ERR_MLLP_ACK_MALFORMED');
    assert.match(r.issues[0]?.message ?? '', /CTRL1.*no MSH/);
  });

  it('calls an ACK without MSA malformed', () => {
    const r = parseAck('MSH|^~\\&|EHR|||||||ACK|A1|P|2.5.1');
    assert.ok(!r.ok && r.issues[0]?.path === 'MSA');
  });

  it('calls an unknown acknowledgment code malformed, never a delivery', () => {
    for (const code of ['OK', 'aa', '', 'AAA']) {
      const r = parseAck(ack(code));
      assert.ok(!r.ok && r.issues[0]?.path === 'MSA-1', code);
    }
  });

  it('calls an ACK without MSA-2 malformed', () => {
    const r = parseAck(ack('AA', ''));
    assert.ok(!r.ok && r.issues[0]?.path === 'MSA-2');
  });

  it('calls an empty answer malformed', () => {
    assert.equal(parseAck('').ok, false);
  });
});

describe('ACK building (the sink)', () => {
  const oru = 'MSH|^~\\&|RPM-GW|SITE-7|EHR|HOSP|20261123091502+0000||ORU^R01^ORU_R01|3f2a9c1d8e7b6a5f4c3d|T|2.5.1\rPID|1';

  it('answers with MSA-2 = the received MSH-10 and the ends swapped', () => {
    const text = buildAck(oru, 'AA', undefined, { now: new Date('2026-11-23T09:15:03Z'), controlId: 'ACK1' });
    assert.equal(
      text,
      'MSH|^~\\&|EHR|HOSP|RPM-GW|SITE-7|20261123091503+0000||ACK^R01^ACK|ACK1|T|2.5.1\rMSA|AA|3f2a9c1d8e7b6a5f4c3d',
    );
    assert.deepEqual(parseAck(text), { ok: true, value: { code: 'AA', controlId: '3f2a9c1d8e7b6a5f4c3d' } });
  });

  it('carries the reason of a reject in MSA-3 and ERR-8, escaped, and reads back the same', () => {
    const text = buildAck(oru, 'AR', 'unknown MRN | check PID-3');
    assert.match(text, /\rERR\|\|\|207\^Application internal error\^HL70357\|E\|\|\|\|unknown MRN \\F\\ check PID-3$/);
    assert.deepEqual(parseAck(text), {
      ok: true,
      value: { code: 'AR', controlId: '3f2a9c1d8e7b6a5f4c3d', text: 'unknown MRN | check PID-3' },
    });
  });

  it('still answers something that has no MSH, with an empty MSA-2', () => {
    const text = buildAck('garbage', 'AR', 'not HL7');
    assert.ok(text.startsWith('MSH|^~\\&|'));
    assert.match(text, /\rMSA\|AR\|\|not HL7/);
  });

  it('finds a message control id, or none', () => {
    assert.equal(controlIdOfMessage(oru), '3f2a9c1d8e7b6a5f4c3d');
    assert.equal(controlIdOfMessage('PID|1'), undefined);
    assert.equal(controlIdOfMessage('MSH|^~\\&|A'), undefined);
  });
});
