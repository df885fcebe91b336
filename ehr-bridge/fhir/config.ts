// Configuration of one FHIR R4 destination (a cloud FHIR server: Medplum, HAPI, Epic/Cerner, Azure/Google/AWS).
// The keys are a public contract (README "FHIR destination"). Secrets come from the file, a `…File` or an `…Env`.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { issue } from '../../gateway/errors.ts';
import type { Issue, Result } from '../../gateway/types.ts';

/** How the destination authorizes its requests. Closed set: switches over it end in `satisfies never`. */
export const AuthType = {
  none: 'none',
  bearer: 'bearer',
  clientCredentials: 'client_credentials',
  smartBackend: 'smart_backend',
} as const;
export type AuthType = (typeof AuthType)[keyof typeof AuthType];

/** What the destination sends per request. `auto` reads the CapabilityStatement (`/metadata`). */
export const BundleMode = { auto: 'auto', transaction: 'transaction', batch: 'batch', single: 'single' } as const;
export type BundleMode = (typeof BundleMode)[keyof typeof BundleMode];

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');
const url = z.string().regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL');

/** Exactly one of `<key>`, `<key>File`, `<key>Env`. */
function oneSecret(key: string) {
  return (value: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const given = [key, `${key}File`, `${key}Env`].filter((k) => value[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({ code: 'custom', path: [key], message: `give exactly one of ${key}, ${key}File, ${key}Env` });
    }
  };
}

const noneAuth = z.object({ type: z.literal(AuthType.none) }).strict();
const bearerAuth = z
  .object({ type: z.literal(AuthType.bearer), token: z.string().min(1).optional(), tokenFile: z.string().min(1).optional(), tokenEnv: envName.optional() })
  .strict()
  .superRefine(oneSecret('token'));
const clientCredentialsAuth = z
  .object({
    type: z.literal(AuthType.clientCredentials),
    tokenUrl: url,
    clientId: z.string().min(1),
    clientSecret: z.string().min(1).optional(),
    clientSecretFile: z.string().min(1).optional(),
    clientSecretEnv: envName.optional(),
    scope: z.string().min(1).optional(),
    /** RFC 6749 §2.3.1: servers must accept HTTP Basic; some (Medplum too) also accept the secret in the form body. */
    clientAuthMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
  })
  .strict()
  .superRefine(oneSecret('clientSecret'));
const smartBackendAuth = z
  .object({
    type: z.literal(AuthType.smartBackend),
    tokenUrl: url,
    clientId: z.string().min(1),
    /** PEM (PKCS#8) private key matching the public JWK registered with the server. */
    privateKeyFile: z.string().min(1),
    kid: z.string().min(1),
    // SMART App Launch 2.x Backend Services: RS384 and ES384 are the algorithms servers must support.
    alg: z.enum(['RS384', 'ES384']).default('RS384'),
    scope: z.string().min(1).default('system/Observation.write'),
    jku: url.optional(),
  })
  .strict();

export const fhirAuthSchema = z.discriminatedUnion('type', [noneAuth, bearerAuth, clientCredentialsAuth, smartBackendAuth]);

export const fhirDestinationSchema = z
  .object({
    id: z.string().min(1),
    type: z.literal('fhir'),
    /** Service base URL, e.g. https://fhir.example.org/R4 (no trailing slash needed). */
    baseUrl: url.transform((u) => u.replace(/\/+$/, '')),
    auth: fhirAuthSchema.default({ type: 'none' }),
    /** Observations per Bundle. */
    batchSize: z.number().int().min(1).max(1000).default(100),
    /** FHIR API requests per second (token bucket, burst = 1 s worth); absent: unlimited. */
    rateLimitPerSecond: z.number().positive().max(10_000).optional(),
    /** Bundles in flight at once; a patient's Observations always share one lane, so per-patient order holds. */
    concurrency: z.number().int().min(1).max(16).default(1),
    requestTimeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    tls: z
      .object({
        /** Extra CA bundle (PEM), trusted in addition to the system roots. */
        caFile: z.string().min(1).optional(),
        /** mTLS client certificate and key (PEM); both or neither. */
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
      })
      .strict()
      .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), { message: 'certFile and keyFile go together', path: ['certFile'] })
      .optional(),
    bundleType: z.enum([BundleMode.auto, BundleMode.transaction, BundleMode.batch, BundleMode.single]).default('auto'),
    /** Also create (or match by identifier) the Patient and Device the Observations reference (transaction bundles). */
    resources: z.object({ device: z.boolean().default(false), patient: z.boolean().default(false) }).strict().default({ device: false, patient: false }),
    /** Routing: send only Observations matching every given list (metric or group id, device id, patient MRN). */
    filter: z
      .object({
        metrics: z.array(z.string().min(1)).min(1).optional(),
        devices: z.array(z.string().min(1)).min(1).optional(),
        patients: z.array(z.string().min(1)).min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type FhirDestinationConfig = z.output<typeof fhirDestinationSchema>;
export type FhirDestinationInput = z.input<typeof fhirDestinationSchema>;
export type FhirAuthConfig = FhirDestinationConfig['auth'];

type Env = Readonly<Record<string, string | undefined>>;

/** Read a secret from the config value, its file or its environment variable; an issue names the key, never the value. */
export function resolveSecret(
  holder: Record<string, unknown>,
  key: string,
  where: string,
  env: Env = process.env,
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Result<string> {
  const inline = holder[key];
  if (typeof inline === 'string') return { ok: true, value: inline };
  const file = holder[`${key}File`];
  if (typeof file === 'string') {
    try {
      const text = read(file).trim();
      if (text === '') return { ok: false, issues: [issue('GW_ERR_FHIR_CONFIG', `${where}.${key}File`, where, `${key}File`, `${file} is empty`)] };
      return { ok: true, value: text };
    } catch (err) {
      return { ok: false, issues: [issue('GW_ERR_FHIR_CONFIG', `${where}.${key}File`, where, `${key}File`, (err as Error).message)] };
    }
  }
  const name = holder[`${key}Env`];
  if (typeof name === 'string') {
    const value = env[name];
    if (value === undefined || value === '') {
      return { ok: false, issues: [issue('GW_ERR_FHIR_CONFIG', `${where}.${key}Env`, where, `${key}Env`, `environment variable ${name} is not set`)] };
    }
    return { ok: true, value };
  }
  return { ok: false, issues: [issue('GW_ERR_FHIR_CONFIG', `${where}.${key}`, where, key, 'missing')] };
}

/** Validate raw config, collecting every problem with its path (CONVENTIONS 7). */
export function parseFhirDestinationConfig(raw: unknown, basePath = ''): Result<FhirDestinationConfig> {
  const parsed = fhirDestinationSchema.safeParse(raw);
  if (parsed.success) return { ok: true, value: parsed.data };
  const issues: Issue[] = parsed.error.issues.map((i) => {
    const path = [basePath, ...i.path.map(String)].filter((p) => p !== '').join('.');
    return issue('GW_ERR_CONFIG_INVALID', path, `${path || '(root)'}: ${i.message}`);
  });
  return { ok: false, issues };
}
