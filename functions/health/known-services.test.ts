import { describe, expect, it } from 'vitest';
import { KnownServices } from './known-services.js';

const A = { tenantId: 'a', placement: { model: 'pooled' } as const };
const B = { tenantId: 'b', placement: { model: 'pooled' } as const };

describe('KnownServices', () => {
  it('asks the catalog only for ids it does not know, per tenant, and again once an entry is 10 minutes old', async () => {
    const catalog: Record<string, Record<string, string>> = { a: { s1: 'env1', s2: 'env2' }, b: { s1: 'env9' } };
    const asked: string[][] = [];
    let now = 0;
    const known = new KnownServices(
      async (tenant, ids) => {
        asked.push([tenant.tenantId, ...ids]);
        return new Map(ids.filter((id) => catalog[tenant.tenantId]?.[id]).map((id) => [id, { environmentId: catalog[tenant.tenantId]![id]! }]));
      },
      () => now,
    );
    expect(await known.inEnvironment(A, 'env1', ['s1', 's2', 'nope'])).toEqual(new Set(['s1']));
    expect(await known.inEnvironment(A, 'env2', ['s1', 's2'])).toEqual(new Set(['s2']));
    // An unknown id is asked every time: a service registered since is never refused.
    catalog.a!.nope = 'env1';
    expect(await known.inEnvironment(A, 'env1', ['s1', 'nope'])).toEqual(new Set(['s1', 'nope']));
    // Another tenant's same id is its own entry.
    expect(await known.inEnvironment(B, 'env1', ['s1'])).toEqual(new Set());
    expect(asked).toEqual([['a', 's1', 's2', 'nope'], ['a', 'nope'], ['b', 's1']]);
    now += 10 * 60_000 + 1;
    await known.inEnvironment(A, 'env1', ['s1']);
    expect(asked.at(-1)).toEqual(['a', 's1']);
  });
});
