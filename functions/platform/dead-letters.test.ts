/**
 * The outbox's dead letters through the admin routes: listed across services and databases
 * (keyset pages, no event data), re-driven one at a time or a whole service at once, then
 * published. Events are dead-lettered by the real publisher with an in-process sink that fails on
 * purpose (the success path against a real queue, Azurite, is in test/e2e.test.ts).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';
import { services } from '../../composition/services.js';
import { loadDatabaseServices } from '../../composition/app.js';

import type { CloudEvent, EventSink } from '../../shared/events/outbox.js';
import { publishOutboxes } from './outbox.js';

const databaseServices = await loadDatabaseServices(services);

let t: TestApp;
let root: string;

const failing: EventSink = {
  send: async () => {
    throw Object.assign(new Error('The request body is too large and exceeds the maximum permissible limit.'), { name: 'RestError' });
  },
};
const sent: CloudEvent[] = [];
const working: EventSink = { send: async (e) => void sent.push(e) };

/** Dead letters as stored, by database and service (read as the owner). */
async function stored(): Promise<{ database: string; service: string; id: string; published: boolean; dead: boolean; attempts: number }[]> {
  const out = [];
  for (const { name, db, placement } of t.owner.all()) {
    for (const svc of databaseServices.filter((s) => placement.model === 'pooled' || !s.pooledOnly)) {
      const r = await sql<{ id: string; published: boolean; dead: boolean; attempts: number }>`
        select id, published_at is not null as published, dead_lettered_at is not null as dead, attempts
        from ${sql.table(`${svc.schema}.outbox`)} order by seq`.execute(db);
      out.push(...r.rows.map((x) => ({ database: name, service: svc.service, ...x })));
    }
  }
  return out;
}

async function listAll(query = ''): Promise<any[]> {
  const items: any[] = [];
  let next: string | undefined = `platform/outbox/dead-letters?maxpagesize=2${query}`;
  for (let pages = 0; next && pages < 100; pages++) {
    const r = await t.call('GET', next, { token: root });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.value.length).toBeLessThanOrEqual(2);
    items.push(...r.body.value);
    next = r.body.nextLink ? new URL(r.body.nextLink).pathname.replace(/^\/api\//, '') + new URL(r.body.nextLink).search : undefined;
  }
  return items;
}

beforeAll(async () => {
  t = await startTestApp({ silos: ['silo-a'] });
  root = await t.token('root', { admin: true });
  for (const [tenant, admin, extra] of [
    ['pooled-a', 'ann', {}],
    ['silo-one', 'sue', { isolation: { model: 'siloed', database: 'silo-a' } }],
  ] as const) {
    await t.seedTenant(tenant, admin, extra);
  }
  // Every event fails once and is dead-lettered at once (one attempt allowed).
  const s = await publishOutboxes(t.kernel, databaseServices, undefined, { sink: failing, policy: { maxAttempts: 1, sinkDownAfter: Number.POSITIVE_INFINITY } });
  expect(s.deadLettered).toBeGreaterThan(4);
  expect(s.failures).toEqual([]);
});
afterAll(() => t?.close());

describe('dead-lettered events', () => {
  it('are listed to a platform admin across services and databases, in keyset pages, without their data', async () => {
    const dead = (await stored()).filter((e) => e.dead);
    const items = await listAll();
    expect(items.map((i) => `${i.database}/${i.service}/${i.id}`)).toEqual(dead.map((e) => `${e.database}/${e.service}/${e.id}`));
    expect(new Set(items.map((i) => i.database))).toEqual(new Set(['pooled', 'silo-a']));
    for (const i of items) {
      expect(Object.keys(i).sort()).toEqual(['attempts', 'createdAt', 'database', 'deadLetteredAt', 'id', 'lastError', 'service', 'subject', 'tenantId', 'type'].sort());
      expect(i).toMatchObject({ attempts: 1, lastError: 'RestError: The request body is too large and exceeds the maximum permissible limit.' });
    }
    expect(items.some((i) => i.tenantId === 'silo-one' && i.database === 'silo-a' && i.type === 'EnvironmentCreated')).toBe(true);
  });

  it('are filtered by service and by database', async () => {
    const envs = await listAll('&service=environments');
    expect(envs.length).toBeGreaterThan(1);
    expect(new Set(envs.map((i) => i.service))).toEqual(new Set(['environments']));
    const silo = await listAll('&database=silo-a');
    expect(new Set(silo.map((i) => i.database))).toEqual(new Set(['silo-a']));
    expect(silo.map((i) => i.service)).not.toContain('tenants');
  });

  it('refuse an unknown service or database, a malformed skipToken, and everyone but a platform admin', async () => {
    expectApiError(await t.call('GET', 'platform/outbox/dead-letters?service=nosuch', { token: root }), 400, 'InvalidRequest');
    expectApiError(await t.call('GET', 'platform/outbox/dead-letters?database=nosuch', { token: root }), 400, 'InvalidRequest');
    expectApiError(await t.call('GET', 'platform/outbox/dead-letters?skipToken=abc', { token: root }), 400, 'InvalidRequest');
    const first = await t.call('GET', 'platform/outbox/dead-letters?maxpagesize=1&service=environments', { token: root });
    const token = new URL(first.body.nextLink).searchParams.get('skipToken')!;
    // A cursor of one list does not belong to another.
    expectApiError(await t.call('GET', `platform/outbox/dead-letters?service=catalog&skipToken=${token}`, { token: root }), 400, 'InvalidRequest');
    const ann = await t.token('ann');
    expectApiError(await t.call('GET', 'platform/outbox/dead-letters', { token: ann }), 403, 'Forbidden');
    expectApiError(await t.call('POST', 'platform/outbox/dead-letters/redrive', { token: ann, body: { service: 'catalog' } }), 403, 'Forbidden');
    expectApiError(await t.call('POST', 'platform/outbox/dead-letters/redrive', { body: { service: 'catalog' } }), 401, 'Unauthorized');
    expectApiError(await t.call('POST', 'platform/outbox/dead-letters/redrive', { token: root, body: { service: 'nosuch' } }), 400, 'InvalidRequest');
  });

  it('are re-driven one at a time or a whole service at once, and then published', async () => {
    const [one] = await listAll('&service=environments&database=silo-a');
    const r1 = await t.call('POST', 'platform/outbox/dead-letters/redrive', { token: root, body: { service: 'environments', database: 'silo-a', eventId: one.id } });
    expect(r1.status, JSON.stringify(r1.body)).toBe(200);
    expect(r1.body).toEqual({ redriven: 1, databases: [{ database: 'silo-a', redriven: 1 }] });
    expect((await listAll()).map((i) => i.id)).not.toContain(one.id);
    expect((await stored()).find((e) => e.id === one.id)).toMatchObject({ dead: false, published: false, attempts: 0 });
    // Again: it is no longer dead-lettered.
    expectApiError(
      await t.call('POST', 'platform/outbox/dead-letters/redrive', { token: root, body: { service: 'environments', eventId: one.id } }),
      404,
      'NotFound',
    );

    const catalogDead = (await stored()).filter((e) => e.service === 'catalog' && e.dead);
    expect(catalogDead.length).toBeGreaterThan(1);
    const all = await t.call('POST', 'platform/outbox/dead-letters/redrive', { token: root, body: { service: 'catalog' } });
    expect(all.body.redriven).toBe(catalogDead.length);
    expect(all.body.databases.map((d: { database: string }) => d.database)).toEqual(['pooled', 'silo-a']);

    const s = await publishOutboxes(t.kernel, databaseServices, undefined, { sink: working });
    expect(s.published).toBe(catalogDead.length + 1);
    expect(new Set(sent.map((e) => e.id))).toEqual(new Set([one.id, ...catalogDead.map((e) => e.id)]));
    const left = await listAll();
    expect(left.some((i) => i.service === 'catalog' || i.id === one.id)).toBe(false);
    expect(left.length).toBe((await stored()).filter((e) => e.dead).length);
  });
});
