/**
 * Redaction of failure excerpts before they are stored or sent to Application Insights: a probe's
 * error text can quote a request or a connection string. What it takes out, replaced by
 * `[REDACTED]`: bearer and basic credentials (`Authorization: Bearer …`), JWTs (three base64url
 * parts, the first starting `eyJ`), passwords, secrets, keys and signatures in connection strings
 * and query strings (`Password=…;`, `AccountKey=…`, `SharedAccessKey=…`, `sig=…`, `client_secret=…`),
 * and credentials in URLs (`scheme://user:password@host`). It is a safety net, not a guarantee:
 * probes should not put secrets in their messages in the first place.
 */

const MARK = '[REDACTED]';

const RULES: readonly [RegExp, string | ((...m: string[]) => string)][] = [
  // JWTs anywhere (also without a Bearer prefix).
  [/\beyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g, MARK],
  // Authorization schemes with a credential after them.
  [/\b(bearer|basic|sharedaccesssignature)(\s+)[^\s"',;]+/gi, (_m, scheme, sp) => `${scheme}${sp}${MARK}`],
  // Credentials in URLs.
  [/\b([a-z][a-z0-9+.-]*:\/\/)([^\s:/@]+):([^\s@/]+)@/gi, (_m, scheme, user) => `${scheme}${user}:${MARK}@`],
  // key=value pairs whose key names a secret (connection strings, query strings, JSON-ish text).
  [
    /\b((?:password|pwd|passwd|secret|client_secret|clientsecret|accountkey|sharedaccesskey|access_key|accesskey|apikey|api_key|token|access_token|refresh_token|sig|signature|credential|credentials)"?\s*[=:]\s*"?)([^;&\s"',}]+)/gi,
    (_m, key) => `${key}${MARK}`,
  ],
];

/** `text` with every credential-looking part replaced by `[REDACTED]`. */
export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement as never);
  return out;
}
