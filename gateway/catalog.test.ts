import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  GROUPS,
  METRICS,
  Metric,
  VitalSignsProfile,
  convertToCanonical,
  groupByLoinc,
  groupOf,
  groupSpec,
  inPlausibleRange,
  metricByLoinc,
  metricSpec,
  roundTo,
} from './catalog.ts';

function convert(metric: Metric, value: number, unit: string) {
  const r = convertToCanonical(metric, value, unit);
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}

describe('vitals catalog', () => {
  test('every metric has LOINC, MDC, UCUM, a range and accepts its own canonical unit unchanged', () => {
    for (const id of METRICS) {
      const m = metricSpec(id);
      assert.equal(m.id, id);
      assert.match(m.loinc[0]?.code ?? '', /^\d{1,6}-\d$/);
      assert.ok(m.loinc[0]?.display);
      assert.ok(Number.isInteger(m.mdc.code) && m.mdc.refId.startsWith('MDC_'));
      assert.ok(m.range.min < m.range.max);
      assert.deepEqual(m.accepted[m.ucum], { ucum: m.ucum, scale: 1, offset: 0 }, id);
    }
  });

  test('the codes are the published LOINC and IEEE 11073-10101 codes', () => {
    const expected: Record<Metric, [string, number, string]> = {
      'bp-systolic': ['8480-6', 150021, 'MDC_PRESS_BLD_NONINV_SYS'],
      'bp-diastolic': ['8462-4', 150022, 'MDC_PRESS_BLD_NONINV_DIA'],
      'bp-mean': ['8478-0', 150023, 'MDC_PRESS_BLD_NONINV_MEAN'],
      'heart-rate': ['8867-4', 149546, 'MDC_PULS_RATE_NON_INV'],
      spo2: ['2708-6', 150456, 'MDC_PULS_OXIM_SAT_O2'],
      'body-temperature': ['8310-5', 150364, 'MDC_TEMP_BODY'],
      'body-weight': ['29463-7', 188736, 'MDC_MASS_BODY_ACTUAL'],
      'body-height': ['8302-2', 188740, 'MDC_LEN_BODY_ACTUAL'],
      'respiratory-rate': ['9279-1', 151562, 'MDC_RESP_RATE'],
      glucose: ['41653-7', 160184, 'MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD'],
      bmi: ['39156-5', 188752, 'MDC_RATIO_MASS_BODY_LEN_SQ'],
    };
    for (const id of METRICS) {
      const m = metricSpec(id);
      assert.deepEqual([m.loinc[0]?.code, m.mdc.code, m.mdc.refId], expected[id], id);
    }
    assert.deepEqual(
      metricSpec('spo2').loinc.map((l) => l.code),
      ['2708-6', '59408-5'],
    );
  });

  test('the three blood-pressure metrics form one panel with systolic and diastolic required', () => {
    const bp = groupSpec('blood-pressure');
    assert.equal(bp.kind, 'panel');
    assert.equal(bp.loinc[0]?.code, '85354-9');
    assert.deepEqual(bp.mdc, { code: 150020, refId: 'MDC_PRESS_BLD_NONINV' });
    assert.equal(bp.profile, VitalSignsProfile.bp);
    assert.deepEqual(bp.members, [
      { metric: 'bp-systolic', required: true },
      { metric: 'bp-diastolic', required: true },
      { metric: 'bp-mean', required: false },
    ]);
    for (const m of ['bp-systolic', 'bp-diastolic', 'bp-mean'] as const) assert.equal(groupOf(m).id, 'blood-pressure');
    for (const g of GROUPS.filter((g) => g !== 'blood-pressure')) assert.equal(groupSpec(g).kind, 'single');
  });

  test('glucose is a laboratory observation with no vital-signs profile', () => {
    const g = groupOf('glucose');
    assert.equal(g.category, 'laboratory');
    assert.equal(g.profile, undefined);
    for (const id of GROUPS.filter((g) => g !== 'glucose')) assert.equal(groupSpec(id).category, 'vital-signs');
  });

  test('each vital sign names its R4 profile', () => {
    assert.equal(groupOf('heart-rate').profile, VitalSignsProfile.heartrate);
    assert.equal(groupOf('spo2').profile, VitalSignsProfile.oxygensat);
    assert.equal(groupOf('body-temperature').profile, VitalSignsProfile.bodytemp);
    assert.equal(groupOf('body-weight').profile, VitalSignsProfile.bodyweight);
    assert.equal(groupOf('body-height').profile, VitalSignsProfile.bodyheight);
    assert.equal(groupOf('respiratory-rate').profile, VitalSignsProfile.resprate);
  });

  test('codes can be looked up back from LOINC', () => {
    assert.equal(metricByLoinc('8462-4')?.id, 'bp-diastolic');
    assert.equal(groupByLoinc('85354-9')?.id, 'blood-pressure');
    assert.equal(groupByLoinc('8480-6'), undefined, 'a component code is not an Observation code');
    assert.equal(metricByLoinc('0000-0'), undefined);
  });

  test('an unknown metric id has no spec', () => {
    assert.equal(metricSpec('blood-sugar'), undefined);
    assert.equal(metricSpec('toString'), undefined);
  });
});

describe('unit conversion', () => {
  test('98.6 °F is 37 Cel', () => {
    for (const unit of ['[degF]', 'degF', '°F']) {
      assert.deepEqual(convert('body-temperature', 98.6, unit), { value: 37, unit: 'Cel', converted: true, originalUcum: '[degF]' });
    }
  });

  test('16 kPa is 120.0 mmHg at precision 1', () => {
    assert.equal(metricSpec('bp-systolic').precision, 1);
    assert.equal(convert('bp-systolic', 16, 'kPa').value, 120); // 120.0098…
    assert.equal(convert('bp-diastolic', 10.7, 'kPa').value, 80.3); // 80.2566…
    assert.equal(convert('bp-mean', 1, 'kPa').value, 7.5); // 7.500616…
  });

  test('154 lb is 69.85 kg', () => {
    assert.equal(convert('body-weight', 154, 'lb').value, 69.85); // 69.85322498
    assert.equal(convert('body-weight', 154, '[lb_av]').originalUcum, '[lb_av]');
    assert.equal(convert('body-weight', 70350, 'g').value, 70.35);
  });

  test('inches and metres become centimetres exactly', () => {
    assert.equal(convert('body-height', 70, 'in').value, 177.8);
    assert.equal(convert('body-height', 1.75, 'm').value, 175);
    assert.equal(convert('body-height', 69.5, '[in_i]').value, 176.5); // 176.53
  });

  test('5.5 mmol/L glucose is 99 mg/dL (molar mass 180.156 g/mol)', () => {
    assert.equal(convert('glucose', 5.5, 'mmol/L').value, 99); // 99.0858
    assert.equal(convert('glucose', 10, 'mmol/L').value, 180); // 180.156
  });

  test('BLE glucose in SI base units converts exactly: 0.00095 kg/L is 95 mg/dL, 0.0055 mol/L is 99 mg/dL', () => {
    assert.equal(convert('glucose', 95 / 100_000, 'kg/L').value, 95); // GATT 0x2A18 flags bit 2 = 0: kg/L
    assert.equal(convert('glucose', 55 / 10_000, 'mol/L').value, 99); // flags bit 2 = 1: mol/L (99.0858)
  });

  test('BMI is its own vital-sign Observation in kg/m2 under the R4 bmi profile', () => {
    assert.equal(groupOf('bmi').profile, VitalSignsProfile.bmi);
    assert.deepEqual(convert('bmi', 24.7, 'kg/m2'), { value: 24.7, unit: 'kg/m2', converted: false, originalUcum: 'kg/m2' });
  });

  test('a value already in the canonical unit is never rounded', () => {
    assert.deepEqual(convert('body-temperature', 37.234, 'Cel'), { value: 37.234, unit: 'Cel', converted: false, originalUcum: 'Cel' });
    assert.equal(convert('bp-systolic', 120.46, 'mmHg').value, 120.46);
    assert.equal(convert('heart-rate', 72.5, 'bpm').value, 72.5);
    assert.equal(convert('body-weight', 72.3456, 'kg').value, 72.3456);
  });

  test('spellings of the canonical unit are not conversions', () => {
    assert.equal(convert('bp-systolic', 120, 'mmHg').converted, false);
    assert.equal(convert('heart-rate', 70, 'beats/min').unit, '/min');
    assert.equal(convert('body-temperature', 36.6, '°C').converted, false);
  });

  test('a unit that is not accepted says which units are', () => {
    const r = convertToCanonical('heart-rate', 70, 'Hz', 'components[0].unit');
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.issues[0]?.code, 'GW_ERR_UNIT_NOT_ACCEPTED');
    assert.equal(r.issues[0]?.path, 'components[0].unit');
    assert.match(r.issues[0]?.message ?? '', /"Hz" is not accepted for heart-rate; accepted: \/min, bpm/);
  });

  test('units are matched exactly, never by prototype keys or case', () => {
    assert.equal(convertToCanonical('heart-rate', 70, 'constructor').ok, false);
    assert.equal(convertToCanonical('bp-systolic', 120, 'MMHG').ok, false);
    assert.equal(convertToCanonical('respiratory-rate', 16, 'bpm').ok, false);
  });

  test('rounding is decimal and half away from zero', () => {
    assert.equal(roundTo(1.005, 2), 1.01);
    assert.equal(roundTo(69.853225, 2), 69.85);
    assert.equal(roundTo(-2.5, 0), -3);
    assert.equal(Object.is(roundTo(-0.001, 1), -0), false);
  });

  test('plausible ranges hold real patients and catch decoding bugs', () => {
    assert.ok(inPlausibleRange('spo2', 50) && inPlausibleRange('spo2', 100) && !inPlausibleRange('spo2', 101));
    assert.ok(inPlausibleRange('heart-rate', 20) && inPlausibleRange('heart-rate', 300) && !inPlausibleRange('heart-rate', 0));
    assert.ok(inPlausibleRange('body-temperature', 41.5) && !inPlausibleRange('body-temperature', 98.6));
    assert.ok(inPlausibleRange('body-weight', 3.2) && !inPlausibleRange('body-weight', 65535));
  });
});
