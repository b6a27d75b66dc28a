/**
 * One-round-trip scoped reads. A read-only request that needs a single statement sends the scope
 * settings and the statement as one simple-protocol query: PostgreSQL runs a multi-statement
 * simple query as one implicit transaction, so the `set_config(..., true)` settings are
 * transaction-local exactly as in {@link inScope}, and row-level security sees them. Parameters
 * are inlined as escaped literals (the simple protocol has no parameters), only where a `$n`
 * placeholder stands outside quotes and comments.
 */
import type { CompiledQuery } from 'kysely';
import type { ServiceSql, SqlScope } from './database.js';
import { scopeSettings } from './service-db.js';

/** Minimal pool port (a subset of `pg.Pool`). */
export interface QueryPool {
  query(text: string): Promise<unknown>;
}

/** Raised when a parameter has no safe literal form; callers fall back to a transaction. */
export class UninlinableParameterError extends Error {
  override name = 'UninlinableParameterError';
}

/**
 * A string literal, exactly as `pg`'s `escapeLiteral` writes it (quotes doubled; with a backslash,
 * an `E'…'` literal with backslashes doubled), without its character-by-character copy: a large
 * JSON document is one parameter.
 */
export function quote(s: string): string {
  const hasBackslash = s.includes('\\');
  let body = s.includes("'") ? s.replaceAll("'", "''") : s;
  if (hasBackslash) body = body.replaceAll('\\', '\\\\');
  return hasBackslash ? ` E'${body}'` : `'${body}'`;
}

/** The literal form of one parameter. */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') {
    // The simple protocol sends the query as a C string: a NUL would cut it short, a protocol
    // violation that costs the connection. As a bound parameter PostgreSQL refuses it plainly.
    if (value.includes('\u0000')) throw new UninlinableParameterError('a string holding U+0000');
    return quote(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new UninlinableParameterError('non-finite number');
    return String(value);
  }
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return quote(value.toISOString());
  if (Array.isArray(value) || Buffer.isBuffer(value) || value instanceof Uint8Array) {
    throw new UninlinableParameterError('arrays and binary values are not inlined');
  }
  if (typeof value === 'object') return quote(JSON.stringify(value));
  throw new UninlinableParameterError(typeof value);
}

/**
 * Replaces `$1..$n` placeholders with literals, skipping quoted strings, quoted identifiers,
 * dollar-quoted bodies and comments, so a `$1` inside any of those is left as written.
 */
export function inlineParameters(text: string, parameters: readonly unknown[]): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "'" || c === '"') {
      const end = closeQuote(text, i, c);
      out += text.slice(i, end);
      i = end;
    } else if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === '$') {
      const param = /^\$(\d+)/.exec(text.slice(i, i + 12));
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 66));
      if (param?.[1]) {
        const idx = Number(param[1]) - 1;
        if (idx < 0 || idx >= parameters.length) throw new UninlinableParameterError(`no parameter $${idx + 1}`);
        out += literal(parameters[idx]);
        i += param[0].length;
      } else if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        const stop = end === -1 ? n : end + tag[0].length;
        out += text.slice(i, stop);
        i = stop;
      } else {
        out += c;
        i++;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function closeQuote(text: string, start: number, q: string): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === q) {
      if (text[i + 1] === q) i += 2;
      else return i + 1;
    } else i++;
  }
  return text.length;
}

/** The scope settings as a statement, for prefixing. */
export function scopePrelude(scope: SqlScope, svc: ServiceSql): string {
  const s = scopeSettings(scope);
  return (
    `select set_config('role', ${literal(svc.role)}, true), set_config('search_path', ${literal(svc.schema)}, true), ` +
    `set_config('app.tenant_id', ${literal(s.tenantId)}, true), set_config('app.scope', ${literal(s.scope)}, true), ` +
    `set_config('app.principal_id', ${literal(s.principalId)}, true)`
  );
}

/** Switches to another service's role and schema within a transaction whose scope is set. */
function rolePrelude(svc: ServiceSql): string {
  return `select set_config('role', ${literal(svc.role)}, true), set_config('search_path', ${literal(svc.schema)}, true)`;
}

/**
 * Runs statements of one or more services in `scope`, each after its own service's scope settings
 * (its role and schema), in one round trip and so in one implicit transaction: a statement that
 * fails aborts the rest, and what one sets transaction-locally (or locks) holds for the next.
 * Returns each statement's rows.
 */
export async function scopedStatements(pool: QueryPool, scope: SqlScope, statements: readonly { svc: ServiceSql; query: CompiledQuery<unknown> }[]): Promise<unknown[][]> {
  // The scope's settings once; each later statement only switches role and schema.
  const text = statements
    .map(({ svc, query }, i) => `${i === 0 ? scopePrelude(scope, svc) : rolePrelude(svc)};\n${inlineParameters(query.sql, query.parameters)}`)
    .join(';\n');
  const results = (await pool.query(text)) as { rows: unknown[] }[] | { rows: unknown[] };
  // One statement in all (none here: each has its prelude) would come back as a single result.
  const list = Array.isArray(results) ? results : [results];
  return statements.map((_, i) => list[2 * i + 1]?.rows ?? []);
}
