import { Kysely, PostgresDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { isLabelKey, isLabelValue, labelSelectorSql, mergeLabels, parseLabelSelector } from './labels.js';

// Compiles only (no connection is made), to check the SQL a selector becomes.
const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: {} as never }) });
const compile = (selector: string) => db.selectFrom('t').selectAll().where(labelSelectorSql('labels', parseLabelSelector(selector))).compile();

describe('labels', () => {
  it('validates keys and values like Kubernetes', () => {
    for (const k of ['app', 'a', 'app.kubernetes.io/name', 'example.com/tier', 'A_b-c.d']) expect(isLabelKey(k), k).toBe(true);
    for (const k of ['', '-app', 'app-', 'a b', 'Example.com/x', '/x', 'x/', `${'a'.repeat(64)}`, 'a/b/c', "x'or"]) expect(isLabelKey(k), k).toBe(false);
    for (const v of ['', 'web', 'v1.2_3']) expect(isLabelValue(v), v).toBe(true);
    for (const v of ['-x', 'x y', 'a'.repeat(64), '🚀']) expect(isLabelValue(v), v).toBe(false);
  });

  it('parses every requirement form', () => {
    expect(parseLabelSelector('app=web, tier != db,env in (dev, test),env notin (prod),canary,!beta,x==')).toEqual([
      { op: 'eq', key: 'app', value: 'web' },
      { op: 'neq', key: 'tier', value: 'db' },
      { op: 'in', key: 'env', values: ['dev', 'test'] },
      { op: 'notin', key: 'env', values: ['prod'] },
      { op: 'exists', key: 'canary' },
      { op: 'notexists', key: 'beta' },
      { op: 'eq', key: 'x', value: '' },
    ]);
    expect(parseLabelSelector('')).toEqual([]);
    for (const bad of ['a in ()', 'a in (b', 'a,,b', '=b', 'a=b=c', '(a)', 'a in ((b))', Array.from({ length: 21 }, (_, i) => `k${i}`).join(',')]) {
      expect(() => parseLabelSelector(bad), bad).toThrow(/label selector is invalid/);
    }
  });

  it('compiles to @> and ? with every value bound', () => {
    const q = compile("app=web,tier notin (db,cache),canary,!beta");
    expect(q.sql).toBe(
      'select * from "t" where ("labels" @> $1::jsonb and not ("labels" @> $2::jsonb or "labels" @> $3::jsonb) and "labels" ? $4 and not ("labels" ? $5))',
    );
    expect(q.parameters).toEqual(['{"app":"web"}', '{"tier":"db"}', '{"tier":"cache"}', 'canary', 'beta']);
  });

  it('merges a labels patch, null removing a key', () => {
    expect(mergeLabels({ a: '1', b: '2' }, { b: null, c: '3' })).toEqual({ a: '1', c: '3' });
    expect(mergeLabels({ a: '1' }, undefined)).toEqual({ a: '1' });
  });
});
