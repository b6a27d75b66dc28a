/**
 * The orchestration port (shared/orchestration.ts) through the real durable client against the
 * local host's Durable task hub: deterministic ids run once, 202 + Operation-Location, status
 * mapping, failures and retries.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../scripts/build.js';
import { startHost, type StartedHost } from '../emulator/host/index.js';

let host: StartedHost;
const out = join(process.cwd(), '.local', `orchestration-test-${process.pid}`);

beforeAll(async () => {
  const { outfile } = await buildApp({ entry: 'test/fixtures/orchestration-app/main.ts', outfile: join(out, 'main.js') });
  host = await startHost({ entry: outfile, port: 0, runTimers: false, onOutput: () => undefined, functionAppDirectory: process.cwd() });
}, 120_000);
afterAll(async () => {
  await host?.stop();
  await rm(out, { recursive: true, force: true });
});

async function until<T>(f: () => Promise<T>, ok: (t: T) => boolean): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await f();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out');
}

const start = (binding: string, fail = false) => fetch(`${host.url}/api/probe/${binding}/rotate${fail ? '?fail=1' : ''}`, { method: 'POST' });
const status = async (location: string) => (await fetch(`${host.url}${location}`)).json() as Promise<{ status: string; result?: unknown; error?: unknown }>;

describe('orchestration port', () => {
  it('answers 202 with Operation-Location, runs the orchestration to Succeeded, and runs a deterministic id once', async () => {
    const r = await start('db-password');
    expect(r.status).toBe(202);
    expect(r.headers.get('x-started')).toBe('true');
    const location = r.headers.get('operation-location')!;
    expect(location).toBe(`/api/probe/operations/${encodeURIComponent('rotate:probe:db-password')}`);
    const done = await until(() => status(location), (s) => s.status === 'Succeeded');
    expect(done.result).toBe('db-password@v-db-password');
    const again = await start('db-password');
    expect(again.status).toBe(202);
    expect(again.headers.get('x-started')).toBe('false');
    expect((await status(location)).status).toBe('Succeeded');
  });

  it('reports a failed run without leaking its error, and retries it on the next start', async () => {
    const r = await start('api-key', true);
    const location = r.headers.get('operation-location')!;
    const failed = await until(() => status(location), (s) => s.status === 'Failed');
    expect(failed.error).toEqual({ code: 'OperationFailed', message: 'The operation failed.' });
    expect(JSON.stringify(failed)).not.toContain('vault refused');
    const retry = await start('api-key');
    expect(retry.headers.get('x-started')).toBe('true');
    expect((await until(() => status(location), (s) => s.status === 'Succeeded')).result).toBe('api-key@v-api-key');
  });

  it('answers 404 for an unknown operation', async () => {
    expect((await fetch(`${host.url}/api/probe/operations/nope`)).status).toBe(404);
  });
});
