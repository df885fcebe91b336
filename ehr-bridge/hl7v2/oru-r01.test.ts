import '../../gateway/fhir/websocket-shim.ts'; // @medplum/core reads globalThis.WebSocket on import
import { Hl7Message } from '@medplum/core';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHl7, unescapeHl7 } from './escape.ts';
import { bloodPressure, heartRate, testOruHeader } from './fixtures.ts';
import { buildOruR01, buildOruR01Batch, type OruR01Options } from './oru-r01.ts';
import { toHl7Timestamp } from './timestamp.ts';

const header: OruR01Options = testOruHeader(new Date('2026-11-23T09:15:02.500Z'));

function build(observation = heartRate(), options: OruR01Options = header): { message: string; controlId: string } {
  const r = buildOruR01(observation, options);
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
  return r.value;
}

function fieldsOf(message: string, segment: string, nth = 0): string[] {
  const found = message.split('\r').filter((s) => s.startsWith(`${segment}|`));
  const line = found[nth];
  assert.ok(line !== undefined, `no ${segment} #${nth} in ${JSON.stringify(message)}`);
  // Index n is field n for every segment but MSH (whose MSH-1 is the separator itself).
  return segment === 'MSH' ? ['MSH', '|', ...line.slice(4).split('|')] : line.split('|');
}

describe('ORU^R01 from a heart-rate Observation', () => {
  it('writes an MSH that names both ends, the time, ORU^R01^ORU_R01, the control id, P and 2.5.1', () => {
    const { message, controlId } = build();
    const msh = fieldsOf(message, 'MSH');
    assert.equal(msh[2], '^~\\&');
    assert.deepEqual(msh.slice(3, 7), ['RPM-GW', 'SITE-7', 'EPIC', 'GENERAL']);
    assert.equal(msh[7], '20261123091502+0000');
    assert.equal(msh[9], 'ORU^R01^ORU_R01');
    assert.equal(msh[10], '3f2a9c1d8e7b6a5f4c3d');
    assert.equal(controlId, '3f2a9c1d8e7b6a5f4c3d');
    assert.equal(msh[11], 'P');
    assert.equal(msh[12], '2.5.1');
  });

  it('separates segments with CR only, in the order MSH PID PV1 OBR OBX', () => {
    const { message } = build();
    assert.ok(!message.includes('\n'));
    assert.deepEqual(
      message.split('\r').map((s) => s.slice(0, 3)),
      ['MSH', 'PID', 'PV1', 'OBR', 'OBX'],
    );
    assert.ok(message.split('\r').every((s) => !s.endsWith('|')), 'no trailing empty fields');
  });

  it('gives the same control id to a resend of the same Observation', () => {
    const first = build(heartRate(), { ...header, now: new Date('2026-11-23T09:00:00Z') });
    const again = build(heartRate(), { ...header, now: new Date('2026-11-24T09:00:00Z') });
    assert.equal(first.controlId, again.controlId);
    assert.notEqual(first.message, again.message); // MSH-7 moved on
  });

  it('puts the MRN with its OID assigning authority in PID-3', () => {
    const pid = fieldsOf(build().message, 'PID');
    assert.equal(pid[3], 'MRN0001^^^&1.2.3.4&ISO^MR');
  });

  it('uses a URI or a plain namespace when the patient identifier system is not an OID', () => {
    const uri = heartRate();
    uri.subject = { identifier: { system: 'https://hospital.example/mrn', value: 'A1' } };
    assert.equal(fieldsOf(build(uri).message, 'PID')[3], 'A1^^^&https://hospital.example/mrn&URI^MR');
    const local = heartRate();
    local.subject = { identifier: { system: 'HOSP', value: 'A1' } };
    assert.equal(fieldsOf(build(local).message, 'PID')[3], 'A1^^^HOSP^MR');
    const none = heartRate();
    none.subject = { identifier: { value: 'A1' } };
    assert.equal(fieldsOf(build(none).message, 'PID')[3], 'A1^^^^MR');
  });

  it('puts the encounter in PV1-19 and leaves PV1 out when there is none', () => {
    assert.equal(fieldsOf(build().message, 'PV1')[19], 'ENC-42');
    const noVisit = heartRate();
    delete noVisit.encounter;
    assert.ok(!build(noVisit).message.includes('\rPV1|'));
  });

  it('codes OBR-4 with LOINC and stamps OBR-7 with the effective time', () => {
    const obr = fieldsOf(build().message, 'OBR');
    assert.equal(obr[4], '8867-4^Heart rate^LN');
    assert.equal(obr[7], '20261123101500+0100');
  });

  it('writes one OBX with LOINC and MDC codes, the value, UCUM unit, F, the time and the device', () => {
    const obx = fieldsOf(build().message, 'OBX');
    assert.equal(obx[1], '1');
    assert.equal(obx[2], 'NM');
    assert.equal(obx[3], '8867-4^Heart rate^LN^149546^MDC_PULS_RATE_NON_INV^MDC');
    assert.equal(obx[5], '72');
    assert.equal(obx[6], '/min^/min^UCUM');
    assert.equal(obx[11], 'F');
    assert.equal(obx[14], '20261123101500+0100');
    assert.equal(obx[18], 'kiosk-1^^urn:rpm-gateway:device-id^URI');
  });

  it('is read back field by field by an independent parser (@medplum/core Hl7Message)', () => {
    const parsed = Hl7Message.parse(build().message);
    assert.equal(parsed.getSegment('MSH')?.getField(10).toString(), '3f2a9c1d8e7b6a5f4c3d');
    assert.equal(parsed.getSegment('MSH')?.getComponent(9, 3), 'ORU_R01');
    assert.equal(parsed.getSegment('PID')?.getComponent(3, 1), 'MRN0001');
    assert.equal(parsed.getSegment('PID')?.getComponent(3, 4), '&1.2.3.4&ISO');
    assert.equal(parsed.getSegment('PID')?.getComponent(3, 5), 'MR');
    const obx = parsed.getSegment('OBX');
    assert.equal(obx?.getComponent(3, 1), '8867-4');
    assert.equal(obx?.getComponent(3, 4), '149546');
    assert.equal(obx?.getComponent(3, 6), 'MDC');
    assert.equal(obx?.getField(5).toString(), '72');
    assert.equal(obx?.getComponent(6, 1), '/min');
  });

  it('writes decimals as plain numbers, never in exponent notation', () => {
    assert.equal(fieldsOf(build(heartRate(undefined, 36.6)).message, 'OBX')[5], '36.6');
    assert.equal(fieldsOf(build(heartRate(undefined, 0.0000001)).message, 'OBX')[5], '0.0000001');
  });
});

describe('ORU^R01 from a blood-pressure panel', () => {
  it('writes one OBX per component, each with its own LOINC, MDC code, value and mm[Hg]', () => {
    const { message } = build(bloodPressure(undefined, { systolic: 120, diastolic: 80, mean: 93 }));
    assert.equal(fieldsOf(message, 'OBR')[4], '85354-9^Blood pressure panel with all children optional^LN');
    const rows = [0, 1, 2].map((n) => fieldsOf(message, 'OBX', n));
    assert.deepEqual(
      rows.map((o) => [o[1], o[3], o[5], o[6], o[11]]),
      [
        ['1', '8480-6^Systolic blood pressure^LN^150021^MDC_PRESS_BLD_NONINV_SYS^MDC', '120', 'mm[Hg]^mm[Hg]^UCUM', 'F'],
        ['2', '8462-4^Diastolic blood pressure^LN^150022^MDC_PRESS_BLD_NONINV_DIA^MDC', '80', 'mm[Hg]^mm[Hg]^UCUM', 'F'],
        ['3', '8478-0^Mean blood pressure^LN^150023^MDC_PRESS_BLD_NONINV_MEAN^MDC', '93', 'mm[Hg]^mm[Hg]^UCUM', 'F'],
      ],
    );
  });

  it('sends a component with a dataAbsentReason as an empty OBX-5 with status X (table 0085)', () => {
    const { message } = build(bloodPressure(undefined, { systolic: 120, diastolic: undefined }));
    const diastolic = fieldsOf(message, 'OBX', 1);
    assert.equal(diastolic[3]?.split('^')[0], '8462-4');
    assert.equal(diastolic[5], '');
    assert.equal(diastolic[6], '');
    assert.equal(diastolic[11], 'X');
    assert.equal(fieldsOf(message, 'OBX', 0)[11], 'F');
  });
});

describe('HL7 escaping', () => {
  it('escapes | ^ ~ \\ & exactly once each', () => {
    assert.equal(escapeHl7('a|b^c~d\\e&f'), 'a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f');
    assert.equal(escapeHl7('\\F\\'), '\\E\\F\\E\\'); // an already-escaped-looking value is data, escaped again
    assert.equal(unescapeHl7(escapeHl7('a|b^c~d\\e&f\\F\\')), 'a|b^c~d\\e&f\\F\\');
  });

  it('escapes separators in Observation text so they cannot break the message structure', () => {
    const obs = heartRate();
    obs.subject = { identifier: { system: 'urn:oid:1.2.3.4', value: 'M|R^N~0&1\\' } };
    obs.device = { identifier: { value: 'cuff|7' } };
    obs.code.coding![0]!.display = 'Heart rate & rhythm';
    const { message } = build(obs, { ...header, sendingFacility: 'North^Wing' });
    const msh = fieldsOf(message, 'MSH');
    assert.equal(msh[4], 'North\\S\\Wing');
    assert.equal(fieldsOf(message, 'PID')[3], 'M\\F\\R\\S\\N\\R\\0\\T\\1\\E\\^^^&1.2.3.4&ISO^MR');
    assert.equal(fieldsOf(message, 'OBX')[3], '8867-4^Heart rate \\T\\ rhythm^LN^149546^MDC_PULS_RATE_NON_INV^MDC');
    assert.equal(fieldsOf(message, 'OBX')[18], 'cuff\\F\\7');
    const parsed = Hl7Message.parse(message);
    assert.equal(unescapeHl7(parsed.getSegment('PID')?.getComponent(3, 1) ?? ''), 'M|R^N~0&1\\');
  });

  it('turns a line break inside a value into a hex escape rather than a segment break', () => {
    const obs = heartRate();
    obs.device = { identifier: { value: 'a\rb' } };
    const { message } = build(obs);
    assert.equal(message.split('\r').length, 5);
    assert.equal(fieldsOf(message, 'OBX')[18], 'a\\X0D\\b');
  });

  it('declares UTF-8 in MSH-18 when a value is not ASCII', () => {
    const obs = heartRate();
    obs.device = { identifier: { value: 'tensiomètre' } };
    assert.equal(fieldsOf(build(obs).message, 'MSH')[18], 'UNICODE UTF-8');
    assert.equal(fieldsOf(build().message, 'MSH')[18], '');
    assert.equal(fieldsOf(build(obs, { ...header, hl7Version: '2.3.1' }).message, 'MSH')[18], 'UNICODE'); // table 0211 in v2.3.1
  });
});

describe('HL7 timestamps', () => {
  it('keep the wall-clock time and offset of the ISO string', () => {
    assert.equal(toHl7Timestamp('2026-11-23T10:15:00+01:00'), '20261123101500+0100');
    assert.equal(toHl7Timestamp('2026-11-23T09:15:01.123Z'), '20261123091501+0000');
    assert.equal(toHl7Timestamp('2026-01-02T03:04-05:30'), '20260102030400-0530');
  });

  it('refuse a time without an offset or a date alone', () => {
    assert.equal(toHl7Timestamp('2026-11-23T10:15:00'), undefined);
    assert.equal(toHl7Timestamp('2026-11-23'), undefined);
    assert.equal(toHl7Timestamp('2026-13-23T10:15:00Z'), undefined);
  });
});

describe('Observations that cannot become an ORU^R01', () => {
  it('are issues with a path, not exceptions', () => {
    const obs = heartRate();
    delete obs.subject;
    delete obs.effectiveDateTime;
    const r = buildOruR01(obs, header);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.deepEqual(r.issues.map((i) => [i.code, i.path]).sort(), [
      ['GW_ERR_HL7_BUILD', 'effectiveDateTime'],
      ['GW_ERR_HL7_BUILD', 'subject.identifier.value'],
    ]);
  });

  it('include a code without LOINC and a value that is not a number', () => {
    const noLoinc = heartRate();
    noLoinc.code = { coding: [{ system: 'urn:iso:std:iso:11073:10101', code: '149546' }] };
    const r1 = buildOruR01(noLoinc, header);
    assert.ok(!r1.ok && r1.issues.some((i) => i.path === 'code.coding'));
    const nan = heartRate(undefined, Number.NaN);
    const r2 = buildOruR01(nan, header);
    assert.ok(!r2.ok && r2.issues.some((i) => i.path === 'valueQuantity.value'));
  });
});

describe('ORU^R01 in each HL7 version', () => {
  it('writes MSH-12 and the IHE PCD-01 profile in MSH-21 for 2.5.1 and 2.6, and no MSH-21 in 2.3.1', () => {
    for (const version of ['2.5.1', '2.6'] as const) {
      const msh = fieldsOf(build(heartRate(), { ...header, hl7Version: version }).message, 'MSH');
      assert.equal(msh[12], version);
      assert.equal(msh[9], 'ORU^R01^ORU_R01');
      assert.equal(msh[21], 'IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO');
    }
    const old = fieldsOf(build(heartRate(), { ...header, hl7Version: '2.3.1' }).message, 'MSH');
    assert.equal(old[12], '2.3.1');
    assert.equal(old[9], 'ORU^R01^ORU_R01');
    assert.equal(old.length, 13, 'MSH ends at MSH-12 here (2.3.1 has no MSH-20/21)');
  });

  it('uses patient class U in 2.5.1 and 2.6 and O in 2.3.1, whose table 0004 has no U', () => {
    assert.equal(fieldsOf(build(heartRate(), { ...header, hl7Version: '2.6' }).message, 'PV1')[2], 'U');
    assert.equal(fieldsOf(build(heartRate(), { ...header, hl7Version: '2.3.1' }).message, 'PV1')[2], 'O');
  });
});

describe('IHE PCD-01 details', () => {
  it('numbers OBX-4 as MDS.VMD.CHAN.METRIC: 1.0.0.1, 1.0.0.2, 1.0.0.3 for a panel', () => {
    const { message } = build(bloodPressure(undefined, { systolic: 120, diastolic: 80, mean: 93 }));
    assert.deepEqual([0, 1, 2].map((n) => fieldsOf(message, 'OBX', n)[4]), ['1.0.0.1', '1.0.0.2', '1.0.0.3']);
  });

  it('writes an EUI-64 device id in OBX-18 as EI with type EUI-64, whatever separators it came with', () => {
    const obs = heartRate();
    obs.device = { identifier: { system: 'urn:rpm-gateway:device-id', value: '00:1b:63:ff:fe:84:a1:0c' } };
    assert.equal(fieldsOf(build(obs).message, 'OBX')[18], '001B63FFFE84A10C^^001B63FFFE84A10C^EUI-64');
  });

  it('writes each device note as an NTE after the OBR, escaped', () => {
    const obs = heartRate();
    obs.note = [{ text: 'body movement detected' }, { text: 'cuff A & B \\ left' }];
    const { message } = build(obs);
    assert.deepEqual(message.split('\r').map((s) => s.slice(0, 3)), ['MSH', 'PID', 'PV1', 'OBR', 'NTE', 'NTE', 'OBX']);
    assert.deepEqual(fieldsOf(message, 'NTE', 0), ['NTE', '1', 'L', 'body movement detected']);
    assert.deepEqual(fieldsOf(message, 'NTE', 1), ['NTE', '2', 'L', 'cuff A \\T\\ B \\E\\ left']);
  });
});

describe('one ORU^R01 for several readings of a patient', () => {
  it('has one PID and an OBR group per reading, the MDS in OBX-4 counting the groups', () => {
    const batch = buildOruR01Batch([heartRate('hr-1'), bloodPressure('bp-1')], header);
    assert.ok(batch.built !== undefined);
    const { message, controlId, included } = batch.built;
    assert.deepEqual(included, [0, 1]);
    assert.deepEqual(message.split('\r').map((s) => s.slice(0, 3)), ['MSH', 'PID', 'PV1', 'OBR', 'OBX', 'OBR', 'OBX', 'OBX']);
    assert.deepEqual([0, 1].map((n) => fieldsOf(message, 'OBR', n)[1]), ['1', '2']);
    assert.deepEqual([0, 1].map((n) => fieldsOf(message, 'OBR', n)[3]), ['hr-1', 'bp-1']);
    assert.deepEqual([0, 1, 2].map((n) => fieldsOf(message, 'OBX', n)[4]), ['1.0.0.1', '2.0.0.1', '2.0.0.2']);
    assert.match(controlId, /^[0-9a-f]{20}$/);
    assert.equal(fieldsOf(message, 'MSH')[10], controlId);
    const again = buildOruR01Batch([heartRate('hr-1'), bloodPressure('bp-1')], { ...header, now: new Date() });
    assert.equal(again.built?.controlId, controlId, 'a resend of the same readings carries the same control id');
    const other = buildOruR01Batch([heartRate('hr-1'), bloodPressure('bp-2')], header);
    assert.notEqual(other.built?.controlId, controlId);
  });

  it('leaves out a reading that cannot be built and says why, sending the rest', () => {
    const broken = heartRate('hr-2');
    delete broken.effectiveDateTime;
    const batch = buildOruR01Batch([heartRate('hr-1'), broken], header);
    assert.deepEqual(batch.built?.included, [0]);
    assert.equal(batch.built?.controlId, 'hr-1');
    assert.deepEqual(batch.failed.get(1)?.map((i) => i.path), ['effectiveDateTime']);
  });
});
