// Devices seen since start: one row per device id, updated on every submit, for the status page.
// In memory on purpose: it answers "what talks to this hub right now"; history is in the audit trail.
import type { SubmitResult } from './ingest.ts';
import type { Reading, Transport } from './types.ts';

export interface DeviceRow {
  deviceId: string;
  transport: Transport;
  profileId: string;
  firstSeenAt: string;
  lastReadingAt: string;
  /** What happened to the last reading: accepted, quarantined, invalid, unavailable. */
  lastResult: SubmitResult['kind'];
  readings: number;
  refused: number;
  /** Battery level in percent when the device reports one (BLE Battery Level 0x2A19, vendor JSON). */
  batteryPercent?: number;
}

/** Bounded: a hub sees tens of devices; a flood of made-up ids must not grow memory without limit. */
const MAX_DEVICES = 1_000;

export class DeviceRegistry {
  readonly #rows = new Map<string, DeviceRow>();

  seen(reading: Reading, result: SubmitResult, now = new Date()): void {
    const at = now.toISOString();
    let row = this.#rows.get(reading.deviceId);
    if (row === undefined) {
      if (this.#rows.size >= MAX_DEVICES) this.#evictOldest();
      row = { deviceId: reading.deviceId, transport: reading.transport, profileId: reading.profileId, firstSeenAt: at, lastReadingAt: at, lastResult: result.kind, readings: 0, refused: 0 };
      this.#rows.set(reading.deviceId, row);
    }
    row.transport = reading.transport;
    row.profileId = reading.profileId;
    row.lastReadingAt = at;
    row.lastResult = result.kind;
    if (result.kind === 'invalid' || result.kind === 'unavailable') row.refused += 1;
    else row.readings += 1;
  }

  battery(deviceId: string, percent: number): void {
    const row = this.#rows.get(deviceId);
    if (row !== undefined && Number.isFinite(percent) && percent >= 0 && percent <= 100) row.batteryPercent = percent;
  }

  /** Most recently heard first. */
  list(): DeviceRow[] {
    return [...this.#rows.values()].sort((a, b) => b.lastReadingAt.localeCompare(a.lastReadingAt));
  }

  #evictOldest(): void {
    let oldest: DeviceRow | undefined;
    for (const row of this.#rows.values()) if (oldest === undefined || row.lastReadingAt < oldest.lastReadingAt) oldest = row;
    if (oldest !== undefined) this.#rows.delete(oldest.deviceId);
  }
}
