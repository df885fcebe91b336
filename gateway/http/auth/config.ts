// Config of access control: `admin` (accounts from the file, session and login-throttle timing) and
// `kiosk.tokens` (intake tokens). Only hashes go in the file.
import { z } from 'zod';
import { parsePasswordHash } from '../../../device-drivers/mqtt/password.ts';
import { USER_NAME } from './users.ts';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the token as 64 lowercase hex characters (`gw kiosk token` prints it)');

export const adminConfigSchema = z
  .object({
    /** Read-only accounts (the API and `gw user` manage the ones in the buffer's state store). */
    users: z
      .array(
        z
          .object({
            name: z.string().regex(USER_NAME, 'letters, digits, dot, dash or underscore (1–64)'),
            role: z.enum(['viewer', 'operator', 'admin']),
            passwordHash: z.string().refine((h) => parsePasswordHash(h).ok, 'not a `gw hash-password` hash (scrypt$N$r$p$salt$hash)'),
          })
          .strict(),
      )
      .default([]),
    sessions: z
      .object({ idleMinutes: z.number().min(1).max(24 * 60).default(30), absoluteHours: z.number().min(0.1).max(24 * 7).default(12) })
      .strict()
      .default({ idleMinutes: 30, absoluteHours: 12 }),
    login: z
      .object({ maxFailures: z.number().int().min(1).max(100).default(5), lockMinutes: z.number().min(0.01).max(24 * 60).default(15) })
      .strict()
      .default({ maxFailures: 5, lockMinutes: 15 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.users.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `user "${u.name}" appears twice` });
      seen.add(u.name);
    });
  });

export const kioskConfigSchema = z
  .object({
    tokens: z.array(z.object({ id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash or underscore (1–64)'), tokenHash: sha256Hex }).strict()).default([]),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    const hashes = new Set<string>();
    cfg.tokens.forEach((t, i) => {
      if (ids.has(t.id)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'id'], message: `kiosk token id "${t.id}" appears twice` });
      if (hashes.has(t.tokenHash)) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'tokenHash'], message: 'the same token is configured twice' });
      ids.add(t.id);
      hashes.add(t.tokenHash);
    });
  });

/** `http.metricsTokenHash`: SHA-256 hex of the bearer token Prometheus scrapes with. */
export const metricsTokenHashSchema = sha256Hex;

export type AdminConfig = z.infer<typeof adminConfigSchema>;
export type KioskConfig = z.infer<typeof kioskConfigSchema>;
