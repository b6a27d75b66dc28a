/**
 * The drift diff: desired against actual state, per resource and per property path (JSON Pointer,
 * RFC 6901), each difference with a severity. Pure and synchronous (no I/O, no clock), so the scan
 * activity, the tests and the benchmark run the same code.
 *
 * Rules, and why:
 * - A resource's top-level properties are compared only where the desired state declares them:
 *   an actual resource carries more than anyone declares (status fields, timestamps). Inside a
 *   declared property the desired value is complete: a missing key or array item is `missing`, an
 *   extra one `unexpected`, anything else different `changed`.
 * - Resources of a kind no fresh actual-state source covers are `unknown` (never drift): a stale
 *   or absent observation says nothing about what exists. A property a source cannot observe
 *   (`unobserved`) is `unknown` too.
 * - Expected drift is suppressed where the platform knows its cause: a property with an allowed
 *   range (the replica count inside the active scaling policy's min..max) is not drift while the
 *   actual value is inside it. Ignore rules suppress what matches them, with their reason.
 * - Paths are built only for differences (a stack of segments while walking), so the walk costs
 *   about what a plain deep-equal walk costs (bench/drift.ts).
 */

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type DifferenceKind = 'changed' | 'missing' | 'unexpected';

/** A resource as the desired state declares it. `ranges` name properties whose value may lie in an interval. */
export interface DesiredResource {
  kind: string;
  name: string;
  serviceId?: string;
  properties: Record<string, unknown>;
  ranges?: Record<string, { min: number; max: number; reason: string }>;
}

/** A resource as an actual-state source observed it. */
export interface ActualResource {
  kind: string;
  name: string;
  properties: Record<string, unknown>;
  /** Top-level properties the source cannot see (reported as unknown, never as drift). */
  unobserved?: string[];
}

/** How well the actual state covers a resource kind. */
export type Coverage = { status: 'fresh'; source: string } | { status: 'stale'; source: string; observedAt: string };

/** Resources by key (`<kind>/<name>`). */
export type ResourceMap<R> = Record<string, R>;

export interface Difference {
  /** `<kind>/<name>`. */
  resource: string;
  /** JSON Pointer into the resource's properties; '' for the whole resource. */
  path: string;
  kind: DifferenceKind;
  severity: Severity;
  desired?: unknown;
  actual?: unknown;
  serviceId?: string;
}

export interface NotCompared {
  resource: string;
  path: string;
  reason: string;
}

export interface DiffResult {
  differences: Difference[];
  unknown: NotCompared[];
  suppressed: NotCompared[];
  /** Desired resources compared (with a fresh source). */
  compared: number;
  /** Kinds a fresh source covered: a finding of another kind cannot be confirmed or resolved by this diff. */
  freshKinds: string[];
}

/** An ignore rule, as the diff applies it. */
export interface IgnoreRule {
  id: string;
  /** `<kind>/<name>` with `*` wildcards; absent: every resource. */
  resource?: string | null;
  /** JSON Pointer (matches it and everything below) or a pattern of segments with `*` (one segment) and `**` (any number). */
  path: string;
  reason: string;
}

export const resourceKey = (kind: string, name: string): string => `${kind}/${name}`;

const escapeSegment = (s: string): string => (s.includes('~') || s.includes('/') ? s.replace(/~/g, '~0').replace(/\//g, '~1') : s);
const pointer = (segments: readonly string[]): string => (segments.length === 0 ? '' : `/${segments.map(escapeSegment).join('/')}`);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = { call: (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k) };

/** The severity of a difference: what a platform engineer should look at first. */
export function severityOf(resourceKind: string, kind: DifferenceKind, segments: readonly string[]): Severity {
  const top = segments[0];
  if (segments.length === 0) return kind === 'missing' ? 'high' : 'medium';
  if (top === 'rowLevelSecurity' || (top === 'schemas' && segments[2] === 'rowLevelSecurity')) return 'critical';
  if (top === 'image' || top === 'imageDigest' || top === 'secrets' || top === 'partitionKey') return 'high';
  if (top === 'schemas') return 'high';
  if (resourceKind === 'service' || top === 'defaultTtlSeconds' || top === 'replicas') return 'medium';
  return 'low';
}

/** Compares the desired with the actual state. */
export function diffStates(
  desired: ResourceMap<DesiredResource>,
  actual: ResourceMap<ActualResource>,
  coverage: Readonly<Record<string, Coverage>>,
  rules: readonly IgnoreRule[] = [],
): DiffResult {
  const out: DiffResult = { differences: [], unknown: [], suppressed: [], compared: 0, freshKinds: Object.keys(coverage).filter((k) => coverage[k]?.status === 'fresh').sort() };
  const stack: string[] = [];

  const record = (resource: string, r: DesiredResource, kind: DifferenceKind, d: unknown, a: unknown) => {
    const diff: Difference = { resource, path: pointer(stack), kind, severity: severityOf(r.kind, kind, stack) };
    if (d !== undefined) diff.desired = d;
    if (a !== undefined) diff.actual = a;
    if (r.serviceId) diff.serviceId = r.serviceId;
    out.differences.push(diff);
  };

  const compare = (resource: string, r: DesiredResource, d: unknown, a: unknown): void => {
    if (d === a) return;
    if (isObject(d)) {
      if (!isObject(a)) return record(resource, r, 'changed', d, a);
      for (const k in d) {
        if (!has.call(d, k)) continue;
        stack.push(k);
        if (!has.call(a, k)) record(resource, r, 'missing', d[k], undefined);
        else compare(resource, r, d[k], a[k]);
        stack.pop();
      }
      for (const k in a) {
        if (!has.call(a, k) || has.call(d, k)) continue;
        stack.push(k);
        record(resource, r, 'unexpected', undefined, a[k]);
        stack.pop();
      }
      return;
    }
    if (Array.isArray(d)) {
      if (!Array.isArray(a)) return record(resource, r, 'changed', d, a);
      const n = Math.max(d.length, a.length);
      for (let i = 0; i < n; i++) {
        stack.push(String(i));
        if (i >= a.length) record(resource, r, 'missing', d[i], undefined);
        else if (i >= d.length) record(resource, r, 'unexpected', undefined, a[i]);
        else compare(resource, r, d[i], a[i]);
        stack.pop();
      }
      return;
    }
    // Primitives (and null): equal only when identical (1 and "1" differ; NaN never arrives in JSON).
    record(resource, r, 'changed', d, a);
  };

  for (const key in desired) {
    const r = desired[key]!;
    const cov = coverage[r.kind];
    if (!cov) {
      out.unknown.push({ resource: key, path: '', reason: `No actual-state source covers ${r.kind} resources` });
      continue;
    }
    if (cov.status === 'stale') {
      out.unknown.push({ resource: key, path: '', reason: `The last observation by ${cov.source} (${cov.observedAt}) is stale` });
      continue;
    }
    out.compared++;
    const a = actual[key];
    if (!a) {
      stack.length = 0;
      record(key, r, 'missing', r.properties, undefined);
      continue;
    }
    const unobserved = a.unobserved;
    for (const p in r.properties) {
      if (!has.call(r.properties, p)) continue;
      stack.length = 0;
      stack.push(p);
      if (unobserved?.includes(p)) {
        out.unknown.push({ resource: key, path: pointer(stack), reason: `${cov.source} cannot observe this property` });
        continue;
      }
      const range = r.ranges?.[p];
      const value = a.properties[p];
      if (range) {
        if (typeof value === 'number' && value >= range.min && value <= range.max) {
          out.suppressed.push({ resource: key, path: pointer(stack), reason: range.reason });
        } else if (value === undefined) {
          record(key, r, 'missing', { min: range.min, max: range.max }, undefined);
        } else {
          record(key, r, 'changed', { min: range.min, max: range.max }, value);
        }
        continue;
      }
      if (!has.call(a.properties, p)) record(key, r, 'missing', r.properties[p], undefined);
      else compare(key, r, r.properties[p], value);
    }
    stack.length = 0;
  }
  for (const key in actual) {
    const a = actual[key]!;
    if (has.call(desired, key) || coverage[a.kind]?.status !== 'fresh') continue;
    out.differences.push({ resource: key, path: '', kind: 'unexpected', severity: severityOf(a.kind, 'unexpected', []), actual: a.properties });
  }
  if (rules.length > 0) applyIgnoreRules(out, rules);
  return out;
}

/** Moves the differences an ignore rule matches to `suppressed`. */
function applyIgnoreRules(out: DiffResult, rules: readonly IgnoreRule[]): void {
  const compiled = rules.map((r) => ({ rule: r, resource: r.resource ? globToRegExp(r.resource) : undefined, path: pathMatcher(r.path) }));
  const kept: Difference[] = [];
  for (const d of out.differences) {
    const hit = compiled.find((c) => (!c.resource || c.resource.test(d.resource)) && c.path(d.path));
    if (hit) out.suppressed.push({ resource: d.resource, path: d.path, reason: `Ignore rule ${hit.rule.id}: ${hit.rule.reason}` });
    else kept.push(d);
  }
  out.differences = kept;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
}

/** Splits a JSON Pointer into its unescaped segments. */
export function pointerSegments(p: string): string[] {
  if (p === '' || p === '/') return p === '/' ? [''] : [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * A rule's path as a predicate over difference paths. Without wildcards it is a JSON Pointer that
 * matches itself and everything below it (`/secrets` matches `/secrets/db-password`). With them,
 * `*` matches exactly one segment and `**` any number (also none); a pattern still matches below
 * what it names.
 */
export function pathMatcher(pattern: string): (path: string) => boolean {
  const want = pointerSegments(pattern);
  if (!want.some((s) => s === '*' || s === '**')) {
    const prefix = pointer(want);
    return (path) => prefix === '' || path === prefix || path.startsWith(`${prefix}/`);
  }
  const match = (p: readonly string[], i: number, j: number): boolean => {
    if (i === want.length) return true; // everything below what the pattern names
    const w = want[i]!;
    if (w === '**') {
      for (let k = j; k <= p.length; k++) if (match(p, i + 1, k)) return true;
      return false;
    }
    if (j >= p.length) return false;
    return (w === '*' || w === p[j]) && match(p, i + 1, j + 1);
  };
  return (path) => match(pointerSegments(path), 0, 0);
}

/** A plain deep-equal walk over the same data (the benchmark's baseline). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    for (const k in a) if (!has.call(b, k) || !deepEqual(a[k], b[k])) return false;
    for (const k in b) if (!has.call(a, k)) return false;
    return true;
  }
  return false;
}
