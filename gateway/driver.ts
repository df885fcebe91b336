// What every device driver gets from the gateway (DESIGN: "await ctx.submit(reading) resolves once the
// reading is durable, and only then does the driver acknowledge the device").
import type { SubmitResult } from './ingest.ts';
import type { Logger } from './logger.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Reading } from './types.ts';

export interface DriverContext {
  submit(reading: Reading): Promise<SubmitResult>;
  logger: Logger;
  metrics?: GatewayMetrics;
}
