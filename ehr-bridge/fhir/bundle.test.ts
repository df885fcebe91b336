import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { OBSERVATION_ID_SYSTEM } from '../../gateway/fhir/constants.ts';
import { buildBundle, identifierQuery, uuidFrom } from './bundle.ts';
import { observationFor } from './fixtures.ts';
import { validateObservation } from '../../gateway/fhir/validate.ts';

describe('FHIR bundle building', () => {
  it('makes one conditional create per Observation, matching on the deterministic identifier', () => {
    const observations = [observationFor(1), observationFor(2)];
    const { bundle, roles } = buildBundle(observations, 'transaction');
    assert.equal(bundle.type, 'transaction');
    assert.equal(bundle.entry?.length, 2);
    bundle.entry!.forEach((entry, i) => {
      assert.deepEqual(entry.request, { method: 'POST', url: 'Observation', ifNoneExist: `identifier=${OBSERVATION_ID_SYSTEM}|${observations[i]!.id}` });
      assert.equal(entry.resource?.resourceType, 'Observation');
      assert.equal(entry.resource?.id, undefined, 'the server assigns ids on create');
      assert.match(entry.fullUrl!, /^urn:uuid:[0-9a-f-]{36}$/);
    });
    assert.deepEqual(roles, [{ kind: 'observation', item: 0 }, { kind: 'observation', item: 1 }]);
  });

  it('builds the same bytes when the same Observations are sent again', () => {
    const a = JSON.stringify(buildBundle([observationFor(7)], 'transaction').bundle);
    const b = JSON.stringify(buildBundle([observationFor(7)], 'transaction').bundle);
    assert.equal(a, b);
  });

  it('builds a batch Bundle when asked', () => {
    assert.equal(buildBundle([observationFor(1)], 'batch').bundle.type, 'batch');
  });

  it('keeps every Observation entry valid against its R4 vital-signs profile', () => {
    const { bundle } = buildBundle([observationFor(1), observationFor(2)], 'transaction', { resources: { patient: true, device: true } });
    for (const entry of bundle.entry!.filter((e) => e.resource?.resourceType === 'Observation')) {
      assert.deepEqual(validateObservation(entry.resource as Observation), []);
    }
  });

  it('adds one Patient and one Device per identifier and points the Observations at them in a transaction', () => {
    const { bundle, roles } = buildBundle([observationFor(1), observationFor(2)], 'transaction', { resources: { patient: true, device: true } });
    assert.deepEqual(
      roles.map((r) => r.kind === 'support' ? r.resourceType : 'Observation'),
      ['Patient', 'Device', 'Observation', 'Observation'],
    );
    const [patient, device, obs1] = bundle.entry!;
    assert.equal(patient!.request?.ifNoneExist, 'identifier=urn:oid:1.2.840.1|MRN-42');
    const o = obs1!.resource as { subject?: { reference?: string; identifier?: unknown }; device?: { reference?: string } };
    assert.equal(o.subject?.reference, patient!.fullUrl);
    assert.ok(o.subject?.identifier, 'the logical identifier stays beside the literal reference');
    assert.equal(o.device?.reference, device!.fullUrl);
  });

  it('leaves Patient and Device out of a batch, where intra-bundle references do not resolve', () => {
    const { roles } = buildBundle([observationFor(1)], 'batch', { resources: { patient: true, device: true } });
    assert.deepEqual(roles, [{ kind: 'observation', item: 0 }]);
  });

  it('escapes search-significant characters in identifier values', () => {
    assert.equal(identifierQuery('urn:x', 'a|b,c'), 'identifier=urn:x|a\\|b\\,c');
    assert.equal(identifierQuery(undefined, 'a&b'), 'identifier=a%26b');
  });

  it('derives UUIDs that are stable and RFC 4122 shaped', () => {
    assert.equal(uuidFrom('x'), uuidFrom('x'));
    assert.match(uuidFrom('x'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
