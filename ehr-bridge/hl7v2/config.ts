// Configuration of one MLLP destination (an on-prem EHR or interface engine receiving ORU^R01).
import { z } from 'zod';
import { issue } from '../../gateway/errors.ts';
import type { Result } from '../../gateway/types.ts';

/** HL7 v2.5.1 table 0103 (processing ID): production, training, debugging. */
export const ProcessingId = { production: 'P', training: 'T', debugging: 'D' } as const;
export type ProcessingId = (typeof ProcessingId)[keyof typeof ProcessingId];

/** MSH-12 (table 0104) versions the ORU builder writes; oru-r01.ts makes each message valid for its version. */
export const Hl7Version = { v231: '2.3.1', v251: '2.5.1', v26: '2.6' } as const;
export type Hl7Version = (typeof Hl7Version)[keyof typeof Hl7Version];

/** One ORU^R01 per reading, or one per patient (and encounter) for the consecutive readings of a dispatch batch. */
export const MessageMode = { perReading: 'per-reading', perPatient: 'per-patient' } as const;
export type MessageMode = (typeof MessageMode)[keyof typeof MessageMode];

const hd = z.string().max(227); // HD namespace id; escaped when written, so any text is safe

/** How the receiver acknowledges: HL7 v2.5.1 §2.9.2 original mode, §2.9.3 enhanced mode (CA, then AA/AE/AR). */
export const AckMode = { original: 'original', enhanced: 'enhanced' } as const;
export type AckMode = (typeof AckMode)[keyof typeof AckMode];

/** A SHA-256 certificate fingerprint, as `openssl x509 -fingerprint -sha256` prints it or as bare hex. */
const sha256Fingerprint = z
  .string()
  .regex(/^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/, 'a SHA-256 fingerprint: 64 hex digits, optionally colon-separated')
  .transform((f) => f.replace(/:/g, '').toUpperCase());

export const mllpTlsSchema = z
  .object({
    /** PEM file of the CA(s) that sign the receiver's certificate; absent: Node's built-in roots. */
    caFile: z.string().min(1).optional(),
    /** Client certificate and key (PEM) for receivers that require one; both or neither. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** SNI and the name checked against the certificate; defaults to `host`. */
    servername: z.string().min(1).optional(),
    /** Acceptable server certificates (leaf SHA-256); any other certificate is refused. */
    pinnedSha256: z.array(sha256Fingerprint).min(1).optional(),
    rejectUnauthorized: z.boolean().default(true),
  })
  .strict()
  .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
    message: 'certFile and keyFile go together',
    path: ['certFile'],
  });
export type MllpTlsConfig = z.output<typeof mllpTlsSchema>;

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
    /** MSH-12; the message follows the version (MSH-21 from 2.5 on, PV1-2 table 0004, MSH-18 table 0211). */
    hl7Version: z.enum([Hl7Version.v231, Hl7Version.v251, Hl7Version.v26]).default('2.5.1'),
    /** per-patient: one ORU^R01 with one PID and an OBR/OBX group per reading; the ACK answers for all of them. */
    messageMode: z.enum([MessageMode.perReading, MessageMode.perPatient]).default('per-reading'),
    /** Messages sent before the first ACK comes back (pipelining); 1 = one in flight, for receivers that do not allow more. */
    maxInFlight: z.number().int().min(1).max(64).default(1),
    /** MLLP over TLS; absent: plain TCP. */
    tls: mllpTlsSchema.optional(),
    ackMode: z.enum([AckMode.original, AckMode.enhanced]).default('original'),
    /** Enhanced mode only: count a CA (commit accept) as delivered without waiting for the application ACK. */
    acceptCommitAsDelivery: z.boolean().default(false),
    /** TCP keep-alive probe delay on the connection; 0 turns keep-alive off. */
    keepAliveMs: z.number().int().min(0).default(30_000),
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
