// Current Time 0x2A2B (Current Time Service 0x1805; GATT Specification Supplement §3.62): Exact Time 256
// (Day Date Time + Fractions256) + Adjust Reason. The gateway writes it so device clocks keep the hub's
// local time — which is why Date Time fields read back from the device carry the hub's offset.

/** GSS §3.62 Adjust Reason bits. */
export const AdjustReason = {
  manualTimeUpdate: 0x01,
  externalReferenceTimeUpdate: 0x02,
  changeOfTimeZone: 0x04,
  changeOfDst: 0x08,
} as const;

/**
 * 10 bytes: year uint16 LE, month, day, hours, minutes, seconds, day of week (1 = Monday … 7 = Sunday,
 * GSS §3.73), fractions256, adjust reason. `utcOffsetMinutes` defaults to the hub's offset at `at`.
 * Adjust Reason: external reference time update (the hub's clock is NTP-disciplined).
 */
export function encodeCurrentTime(at: Date, utcOffsetMinutes?: number, adjustReason: number = AdjustReason.externalReferenceTimeUpdate): Uint8Array {
  const offset = utcOffsetMinutes ?? -at.getTimezoneOffset();
  const local = new Date(at.getTime() + offset * 60_000); // read with getUTC*: the hub's wall clock
  const year = local.getUTCFullYear();
  const dow = local.getUTCDay(); // 0 = Sunday
  return Uint8Array.of(
    year & 0xff,
    year >> 8,
    local.getUTCMonth() + 1,
    local.getUTCDate(),
    local.getUTCHours(),
    local.getUTCMinutes(),
    local.getUTCSeconds(),
    dow === 0 ? 7 : dow,
    Math.floor((local.getUTCMilliseconds() * 256) / 1000),
    adjustReason,
  );
}
