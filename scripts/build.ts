/**
 * `npm run build`: bundles the composition root `main.ts` into `dist/main.js` (package.json
 * `main`) plus lazily loaded chunks, ESM for Node 20, with source maps. `@azure/functions` and
 * `durable-functions` always stay external: they must be the single instances the Functions worker
 * (or the local host's `@azure/functions-core` stand-in) hooks into. Which other packages stay in
 * node_modules is decided below (`lazyExternals`); the rest is bundled.
 *
 * Those two packages are CommonJS, and Node's ESM loader only sees the named exports its lexer can
 * find: `import { HttpResponse } from '@azure/functions'` fails at load time (4.16 exposes `app`
 * but not `HttpResponse` to ESM). The bundle therefore reaches them through `require` (same module
 * instance, every export visible), so named imports work in Azure as they do under vitest.
 */
import { build, type Metafile, type Plugin } from 'esbuild';
import { existsSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /** Entry module. Default: `main.ts` in the repository root. */
  entry?: string;
  /** Output file. Default: `dist/main.js` in the repository root. */
  outfile?: string;
}

/** What a build produced. */
export interface BuildAppResult {
  outfile: string;
  /** Size of the bundle in bytes (without the source map). */
  bytes: number;
  metafile: Metafile;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** CommonJS packages (and their modules, e.g. `durable-functions/lib/…`) the bundle reads through `require`. */
const requiredPackages = /^(@azure\/functions|durable-functions)(\/.*)?$/;

const requireInterop: Plugin = {
  name: 'require-interop',
  setup(b) {
    b.onResolve({ filter: requiredPackages }, (args) =>
      args.namespace === 'require-interop' ? { path: args.path, external: true } : { path: args.path, namespace: 'require-interop' },
    );
    b.onLoad({ filter: /.*/, namespace: 'require-interop' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/**
 * Packages left to node_modules: the Azure SDKs and Application Insights are large and imported
 * lazily (first use), so bundling them would only grow the chunks; `pg-native` is an optional
 * peer `pg` probes for. Everything else (zod, kysely, pg, jose, …) is bundled: one file to
 * compile is much faster to load than hundreds of package files.
 */
const lazyExternals: Plugin = {
  name: 'lazy-externals',
  setup(b) {
    // Runs after require-interop, which has already taken @azure/functions.
    b.onResolve({ filter: /^(@azure\/|applicationinsights$|pg-native$)/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * zod re-exports every message locale (`z.locales.*`, most of its size); the app speaks English
 * only, and the settings module loads zod at start-up, so only the English locale is bundled.
 */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: path.join(path.dirname(args.importer), args.path), namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

/** Bundles an app entry with esbuild. Throws when the entry is missing or does not compile. */
export async function buildApp(options: BuildAppOptions = {}): Promise<BuildAppResult> {
  const entry = path.resolve(root, options.entry ?? 'main.ts');
  const outfile = path.resolve(root, options.outfile ?? 'dist/main.js');
  if (!existsSync(entry)) throw new Error(`Entry point ${entry} does not exist`);
  rmSync(path.join(path.dirname(outfile), 'chunks'), { recursive: true, force: true });
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // Code behind a dynamic import (the kernel, handlers, the SQL layer) goes to chunks that load on
    // first use, so the cold import reads only what registration needs (docs/performance.md).
    splitting: true,
    outdir: path.dirname(outfile),
    entryNames: path.basename(outfile, '.js'),
    chunkNames: 'chunks/[name]-[hash]',
    minifySyntax: true,
    minifyWhitespace: true,
    plugins: [requireInterop, lazyExternals, zodEnglishOnly],
    // esbuild's require shim uses a `require` in scope; ESM has none, so make one.
    banner: { js: "import { createRequire as __rpCreateRequire } from 'node:module';\nconst require = __rpCreateRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
  });
  return { outfile, bytes: statSync(outfile).size, metafile: result.metafile };
}

function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} kB`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const started = Date.now();
  buildApp().then(
    ({ outfile, bytes, metafile }) => {
      const inputs = Object.keys(metafile.inputs).length;
      console.log(`${path.relative(process.cwd(), outfile)}  ${formatBytes(bytes)}  (${inputs} modules, ${Date.now() - started} ms)`);
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
