import fc from 'fast-check';
import { escapeLiteral } from 'pg';
import { describe, expect, it } from 'vitest';
import { inlineParameters, literal, quote, scopePrelude, UninlinableParameterError } from './scoped-read.js';

describe('inlineParameters', () => {
  it('replaces placeholders with escaped literals', () => {
    expect(inlineParameters('select * from t where a = $1 and b = $2 limit $3', ["o'hara", true, 10])).toBe(
      "select * from t where a = 'o''hara' and b = true limit 10",
    );
  });

  it('leaves placeholders inside strings, identifiers, comments and dollar quotes alone', () => {
    const text = `select '$1', "$1", $$ $1 $$, $tag$ $2 $tag$ -- $1\n/* $2 */ from t where x = $1 and y = $2`;
    expect(inlineParameters(text, ['a', 'b'])).toBe(`select '$1', "$1", $$ $1 $$, $tag$ $2 $tag$ -- $1\n/* $2 */ from t where x = 'a' and y = 'b'`);
  });

  it('escapes quotes and backslashes so values stay data', () => {
    const injected = inlineParameters('select $1', ["x'; drop table t; --"]);
    expect(injected).toBe("select 'x''; drop table t; --'");
    expect(literal('a\\b')).toBe(" E'a\\\\b'");
    expect(literal(new Date('2026-01-02T03:04:05.000Z'))).toBe("'2026-01-02T03:04:05.000Z'");
    expect(literal({ a: "'" })).toBe(`'{"a":"''"}'`);
    expect(literal(null)).toBe('null');
  });

  it('quotes any string exactly as pg.escapeLiteral does', () => {
    const tricky = fc.constantFrom("'", '\\', "''", '\\\'', 'a', 'é', '$1', '"');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.array(fc.oneof(tricky, fc.string()), { maxLength: 12 }).map((xs) => xs.join(''))), (s) => {
        expect(quote(s)).toBe(escapeLiteral(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses values it cannot inline safely, so callers fall back to a transaction', () => {
    expect(() => literal([1, 2])).toThrow(UninlinableParameterError);
    expect(() => literal(Number.NaN)).toThrow(UninlinableParameterError);
    expect(() => literal(Buffer.from('x'))).toThrow(UninlinableParameterError);
    expect(() => inlineParameters('select $2', ['only one'])).toThrow(UninlinableParameterError);
  });

  it('builds the scope prelude with transaction-local settings only', () => {
    const p = scopePrelude({ tenantId: "t'1", placement: { model: 'pooled' } }, { service: 's', schema: 's', role: 'rp_s' });
    expect(p).toContain("set_config('app.tenant_id', 't''1', true)");
    expect(p.match(/, true\)/g)).toHaveLength(5);
    expect(p).toContain("set_config('app.principal_id', '', true)");
    const principal = scopePrelude({ principal: 'alice', placement: { model: 'pooled' } }, { service: 's', schema: 's', role: 'rp_s' });
    expect(principal).toContain("set_config('app.tenant_id', '', true), set_config('app.scope', 'principal', true), set_config('app.principal_id', 'alice', true)");
  });
});
