/**
 * The app's Azure SDK clients, built from settings, against the local stand-ins with TLS verified
 * (the stand-ins' certificate is trusted only through NODE_EXTRA_CA_CERTS, as for the app).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageMap, DRIFT_SNAPSHOT_TTL_SECONDS } from '../shared/storage-map.js';
import { startStack, type Stack } from '../emulator/stack.js';

let stack: Stack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rp-clients-'));
  stack = await startStack({
    stateDir: dir,
    persistent: false,
    ports: { postgres: 0, blob: 0, queue: 0, table: 0, cosmos: 0, keyVault: 0 },
    localSettingsFile: false,
    log: () => undefined,
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Azure clients', () => {
  it('reach Blob, Cosmos DB and Key Vault stand-ins with the real SDKs, built once from settings', async () => {
    const env = { ...process.env, ...stack.env };
    delete env.NODE_TLS_REJECT_UNAUTHORIZED;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/clients-probe.ts'], { env, timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(out.blob).toEqual({ text: 'step 1 ok\n', tier: 'Cool' });
    expect(out.cosmos).toEqual({ defaultTtl: DRIFT_SNAPSHOT_TTL_SECONDS, partitionKey: [storageMap.driftSnapshots.partitionKey], items: ['snap-1'] });
    expect(out.secrets).toEqual({ sameVersion: true, valueMatches: true });
    expect(out.once).toBe(true);
    expect(stdout).not.toContain('not-printed');
  });
});
