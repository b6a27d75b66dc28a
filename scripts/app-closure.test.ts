import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeClosure, productionClosure, UnresolvedDependencyError, type Lockfile } from './app-closure.js';
import { packageApp } from './package-app.js';

/** A workspace lockfile: the app needs `a` (which needs `b`, twice in two versions); infra needs Pulumi. */
const lock: Lockfile = {
  lockfileVersion: 3,
  packages: {
    '': { name: 'app', dependencies: { a: '^1' }, optionalDependencies: { fsevents: '*' }, devDependencies: { vitest: '4' } },
    infra: { name: 'infra', dependencies: { '@pulumi/pulumi': '3' } },
    'node_modules/infra': { link: true, resolved: 'infra' },
    'node_modules/a': { version: '1.0.0', dependencies: { b: '^2', '@scope/c': '1' } },
    'node_modules/a/node_modules/b': { version: '2.0.0', peerDependencies: { d: '1', e: '1' }, peerDependenciesMeta: { e: { optional: true } } },
    'node_modules/b': { version: '1.0.0', dev: true },
    'node_modules/@scope/c': { version: '1.0.0' },
    'node_modules/d': { version: '1.0.0' },
    'node_modules/@pulumi/pulumi': { version: '3.0.0', dependencies: { semver: '7' } },
    'node_modules/semver': { version: '7.0.0' },
    'node_modules/vitest': { version: '4.0.0', dev: true },
  },
};

describe('productionClosure', () => {
  it('follows Node resolution from the root dependencies only, nested copies first', () => {
    expect(productionClosure(lock)).toEqual(['node_modules/@scope/c', 'node_modules/a', 'node_modules/a/node_modules/b', 'node_modules/d']);
    expect(describeClosure(lock, productionClosure(lock))).toEqual(['@scope/c@1.0.0', 'a@1.0.0', 'b@2.0.0', 'd@1.0.0']);
  });

  it('fails on a required dependency the lockfile does not resolve', () => {
    const broken: Lockfile = { lockfileVersion: 3, packages: { '': { dependencies: { missing: '1' } } } };
    expect(() => productionClosure(broken)).toThrow(UnresolvedDependencyError);
  });

  it('on this repository: every app dependency, nothing of the infrastructure program', () => {
    const real = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package-lock.json'), 'utf8')) as Lockfile;
    const paths = productionClosure(real);
    const rootDeps = Object.keys(real.packages['']?.dependencies ?? {});
    for (const dep of rootDeps) expect(paths).toContain(`node_modules/${dep}`);
    expect(paths.filter((p) => p.includes('@pulumi/'))).toEqual([]);
    expect(paths.filter((p) => real.packages[p]?.dev)).toEqual([]);
  });
});

describe('packageApp', () => {
  const root = mkdtempSync(join(tmpdir(), 'package-app-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };

  it('zips dist, host.json, a trimmed package.json and the production node_modules only', () => {
    write('dist/main.js', 'export {};\n');
    write('host.json', '{"version":"2.0"}\n');
    write(
      'package.json',
      JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', main: 'dist/main.js', workspaces: ['infra'], scripts: { x: 'y' }, dependencies: { a: '^1' }, devDependencies: { vitest: '4' } }),
    );
    write('package-lock.json', JSON.stringify(lock));
    for (const p of Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/') && !lock.packages[k]?.link)) {
      write(`${p}/package.json`, JSON.stringify({ name: p.split('node_modules/').pop(), version: lock.packages[p]?.version }));
    }
    write('infra/index.ts', '');

    const r = packageApp(root);
    const listing = execFileSync('unzip', ['-Z1', r.zipPath], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(listing.filter((f) => !f.endsWith('/'))).toEqual([
      'dist/main.js',
      'host.json',
      'node_modules/@scope/c/package.json',
      'node_modules/a/node_modules/b/package.json',
      'node_modules/a/package.json',
      'node_modules/d/package.json',
      'package.json',
    ]);
    const pkg = JSON.parse(readFileSync(join(r.stageDir, 'package.json'), 'utf8'));
    expect(pkg).toEqual({ name: 'app', version: '1.0.0', private: true, type: 'module', main: 'dist/main.js', dependencies: { a: '^1' } });
    expect(r.packages).toBe(4);
  });
});
