// The one place a firmware profile turns a raw device value into a Reading component: special markers
// ("no measurement" → IEEE-11073 special value, never a number), scale and offset, unit maps, device-time
// text. Pure; used by the serial record decoder and the MQTT vendor-JSON decoder alike.
import { issue } from '../errors.ts';
import type { ReadingComponent, Result, SpecialValue } from '../types.ts';

/** What a profile says about one measurement, whatever the transport. */
export interface MeasurementMapping {
  metric: string;
  /** value = raw × scale + offset */
  scale: number;
  offset: number;
  /** Text allowed after a textual number (`%`, `kg`); serial records only. */
  suffix?: string;
}

/** A raw value (as exact text after trimming) that means "no measurement", for one field. */
export interface SpecialMarker {
  match: string;
  value: SpecialValue;
}

const fail = (code: 'GW_ERR_RECORD_FIELD', where: string, reason: string): { ok: false; issues: ReturnType<typeof issue>[] } => ({
  ok: false,
  issues: [issue(code, where, where, reason)],
});

/** The text a raw value is matched against special markers as: numbers in JavaScript's shortest form, `null` as "null". */
export function markerText(raw: string | number | boolean | null): string {
  return typeof raw === 'string' ? raw.trim() : String(raw);
}

export function specialFor(markers: readonly SpecialMarker[], raw: string | number | boolean | null): SpecialValue | undefined {
  const text = markerText(raw);
  return markers.find((s) => s.match === text)?.value;
}

/** value = raw × scale + offset; toPrecision(12) removes binary noise from the scale (1203 × 0.1 = 120.30000000000001). */
export function scaleValue(m: MeasurementMapping, raw: number): number {
  return Number((raw * m.scale + m.offset).toPrecision(12)) + 0;
}

const NUMBER = /^([+-]?\s*(?:\d+(?:\.\d*)?|\.\d+))\s*(.*)$/;

/**
 * One raw value → one component. A number is taken as is; text must be a decimal number (optionally followed by
 * the mapping's suffix). A special marker wins over both. `where` names the field or JSON path in issues.
 */
export function mapMeasurement(
  m: MeasurementMapping,
  raw: string | number,
  unit: string,
  markers: readonly SpecialMarker[],
  where: string,
): Result<ReadingComponent> {
  const special = specialFor(markers, raw);
  if (special !== undefined) return { ok: true, value: { metric: m.metric, value: special, unit } };
  let number: number;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) return fail('GW_ERR_RECORD_FIELD', where, `${raw} is not a finite number`);
    number = raw;
  } else {
    const text = raw.trim();
    const parsed = NUMBER.exec(text);
    const rest = parsed?.[2] ?? '';
    if (!parsed || (rest !== '' && rest !== (m.suffix ?? ''))) {
      return fail('GW_ERR_RECORD_FIELD', where, `"${text.slice(0, 32)}" is not a number${m.suffix ? ` followed by "${m.suffix}"` : ''}`);
    }
    number = Number(parsed[1]!.replace(/\s/g, ''));
  }
  return { ok: true, value: { metric: m.metric, value: scaleValue(m, number), unit } };
}

/** Device unit text → catalog unit through the profile's map; without a map the text is the unit (normalize checks it). */
export function mapUnitText(text: string, unitMap: Readonly<Record<string, string>> | undefined, where: string): Result<string> {
  const t = text.trim();
  if (unitMap === undefined) return { ok: true, value: t };
  const unit = Object.hasOwn(unitMap, t) ? unitMap[t] : undefined;
  return unit === undefined ? fail('GW_ERR_RECORD_FIELD', where, `unit "${t.slice(0, 32)}" is not in the profile's unitMap`) : { ok: true, value: unit };
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** A calendar time as ISO 8601 with offset, or undefined when a part is out of range (Feb 30, 25:00). */
export function buildTime(y: number, mo: number, d: number, h: number, mi: number, s: number, offset: string): string | undefined {
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${offset === 'Z' ? 'Z' : offset}`;
}

/** ISO 8601 date-time (`T` or space; seconds and fraction optional, the fraction dropped); `defaultOffset` when it has none. */
export function isoDeviceTime(text: string, defaultOffset: string): string | undefined {
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d{1,9})?)?(Z|[+-]\d\d:\d\d)?$/.exec(text.trim());
  return m ? buildTime(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0), m[7] ?? defaultOffset) : undefined;
}

/** Milliseconds since the Unix epoch as ISO 8601 UTC, whole seconds without a fraction. */
export function epochDeviceTime(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0 || ms > 8.64e15) return undefined;
  return new Date(ms).toISOString().replace('.000Z', 'Z');
}
