// The kiosk's reading contract (POST /v1/readings and `gw decode kiosk`): JSON → Reading, pure.
// Clinical checks (metric, unit, range, special values, time) belong to normalize; this checks shape.
import { z } from 'zod';
import { issue } from '../../gateway/errors.ts';
import { SPECIAL_VALUES, type Issue, type Reading, type Result, type SpecialValue } from '../../gateway/types.ts';

export const KIOSK_PROFILE_ID = 'kiosk';

const componentSchema = z
  .object({
    metric: z.string().min(1).max(64),
    value: z.union([z.number(), z.enum(SPECIAL_VALUES as [SpecialValue, ...SpecialValue[]])]),
    unit: z.string().min(1).max(32),
  })
  .strict();

export const kioskReadingSchema = z
  .object({
    deviceId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1–128)'),
    // Either an MRN, or demographics matched against the ADT-fed roster (gateway/roster-match.ts).
    patient: z
      .union([
        z.object({ mrn: z.string().min(1).max(64), system: z.string().min(1).max(256).optional() }).strict(),
        z
          .object({
            name: z.object({ family: z.string().trim().min(1).max(128), given: z.string().trim().min(1).max(128) }).strict(),
            birthDate: z.iso.date(),
            phone: z.string().min(3).max(32).optional(),
          })
          .strict(),
      ], { error: 'patient must be { mrn, system? } or { name: { family, given }, birthDate: YYYY-MM-DD, phone? }' })
      .optional(),
    encounterId: z.string().min(1).max(64).optional(),
    /** When the kiosk's peripheral measured, ISO 8601 with offset. */
    measuredAt: z.string().max(40).optional(),
    components: z.array(componentSchema).min(1).max(16),
  })
  .strict();

export type KioskReadingInput = z.infer<typeof kioskReadingSchema>;

export function parseKioskReading(body: unknown, receivedAt: Date, transport: Reading['transport'] = 'kiosk'): Result<Reading> {
  const parsed = kioskReadingSchema.safeParse(body);
  if (!parsed.success) {
    const issues: Issue[] = parsed.error.issues.map((i) => {
      const path = i.path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
      const message = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message;
      return issue('GW_ERR_INVALID_READING', path || undefined, path ? `${path}: ${message}` : message);
    });
    return { ok: false, issues };
  }
  const input = parsed.data;
  const reading: Reading = {
    deviceId: input.deviceId,
    profileId: KIOSK_PROFILE_ID,
    transport,
    components: input.components.map((c) => ({ metric: c.metric, value: c.value, unit: c.unit })),
    receivedAt: receivedAt.toISOString(),
  };
  if (input.measuredAt !== undefined) reading.deviceTime = input.measuredAt;
  if (input.patient !== undefined) {
    if ('mrn' in input.patient) reading.patient = input.patient;
    else reading.demographics = input.patient;
  }
  if (input.encounterId !== undefined) reading.context = { encounterId: input.encounterId };
  return { ok: true, value: reading };
}
