/**
 * Redaction of failure excerpts before they are stored or sent to Application Insights: a probe's
 * error text can quote a request, a connection string or a configuration. It is the kernel's
 * telemetry scrubbing (`shared/telemetry-scrub.ts`: bearer and basic credentials, JWTs,
 * secret-named `key=value` pairs of connection and query strings, passwords in URLs), plus the
 * `key: value` form error texts and JSON use (`"password": "…"`, `client_secret: …`), which
 * telemetry properties never take. A safety net: probes should not send secrets at all.
 */
import { REDACTED, scrubText } from '../../shared/telemetry-scrub.js';

const COLON_PAIRS = /\b(password|passwd|pwd|secret|client_secret|clientsecret|access_token|refresh_token|token|api[-_]?key|accountkey|sharedaccesskey)("?\s*:\s*"?)([^;&\s"',}]+)/gi;

/** `text` with every credential-looking part replaced by `[redacted]`. */
export function redact(text: string): string {
  return scrubText(text).replace(COLON_PAIRS, (_m, key: string, sep: string) => `${key}${sep}${REDACTED}`);
}
