// IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit), as the Bluetooth GATT health profiles carry them
// (GATT Specification Supplement §2.2.2 "medfloat16" / "medfloat32"). Special values never become numbers.
import { SpecialValue } from '../../../gateway/types.ts';

// IEEE 11073-20601 §F.8 (FLOAT-Type) / §F.9 (SFLOAT-Type): reserved mantissas, whatever the exponent.
const SFLOAT_SPECIAL: ReadonlyMap<number, SpecialValue> = new Map([
  [0x07ff, SpecialValue.nan],
  [0x0800, SpecialValue.nres],
  [0x07fe, SpecialValue.posInf],
  [0x0802, SpecialValue.negInf],
  [0x0801, SpecialValue.reserved],
]);
const FLOAT_SPECIAL: ReadonlyMap<number, SpecialValue> = new Map([
  [0x7fffff, SpecialValue.nan],
  [0x800000, SpecialValue.nres],
  [0x7ffffe, SpecialValue.posInf],
  [0x800002, SpecialValue.negInf],
  [0x800001, SpecialValue.reserved],
]);

/** mantissa × 10^exponent, dividing for negative exponents so 375 × 10^-1 is the double nearest 37.5. */
function scale(mantissa: number, exponent: number): number {
  const v = exponent >= 0 ? mantissa * 10 ** exponent : mantissa / 10 ** -exponent;
  return v + 0; // no -0
}

/** SFLOAT: 4-bit two's-complement exponent (high nibble), 12-bit two's-complement mantissa. */
export function decodeSfloat(raw: number): number | SpecialValue {
  const bits = raw & 0xffff;
  const m = bits & 0x0fff;
  const special = SFLOAT_SPECIAL.get(m);
  if (special !== undefined) return special;
  const mantissa = m >= 0x0800 ? m - 0x1000 : m;
  const e = bits >> 12;
  return scale(mantissa, e >= 0x8 ? e - 0x10 : e);
}

/** FLOAT: 8-bit two's-complement exponent (high byte), 24-bit two's-complement mantissa. */
export function decodeFloat(raw: number): number | SpecialValue {
  const bits = raw >>> 0;
  const m = bits & 0xffffff;
  const special = FLOAT_SPECIAL.get(m);
  if (special !== undefined) return special;
  const mantissa = m >= 0x800000 ? m - 0x1000000 : m;
  const e = bits >>> 24;
  return scale(mantissa, e >= 0x80 ? e - 0x100 : e);
}

/** The raw SFLOAT of a special value (for tests, fakes and the property tests). */
export function encodeSpecialSfloat(v: SpecialValue): number {
  for (const [raw, s] of SFLOAT_SPECIAL) if (s === v) return raw;
  throw new Error(`not a special value: ${v}`);
}

export function encodeSpecialFloat(v: SpecialValue): number {
  for (const [raw, s] of FLOAT_SPECIAL) if (s === v) return raw;
  throw new Error(`not a special value: ${v}`);
}

/** SFLOAT for mantissa × 10^exponent (mantissa −2045..2045, exponent −8..7), for tests and fakes. */
export function encodeSfloat(mantissa: number, exponent = 0): number {
  return ((exponent & 0xf) << 12) | (mantissa & 0x0fff);
}

/** FLOAT for mantissa × 10^exponent (mantissa ±8388605, exponent −128..127). */
export function encodeFloat(mantissa: number, exponent = 0): number {
  return (((exponent & 0xff) << 24) | (mantissa & 0xffffff)) >>> 0;
}
