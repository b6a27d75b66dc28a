/**
 * The Function App's production dependency closure, read from `package-lock.json`.
 *
 * The repository is an npm workspace (the root app plus `infra/` and `emulator/`), so
 * `node_modules` holds the Pulumi SDK, the Azure provider and the local stand-ins next to the app's
 * own packages. The deployment package must carry only what the app needs at run time: the
 * packages reachable from the root's `dependencies` by Node's resolution rules. Walking the
 * lockfile gives exactly that set without a second install and without the network.
 */

/** One entry of the lockfile's `packages` map (lockfileVersion 2 or 3). */
export interface LockPackage {
  name?: string;
  version?: string;
  link?: boolean;
  devDependencies?: Record<string, string>;
  resolved?: string;
  dev?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The parts of `package-lock.json` the walk reads. */
export interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockPackage>;
}

/** A dependency the lockfile does not resolve; the lockfile is out of date or damaged. */
export class UnresolvedDependencyError extends Error {
  override name = 'UnresolvedDependencyError';
  constructor(
    readonly dependency: string,
    readonly requiredBy: string,
  ) {
    super(`package-lock.json does not resolve "${dependency}" (required by "${requiredBy || 'the root package'}")`);
  }
}

/**
 * Lockfile paths (`node_modules/...`) of every package the root package needs at run time.
 * Workspace packages are never included: a workspace is not part of the app.
 */
export function productionClosure(lock: Lockfile): string[] {
  if (lock.lockfileVersion < 2) throw new Error('package-lock.json must be lockfileVersion 2 or later');
  const seen = new Set<string>();
  const queue: string[] = [];

  const visit = (from: string, name: string, optional: boolean): void => {
    const path = resolve(lock, from, name);
    if (path === undefined) {
      if (optional) return;
      throw new UnresolvedDependencyError(name, from);
    }
    const entry = lock.packages[path];
    if (entry?.link) return; // a workspace symlink (node_modules/runtime-platform-infra, node_modules/@runtime-platform/emulator)
    if (!seen.has(path)) {
      seen.add(path);
      queue.push(path);
    }
  };

  const root = lock.packages[''];
  if (!root) throw new Error('package-lock.json has no root package entry');
  for (const name of Object.keys(root.dependencies ?? {})) visit('', name, false);
  for (const name of Object.keys(root.optionalDependencies ?? {})) visit('', name, true);

  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    const entry = lock.packages[path] ?? {};
    for (const name of Object.keys(entry.dependencies ?? {})) visit(path, name, false);
    for (const name of Object.keys(entry.optionalDependencies ?? {})) visit(path, name, true);
    for (const name of Object.keys(entry.peerDependencies ?? {})) {
      // npm installs peers; a missing one is an error only when the peer is not optional.
      visit(path, name, entry.peerDependenciesMeta?.[name]?.optional === true);
    }
  }
  return [...seen].sort();
}

/** Node's lookup: `<from>/node_modules/<name>`, then each ancestor's `node_modules`, then the root's. */
function resolve(lock: Lockfile, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!base) return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

/** `name@version` of each path, for comparing two lockfiles' closures. */
export function describeClosure(lock: Lockfile, paths: readonly string[]): string[] {
  return paths
    .map((p) => `${p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${lock.packages[p]?.version ?? '?'}`)
    .sort();
}
