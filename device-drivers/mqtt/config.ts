// The `mqtt:` config section (README "MQTT devices"). Strict: a typo is a start-up error naming the key.
import { z } from 'zod';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './payload.ts';
import { parsePasswordHash } from './password.ts';
import { DEVICE_ID } from './topics.ts';

const port = z.number().int().min(0).max(65535);
const passwordHash = z.string().superRefine((text, ctx) => {
  const parsed = parsePasswordHash(text);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.issues[0]!.message });
});
const username = z.string().min(1).max(128);

const deviceSchema = z
  .object({
    id: z.string().regex(DEVICE_ID, 'letters, digits and . _ : - (1–128)'),
    /** Omit username and passwordHash for a device that authenticates by TLS client certificate (CN = id) only. */
    username: username.optional(),
    passwordHash: passwordHash.optional(),
    /** An mqtt firmware profile id (firmware-profiles/*.yaml): readings are the vendor's JSON, mapped by the profile. */
    profile: z.string().min(1).optional(),
  })
  .strict()
  .refine((d) => (d.username === undefined) === (d.passwordHash === undefined), {
    message: 'username and passwordHash go together (omit both for certificate-only devices)',
  });

const adminSchema = z.object({ username, passwordHash }).strict();

export const mqttConfigSchema = z
  .object({
    host: z.string().default('0.0.0.0'),
    port: port.default(1883),
    tls: z
      .object({
        host: z.string().optional(),
        port: port.default(8883),
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** CA that signs device certificates; needed for client-certificate auth. */
        caFile: z.string().min(1).optional(),
        /** Refuse TLS clients without a certificate signed by caFile (else they may log in with a password). */
        requireClientCert: z.boolean().default(false),
      })
      .strict()
      .refine((t) => !t.requireClientCert || t.caFile !== undefined, { message: 'requireClientCert needs caFile', path: ['caFile'] })
      .optional(),
    websocket: z
      .object({ host: z.string().optional(), port: port.default(8083), path: z.string().startsWith('/').default('/mqtt') })
      .strict()
      .optional(),
    devices: z.array(deviceSchema).default([]),
    /** Where devices' `profile`s are looked up; watched, so an edited profile applies to the next message. */
    profilesDir: z.string().min(1).default('./firmware-profiles'),
    admins: z.array(adminSchema).default([]),
    /** Largest reading or status payload read at all. */
    maxPayloadBytes: z.number().int().min(256).max(1024 * 1024).default(DEFAULT_MAX_PAYLOAD_BYTES),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    const names = new Set<string>();
    cfg.devices.forEach((d, i) => {
      if (ids.has(d.id)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'id'], message: `device "${d.id}" is listed twice` });
      ids.add(d.id);
      if (d.username !== undefined) {
        if (names.has(d.username)) ctx.addIssue({ code: 'custom', path: ['devices', i, 'username'], message: `username "${d.username}" is used twice` });
        names.add(d.username);
      }
    });
    cfg.admins.forEach((a, i) => {
      if (names.has(a.username)) ctx.addIssue({ code: 'custom', path: ['admins', i, 'username'], message: `username "${a.username}" is used twice` });
      names.add(a.username);
    });
  });

export type MqttConfig = z.infer<typeof mqttConfigSchema>;
