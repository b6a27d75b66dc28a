/**
 * Container registry: the CNCF distribution server 2.8 (Debian's `docker-registry` package), the
 * reference implementation of the OCI Distribution API that Azure Container Registry also speaks.
 * It is a native binary from the system's package manager, not an npm package: the stack and CI
 * install it where missing (`apt-get install -y docker-registry`) and start it on a loopback port
 * with a configuration of our own (filesystem storage in a temporary directory, no
 * authentication: it does not check who pulls or pushes; ACR's token exchange is not emulated).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A running registry. */
export interface RegistryServer {
  /** `127.0.0.1:<port>`, the registry part of an image reference. */
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Where the binary is, or `undefined` when it is not installed. */
export async function findRegistryBinary(): Promise<string | undefined> {
  const candidates = ['/usr/bin/docker-registry', ...(process.env.PATH ?? '').split(delimiter).flatMap((d) => [join(d, 'docker-registry'), join(d, 'registry')])];
  for (const c of candidates) {
    try {
      await access(c);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * The binary, installed with apt-get where it is missing and this process may (root, on a Debian
 * or Ubuntu system); `undefined` when it cannot be had. `log` says what happened.
 */
export async function ensureRegistryBinary(log: (line: string) => void): Promise<string | undefined> {
  const found = await findRegistryBinary();
  if (found || process.getuid?.() !== 0) return found;
  try {
    await access('/usr/bin/apt-get');
  } catch {
    return undefined;
  }
  log('Registry     installing docker-registry (apt-get install -y docker-registry) …');
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'docker-registry'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) log('Registry     apt-get could not install docker-registry');
  return findRegistryBinary();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Starts the registry (port 0: any free port); resolves once `GET /v2/` answers. */
export async function startRegistry(opts: { port?: number; binary?: string; startTimeoutInMs?: number } = {}): Promise<RegistryServer> {
  const binary = opts.binary ?? (await findRegistryBinary());
  if (!binary) throw new Error('docker-registry is not installed (apt-get install -y docker-registry)');
  const port = opts.port || (await freePort());
  const dir = await mkdtemp(join(tmpdir(), 'rp-registry-'));
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(binary, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr?.on('data', (d: Buffer) => void (output = (output + d.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.startTimeoutInMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited (${child.exitCode}): ${output}`);
    }
    try {
      const r = await fetch(`http://127.0.0.1:${port}/v2/`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start within the timeout: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host: `127.0.0.1:${port}`, port, stop };
}

/**
 * Pushes a small image through the OCI Distribution API (a config blob, one layer blob, a
 * manifest under `tag`); answers the manifest's digest, what the registry reports for the tag.
 */
export async function pushTestImage(registry: string, repository: string, tag: string, seed = 'layer'): Promise<string> {
  const { createHash } = await import('node:crypto');
  const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const base = `http://${registry}/v2/${repository}`;
  const pushBlob = async (bytes: Buffer) => {
    const start = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`blob upload start: ${start.status}`);
    const location = new URL(start.headers.get('location') ?? '', `http://${registry}`);
    location.searchParams.set('digest', sha(bytes));
    const put = await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
    return { digest: sha(bytes), size: bytes.length };
  };
  const config = await pushBlob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
  const layer = await pushBlob(Buffer.from(`${seed}\n`));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  const put = await fetch(`${base}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
  if (put.status !== 201) throw new Error(`manifest upload: ${put.status} ${await put.text()}`);
  return sha(manifest);
}
