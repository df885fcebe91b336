// Paths into a vendor's JSON payload as firmware profiles write them: `measurements.sys`, `readings[0].value`,
// `data["blood pressure"]`. A small subset of JavaScript property access (no wildcards, filters or
// recursion, unlike JSONPath RFC 9535): one path names exactly one value.

export type JsonPathSegment = string | number;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*/;

export function parseJsonPath(path: string): { ok: true; segments: JsonPathSegment[] } | { ok: false; reason: string } {
  const segments: JsonPathSegment[] = [];
  let rest = path;
  let first = true;
  while (rest.length > 0) {
    if (rest.startsWith('[')) {
      const index = /^\[(\d{1,6})\]/.exec(rest);
      const quoted = /^\[(?:"([^"\\]*)"|'([^'\\]*)')\]/.exec(rest);
      const m = index ?? quoted;
      if (!m) return { ok: false, reason: `"${path}": expected [index] or ["key"] at "${rest.slice(0, 20)}"` };
      segments.push(index ? Number(index[1]) : (quoted![1] ?? quoted![2]!));
      rest = rest.slice(m[0].length);
    } else {
      if (!first) {
        if (!rest.startsWith('.')) return { ok: false, reason: `"${path}": expected "." or "[" at "${rest.slice(0, 20)}"` };
        rest = rest.slice(1);
      }
      const m = IDENT.exec(rest);
      if (!m) return { ok: false, reason: `"${path}": expected a key at "${rest.slice(0, 20)}" (use ["key"] for other characters)` };
      segments.push(m[0]);
      rest = rest.slice(m[0].length);
    }
    first = false;
  }
  return segments.length === 0 ? { ok: false, reason: 'empty path' } : { ok: true, segments };
}

/** `missing` is the prefix that was absent; `last` says it was the whole path (not a parent of it). */
export type JsonLookup = { found: true; value: unknown } | { found: false; missing: string; last: boolean };

/** The value at `segments`, or the prefix where the walk stopped. Own properties only (no `__proto__` walks). */
export function readJsonPath(root: unknown, segments: readonly JsonPathSegment[]): JsonLookup {
  let value: unknown = root;
  let walked = '';
  for (const [i, s] of segments.entries()) {
    const last = i === segments.length - 1;
    walked = typeof s === 'number' ? `${walked}[${s}]` : walked ? `${walked}.${s}` : s;
    if (typeof s === 'number') {
      if (!Array.isArray(value) || s >= value.length) return { found: false, missing: walked, last };
      value = value[s];
    } else {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, s)) return { found: false, missing: walked, last };
      value = (value as Record<string, unknown>)[s];
    }
  }
  return { found: true, value };
}

/** What a JSON value is, for error messages. */
export function jsonTypeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}
