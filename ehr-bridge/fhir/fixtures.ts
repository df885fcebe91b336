// Test fixtures: real gateway Observations (through normalize), so FHIR tests see what production sends.
import type { Observation } from '@medplum/fhirtypes';
import { normalize } from '../../gateway/normalize.ts';
import type { ReadingComponent } from '../../gateway/types.ts';

export function observationFor(n: number, options: { deviceId?: string; mrn?: string; components?: ReadingComponent[] } = {}): Observation {
  const outcome = normalize(
    {
      deviceId: options.deviceId ?? 'cuff-7',
      profileId: 'kiosk',
      transport: 'kiosk',
      components: options.components ?? [{ metric: 'heart-rate', value: 60 + (n % 40), unit: '/min' }],
      deviceTime: new Date(Date.UTC(2026, 10, 23, 8, 0, 0) + n * 1000).toISOString(),
      receivedAt: new Date(Date.UTC(2026, 10, 23, 8, 0, 1) + n * 1000).toISOString(),
    },
    { siteId: 'home-3', bindingFor: () => ({ mrn: options.mrn ?? 'MRN-42', system: 'urn:oid:1.2.840.1' }), clockSkewToleranceMs: 300_000 },
  );
  if (outcome.kind !== 'observations') throw new Error(`fixture did not normalize: ${JSON.stringify(outcome)}`);
  return outcome.observations[0]!;
}

export const BP: ReadingComponent[] = [
  { metric: 'bp-systolic', value: 128, unit: 'mm[Hg]' },
  { metric: 'bp-diastolic', value: 82, unit: 'mm[Hg]' },
];
