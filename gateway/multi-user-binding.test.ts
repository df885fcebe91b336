// Multi-user scales and cuffs: a reading with a BLE user index binds through `<deviceId>/user/<n>` only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bindingKey, normalize, type NormalizeContext } from './normalize.ts';
import type { PatientIdentity, Reading } from './types.ts';

const SCALE = 'ble:A4:C1:38:00:11:22';
const weight = (userIndex?: number): Reading => ({
  deviceId: SCALE,
  profileId: 'ble-standard',
  transport: 'ble',
  components: [{ metric: 'body-weight', value: 70, unit: 'kg' }],
  receivedAt: '2026-11-23T09:00:00.000Z',
  ...(userIndex === undefined ? {} : { context: { userIndex } }),
});
const ctxWith = (bindings: Record<string, PatientIdentity>): NormalizeContext => ({
  siteId: 'home-1',
  bindingFor: (key) => bindings[key],
  clockSkewToleranceMs: 300_000,
});
const patientRef = (outcome: ReturnType<typeof normalize>): string | undefined =>
  outcome.kind === 'observations' ? outcome.observations[0]?.subject?.identifier?.value : undefined;

describe('multi-user device bindings', () => {
  test('a reading without a user index binds through the device id', () => {
    assert.equal(bindingKey(weight()), SCALE);
    assert.equal(patientRef(normalize(weight(), ctxWith({ [SCALE]: { mrn: 'MRN-DEVICE' } }))), 'MRN-DEVICE');
  });

  test('user 2 of a scale goes to the patient bound to <device>/user/2', () => {
    const ctx = ctxWith({ [`${SCALE}/user/1`]: { mrn: 'MRN-ONE' }, [`${SCALE}/user/2`]: { mrn: 'MRN-TWO' } });
    assert.equal(bindingKey(weight(2)), `${SCALE}/user/2`);
    assert.equal(patientRef(normalize(weight(2), ctx)), 'MRN-TWO');
    assert.equal(patientRef(normalize(weight(1), ctx)), 'MRN-ONE');
  });

  test("a device-level binding never takes an unbound user's reading: it waits in quarantine", () => {
    const outcome = normalize(weight(2), ctxWith({ [SCALE]: { mrn: 'MRN-DEVICE' }, [`${SCALE}/user/1`]: { mrn: 'MRN-ONE' } }));
    assert.equal(outcome.kind, 'quarantine');
    assert.match(outcome.kind === 'quarantine' ? outcome.reason : '', /user 2 .*\/user\/2/);
  });
});
