// The `serial:` config section: typos and unknown profiles stop the gateway with the key that is wrong.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { serialDriver } from '../../device-drivers/serial/driver.ts';
import { parseConfig } from '../../gateway/config.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { createMemoryLogger } from '../../gateway/logger.ts';
import { ROOT } from '../support/harness.ts';

describe('serial configuration', () => {
  it('names a misspelt key of a serial port', () => {
    assert.throws(
      () => parseConfig({ serial: { ports: [{ path: '/dev/ttyUSB0', profile: 'masimo-rad8-ascii1', deviceId: 'oxi-1', baud: 9600 }] } }),
      (err: unknown) => err instanceof GatewayError && err.code === 'GW_ERR_CONFIG_INVALID' && /serial\.ports\[0\]: unknown key\(s\) "baud"/.test(err.message),
    );
  });

  it('refuses to start with a port whose firmware profile does not exist, before opening any port', async () => {
    const { logger } = createMemoryLogger('silent');
    const config = serialDriver.configSchema.parse({
      profilesDir: join(ROOT, 'firmware-profiles'),
      ports: [{ path: '/dev/does-not-exist', profile: 'no-such-profile', deviceId: 'x-1' }],
    });
    await assert.rejects(
      serialDriver.start(config, { logger, submit: () => Promise.reject(new Error('no submit expected')) }),
      (err: unknown) => err instanceof GatewayError && err.code === 'GW_ERR_CONFIG_INVALID' && /serial\.ports\[0\]\.profile: unknown firmware profile "no-such-profile"/.test(err.message),
    );
  });
});
