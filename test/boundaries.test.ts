/**
 * The lint configuration enforces the service boundaries: a service imports another service only
 * through its api.ts, and the kernel (shared/) never imports a service. Probe files are written
 * where a developer would write them, linted with the project's own ESLint configuration (in one
 * run: the type-checked configuration builds the TypeScript program once), and removed.
 */
import { ESLint } from 'eslint';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const probes = {
  internals: ['functions/catalog/lint-probe-internals.ts', "export { createEnvironment } from '../environments/service.js';\n"],
  api: ['functions/catalog/lint-probe-api.ts', "export type { EnvironmentsApi } from '../environments/api.js';\n"],
  nested: ['functions/catalog/migrations/lint-probe-nested.ts', "export { ENVIRONMENTS_SQL } from '../../environments/sql.js';\n"],
  kernel: ['shared/lint-probe-kernel.ts', "export type { TenantsApi } from '../functions/tenants/api.js';\n"],
} as const;

async function lintProbes(): Promise<Record<keyof typeof probes, string[]>> {
  const files = Object.values(probes).map(([path]) => join(process.cwd(), path));
  try {
    for (const [path, source] of Object.values(probes)) await writeFile(join(process.cwd(), path), source);
    const results = await new ESLint({ cwd: process.cwd() }).lintFiles(files);
    const messages = (path: string) =>
      (results.find((r) => r.filePath === join(process.cwd(), path))?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
    return Object.fromEntries(Object.entries(probes).map(([k, [path]]) => [k, messages(path)])) as Record<keyof typeof probes, string[]>;
  } finally {
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }
}

describe('service boundaries in the lint configuration', () => {
  it("refuses another service's internals and a service in the kernel, and allows an api.ts", async () => {
    const found = await lintProbes();
    const boundary = [expect.stringContaining('Reach another service only through its api.ts.')];
    expect(found.internals).toEqual(boundary);
    expect(found.nested).toEqual(boundary);
    expect(found.api).toEqual([]);
    expect(found.kernel).toEqual([expect.stringContaining('The kernel (shared/) never imports a service')]);
  }, 180_000);
});
