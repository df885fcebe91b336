// What every device driver gets from the gateway, and what it gives back (CONVENTIONS 1).
// DESIGN: "await ctx.submit(reading) resolves once the reading is durable, and only then does the
// driver acknowledge the device".
import type { z } from 'zod';
import type { SubmitResult } from './ingest.ts';
import type { Logger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Reading, Transport } from './types.ts';

export interface DriverContext {
  submit(reading: Reading): Promise<SubmitResult>;
  logger: Logger;
  metrics?: GatewayMetrics;
}

/** A started driver. `stop()` stops intake first (no new device traffic), then releases its resources. */
export interface RunningDriver {
  stop(): Promise<void>;
  /** A small JSON summary for /v1/status (ports, devices connected). */
  status?(): Record<string, unknown>;
}

/**
 * A transport's driver: its id, a strict zod schema for its config section, and `start`.
 * The composition root (gateway/main.ts) parses the section with `configSchema` and calls `start`.
 */
export interface DriverDefinition<Schema extends z.ZodType = z.ZodType> {
  id: Transport;
  configSchema: Schema;
  start(config: z.infer<Schema>, ctx: DriverContext): Promise<RunningDriver>;
}
