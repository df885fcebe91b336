// The `serial:` config section (strict: a typo is an error). Kept apart from driver.ts so gateway/config.ts
// can validate it without loading the serialport native binding.
import { z } from 'zod';

export const serialPortConfigSchema = z
  .object({
    /** `/dev/ttyUSB0`, or better a stable `/dev/serial/by-id/…` path that survives re-plugging. */
    path: z.string().min(1),
    /** Firmware profile id (firmware-profiles/*.yaml). */
    profile: z.string().min(1),
    deviceId: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1–128)'),
    /** Overrides the profile's baud rate. */
    baudRate: z.number().int().positive().optional(),
  })
  .strict();

export const serialConfigSchema = z
  .object({
    ports: z.array(serialPortConfigSchema).min(1),
    profilesDir: z.string().min(1).default('./firmware-profiles'),
    /** Re-open back-off after the port disappears (USB unplug). */
    reconnect: z
      .object({ initialMs: z.number().int().min(10).default(500), maxMs: z.number().int().min(10).default(10_000) })
      .strict()
      .default({ initialMs: 500, maxMs: 10_000 }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const paths = new Set<string>();
    cfg.ports.forEach((p, i) => {
      if (paths.has(p.path)) ctx.addIssue({ code: 'custom', path: ['ports', i, 'path'], message: `port "${p.path}" is configured twice` });
      paths.add(p.path);
    });
  });

export type SerialConfig = z.infer<typeof serialConfigSchema>;
export type SerialPortConfig = z.infer<typeof serialPortConfigSchema>;
