/**
 * Labels and label selectors, Kubernetes style. Labels are string key/value pairs stored as a
 * `jsonb` object; a selector is a comma-separated list of requirements that must all hold:
 *
 *   app=web   app==web   tier!=db   env in (dev,test)   env notin (prod)   canary   !canary
 *
 * Keys are `[prefix/]name` (prefix: a DNS subdomain of at most 253 characters; name: at most 63
 * characters of `[A-Za-z0-9._-]`, starting and ending alphanumeric); values are empty or follow the
 * name rule. As in Kubernetes, `!=` and `notin` also match objects that lack the key.
 *
 * The SQL a selector compiles to uses only `@>` and `?` on the column, the operators a GIN index
 * (`jsonb_ops`) serves; every value is a bound parameter.
 */
import { sql, type RawBuilder } from 'kysely';
import { invalid } from './errors.js';
import { z } from './http/openapi.js';

const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** True for a valid label key (`[prefix/]name`). */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return NAME.test(key);
  const prefix = key.slice(0, slash);
  const name = key.slice(slash + 1);
  return prefix.length <= 253 && prefix.split('.').every((p) => DNS_LABEL.test(p)) && NAME.test(name);
}

/** True for a valid label value (empty, or the name rule). */
export function isLabelValue(value: string): boolean {
  return value === '' || NAME.test(value);
}

export const LabelKey = z
  .string()
  .max(317)
  .refine(isLabelKey, { message: 'Label keys are [prefix/]name: name up to 63 of [A-Za-z0-9._-], alphanumeric at both ends; prefix a DNS subdomain' })
  .openapi({ example: 'app.example.com/tier' });
export const LabelValue = z
  .string()
  .max(63)
  .refine(isLabelValue, { message: 'Label values are empty or up to 63 of [A-Za-z0-9._-], alphanumeric at both ends' })
  .openapi({ example: 'web' });

/** Most labels one object may carry. */
export const MAX_LABELS = 64;

/** A labels object, as created or replaced. */
export const Labels = z
  .record(LabelKey, LabelValue)
  .refine((l) => Object.keys(l).length <= MAX_LABELS, { message: `At most ${MAX_LABELS} labels` })
  .openapi('Labels', { description: 'Kubernetes-style labels', example: { app: 'web', tier: 'frontend' } });

/** Labels in a JSON merge patch: `null` removes a key. */
export const LabelsPatch = z
  .record(LabelKey, LabelValue.nullable())
  .refine((l) => Object.keys(l).length <= MAX_LABELS, { message: `At most ${MAX_LABELS} labels` })
  .openapi('LabelsPatch', { description: 'JSON merge patch of labels: a null value removes the key', example: { tier: null, team: 'core' } });

/** Applies a labels merge patch (RFC 7386) and re-checks the count. */
export function mergeLabels(current: Record<string, string>, patch: Record<string, string | null> | undefined): Record<string, string> {
  if (!patch) return current;
  const out: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  if (Object.keys(out).length > MAX_LABELS) throw invalid(`At most ${MAX_LABELS} labels are allowed.`, 'labels');
  return out;
}

/** One requirement of a selector. */
export type LabelRequirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'exists' | 'notexists'; key: string };

/** Longest selector accepted, and most requirements in one. */
export const MAX_SELECTOR_LENGTH = 1024;
const MAX_REQUIREMENTS = 20;
const MAX_SET_VALUES = 20;

/** Query-string schema of a `labelSelector` parameter (parsed with {@link parseLabelSelector}). */
export const LabelSelectorParam = z
  .string()
  .max(MAX_SELECTOR_LENGTH)
  .openapi({
    description: 'Kubernetes-style label selector: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated (all must hold)',
    example: 'app=web,tier!=db,env in (dev,test)',
  });

/** Parses a selector; a malformed one is a 400 naming `target`. An empty selector selects everything. */
export function parseLabelSelector(input: string, target = 'labelSelector'): LabelRequirement[] {
  const bad = (why: string) => invalid(`The label selector is invalid: ${why}.`, target);
  if (input.length > MAX_SELECTOR_LENGTH) throw bad('too long');
  const parts = splitTopLevel(input, bad);
  if (parts.length === 1 && parts[0] === '') return [];
  if (parts.length > MAX_REQUIREMENTS) throw bad(`at most ${MAX_REQUIREMENTS} requirements`);
  return parts.map((raw) => {
    const part = raw.trim();
    const key = (k: string) => {
      if (!isLabelKey(k)) throw bad(`'${printable(k)}' is not a label key`);
      return k;
    };
    const value = (v: string) => {
      if (!isLabelValue(v)) throw bad(`'${printable(v)}' is not a label value`);
      return v;
    };
    let m = /^!\s*([^\s!=(),]+)$/.exec(part);
    if (m) return { op: 'notexists', key: key(m[1] ?? '') };
    m = /^([^\s!=(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
    if (m) {
      if ((m[3] ?? '').trim() === '') throw bad('a set needs at least one value');
      const values = (m[3] ?? '').split(',').map((v) => value(v.trim()));
      if (values.length > MAX_SET_VALUES) throw bad(`at most ${MAX_SET_VALUES} values in a set`);
      return { op: m[2] === 'in' ? 'in' : 'notin', key: key(m[1] ?? ''), values };
    }
    m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(part);
    if (m) return { op: m[2] === '!=' ? 'neq' : 'eq', key: key(m[1] ?? ''), value: value(m[3] ?? '') };
    m = /^([^\s!=(),]+)$/.exec(part);
    if (m) return { op: 'exists', key: key(m[1] ?? '') };
    throw bad(`cannot read '${printable(part)}'`);
  });
}

/** Compiles requirements to a boolean SQL expression on a `jsonb` labels column. */
export function labelSelectorSql(column: string, reqs: LabelRequirement[]): RawBuilder<boolean> {
  const col = sql.ref(column);
  const has = (key: string, value: string) => sql<boolean>`${col} @> ${JSON.stringify({ [key]: value })}::jsonb`;
  const terms = reqs.map((r) => {
    switch (r.op) {
      case 'eq':
        return has(r.key, r.value);
      case 'neq':
        return sql<boolean>`not (${has(r.key, r.value)})`;
      case 'in':
        return sql<boolean>`(${sql.join(r.values.map((v) => has(r.key, v)), sql` or `)})`;
      case 'notin':
        return sql<boolean>`not (${sql.join(r.values.map((v) => has(r.key, v)), sql` or `)})`;
      case 'exists':
        return sql<boolean>`${col} ? ${r.key}`;
      case 'notexists':
        return sql<boolean>`not (${col} ? ${r.key})`;
    }
  });
  return terms.length === 0 ? sql<boolean>`true` : sql<boolean>`(${sql.join(terms, sql` and `)})`;
}

/** Splits on commas outside parentheses. */
function splitTopLevel(input: string, bad: (why: string) => Error): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of input) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0 || depth > 1) throw bad('unbalanced parentheses');
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw bad('unbalanced parentheses');
  out.push(cur.trim());
  if (out.length > 1 && out.some((p) => p === '')) throw bad('empty requirement');
  return out;
}

function printable(s: string): string {
  return s.length > 64 || /[^\x20-\x7e]/.test(s) ? '(unprintable)' : s;
}
