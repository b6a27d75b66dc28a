/**
 * What the start-up chunk holds: dist/main.js and the modules it imports statically are all the
 * Functions worker loads before it indexes the functions. Registration must stay metadata only,
 * so durable-functions, the kernel (pg, Kysely) and the handlers load on first use, in lazy chunks.
 */
import { rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type BuildAppResult } from './build.js';

const out = join(process.cwd(), '.local', `build-test-${process.pid}`);
let built: BuildAppResult;

beforeAll(async () => {
  built = await buildApp({ outfile: join(out, 'main.js') });
}, 120_000);
afterAll(() => rm(out, { recursive: true, force: true }));

/** The outputs loaded at start-up: the entry and, transitively, its static imports. */
function startupClosure(): { files: string[]; externals: string[]; inputs: string[] } {
  const outputs = built.metafile.outputs;
  const entry = relative(process.cwd(), built.outfile);
  const files = new Set<string>();
  const externals = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const i of outputs[file]?.imports ?? []) {
      if (i.kind === 'dynamic-import') continue;
      if (i.external) externals.add(i.path);
      else queue.push(i.path);
    }
  }
  const inputs = [...files].flatMap((f) => Object.keys(outputs[f]?.inputs ?? {}));
  return { files: [...files], externals: [...externals], inputs };
}

describe('the start-up chunk', () => {
  it('holds no durable-functions, no kernel and no handler', () => {
    const { externals, inputs } = startupClosure();
    expect(externals.filter((e) => e.startsWith('durable-functions'))).toEqual([]);
    expect(inputs.filter((i) => /durable-functions|node_modules\/(pg|kysely)\/|shared\/kernel\.ts|handlers\.ts$|composition\/app\.ts/.test(i))).toEqual([]);
    // The registrations themselves are there.
    expect(inputs).toContain('composition/services.ts');
    // The app's start-up modules are all in the entry file: none is also imported by lazy code,
    // which would put it in a chunk of its own (one more file to load at every cold start).
    const own = (f: string) => Object.keys(built.metafile.outputs[f]?.inputs ?? {}).filter((i) => /^(main|shared|functions|composition)[./]/.test(i));
    const entry = relative(process.cwd(), built.outfile);
    expect(startupClosure().files.filter((f) => f !== entry).flatMap(own)).toEqual([]);
  });

  it('reaches durable-functions, as the single external module the worker shares, from a lazy chunk', () => {
    const all = Object.values(built.metafile.outputs).flatMap((o) => o.imports);
    expect(all.some((i) => i.external && i.path === 'durable-functions/lib/src/util/testingUtils.js')).toBe(true);
    expect(Object.keys(built.metafile.inputs).filter((i) => i.includes('node_modules/durable-functions'))).toEqual([]);
  });
});
