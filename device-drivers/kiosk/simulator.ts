// A simulated kiosk for the demo (`npm start` with no config): every few seconds it takes a plausible
// set of vitals and submits them through the same intake a real driver uses. GW_SIMULATE=0 turns it off.
import type { DriverContext } from '../../gateway/driver.ts';
import type { Reading, ReadingComponent } from '../../gateway/types.ts';

export interface SimulatedKiosk {
  stop(): Promise<void>;
}

export function startSimulatedKiosk(ctx: DriverContext, options: { deviceId: string; intervalMs: number; random?: () => number }): SimulatedKiosk {
  const random = options.random ?? Math.random;
  const log = ctx.logger.child({ driver: 'simulator', deviceId: options.deviceId });
  const around = (mid: number, spread: number, digits = 0): number => Number((mid + (random() - 0.5) * 2 * spread).toFixed(digits));
  const sets: Array<() => ReadingComponent[]> = [
    () => [
      { metric: 'bp-systolic', value: around(122, 12), unit: 'mm[Hg]' },
      { metric: 'bp-diastolic', value: around(78, 8), unit: 'mm[Hg]' },
      { metric: 'heart-rate', value: around(72, 10), unit: '/min' },
    ],
    () => [{ metric: 'spo2', value: around(97, 2), unit: '%' }, { metric: 'heart-rate', value: around(70, 8), unit: '/min' }],
    () => [{ metric: 'body-temperature', value: around(36.9, 0.4, 1), unit: 'Cel' }],
    () => [{ metric: 'body-weight', value: around(78, 0.5, 1), unit: 'kg' }],
  ];
  let turn = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  const tick = (): void => {
    const now = new Date();
    const reading: Reading = {
      deviceId: options.deviceId,
      profileId: 'kiosk',
      transport: 'simulator',
      components: sets[turn++ % sets.length]!(),
      deviceTime: now.toISOString(),
      receivedAt: now.toISOString(),
    };
    inFlight = ctx.submit(reading).then(
      (result) => log.debug({ result: result.kind }, 'simulated reading submitted'),
      (err: unknown) => log.error({ err }, 'simulated reading failed'),
    );
  };
  const timer = setInterval(tick, options.intervalMs);
  log.info({ intervalMs: options.intervalMs }, 'simulated kiosk started (GW_SIMULATE=0 turns it off)');
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
