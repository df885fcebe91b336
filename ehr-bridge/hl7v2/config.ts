// Configuration of one MLLP destination (an on-prem EHR or interface engine receiving ORU^R01).
import { z } from 'zod';
import { issue } from '../../gateway/errors.ts';
import type { Result } from '../../gateway/types.ts';

/** HL7 v2.5.1 table 0103 (processing ID): production, training, debugging. */
export const ProcessingId = { production: 'P', training: 'T', debugging: 'D' } as const;
export type ProcessingId = (typeof ProcessingId)[keyof typeof ProcessingId];

const hd = z.string().max(227); // HD namespace id; escaped when written, so any text is safe

export const mllpDestinationSchema = z
  .object({
    id: z.string().min(1),
    type: z.literal('mllp'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(2575),
    sendingApplication: hd.default('RPM-GW'),
    /** MSH-4; when absent the destination uses the gateway's site id. */
    sendingFacility: hd.optional(),
    receivingApplication: hd.default(''),
    receivingFacility: hd.default(''),
    processingId: z.enum([ProcessingId.production, ProcessingId.training, ProcessingId.debugging]).default('P'),
    ackTimeoutMs: z.number().int().positive().default(10_000),
    connectTimeoutMs: z.number().int().positive().default(5_000),
    maxFrameBytes: z.number().int().min(1024).default(1024 * 1024),
    // The ORU builder writes v2.5.1 structures (MSH-10 ST(20), ORU_R01 message structure).
    hl7Version: z.literal('2.5.1').default('2.5.1'),
  })
  .strict();

export type MllpDestinationConfig = z.output<typeof mllpDestinationSchema>;
export type MllpDestinationInput = z.input<typeof mllpDestinationSchema>;

/** Validate raw config, collecting every problem with its path (CONVENTIONS 7). */
export function parseMllpDestinationConfig(raw: unknown, basePath = ''): Result<MllpDestinationConfig> {
  const parsed = mllpDestinationSchema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((i) => {
      const path = [basePath, ...i.path.map(String)].filter((p) => p !== '').join('.');
      return issue('GW_ERR_CONFIG_INVALID', path, `${path || '(root)'}: ${i.message}`);
    }),
  };
}
