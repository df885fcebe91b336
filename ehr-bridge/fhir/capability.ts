// Choosing how to send from the server's CapabilityStatement (pure). FHIR R4 capabilitystatement.html:
// rest[mode=server].interaction.code is a system-interaction: transaction | batch | search-system | history-system.
import type { CapabilityStatement } from '@medplum/fhirtypes';
import type { BundleMode } from './config.ts';

/** What the destination actually sends (the resolved BundleMode). Closed set. */
export const SendMode = { transaction: 'transaction', batch: 'batch', single: 'single' } as const;
export type SendMode = (typeof SendMode)[keyof typeof SendMode];

export interface CapabilityChoice {
  mode: SendMode;
  /** Why, for the log line. */
  reason: string;
  /** The server's FHIR version, when it said (4.0.x for R4). */
  fhirVersion?: string;
}

/** `configured` other than auto wins; auto takes transaction if declared, else batch, else single conditional POSTs. */
export function chooseSendMode(configured: BundleMode, capability: unknown): CapabilityChoice {
  const cs = capability as CapabilityStatement | undefined;
  const fhirVersion = cs?.resourceType === 'CapabilityStatement' ? cs.fhirVersion : undefined;
  const version = fhirVersion === undefined ? {} : { fhirVersion };
  switch (configured) {
    case 'transaction':
    case 'batch':
    case 'single':
      return { mode: configured, reason: 'configured', ...version };
    case 'auto':
      break;
    default:
      configured satisfies never;
  }
  if (cs?.resourceType !== 'CapabilityStatement') return { mode: 'single', reason: 'no CapabilityStatement: single conditional creates' };
  const server = (cs.rest ?? []).find((r) => r.mode === 'server');
  const codes = new Set((server?.interaction ?? []).map((i) => i.code));
  if (codes.has('transaction')) return { mode: 'transaction', reason: 'CapabilityStatement declares transaction', ...version };
  if (codes.has('batch')) return { mode: 'batch', reason: 'CapabilityStatement declares batch, not transaction', ...version };
  return { mode: 'single', reason: 'CapabilityStatement declares neither transaction nor batch', ...version };
}
