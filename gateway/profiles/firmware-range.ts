// Firmware version ranges of profiles: `*`, or comparators joined by spaces (`>=1.0 <2.1`), all of which
// must hold (semver's comparator sets without `||`, pre-release tags or x-ranges). Versions are up to
// three dot-separated integers; missing parts are 0.

type Version = [number, number, number];
interface Bound {
  v: Version;
  inclusive: boolean;
}
/** A range as one interval; `undefined` bounds are open. */
export interface VersionInterval {
  lo?: Bound;
  hi?: Bound;
}

export function parseVersion(text: string): Version | undefined {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : undefined;
}

export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

export function parseRange(range: string): VersionInterval {
  const out: VersionInterval = {};
  if (range.trim() === '*') return out;
  for (const part of range.trim().split(/\s+/)) {
    const m = /^(>=|<=|>|<|=)?(.+)$/.exec(part)!;
    const v = parseVersion(m[2]!)!;
    const op = m[1] ?? '=';
    const tighterLo = (b: Bound): void => {
      if (!out.lo || compareVersions(b.v, out.lo.v) > 0 || (compareVersions(b.v, out.lo.v) === 0 && !b.inclusive)) out.lo = b;
    };
    const tighterHi = (b: Bound): void => {
      if (!out.hi || compareVersions(b.v, out.hi.v) < 0 || (compareVersions(b.v, out.hi.v) === 0 && !b.inclusive)) out.hi = b;
    };
    if (op === '>=' || op === '=' ) tighterLo({ v, inclusive: true });
    if (op === '>') tighterLo({ v, inclusive: false });
    if (op === '<=' || op === '=') tighterHi({ v, inclusive: true });
    if (op === '<') tighterHi({ v, inclusive: false });
  }
  return out;
}

export function inRange(version: string, range: string): boolean {
  const v = parseVersion(version);
  if (!v) return false;
  const { lo, hi } = parseRange(range);
  if (lo && (compareVersions(v, lo.v) < 0 || (compareVersions(v, lo.v) === 0 && !lo.inclusive))) return false;
  if (hi && (compareVersions(v, hi.v) > 0 || (compareVersions(v, hi.v) === 0 && !hi.inclusive))) return false;
  return true;
}

/** Whether some version satisfies both ranges. */
export function rangesOverlap(a: string, b: string): boolean {
  const x = parseRange(a);
  const y = parseRange(b);
  // The intersection's lower bound is the larger lo, its upper bound the smaller hi.
  const lo = !x.lo ? y.lo : !y.lo ? x.lo : compareVersions(x.lo.v, y.lo.v) > 0 || (compareVersions(x.lo.v, y.lo.v) === 0 && !x.lo.inclusive) ? x.lo : y.lo;
  const hi = !x.hi ? y.hi : !y.hi ? x.hi : compareVersions(x.hi.v, y.hi.v) < 0 || (compareVersions(x.hi.v, y.hi.v) === 0 && !x.hi.inclusive) ? x.hi : y.hi;
  if (!lo || !hi) return true;
  const c = compareVersions(lo.v, hi.v);
  return c < 0 || (c === 0 && lo.inclusive && hi.inclusive);
}
