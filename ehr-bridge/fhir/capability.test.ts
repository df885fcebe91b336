import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseSendMode } from './capability.ts';

const cs = (codes: string[]) => ({
  resourceType: 'CapabilityStatement',
  fhirVersion: '4.0.1',
  rest: [{ mode: 'server', interaction: codes.map((code) => ({ code })) }],
});

describe('choosing how to send from the capability statement', () => {
  it('takes transaction when the server declares it', () => {
    assert.equal(chooseSendMode('auto', cs(['transaction', 'batch'])).mode, 'transaction');
  });
  it('falls back to batch, then to single conditional creates', () => {
    assert.equal(chooseSendMode('auto', cs(['batch'])).mode, 'batch');
    assert.equal(chooseSendMode('auto', cs(['search-system'])).mode, 'single');
    assert.equal(chooseSendMode('auto', { resourceType: 'OperationOutcome' }).mode, 'single');
  });
  it('ignores client-mode rest entries', () => {
    const client = { resourceType: 'CapabilityStatement', rest: [{ mode: 'client', interaction: [{ code: 'transaction' }] }] };
    assert.equal(chooseSendMode('auto', client).mode, 'single');
  });
  it('keeps a configured mode whatever the server says, and reports the FHIR version', () => {
    const choice = chooseSendMode('batch', cs(['transaction']));
    assert.equal(choice.mode, 'batch');
    assert.equal(choice.fhirVersion, '4.0.1');
  });
});
