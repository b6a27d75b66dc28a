/**
 * What a configuration's settings may hold, checked before anything is stored: no secret values,
 * only references to secret bindings.
 *
 * A setting that needs a secret holds `{"secretRef": "<binding name>"}` (an object with that one
 * key; the name is a secret binding's name, a DNS label). Everything else is a plain JSON value.
 * A write is refused (400, naming the setting's JSON Pointer, never its value) when a value looks
 * like a secret:
 *
 * - anywhere: a private key (PEM `-----BEGIN … PRIVATE KEY-----`), a JWT (`eyJ….eyJ….…`), a
 *   `Bearer …` token, a connection string with `Password=`, `Pwd=`, `AccountKey=`,
 *   `SharedAccessKey=` or a SAS signature (`sig=`), a URL with a password in it
 *   (`scheme://user:password@host`), and well-known token formats (GitHub, AWS access key ids,
 *   Slack, Stripe live keys, Google API keys);
 * - under a password-like name (the name's last word is `password`, `passwd`, `pwd`,
 *   `passphrase` or `pass`): any non-empty string or number;
 * - under a secret-like name (last word `secret`, `token`, `key`, `apikey`, `credential(s)`,
 *   `signature`, `sas`, `auth`): a high-entropy string (16 or more characters without spaces,
 *   at least two of lower case, upper case and digits, and at least 3.2 bits of entropy a
 *   character);
 * - a setting name that itself looks like a secret (by the rules above for any value).
 *
 * Names are split into words at `_`, `-`, `.`, `:` and lower-to-upper case changes (`dbPassword`
 * → `db`, `password`). Setting names are 1-128 of `A-Z a-z 0-9 _ . : $ -`, starting with a letter,
 * digit, `_` or `$`; so a JSON Pointer to a setting needs no escaping.
 *
 * The scan also collects what the settings reference: secret binding names (checked against the
 * secrets service before a write), and catalog service ids (a string value that is exactly a
 * service id, `svc_` and 16 hex characters), which keep that service from being purged while the
 * latest configuration names it.
 */
import { DNS_NAME_PATTERN } from '../../shared/http/vocabulary.js';
import { idPattern } from '../../shared/ids.js';

/** Most settings (leaf values) one configuration may hold. */
export const MAX_SETTINGS = 10_000;
/** The key of a secret reference object. */
export const SECRET_REF = 'secretRef';
/** Setting names: see the module comment. */
export const SETTING_NAME_PATTERN = /^[A-Za-z0-9_$][A-Za-z0-9_.:$-]{0,127}$/;

/** A problem with one setting: its JSON Pointer (into the settings) and why; never its value. */
export interface Finding {
  path: string;
  reason: string;
}

/** What a scan found. */
export interface ScanResult {
  /** Leaf values (scalars and secret references). */
  settingCount: number;
  /** Binding names referenced, sorted, each once. */
  secretRefs: string[];
  /** Catalog service ids named, sorted, each once. */
  serviceRefs: string[];
  /** Values (or names) that look like secrets. */
  secrets: Finding[];
  /** Names or references that are malformed. */
  malformed: Finding[];
}

const SERVICE_ID = idPattern('svc');
/** `svc_` and 16 hex characters. */
const SERVICE_ID_LENGTH = 20;

/**
 * The patterns that refuse a value wherever it stands, in the order a finding names them. Each
 * comes with a cheap necessary condition (a substring every match contains), tested first: most
 * values contain none of them, and those never meet a regular expression.
 */
export const ANYWHERE: readonly { re: RegExp; what: string; hint: (v: string) => boolean }[] = [
  { re: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/, what: 'a private key', hint: (v) => v.includes('-----BEGIN ') },
  { re: /\beyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/, what: 'a JWT', hint: (v) => v.includes('eyJ') },
  { re: /\bBearer\s+[A-Za-z0-9._~+/-]{8,}=*/i, what: 'a bearer token', hint: (v) => /\s/.test(v) && /bearer/i.test(v) },
  {
    re: /(?:^|[;\s])(?:password|pwd|accountkey|sharedaccesskey|sharedsecretvalue)\s*=\s*[^;\s]/i,
    what: 'a connection string with a password or key',
    hint: (v) => v.includes('='),
  },
  { re: /[?&;]sig=[A-Za-z0-9%+/=]{10,}/i, what: 'a shared access signature', hint: (v) => v.includes('=') },
  { re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:[^\s/@]+@/i, what: 'a URL with a password', hint: (v) => v.includes('@') && v.includes('://') },
  {
    re: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|AKIA[0-9A-Z]{16}|xox[abposr]-[A-Za-z0-9-]{10,}|sk_live_[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{35})/,
    what: 'a well-known access token',
    hint: (v) => TOKEN_PREFIX.test(v),
  },
];
/** Something at least one hint above needs: most values have none (one scan of the value). */
const ANY_HINT = /-----BEGIN |eyJ|\s|=|@|gh[pousr]_|github_pat_|AKIA|xox|sk_live_|AIza/;
/** What every well-known token above starts with. */
const TOKEN_PREFIX = /gh[pousr]_|github_pat_|AKIA|xox|sk_live_|AIza/;
const PASSWORD_WORDS = new Set(['password', 'passwd', 'pwd', 'passphrase', 'pass']);
const SECRET_WORDS = new Set(['secret', 'token', 'key', 'apikey', 'credential', 'credentials', 'signature', 'sas', 'auth']);

/** A character that separates the words of a setting name (`_ . : $ -` and whitespace). */
const isSeparator = (c: number) => c === 0x5f || c === 0x2e || c === 0x3a || c === 0x24 || c === 0x2d || c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c > 0x7f && /\s/.test(String.fromCharCode(c)));
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isLowerOrDigit = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);

/**
 * The last word of a setting name, lower case (`dbPassword` → `password`, `API_KEY` → `key`):
 * words end at a separator and before an upper-case letter that follows a lower-case letter or a
 * digit. Read backwards from the end, so only the last word is looked at.
 */
export function lastWord(name: string): string {
  let end = name.length;
  while (end > 0 && isSeparator(name.charCodeAt(end - 1))) end--;
  let start = end;
  while (start > 0) {
    if (isSeparator(name.charCodeAt(start - 1))) break;
    if (start < end && isUpper(name.charCodeAt(start)) && isLowerOrDigit(name.charCodeAt(start - 1))) break;
    start--;
  }
  return name.slice(start, end).toLowerCase();
}

/** Shannon entropy of `s` in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** A token-like string random enough to be a key (see the module comment). */
export function isHighEntropy(s: string): boolean {
  if (s.length < 16 || /\s/.test(s)) return false;
  const classes = Number(/[a-z]/.test(s)) + Number(/[A-Z]/.test(s)) + Number(/[0-9]/.test(s));
  return classes >= 2 && entropy(s) >= 3.2;
}

/** Why `value` looks like a secret wherever it stands, or `undefined`. */
export function secretPattern(value: string): string | undefined {
  if (value.length < 8 || !ANY_HINT.test(value)) return undefined;
  for (const p of ANYWHERE) if (p.hint(value) && p.re.test(value)) return p.what;
  return undefined;
}

/** A name that may end in one of the words above (cheap test before splitting it into words). */
const SENSITIVE_NAME = /pass|pwd|secret|token|key|credential|signature|sas|auth/i;

/** What a setting name says about its value: a password, a secret, or nothing (its last word). */
type NameKind = { word: string; kind: 'password' | 'secret' } | null;
/** What a scan needs to know of a setting name; the same for every write, so kept for a while. */
interface NameInfo {
  /** Not a setting name (see {@link SETTING_NAME_PATTERN}). */
  malformed: boolean;
  /** Why the name itself looks like a secret. */
  looks: string | undefined;
  kind: NameKind;
}
/** Setting names seen lately (names repeat from one write to the next); at most {@link NAME_INFO_MAX}. */
const nameInfos = new Map<string, NameInfo>();
const NAME_INFO_MAX = 4096;

function nameKind(name: string): NameKind {
  if (!SENSITIVE_NAME.test(name)) return null;
  const word = lastWord(name);
  return PASSWORD_WORDS.has(word) ? { word, kind: 'password' } : SECRET_WORDS.has(word) ? { word, kind: 'secret' } : null;
}

function nameInfo(name: string): NameInfo {
  let info = nameInfos.get(name);
  if (info) return info;
  const malformed = !SETTING_NAME_PATTERN.test(name);
  const looks = malformed ? undefined : (secretPattern(name) ?? (name.length >= 32 && isHighEntropy(name) ? 'a high-entropy value' : undefined));
  info = { malformed, looks, kind: malformed ? null : nameKind(name) };
  // Only names of settings are kept (a refused name is not remembered).
  if (!malformed && !looks) {
    if (nameInfos.size >= NAME_INFO_MAX) nameInfos.clear();
    nameInfos.set(name, info);
  }
  return info;
}

/** Why the value of setting `name` looks like a secret, or `undefined`. */
function secretValue(name: string | undefined, value: string | number): string | undefined {
  if (typeof value === 'string') {
    const found = secretPattern(value);
    if (found) return found;
  }
  const kind = name === undefined ? null : nameInfo(name).kind;
  if (kind === null) return undefined;
  if (kind.kind === 'password' && String(value) !== '') return 'a password';
  if (kind.kind === 'secret' && typeof value === 'string' && isHighEntropy(value)) return `a high-entropy value under a name like '${kind.word}'`;
  return undefined;
}

/** Scans a settings document (already parsed JSON). Iterative: no input can exhaust the stack. */
export function scanSettings(settings: Record<string, unknown>, ownServiceId?: string): ScanResult {
  const secretRefs = new Set<string>();
  const serviceRefs = new Set<string>();
  const secrets: Finding[] = [];
  const malformed: Finding[] = [];
  let settingCount = 0;
  // [value, its parent's JSON Pointer, its key or index there (the root: none), the name it stands
  // under (an array's elements: the array's name)]. A leaf's own pointer is only written out for a
  // finding.
  const stack: [unknown, string, string | number | undefined, string | undefined][] = [[settings, '', undefined, undefined]];
  const pointer = (parent: string, segment: string | number | undefined) => (segment === undefined ? '' : `${parent}/${segment}`);
  while (stack.length > 0) {
    const [v, parent, segment, name] = stack.pop()!;
    if (Array.isArray(v)) {
      const path = pointer(parent, segment);
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], path, i, name]);
      continue;
    }
    if (v !== null && typeof v === 'object') {
      const path = pointer(parent, segment);
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o);
      if (Object.hasOwn(o, SECRET_REF) && path !== '') {
        settingCount++;
        const ref = o[SECRET_REF];
        if (keys.length !== 1 || typeof ref !== 'string' || !DNS_NAME_PATTERN.test(ref)) {
          malformed.push({ path, reason: `a secret reference is {"${SECRET_REF}": "<binding name>"}, with a binding name of 1-63 of a-z, 0-9 and -` });
        } else secretRefs.add(ref);
        continue;
      }
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        const info = nameInfo(key);
        if (info.malformed) {
          malformed.push({ path: path || '/', reason: 'a setting name here is not 1-128 of A-Z, a-z, 0-9, _ . : $ - (starting with a letter, digit, _ or $)' });
          continue;
        }
        if (info.looks) {
          secrets.push({ path: path || '/', reason: `a setting name here looks like ${info.looks}` });
          continue;
        }
        stack.push([o[key], path, key, key]);
      }
      continue;
    }
    settingCount++;
    if (typeof v === 'string' || typeof v === 'number') {
      const why = secretValue(name, v);
      if (why) secrets.push({ path: pointer(parent, segment), reason: `looks like ${why}` });
      else if (typeof v === 'string' && v.length === SERVICE_ID_LENGTH && SERVICE_ID.test(v) && v !== ownServiceId) serviceRefs.add(v);
    }
  }
  return { settingCount, secretRefs: [...secretRefs].sort(), serviceRefs: [...serviceRefs].sort(), secrets, malformed };
}

/**
 * JSON with object keys sorted at every level: equal settings give equal text (the diff compares
 * values by it). Keys that are array indices, `"0"`, `"12"`, come first in numeric order, as
 * JavaScript enumerates them.
 */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortedKeys(v));
}

/** A copy of a JSON value with each object's keys inserted in sorted order (one walk, no replacer). */
function sortedKeys(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(sortedKeys);
  const o = v as Record<string, unknown>;
  // No prototype: a setting named `__proto__` stays a property.
  const sorted = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(o).sort()) sorted[k] = sortedKeys(o[k]);
  return sorted;
}
