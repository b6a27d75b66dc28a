/**
 * The lint configuration enforces the service boundaries: a service imports another service only
 * through its api.ts, and the kernel (shared/) never imports a service. Probe files are written
 * where a developer would write them, linted with the project's own ESLint configuration, removed.
 */
import { ESLint } from 'eslint';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

async function lintProbe(path: string, source: string): Promise<string[]> {
  const file = join(process.cwd(), path);
  await writeFile(file, source);
  try {
    const [result] = await new ESLint({ cwd: process.cwd() }).lintFiles([file]);
    return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  } finally {
    await rm(file, { force: true });
  }
}

describe('service boundaries in the lint configuration', () => {
  it("refuses an import of another service's internals, and allows its api.ts", async () => {
    const bad = await lintProbe('functions/catalog/lint-probe.ts', "export { createEnvironment } from '../environments/service.js';\n");
    expect(bad).toEqual([expect.stringContaining('Reach another service only through its api.ts.')]);
    const good = await lintProbe('functions/catalog/lint-probe.ts', "export type { EnvironmentsApi } from '../environments/api.js';\n");
    expect(good).toEqual([]);
    const deep = await lintProbe('functions/catalog/migrations/lint-probe.ts', "export { ENVIRONMENTS_SQL } from '../../environments/sql.js';\n");
    expect(deep).toEqual([expect.stringContaining('Reach another service only through its api.ts.')]);
  }, 60_000);

  it('refuses a service import in the kernel', async () => {
    const bad = await lintProbe('shared/lint-probe.ts', "export type { TenantsApi } from '../functions/tenants/api.js';\n");
    expect(bad).toHaveLength(1);
  }, 60_000);
});
