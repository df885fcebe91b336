import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAdtAck } from './adt-ack.ts';
import { parseAdt } from './adt-parser.ts';

const A04 = [
  'MSH|^~\\&|EPIC|HOSP|RPM-GW|CLINIC|20261123093000||ADT^A04^ADT_A01|MSG0001|P|2.5.1',
  'EVN|A04|20261123093000',
  'PID|1||MRN123^^^HOSP&1.2.3.4&ISO^MR~999-99-9999^^^SSA^SS||O\'Neil\\F\\Smith\\S\\Jr^Ann^Marie||19500102|F|||1 Main St^^Town^^12345||^PRN^PH^^^555^1234567~(555)765-4321',
  'PV1|1|O|||||||||||||||||V0042',
  'ZPD|custom|segment',
].join('\r');

describe('ADT parsing', () => {
  it('reads identifiers, name with escapes, birth date, sex and visit from an A04', () => {
    const parsed = parseAdt(A04);
    assert.equal(parsed.ok, true);
    if (!parsed.ok) return;
    const m = parsed.value;
    assert.equal(m.event, 'A04');
    assert.equal(m.controlId, 'MSG0001');
    assert.deepEqual(m.patient.identifiers.map((i) => [i.value, i.system, i.type]), [
      ['MRN123', 'urn:oid:1.2.3.4', 'MR'],
      ['999-99-9999', 'SSA', 'SS'],
    ]);
    assert.deepEqual(m.patient.name, { family: "O'Neil|Smith^Jr", given: 'Ann', middle: 'Marie' });
    assert.equal(m.patient.birthDate, '1950-01-02');
    assert.equal(m.patient.sex, 'F');
    assert.equal(m.patient.phone, '5551234567'); // XTN-1 empty: XTN-6 area code + XTN-7 local number
    assert.deepEqual(m.visit, { number: 'V0042', patientClass: 'O' });
  });

  it('accepts CRLF segment ends, non-default encoding characters and \\X0D\\ escapes', () => {
    const text = ['MSH#:*!@#EHR#FAC#GW#CL#20261123##ADT:A08#C1#P#2.3', 'PID#1##M1::::MR##Doe!X0D!x:John##19800101#M'].join('\r\n');
    const parsed = parseAdt(text);
    assert.equal(parsed.ok, true);
    if (!parsed.ok) return;
    assert.equal(parsed.value.event, 'A08');
    assert.deepEqual(parsed.value.patient.name, { family: 'Doe\rx', given: 'John' });
    assert.equal(parsed.value.patient.identifiers[0]?.value, 'M1');
    // The ACK is written in the default delimiters, the HD fields whole, MSA-2 the control id.
    const ack = buildAdtAck(parsed.header, 'AA').split('\r');
    assert.match(ack[0] ?? '', /^MSH\|\^~\\&\|GW\|CL\|EHR\|FAC\|/);
    assert.equal(ack[1], 'MSA|AA|C1');
  });

  it('copies a composite sending application (HD) into the ACK whole, in our delimiters', () => {
    const parsed = parseAdt('MSH|:~\\&|EPIC:1.2.3:ISO|H|GW|C|20261123||ADT:A04|Z1|P|2.5\rPID|1||M1');
    assert.ok(parsed.ok);
    assert.equal(buildAdtAck(parsed.header, 'AA').split('\r')[0]?.split('|')[4], 'EPIC^1.2.3^ISO');
  });

  it('rejects an ORM with AR and table 0357 code 200, echoing MSH-10', () => {
    const text = 'MSH|^~\\&|LAB|HOSP|GW|CL|20261123||ORM^O01|ORD77|P|2.5.1\rPID|1||X1';
    const parsed = parseAdt(text);
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.refusal.ack, 'AR');
    assert.equal(parsed.refusal.error.code, '200');
    const ack = buildAdtAck(parsed.header, 'AR', parsed.refusal).split('\r');
    assert.equal(ack[0]?.split('|')[2], 'GW'); // MSH-3 ← MSH-5
    assert.equal(ack[0]?.split('|')[4], 'LAB'); // MSH-5 ← MSH-3
    assert.equal(ack[1], 'MSA|AR|ORD77');
    assert.match(ack[2] ?? '', /^ERR\|\|MSH\^1\^9\|200\^Unsupported message type\^HL70357\|E\|/);
  });

  it('answers AE with ERR-2 PID^1^3 when PID-3 is empty', () => {
    const parsed = parseAdt('MSH|^~\\&|A|B|C|D|20261123||ADT^A04|X9|P|2.5.1\rPID|1||');
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.refusal.ack, 'AE');
    assert.deepEqual(parsed.refusal.location, { segment: 'PID', sequence: 1, field: 3 });
    assert.match(buildAdtAck(parsed.header, 'AE', parsed.refusal), /\rERR\|\|PID\^1\^3\|101\^Required field missing\^HL70357\|E\|/);
  });

  it('rejects garbage, an unsupported version and an unsupported event with AR', () => {
    for (const [text, code] of [
      ['hello, this is not HL7', '100'],
      ['MSH|^~\\&|A|B|C|D|20261123||ADT^A04|X1|P|3.0\rPID|1||M1', '203'],
      ['MSH|^~\\&|A|B|C|D|20261123||ADT^A99|X1|P|2.5.1\rPID|1||M1', '201'],
    ] as const) {
      const parsed = parseAdt(text);
      assert.equal(parsed.ok, false, text);
      if (parsed.ok) continue;
      assert.equal(parsed.refusal.ack, 'AR');
      assert.equal(parsed.refusal.error.code, code);
    }
    assert.match(buildAdtAck(undefined, 'AR', (parseAdt('garbage') as { ok: false; refusal: never }).refusal), /\rMSA\|AR\|\r/);
  });
});
