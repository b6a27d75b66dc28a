import { describe, expect, it } from 'vitest';
import { deleteInBatches, sweepTenants } from './tenant-sweep.js';

const source = (ids: string[]) => ({
  async *listTenants() {
    for (const tenantId of ids) yield { tenantId, placement: { model: 'pooled' } as const };
  },
});

describe('sweepTenants', () => {
  it('visits every tenant once, and a failing one neither stops the others nor goes unreported', async () => {
    const seen: string[] = [];
    const log: string[] = [];
    const r = await sweepTenants(source(['a', 'b', 'c']), { label: 'test sweep', log: (m) => log.push(m) }, async (t) => {
      seen.push(t.tenantId);
      if (t.tenantId === 'b') throw new Error('database on fire');
    });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(r).toEqual({ tenants: 3, failures: [{ tenantId: 'b', message: 'database on fire' }] });
    expect(log).toEqual(['test sweep: tenant b failed: database on fire']);
  });

  it('visits only the tenants named', async () => {
    const seen: string[] = [];
    const r = await sweepTenants(source(['a', 'b', 'c']), { label: 'x', tenantIds: ['c', 'a'] }, async (t) => void seen.push(t.tenantId));
    expect(seen).toEqual(['a', 'c']);
    expect(r.tenants).toBe(2);
  });
});

describe('deleteInBatches', () => {
  it('stops at the first short batch', async () => {
    const sizes = [3, 3, 1, 3];
    let calls = 0;
    expect(await deleteInBatches(async () => sizes[calls++]!, 3, 10)).toEqual({ deleted: 7, unfinished: false });
    expect(calls).toBe(3);
  });

  it('stops at the batch limit and says the work is unfinished', async () => {
    let calls = 0;
    expect(await deleteInBatches(async () => (calls++, 3), 3, 2)).toEqual({ deleted: 6, unfinished: true });
    expect(calls).toBe(2);
  });
});
