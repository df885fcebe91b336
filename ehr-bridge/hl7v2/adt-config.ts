// Configuration of the MLLP listener that takes ADT feeds (`mllp.listen`, GW_MLLP_LISTEN_PORT).
import { z } from 'zod';

export const adtListenTlsSchema = z
  .object({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    /** CA(s) that sign client certificates; with requestCert: true, senders must present one. */
    caFile: z.string().min(1).optional(),
    requestCert: z.boolean().default(false),
  })
  .strict()
  .refine((t) => !t.requestCert || t.caFile !== undefined, { message: 'requestCert needs caFile (the CA of the client certificates)', path: ['caFile'] });

export const adtListenSchema = z
  .object({
    port: z.number().int().min(0).max(65535),
    /** Defaults to every interface: EHR interface engines connect from elsewhere on the clinic network. */
    host: z.string().min(1).default('0.0.0.0'),
    tls: adtListenTlsSchema.optional(),
    /** Largest MLLP frame accepted; a longer one is answered AR and skipped. */
    maxFrameBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
    /** Our MSH-3/MSH-4 in ACKs when a message names no receiving application/facility. */
    application: z.string().max(227).default('RPM-GW'),
    facility: z.string().max(227).optional(),
    /** A connection silent for this long is closed (0 = never). */
    idleTimeoutMs: z.number().int().min(0).default(10 * 60_000),
  })
  .strict();

export const mllpListenerConfigSchema = z.object({ listen: adtListenSchema }).strict();
export type AdtListenConfig = z.output<typeof adtListenSchema>;
