/**
 * Memberships under concurrency. The requests of each case are sent at once: on a PostgreSQL
 * server (TEST_DATABASE_URL) they run in parallel transactions on separate connections, so these
 * tests are what shows that If-Match and the last-admin rule hold when writers race; on PGlite
 * (one session) the same requests run one after another and must give the same answers.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/app.js';

let t: TestApp;
let root: string;
const PAIRS = 12;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

beforeAll(async () => {
  t = await startTestApp();
  root = await t.token('platform-admin', { admin: true });
});
afterAll(() => t?.close());

/** Admins of each tenant, read as the owner (past row-level security). */
async function adminsOf(tenants: string[]): Promise<Record<string, string[]>> {
  const rows = await sql<{ tenant_id: string; principal_id: string }>`
    select tenant_id, principal_id from tenants.members where role = 'admin' order by 1, 2`.execute(t.owner.forPlacement({ model: 'pooled' }));
  return Object.fromEntries(tenants.map((id) => [id, rows.rows.filter((r) => r.tenant_id === id).map((r) => r.principal_id)]));
}

describe('memberships under concurrency', () => {
  it('keeps an admin when two admins remove each other at the same time', async () => {
    const ids = range(PAIRS).map((i) => `mutual-${i}`);
    for (const i of range(PAIRS)) {
      await t.createTenant(ids[i]!, `a${i}`);
      await t.addMember(ids[i]!, `b${i}`, 'admin');
    }
    const tokens = await Promise.all(range(PAIRS).map(async (i) => [await t.token(`a${i}`), await t.token(`b${i}`)] as const));
    const results = await Promise.all(
      range(PAIRS).map((i) =>
        Promise.all([
          t.call('DELETE', `tenants/${ids[i]}/members/b${i}`, { token: tokens[i]![0] }),
          t.call('DELETE', `tenants/${ids[i]}/members/a${i}`, { token: tokens[i]![1] }),
        ]),
      ),
    );
    const admins = await adminsOf(ids);
    for (const i of range(PAIRS)) {
      const [ab, ba] = results[i]!;
      // One removal wins; the other caller is no longer a member of the tenant when its turn comes.
      expect([ab.status, ba.status].sort(), `${ids[i]}: ${JSON.stringify([ab.body, ba.body])}`).toEqual([204, 404]);
      expect(admins[ids[i]!], ids[i]).toEqual([ab.status === 204 ? `a${i}` : `b${i}`]);
    }
  });

  it('keeps an admin when two admins demote each other at the same time', async () => {
    const ids = range(PAIRS).map((i) => `demote-${i}`);
    for (const i of range(PAIRS)) {
      await t.createTenant(ids[i]!, `c${i}`);
      await t.addMember(ids[i]!, `d${i}`, 'admin');
    }
    const tokens = await Promise.all(range(PAIRS).map(async (i) => [await t.token(`c${i}`), await t.token(`d${i}`)] as const));
    const results = await Promise.all(
      range(PAIRS).map((i) =>
        Promise.all([
          t.call('PUT', `tenants/${ids[i]}/members/d${i}`, { token: tokens[i]![0], body: { role: 'reader' } }),
          t.call('PUT', `tenants/${ids[i]}/members/c${i}`, { token: tokens[i]![1], body: { role: 'reader' } }),
        ]),
      ),
    );
    const admins = await adminsOf(ids);
    for (const i of range(PAIRS)) {
      const [cd, dc] = results[i]!;
      // One demotion wins; the other caller is a reader by then, too weak to change roles.
      expect([cd.status, dc.status].sort(), `${ids[i]}: ${JSON.stringify([cd.body, dc.body])}`).toEqual([200, 403]);
      expect(admins[ids[i]!], ids[i]).toEqual([cd.status === 200 ? `c${i}` : `d${i}`]);
    }
  });

  it('lets exactly one of two writers holding the same ETag change a member', async () => {
    await t.createTenant('etags', 'owner');
    const members = range(PAIRS).map((i) => `m${i}`);
    const etags: string[] = [];
    for (const m of members) {
      const r = await t.call('PUT', `tenants/etags/members/${m}`, { token: root, body: { role: 'reader' } });
      expect(r.status).toBe(201);
      etags.push(r.headers.get('etag')!);
    }
    const owner = await t.token('owner');
    const results = await Promise.all(
      members.map((m, i) =>
        Promise.all([
          t.call('PUT', `tenants/etags/members/${m}`, { token: owner, body: { role: 'operator' }, headers: { 'if-match': etags[i]! } }),
          t.call('PUT', `tenants/etags/members/${m}`, { token: owner, body: { role: 'admin' }, headers: { 'if-match': etags[i]! } }),
        ]),
      ),
    );
    const list = await t.call('GET', 'tenants/etags/members?maxpagesize=100', { token: owner });
    const roles = new Map<string, string>(list.body.value.map((m: { principalId: string; role: string }) => [m.principalId, m.role]));
    for (const [i, m] of members.entries()) {
      const [op, ad] = results[i]!;
      expect([op.status, ad.status].sort(), `${m}: ${JSON.stringify([op.body, ad.body])}`).toEqual([200, 412]);
      const loser = op.status === 412 ? op : ad;
      expect(loser.body.error.code).toBe('PreconditionFailed');
      // The stored role is the winner's.
      expect(roles.get(m), m).toBe(op.status === 200 ? 'operator' : 'admin');
    }
  });

  it('lets exactly one of two removals holding the same ETag succeed, and the other answer 412', async () => {
    await t.createTenant('etag-del', 'keeper');
    const keeper = await t.token('keeper');
    const etags: string[] = [];
    for (const i of range(PAIRS)) {
      const r = await t.call('PUT', `tenants/etag-del/members/r${i}`, { token: keeper, body: { role: 'reader' } });
      etags.push(r.headers.get('etag')!);
    }
    const results = await Promise.all(
      range(PAIRS).map((i) =>
        Promise.all([
          t.call('DELETE', `tenants/etag-del/members/r${i}`, { token: keeper, headers: { 'if-match': etags[i]! } }),
          t.call('PUT', `tenants/etag-del/members/r${i}`, { token: keeper, body: { role: 'operator' }, headers: { 'if-match': etags[i]! } }),
        ]),
      ),
    );
    for (const i of range(PAIRS)) {
      const [del, put] = results[i]!;
      const statuses = [del.status, put.status];
      // Either the removal won (the change then finds no member: 412), or the change won (the
      // removal's ETag is stale: 412). Never both.
      expect(statuses.filter((s) => s === 412), `r${i}: ${JSON.stringify(statuses)}`).toHaveLength(1);
      expect([204, 200]).toContain(statuses.find((s) => s !== 412));
    }
  });
});
