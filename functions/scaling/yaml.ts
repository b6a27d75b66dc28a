/**
 * YAML for manifests: block-style YAML of JSON data (objects, arrays, strings, numbers, booleans,
 * null), as `kubectl` and the Azure CLI read it. Written here rather than with a general YAML
 * library because a manifest is plain data and the general path cost ~100x more per render
 * (bench/scaling.ts). Strings are plain only when nothing could read them as anything else (a
 * conservative pattern, and none of YAML 1.1's booleans and nulls, which Kubernetes' parser still
 * takes); every other string is double-quoted with JSON's escapes, which YAML's double-quoted
 * style shares, plus escapes for the characters YAML does not allow raw. `yaml.test.ts` checks
 * that a YAML parser reads back exactly what went in, for arbitrary JSON values.
 */

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

const PLAIN = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
const RESERVED = /^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL)$/;
// Allowed in JSON strings but not raw in a YAML stream (DEL, C1 controls, BOM) or read as line breaks.
const UNPRINTABLE = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

function scalar(s: string): string {
  if (PLAIN.test(s) && !RESERVED.test(s)) return s;
  return JSON.stringify(s).replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isBlock(v: JsonValue): v is JsonValue[] | { [k: string]: JsonValue } {
  return v !== null && typeof v === 'object' && (Array.isArray(v) ? v.length > 0 : Object.keys(v).length > 0);
}

function inline(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return scalar(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? '[]' : '{}';
}

function block(v: JsonValue[] | { [k: string]: JsonValue }, pad: string, out: string[]): void {
  if (Array.isArray(v)) {
    for (const item of v) {
      if (!isBlock(item)) out.push(`${pad}- ${inline(item)}`);
      else {
        // The item's first line follows the dash; the rest is indented under it.
        const inner: string[] = [];
        block(item, `${pad}  `, inner);
        out.push(`${pad}- ${inner[0]!.slice(pad.length + 2)}`, ...inner.slice(1));
      }
    }
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (!isBlock(x)) out.push(`${pad}${scalar(k)}: ${inline(x)}`);
    else {
      out.push(`${pad}${scalar(k)}:`);
      block(x, `${pad}  `, out);
    }
  }
}

/** `value` as a YAML document. */
export function toYaml(value: unknown): string {
  const v = value as JsonValue;
  if (!isBlock(v)) return `${inline(v)}\n`;
  const out: string[] = [];
  block(v, '', out);
  return `${out.join('\n')}\n`;
}
