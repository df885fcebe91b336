// Reconnect back-off for BLE links: doubles from `initialMs` to `maxMs`, then ±50 % jitter so a hub's devices
// (and a fleet's hubs after a power cut) do not retry in lock-step.

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Delay before attempt `attempt` (0 = the first retry). `random` in [0, 1). Never above maxMs, never below initialMs / 2. */
export function reconnectDelayMs(backoff: Backoff, attempt: number, random: number = Math.random()): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  const jittered = base * (0.5 + random); // [0.5, 1.5) × base
  return Math.round(Math.max(backoff.initialMs / 2, Math.min(backoff.maxMs, jittered)));
}
