/**
 * `npm run package`: the Function App's deployment package, `.package/app.zip`, holding `dist/`,
 * `host.json`, a trimmed `package.json` and the app's production `node_modules` only.
 *
 * The repository is an npm workspace, so `node_modules` also holds the infrastructure program's
 * Pulumi SDK and Azure provider (~180 MB) and the local emulator's stand-ins (Azurite, PGlite, the
 * Cosmos DB server). The production closure is read from the lockfile (see app-closure.ts) and
 * copied package by package, so nothing of `infra/` or `emulator/` reaches the zip, and no second
 * install (or network) is needed. Run `npm run build` first.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { productionClosure, type Lockfile } from './app-closure.js';

/** Packages that must never be in the app's package (they belong to `infra/` or `emulator/`). */
const FORBIDDEN = [
  /^node_modules\/@pulumi\//,
  /(^|\/)node_modules\/runtime-platform-infra$/,
  /(^|\/)node_modules\/@runtime-platform\/emulator$/,
  /(^|\/)node_modules\/(azurite|selfsigned|@vercel\/cosmosdb-server|@electric-sql\/pglite(-socket)?)$/,
];

/** What `packageApp` produced. */
export interface PackageResult {
  zipPath: string;
  stageDir: string;
  packages: number;
  zipBytes: number;
}

/** Stages and zips the app found at `root`. */
export function packageApp(root: string, outDir = join(root, '.package')): PackageResult {
  for (const required of ['dist', 'host.json', 'package.json', 'package-lock.json']) {
    if (!existsSync(join(root, required))) throw new Error(`${required} is missing: run \`npm ci && npm run build\` first`);
  }
  const stageDir = join(outDir, 'app');
  const zipPath = join(outDir, 'app.zip');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(stageDir, { recursive: true });

  cpSync(join(root, 'dist'), join(stageDir, 'dist'), { recursive: true });
  cpSync(join(root, 'host.json'), join(stageDir, 'host.json'));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const trimmed = {
    name: pkg['name'],
    version: pkg['version'],
    private: true,
    type: pkg['type'],
    main: pkg['main'],
    engines: pkg['engines'],
    dependencies: pkg['dependencies'],
  };
  writeFileSync(join(stageDir, 'package.json'), `${JSON.stringify(trimmed, null, 2)}\n`);

  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
  const paths = productionClosure(lock);
  const forbidden = paths.filter((p) => FORBIDDEN.some((f) => f.test(p)));
  if (forbidden.length > 0) throw new Error(`the app's dependency closure reaches infrastructure or emulator packages: ${forbidden.join(', ')}`);
  for (const p of paths) {
    const from = join(root, p);
    if (!existsSync(from)) throw new Error(`${p} is in package-lock.json but not installed: run \`npm ci\``);
    // Nested node_modules are copied as closure entries of their own (a package's nested folder
    // may also hold dev-only packages).
    const nested = `${resolve(from)}${sep}node_modules`;
    cpSync(from, join(stageDir, p), {
      recursive: true,
      filter: (src) => resolve(src) !== nested && !resolve(src).startsWith(`${nested}${sep}`),
    });
  }

  execFileSync('zip', ['-q', '-r', '-X', zipPath, '.'], { cwd: stageDir, stdio: 'inherit' });
  return { zipPath, stageDir, packages: paths.length, zipBytes: statSync(zipPath).size };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const r = packageApp(process.cwd());
    console.log(`${r.zipPath}: ${r.packages} packages, ${(r.zipBytes / 1024 / 1024).toFixed(1)} MiB`);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
