/** Queries compiled once: the same SQL and parameters as the builder's, refused when they cannot be (unit tests, no database). */
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prepared } from './prepared.js';

interface Db {
  heads: { tenant_id: string; id: string; version: number };
  consumers: { tenant_id: string; id: string; consumer: string; version: number };
}
const db = new Kysely<Db>({
  dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => new PostgresQueryCompiler() },
});

const build = (d: Kysely<Db>, a: { tenantId: string; id: string; consumer: string; min: number }) =>
  d
    .selectFrom('heads as h')
    .leftJoin('consumers as c', (j) => j.onRef('c.tenant_id', '=', 'h.tenant_id').onRef('c.id', '=', 'h.id').on('c.consumer', '=', a.consumer))
    .select(['h.version', 'c.version as synced'])
    .where('h.tenant_id', '=', a.tenantId)
    .where('h.id', '=', a.id)
    .where('h.version', '>', a.min);

describe('prepared', () => {
  it('compiles to what the builder compiles, for any arguments, after the first call', () => {
    const fast = prepared(build);
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.integer(), (tenantId, id, consumer, min) => {
        const args = { tenantId, id, consumer, min };
        const a = fast(db, args).compile();
        const b = build(db, args).compile();
        expect(a.sql).toBe(b.sql);
        expect(a.parameters).toEqual(b.parameters);
      }),
    );
  });

  it('refuses a query whose parameters are not its arguments as passed', () => {
    const computed = prepared((d: Kysely<Db>, a: { id: string }) => d.selectFrom('heads').selectAll().where('id', '=', a.id.toUpperCase()));
    expect(() => computed(db, { id: 'x' }).compile()).toThrow(/parameter \$1 is not one of its arguments/);
  });
});
