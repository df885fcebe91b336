// The ADT-fed roster end to end: kiosk readings over HTTP, ADT over MLLP into our listener, ORU^R01 out to an
// independent receiver (@medplum/hl7's Hl7Server). roster.required is on: unknown MRNs wait in quarantine.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MllpDecoder, frame } from '../../ehr-bridge/hl7v2/mllp-codec.ts';
import { freePort, gatewayConfig, heartRateReading, postReading, startReceiver, startTestGateway, tempDir, waitFor } from '../support/harness.ts';

const SYSTEM = 'urn:oid:1.2.3.4';
const AUTH = 'HOSP&1.2.3.4&ISO';
const data = tempDir('adt-roster');
let gateway: Awaited<ReturnType<typeof startTestGateway>>;
let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
let ehrPort: number;
let n = 0;

async function sendAdt(message: string): Promise<string> {
  const socket = net.connect(gateway.adtPort()!, '127.0.0.1');
  const decoder = new MllpDecoder();
  const acks: string[] = [];
  socket.on('data', (chunk) => {
    for (const r of decoder.push(chunk)) if (r.ok) acks.push(r.value);
  });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(frame(message));
  await waitFor('the ACK', () => acks.length > 0, 5000);
  socket.destroy();
  return acks[0]!;
}

const adt = (event: string, mrn: string, name: string, dob: string, extra: string[] = []): string =>
  [
    `MSH|^~\\&|EPIC|HOSP|RPM-GW|CLINIC|20261123093000||ADT^${event}^ADT_A01|${event}-${mrn}-${++n}|P|2.5.1`,
    `EVN|${event}|20261123093000`,
    `PID|1||${mrn}^^^${AUTH}^MR||${name}||${dob}|U`,
    ...extra,
  ].join('\r');

const msa1 = (ack: string): string => ack.split('\r').find((s) => s.startsWith('MSA|'))?.split('|')[1] ?? '';

async function admin(method: string, path: string, body?: unknown, token = 'test-admin-token'): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gateway.url}/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const reading = (deviceId: string, patient: unknown): Record<string, unknown> => heartRateReading(++n, { deviceId, patient });
const pidOf = (controlId: string): string[] | undefined => receiver?.messages.find((m) => m.controlId === controlId.slice(0, 20))?.pid;

before(async () => {
  ehrPort = await freePort();
  gateway = await startTestGateway(
    gatewayConfig({ dataDir: data.dir, mllpPort: ehrPort, mllp: { listen: { port: 0, host: '127.0.0.1' } }, roster: { required: true } }),
  );
});

after(async () => {
  await gateway.close();
  await receiver?.stop();
  data.cleanup();
});

describe('patient roster from ADT', () => {
  it('an A40 merge makes a reading still waiting for the EHR go out with the surviving MRN', async () => {
    assert.equal(msa1(await sendAdt(adt('A04', 'OLD1', 'Merge^Mary', '19600505'))), 'AA');
    // The EHR is down: the reading waits in the buffer under the old MRN.
    const posted = await postReading(gateway.url, reading('kiosk-m', { mrn: 'OLD1', system: SYSTEM }));
    assert.equal(posted.status, 202);
    const id = (posted.json.observations as Array<{ id: string }>)[0]!.id;
    assert.equal(msa1(await sendAdt(adt('A40', 'NEW1', 'Merge^Mary', '19600505', [`MRG|OLD1^^^${AUTH}^MR`]))), 'AA');
    assert.equal(gateway.roster.lookup({ mrn: 'OLD1', system: SYSTEM })?.mrn, 'NEW1');

    receiver = await startReceiver(ehrPort);
    const pid = await waitFor('the ORU^R01', () => pidOf(id));
    assert.equal(pid[3], `NEW1^^^${AUTH}^MR`);
    assert.equal(pid[5], 'Merge^Mary');
    assert.equal(pid[7], '19600505');
  });

  it('a reading for an MRN the roster does not know waits as patient-unknown and goes out when its A04 arrives', async () => {
    const posted = await postReading(gateway.url, reading('kiosk-u', { mrn: 'LATE1', system: SYSTEM }));
    assert.deepEqual((posted.json.quarantined as { reason: string }).reason, 'patient-unknown');
    const listed = await admin('GET', '/quarantine?reason=patient-unknown');
    assert.equal((listed.json.quarantine as unknown[]).length, 1);

    assert.equal(msa1(await sendAdt(adt('A04', 'LATE1', "O'Neil\\F\\Smith\\S\\Jr^Pat", '19450607'))), 'AA');
    const message = await waitFor('the released reading at the EHR', () => receiver!.messages.find((m) => m.pid[3]?.startsWith('LATE1^')));
    // PID-5 escaped exactly: the | and ^ inside the family name do not split the field.
    assert.equal(message.pid[5], "O'Neil\\F\\Smith\\S\\Jr^Pat");
    assert.equal((await admin('GET', '/quarantine?reason=patient-unknown')).json.quarantine instanceof Array, true);
    assert.equal(((await admin('GET', '/quarantine?reason=patient-unknown')).json.quarantine as unknown[]).length, 0);
  });

  it('a kiosk reading with demographics matching one patient is bound to that patient', async () => {
    assert.equal(msa1(await sendAdt(adt('A04', 'ZOE1', 'Zoë^Anne', '19800202'))), 'AA');
    // Case, whitespace and diacritics are normalised; nothing else is.
    const posted = await postReading(gateway.url, reading('kiosk-d', { name: { family: '  ZOE ', given: 'anne' }, birthDate: '1980-02-02' }));
    assert.equal(posted.status, 202);
    const id = (posted.json.observations as Array<{ id: string }>)[0]!.id;
    const pid = await waitFor('the ORU^R01', () => pidOf(id));
    assert.equal(pid[3], `ZOE1^^^${AUTH}^MR`);

    const other = await postReading(gateway.url, reading('kiosk-d', { name: { family: 'Zoe', given: 'Anna' }, birthDate: '1980-02-02' }));
    assert.equal((other.json.quarantined as { reason: string }).reason, 'patient-unmatched');
  });

  it('an ambiguous match (two patients with the same name and birth date) stays in quarantine until a person resolves it', async () => {
    assert.equal(msa1(await sendAdt(adt('A04', 'TWIN1', 'Twin^Tom', '19900303'))), 'AA');
    assert.equal(msa1(await sendAdt(adt('A28', 'TWIN2', 'Twin^Tom', '19900303'))), 'AA');
    const posted = await postReading(gateway.url, reading('kiosk-t', { name: { family: 'Twin', given: 'Tom' }, birthDate: '1990-03-03' }));
    const quarantined = posted.json.quarantined as { id: string; reason: string };
    assert.equal(quarantined.reason, 'patient-ambiguous');
    assert.match(await gateway.metrics.registry.metrics(), /gateway_patient_matches_total\{[^}]*reason="patient-ambiguous"[^}]*\} 1/);

    const listed = await admin('GET', '/quarantine?reason=patient-ambiguous');
    assert.deepEqual((listed.json.quarantine as Array<{ id: string }>).map((q) => q.id), [quarantined.id]);

    assert.equal((await admin('POST', `/quarantine/${quarantined.id}/resolve`, { patient: { mrn: 'TWIN2', system: SYSTEM } }, 'wrong')).status, 401);
    assert.equal((await admin('POST', `/quarantine/${quarantined.id}/resolve`, { patient: { mrn: 'NOBODY', system: SYSTEM } })).status, 409);
    const resolved = await admin('POST', `/quarantine/${quarantined.id}/resolve`, { patient: { mrn: 'TWIN2', system: SYSTEM } });
    assert.equal(resolved.status, 200);
    const id = (resolved.json.observations as Array<{ id: string }>)[0]!.id;
    const pid = await waitFor('the resolved ORU^R01', () => pidOf(id));
    assert.equal(pid[3], `TWIN2^^^${AUTH}^MR`);
    assert.equal(((await admin('GET', '/quarantine?reason=patient-ambiguous')).json.quarantine as unknown[]).length, 0);
    assert.equal((await admin('POST', `/quarantine/${quarantined.id}/resolve`, { patient: { mrn: 'TWIN2', system: SYSTEM } })).status, 404);

    // Audited without PHI: event and counts for the roster, ids for the resolution.
    await gateway.audit.flush();
    const recent = await gateway.audit.recent(500);
    assert.ok(recent.some((e) => e.kind === 'resolved' && e.subject.quarantineId === quarantined.id));
    assert.ok(recent.some((e) => e.kind === 'roster-changed' && e.detail.event === 'A28' && e.detail.created === 1));
    assert.ok(!JSON.stringify(recent).includes('Twin') && !JSON.stringify(recent).includes('TWIN'));
  });

  it("a merge moves the device binding: the bound kiosk's next reading goes out under the survivor", async () => {
    // The harness binds kiosk-1 to MRN0001 (urn:oid:1.2.3.4) in the config file.
    assert.equal(msa1(await sendAdt(adt('A04', 'MRN0001', 'Bound^Bea', '19700707'))), 'AA');
    assert.equal(msa1(await sendAdt(adt('A40', 'MRN0009', 'Bound^Bea', '19700707', [`MRG|MRN0001^^^${AUTH}^MR`]))), 'AA');
    const posted = await postReading(gateway.url, heartRateReading(++n));
    assert.equal(posted.status, 202);
    const id = (posted.json.observations as Array<{ id: string }>)[0]!.id;
    const pid = await waitFor('the ORU^R01', () => pidOf(id));
    assert.equal(pid[3], `MRN0009^^^${AUTH}^MR`);
  });

  it('ADT in the shapes real EHRs send (CRLF, other encoding characters, repeated PID-3, Z-segments, escapes) reaches the roster', async () => {
    const message = [
      'MSH|:~\\&|CERNER|HOSP|||20261123||ADT:A31:ADT_A05|SHAPE-1|P|2.3',
      'EVN|A31|20261123',
      'PID|1||123-45-6789:::SSA:SS~RS1:::HOSP&1.2.3.4&ISO:MR||van der Berg:Ana:Maria||19881212|F|||Line 1\\X0D\\Line 2:::::||:PRN:PH:::555:0101|||||||',
      'PD1||||',
      'ZPI|1|custom^stuff|',
    ].join('\r\n');
    const ack = await sendAdt(message);
    assert.equal(msa1(ack), 'AA');
    assert.match(ack, /\rMSA\|AA\|SHAPE-1/);
    const patient = gateway.roster.lookup({ mrn: 'RS1', system: SYSTEM });
    assert.deepEqual(patient?.name, { family: 'van der Berg', given: 'Ana', middle: 'Maria' });
    assert.equal(patient?.birthDate, '1988-12-12');
    assert.equal(patient?.phone, '5550101');
    assert.deepEqual(patient?.identifiers.map((i) => i.type), ['SS', 'MR']);
    // The SSN is an identifier of the same patient, not a second patient.
    assert.equal(gateway.roster.lookup({ mrn: '123-45-6789', system: 'SSA' })?.mrn, 'RS1');
  });

  it('A03 discharge keeps the patient known, with the visit state', async () => {
    assert.equal(msa1(await sendAdt(adt('A03', 'TWIN1', 'Twin^Tom', '19900303', ['PV1|1|O|||||||||||||||||V77']))), 'AA');
    const patient = gateway.roster.lookup({ mrn: 'TWIN1', system: SYSTEM });
    assert.deepEqual(patient?.visit, { number: 'V77', patientClass: 'O', state: 'discharged' });
    // The admin view counts patients and merged-away MRNs; it names nobody.
    const roster = await admin('GET', '/roster');
    assert.deepEqual(roster.json, { roster: { patients: 7, merged: 2 }, required: true });
  });
});
