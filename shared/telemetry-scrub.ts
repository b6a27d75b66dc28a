/**
 * Keeps secrets out of telemetry. The app never puts a secret value, a token or a connection
 * string into a telemetry item on purpose; this is the net under that rule, applied twice: to
 * what the app hands the telemetry port, and to every span, span event and log record the SDK is
 * about to export (including the Azure SDKs' own dependency spans and the exceptions they record).
 *
 * What it removes: bearer tokens and anything shaped like a JWT; the values of connection-string
 * and query-string keys that carry secrets (`AccountKey=`, `SharedAccessSignature=`, `sig=`,
 * `Password=`, `client_secret=`, …); passwords in URLs (`postgres://user:password@host`); and the
 * whole value of a property whose name says it is a secret (`password`, `token`, `secret`,
 * `connectionString`, `authorization`, …).
 */

/** What replaces a removed value. */
export const REDACTED = '[redacted]';

// JWTs (three base64url parts, the first a JSON header: `eyJ`), with or without a scheme.
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const BEARER = /\b(Bearer|Basic|SharedAccessSignature)\s+[A-Za-z0-9\-._~+/=%&:]+/gi;
// `name=value` pairs of connection strings and query strings whose value is a secret.
const SECRET_PAIRS =
  /\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd|sig|secret|client_secret|ClientSecret|access_token|refresh_token|id_token|code_verifier|api[-_]?key|InstrumentationKey|AccessKey|token)\s*=\s*("[^"]*"|'[^']*'|[^;&\s"',}]+)/gi;
// `scheme://user:password@host`
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]+):[^\s/@]+@/gi;

/** Property names whose values are secrets whatever they look like (compared without `-`, `_`, case). */
const SECRET_NAMES = new Set([
  'authorization',
  'password',
  'passwd',
  'pwd',
  'secret',
  'secretvalue',
  'value',
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'bearertoken',
  'clientsecret',
  'connectionstring',
  'apikey',
  'accountkey',
  'sharedaccesskey',
  'sas',
  'sastoken',
  'cookie',
  'setcookie',
  'privatekey',
]);

/** True when a property of that name holds a secret by its name alone. */
export function isSecretName(name: string): boolean {
  return SECRET_NAMES.has(name.replace(/[-_\s]/g, '').toLowerCase());
}

/** `text` without tokens, keys, passwords and connection-string secrets. */
export function scrubText(text: string): string {
  if (text.length === 0) return text;
  return text
    .replace(JWT, REDACTED)
    .replace(BEARER, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(SECRET_PAIRS, (_m, key: string) => `${key}=${REDACTED}`)
    .replace(URL_PASSWORD, (_m, head: string) => `${head}:${REDACTED}@`);
}

/** A property bag with secret-named values removed and every other value scrubbed. */
export function scrubProperties(props: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!props) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) out[k] = isSecretName(k) ? REDACTED : scrubText(String(v));
  return out;
}

/** One attribute value (span or log record), scrubbed; non-strings are returned as they are. */
export function scrubAttribute(name: string, value: unknown): unknown {
  if (isSecretName(name)) return REDACTED;
  if (typeof value === 'string') return scrubText(value);
  if (Array.isArray(value)) return value.map((v: unknown) => (typeof v === 'string' ? scrubText(v) : v));
  return value;
}

/** Scrubs an attribute map in place (the SDK's own objects, before they are exported). */
export function scrubAttributesInPlace(attributes: Record<string, unknown> | undefined): void {
  if (!attributes) return;
  for (const [k, v] of Object.entries(attributes)) {
    const clean = scrubAttribute(k, v);
    if (clean !== v) attributes[k] = clean;
  }
}

/** The error's code, when it carries one (domain errors, Azure SDK `RestError`s, `pg` errors, Node errors). */
export function errorCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (e && typeof e.code === 'string' && e.code.length > 0) return e.code;
  if (e && typeof e.code === 'number') return String(e.code);
  return undefined;
}

/** An error safe to send: same name and code, scrubbed message and stack. */
export function scrubError(error: Error): Error {
  const clean = new Error(scrubText(error.message));
  clean.name = error.name;
  clean.stack = error.stack ? scrubText(error.stack) : undefined;
  const code = errorCode(error);
  if (code !== undefined) (clean as Error & { code?: string }).code = code;
  return clean;
}
