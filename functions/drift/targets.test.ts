/** Which environments a sweep covers, when one tenant's database cannot be read (unit test; the other services are stand-ins given as plain objects). */
import { describe, expect, it } from 'vitest';
import { scanTargets } from './scan.js';
import type { ScanPorts } from './scan.js';

describe('scanTargets', () => {
  it("lists every active tenant's environments, and leaves out (logging) a tenant whose environments cannot be listed", async () => {
    const pooled = { model: 'pooled' } as const;
    const tenants = [
      { tenantId: 'a', placement: pooled, status: 'active' as const },
      { tenantId: 'down', placement: { model: 'siloed' as const, database: 'silo1' }, status: 'active' as const },
      { tenantId: 'paused', placement: pooled, status: 'suspended' as const },
      { tenantId: 'b', placement: pooled, status: 'active' as const },
    ];
    const logged: string[] = [];
    const deps = {
      tenants: {
        async *listTenants() {
          yield* tenants;
        },
      },
      environments: {
        async *listEnvironments(t: { tenantId: string }) {
          if (t.tenantId === 'down') throw new Error('The tenant database is not reachable.');
          yield { id: `env_${t.tenantId}1` };
          yield { id: `env_${t.tenantId}2` };
        },
      },
    };
    const p = { deps, log: (m: string) => void logged.push(m) } as unknown as Pick<ScanPorts, 'deps' | 'log'>;
    const targets = await scanTargets(p);
    expect(targets.map((x) => `${x.tenant.tenantId}/${x.environmentId}`)).toEqual(['a/env_a1', 'a/env_a2', 'b/env_b1', 'b/env_b2']);
    expect(logged).toEqual(['drift sweep targets: tenant down failed: The tenant database is not reachable.']);
    expect((await scanTargets(p, ['b'])).map((x) => x.environmentId)).toEqual(['env_b1', 'env_b2']);
  });
});
