// HL7 v2 DTM timestamps `YYYYMMDDHHMMSS+ZZZZ` (HL7 v2.5.1 ch. 2.A.22), keeping the source's offset.

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `2026-11-23T10:15:00+01:00` → `20261123101500+0100`. The wall-clock time and offset are kept as
 * the device reported them (not converted to UTC); fractions of a second are dropped. Returns
 * undefined for anything that is not a full date-time with an offset.
 */
export function toHl7Timestamp(iso: string): string | undefined {
  const m = ISO_DATE_TIME.exec(iso);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '00', zone = 'Z'] = m;
  if (Number.isNaN(Date.parse(iso))) return undefined;
  if (Number(mo) < 1 || Number(mo) > 12 || Number(d) < 1 || Number(d) > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    return undefined;
  }
  const offset = zone === 'Z' ? '+0000' : zone.replace(':', '');
  return `${y}${mo}${d}${h}${mi}${s}${offset}`;
}

/** A Date as an HL7 DTM in UTC (`+0000`), for MSH-7 and ACK headers. */
export function hl7TimestampOf(date: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return (
    `${p(date.getUTCFullYear(), 4)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}+0000`
  );
}
