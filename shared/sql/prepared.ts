/**
 * Queries compiled once. Building a query with Kysely's builder and compiling it costs tens of
 * microseconds, about as much as a point read's round trip on a local network; a hot statement
 * whose shape never changes (the same tables, joins and conditions on every call, only the values
 * differ) can skip that after the first call:
 *
 *     const selectHead = prepared((db: Kysely<Db>, a: { tenantId: string; id: string }) =>
 *       db.selectFrom('heads').selectAll().where('tenant_id', '=', a.tenantId).where('id', '=', a.id));
 *     await sql.read(scope, SVC, (db) => selectHead(db, { tenantId, id }));
 *
 * The first call builds the query with a placeholder for each argument and records which
 * argument fills which parameter; later calls fill the same SQL text with their own values. So
 * `build` must pass its arguments to the builder as they are: no branching on them, nothing
 * computed from them (a parameter that is not one of the arguments is refused on first use, so a
 * test of the query finds the mistake).
 */
import { createQueryId, type Compilable, type CompiledQuery } from 'kysely';

/** A placeholder no caller passes: a string holding U+0000 (PostgreSQL text cannot hold it). */
const placeholder = (key: string) => `\u0000prepared:${key}`;

/** `build`, compiled on its first call and reused afterwards (see the module comment). */
export function prepared<DB, A extends object, Row>(build: (db: DB, args: A) => Compilable<Row>): (db: DB, args: A) => Compilable<Row> {
  let compiled: { sql: string; query: CompiledQuery<Row>['query']; keys: (keyof A)[] } | undefined;
  return (db, args) => ({
    compile(): CompiledQuery<Row> {
      if (!compiled) {
        const names = Object.keys(args) as (keyof A & string)[];
        const stand = Object.fromEntries(names.map((k) => [k, placeholder(k)])) as unknown as A;
        const first = build(db, stand).compile();
        const byPlaceholder = new Map(names.map((k) => [placeholder(k), k]));
        const keys = first.parameters.map((p, i) => {
          const key = typeof p === 'string' ? byPlaceholder.get(p) : undefined;
          if (key === undefined) throw new Error(`prepared query: parameter $${i + 1} is not one of its arguments as passed (${first.sql})`);
          return key;
        });
        compiled = { sql: first.sql, query: first.query, keys };
      }
      const { sql, query, keys } = compiled;
      return { sql, query, queryId: createQueryId(), parameters: keys.map((k) => args[k]) };
    },
  });
}
