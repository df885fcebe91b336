// The BLE transport's driver definition (CONVENTIONS 1): the `ble:` config schema and start/stop around the
// central. A factory, because the central keeps per-meter RACP state in the buffer's state store.
import type { DriverDefinition } from '../../gateway/driver.ts';
import { bleConfigSchema } from './config.ts';
import { startBleCentral, type BleCentralDeps } from './central/central.ts';

export function createBleDriver(deps: BleCentralDeps = {}): DriverDefinition<typeof bleConfigSchema> {
  return {
    id: 'ble',
    configSchema: bleConfigSchema,
    start: (config, ctx) => startBleCentral(config, ctx, deps),
  };
}
