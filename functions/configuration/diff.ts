/**
 * The difference between two versions' settings, key by key, as JSON Pointers into the settings:
 * `added` (in the newer only), `removed` (in the older only) and `changed` (in both, different).
 * Objects are compared key by key, all the way down; arrays and scalars are compared whole (an
 * array that changed is one `changed` entry with both arrays). A secret reference is an object like
 * any other, so switching bindings shows as `…/secretRef` changed.
 */
import { canonicalJson } from './scan.js';

export interface SettingsDiff {
  added: { path: string; value: unknown }[];
  removed: { path: string; value: unknown }[];
  changed: { path: string; from: unknown; to: unknown }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const pointer = (path: string, key: string) => `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;

/** What changed from `older` to `newer`; entries in path order. */
export function diffSettings(older: Record<string, unknown>, newer: Record<string, unknown>): SettingsDiff {
  const out: SettingsDiff = { added: [], removed: [], changed: [] };
  const stack: [Record<string, unknown>, Record<string, unknown>, string][] = [[older, newer, '']];
  while (stack.length > 0) {
    const [a, b, path] = stack.pop()!;
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const at = pointer(path, key);
      const inA = Object.hasOwn(a, key);
      const inB = Object.hasOwn(b, key);
      if (!inB) out.removed.push({ path: at, value: a[key] });
      else if (!inA) out.added.push({ path: at, value: b[key] });
      else if (isObject(a[key]) && isObject(b[key])) stack.push([a[key], b[key], at]);
      else if (canonicalJson(a[key]) !== canonicalJson(b[key])) out.changed.push({ path: at, from: a[key], to: b[key] });
    }
  }
  const byPath = (x: { path: string }, y: { path: string }) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0);
  out.added.sort(byPath);
  out.removed.sort(byPath);
  out.changed.sort(byPath);
  return out;
}
