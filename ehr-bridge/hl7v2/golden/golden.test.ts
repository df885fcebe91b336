// Golden ORU^R01 messages: each vital of the catalog × each HL7 version, plus escaping edge cases and a
// per-patient batch, built from Readings through the real normalize step, compared byte for byte with the
// checked-in `.hl7` files next to this test.
//
// File format: the segments of one message separated by "\n" (and a final "\n") so the files read and diff
// well; on the wire the separator is CR ("\r", HL7 v2.5.1 §2.5.1) and this test converts before comparing.
// Regenerate after an intended change with: GW_GOLDEN_UPDATE=1 node --import tsx --test ehr-bridge/hl7v2/golden/golden.test.ts
// and review the diff. Every golden message is also parsed by an independent parser (@medplum/core
// Hl7Message, the one @medplum/hl7 uses) and its key fields checked, so a golden file cannot be silently wrong.
import '../../../gateway/fhir/websocket-shim.ts'; // @medplum/core reads globalThis.WebSocket on import
import { Hl7Message } from '@medplum/core';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { metricSpec } from '../../../gateway/catalog.ts';
import { normalize } from '../../../gateway/normalize.ts';
import type { Observation, Reading, ReadingComponent } from '../../../gateway/types.ts';
import { Hl7Version } from '../config.ts';
import { unescapeHl7 } from '../escape.ts';
import { testOruHeader } from '../fixtures.ts';
import { buildOruR01Batch, type OruR01Options, type PidPatient } from '../oru-r01.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const UPDATE = process.env.GW_GOLDEN_UPDATE === '1';
const VERSIONS = Object.values(Hl7Version);
const EUI64 = '00:1B:63:FF:FE:84:A1:0C';

const header: OruR01Options = testOruHeader(new Date('2026-11-23T09:15:02Z')); // MSH-7 fixed

interface Case {
  name: string;
  components: ReadingComponent[];
  deviceId?: string;
  encounterId?: string;
  notes?: string[];
  patient?: PidPatient;
  /** Catalog metric of each OBX, in order, and the value it must carry (canonical unit). */
  expect: { metric: string; value: string }[];
}

const VITALS: Case[] = [
  {
    name: 'blood-pressure',
    components: [
      { metric: 'bp-systolic', value: 128, unit: 'mmHg' },
      { metric: 'bp-diastolic', value: 82, unit: 'mmHg' },
      { metric: 'bp-mean', value: 97, unit: 'mmHg' },
    ],
    expect: [{ metric: 'bp-systolic', value: '128' }, { metric: 'bp-diastolic', value: '82' }, { metric: 'bp-mean', value: '97' }],
  },
  { name: 'heart-rate', components: [{ metric: 'heart-rate', value: 72, unit: '/min' }], expect: [{ metric: 'heart-rate', value: '72' }] },
  { name: 'spo2', components: [{ metric: 'spo2', value: 97, unit: '%' }], expect: [{ metric: 'spo2', value: '97' }] },
  {
    name: 'body-temperature-cel',
    components: [{ metric: 'body-temperature', value: 36.8, unit: 'Cel' }],
    expect: [{ metric: 'body-temperature', value: '36.8' }],
  },
  {
    // Sent in °F; the OBX carries the canonical °C (the original stays in the FHIR Observation only).
    name: 'body-temperature-degf',
    components: [{ metric: 'body-temperature', value: 98.6, unit: '[degF]' }],
    expect: [{ metric: 'body-temperature', value: '37' }],
  },
  { name: 'body-weight', components: [{ metric: 'body-weight', value: 81.4, unit: 'kg' }], deviceId: EUI64, expect: [{ metric: 'body-weight', value: '81.4' }] },
  { name: 'body-height', components: [{ metric: 'body-height', value: 176, unit: 'cm' }], expect: [{ metric: 'body-height', value: '176' }] },
  { name: 'bmi', components: [{ metric: 'bmi', value: 26.3, unit: 'kg/m2' }], expect: [{ metric: 'bmi', value: '26.3' }] },
  { name: 'respiratory-rate', components: [{ metric: 'respiratory-rate', value: 16, unit: '/min' }], expect: [{ metric: 'respiratory-rate', value: '16' }] },
  { name: 'glucose', components: [{ metric: 'glucose', value: 104, unit: 'mg/dL' }], deviceId: EUI64, expect: [{ metric: 'glucose', value: '104' }] },
];

const ESCAPING: Case = {
  name: 'escaping',
  components: [{ metric: 'heart-rate', value: 64, unit: '/min' }],
  encounterId: 'ENC~7',
  notes: ['cuff A & B \\ left arm'],
  patient: {
    mrn: 'MRN0001',
    system: 'urn:oid:1.2.3.4',
    name: { family: "O'Neil|Smith^Jr", given: 'Mary' },
    birthDate: '1950-04-02',
    sex: 'F',
  },
  expect: [{ metric: 'heart-rate', value: '64' }],
};

function observationOf(c: Case, minute = 0): Observation {
  const time = `2026-11-23T10:${String(10 + minute).padStart(2, '0')}:00+01:00`;
  const reading: Reading = {
    deviceId: c.deviceId ?? 'kiosk-1',
    profileId: 'kiosk',
    transport: 'kiosk',
    components: c.components,
    deviceTime: time,
    receivedAt: new Date(Date.parse(time) + 1000).toISOString(),
    patient: { mrn: 'MRN0001', system: 'urn:oid:1.2.3.4' },
    context: { encounterId: c.encounterId ?? 'ENC-42' },
  };
  const outcome = normalize(reading, { siteId: 'SITE-7', bindingFor: () => undefined, clockSkewToleranceMs: 300_000 });
  assert.equal(outcome.kind, 'observations', JSON.stringify(outcome));
  assert.ok(outcome.kind === 'observations');
  assert.equal(outcome.observations.length, 1);
  const observation = outcome.observations[0]!;
  // normalize does not carry device notes yet (Reading has no notes): set here as a driver would need them.
  if (c.notes !== undefined) observation.note = c.notes.map((text) => ({ text }));
  return observation;
}

function build(observations: Observation[], version: Hl7Version, patient?: PidPatient): string {
  const batch = buildOruR01Batch(observations, { ...header, hl7Version: version, ...(patient === undefined ? {} : { patient }) });
  assert.equal(batch.failed.size, 0, JSON.stringify([...batch.failed]));
  assert.ok(batch.built !== undefined);
  return batch.built.message;
}

/** Compare with the golden file (or write it under GW_GOLDEN_UPDATE=1); a difference fails with a line diff. */
function matchGolden(file: string, wire: string): void {
  assert.ok(!wire.includes('\n'), 'segments are separated by CR only on the wire');
  const text = `${wire.replace(/\r/g, '\n')}\n`;
  const path = join(HERE, file);
  if (UPDATE) {
    writeFileSync(path, text);
    return;
  }
  assert.ok(existsSync(path), `${file} is missing: run with GW_GOLDEN_UPDATE=1 to create it`);
  const golden = readFileSync(path, 'utf8');
  if (golden === text) return;
  const want = golden.split('\n');
  const got = text.split('\n');
  const lines: string[] = [];
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] === got[i]) continue;
    lines.push(`  segment ${i + 1}:`, `  - golden:   ${want[i] ?? '(none)'}`, `  + produced: ${got[i] ?? '(none)'}`);
  }
  assert.fail(`${file} differs from the produced message (GW_GOLDEN_UPDATE=1 regenerates it):\n${lines.join('\n')}`);
}

/** Key fields, read back by an independent parser; values unescaped with the HL7 rules. */
function checkParsed(wire: string, version: Hl7Version, expect: Case['expect'], device: string): Hl7Message {
  const parsed = Hl7Message.parse(wire);
  const msh = parsed.getSegment('MSH');
  assert.equal(msh?.getComponent(9, 1), 'ORU');
  assert.equal(msh?.getComponent(9, 2), 'R01');
  assert.equal(msh?.getComponent(9, 3), 'ORU_R01');
  assert.equal(msh?.getField(12).toString(), version);
  assert.equal(msh?.getField(7).toString(), '20261123091502+0000');
  if (version === Hl7Version.v231) assert.equal(msh?.getField(21)?.toString() ?? '', '', 'no MSH-21 in 2.3.1');
  else assert.equal(msh?.getField(21).toString(), 'IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO');
  assert.equal(parsed.getSegment('PID')?.getComponent(3, 1), 'MRN0001');
  const obx = parsed.getAllSegments('OBX');
  assert.equal(obx.length, expect.length);
  obx.forEach((segment, i) => {
    const spec = metricSpec(expect[i]!.metric);
    assert.ok(spec !== undefined);
    assert.equal(segment.getComponent(3, 1), spec.loinc[0]!.code, `OBX ${i + 1} LOINC`);
    assert.equal(segment.getComponent(3, 3), 'LN');
    assert.equal(segment.getComponent(3, 4), String(spec.mdc.code), `OBX ${i + 1} MDC`);
    assert.equal(segment.getComponent(3, 6), 'MDC');
    assert.equal(segment.getField(4).toString(), `1.0.0.${i + 1}`);
    assert.equal(segment.getField(5).toString(), expect[i]!.value);
    assert.equal(unescapeHl7(segment.getComponent(6, 1)), spec.ucum);
    assert.equal(segment.getField(11).toString(), 'F');
    assert.equal(segment.getField(14).toString().slice(0, 8), '20261123');
    if (device === EUI64) {
      assert.equal(segment.getComponent(18, 1), '001B63FFFE84A10C');
      assert.equal(segment.getComponent(18, 4), 'EUI-64');
    } else {
      assert.equal(unescapeHl7(segment.getComponent(18, 1)), device);
    }
  });
  return parsed;
}

describe('golden ORU^R01 messages (byte for byte, CR on the wire, \\n in the files)', () => {
  for (const version of VERSIONS) {
    for (const c of VITALS) {
      it(`${c.name} in HL7 v${version} matches ${c.name}.v${version}.hl7 and reads back right`, () => {
        const wire = build([observationOf(c)], version);
        matchGolden(`${c.name}.v${version}.hl7`, wire);
        checkParsed(wire, version, c.expect, c.deviceId ?? 'kiosk-1');
      });
    }

    it(`escapes O'Neil|Smith^Jr, a note with & and \\ and an encounter id with ~ in HL7 v${version}`, () => {
      const wire = build([observationOf(ESCAPING)], version, ESCAPING.patient);
      matchGolden(`escaping.v${version}.hl7`, wire);
      const parsed = checkParsed(wire, version, ESCAPING.expect, 'kiosk-1');
      const pid = parsed.getSegment('PID');
      assert.equal(unescapeHl7(pid?.getComponent(5, 1) ?? ''), "O'Neil|Smith^Jr");
      assert.equal(pid?.getComponent(5, 2), 'Mary');
      assert.equal(pid?.getField(7).toString(), '19500402');
      assert.equal(unescapeHl7(parsed.getSegment('PV1')?.getField(19).toString() ?? ''), 'ENC~7');
      const nte = parsed.getSegment('NTE');
      assert.equal(nte?.getField(2).toString(), 'L');
      assert.equal(unescapeHl7(nte?.getField(3).toString() ?? ''), 'cuff A & B \\ left arm');
    });

    it(`puts three readings of one patient in one message with an OBR group each in HL7 v${version}`, () => {
      const observations = [observationOf(VITALS[0]!, 0), observationOf(VITALS[1]!, 1), observationOf(VITALS[5]!, 2)];
      const wire = build(observations, version);
      matchGolden(`per-patient.v${version}.hl7`, wire);
      const parsed = Hl7Message.parse(wire);
      assert.equal(parsed.getAllSegments('PID').length, 1);
      assert.deepEqual(parsed.getAllSegments('OBR').map((s) => s.getField(3).toString()), observations.map((o) => o.id));
      assert.deepEqual(parsed.getAllSegments('OBX').map((s) => s.getField(4).toString()), ['1.0.0.1', '1.0.0.2', '1.0.0.3', '2.0.0.1', '3.0.0.1']);
    });
  }

  it('has no golden file that no test produces', { skip: UPDATE }, () => {
    const expected = new Set(VERSIONS.flatMap((v) => [...VITALS.map((c) => c.name), 'escaping', 'per-patient'].map((n) => `${n}.v${v}.hl7`)));
    const stale = readdirSync(HERE).filter((f) => f.endsWith('.hl7') && !expected.has(f));
    assert.deepEqual(stale, []);
  });
});
