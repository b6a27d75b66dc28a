/**
 * Deployments benchmarks, each against a baseline timed in the same run:
 *
 * 1. A 50 MiB step log uploaded through the whole handler pipeline (JWT, tenant access, header
 *    checks, the body streamed to Blob storage in staged blocks, the artifact and step rows)
 *    against a raw `BlockBlobClient.uploadData` of the same bytes to the same Azurite. Target: at
 *    least 0.8x the raw throughput, i.e. a time ratio of at most 1.25. Peak RSS is reported.
 * 2. One environment's 10,000 deployments listed page by page (100 a page, newest first) through
 *    the pipeline against raw `pg` keyset queries returning the same pages. Target: at most 2x.
 *
 * `npm run bench -- deployments`, or `npx tsx bench/deployments.ts` (PGlite by default;
 * BENCH_DATABASE_URL or TEST_DATABASE_URL for a PostgreSQL server).
 */
import azureFunctions from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { startAzurite } from '../emulator/azurite.js';
import { startTestApp } from '../test/app.js';
import { walk } from './inventory.js';
import { compare, report, type BenchResult } from './stats.js';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { HttpRequest, InvocationContext } = azureFunctions;
const TENANT = 'bench-dep';
const BASE = new Date('2025-06-01T00:00:00.000Z');
const MIB = 1024 * 1024;

/** The same pages as raw keyset queries. */
async function rawWalk(pool: pg.Pool, env: string, size: number): Promise<string[]> {
  const ids: string[] = [];
  let after: { id: string; created_at: Date } | undefined;
  for (;;) {
    const rows = (
      await pool.query<{ id: string; created_at: Date }>(
        `select * from deployments.deployments where tenant_id = $1 and environment_id = $2` +
          (after ? ` and (created_at, id) < ($3, $4)` : '') +
          ` order by created_at desc, id desc limit ${size + 1}`,
        after ? [TENANT, env, after.created_at, after.id] : [TENANT, env],
      )
    ).rows;
    const shown = rows.slice(0, size);
    ids.push(...shown.map((r) => r.id));
    if (rows.length <= size) return ids;
    after = shown.at(-1);
  }
}

/** Runs both benchmarks; `logMiB` and `deployments` shrink them (tests run them tiny). */
export async function benchDeployments(opts: { logMiB?: number; deployments?: number; iterations?: number; warmup?: number } = {}): Promise<BenchResult[]> {
  const { logMiB = 50, deployments = 10_000, iterations = 7, warmup = 1 } = opts;
  const azurite = await startAzurite({ blobPort: 0, queuePort: 0, tablePort: 0 });
  const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('deployment-artifacts');
  await container.createIfNotExists();
  const t = await startTestApp({ env: { STORAGE_CONNECTION_STRING: azurite.connectionString, TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  const results: BenchResult[] = [];
  try {
    await t.createTenant(TENANT, 'bench-admin', { quotas: { requestsPerMinute: 1_000_000, maxDeploymentsPerDay: 1_000_000 } });
    const token = await t.token('bench-admin');
    const env = await t.call('POST', `tenants/${TENANT}/environments`, { token, body: { name: 'main', kind: 'prod', region: 'westeurope' } });
    const svc = await t.call('POST', `tenants/${TENANT}/environments/${env.body.id}/services`, { token, body: { name: 'api', owner: 'team' } });
    const envId = env.body.id as string;
    const base = `tenants/${TENANT}/environments/${envId}/deployments`;
    const dep = await t.call('POST', base, { token, body: { serviceId: svc.body.id, image: `contoso.azurecr.io/api@sha256:${'a'.repeat(64)}` } });

    // 1. The log upload.
    const bytes = new Uint8Array(logMiB * MIB);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i % 251;
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    let n = 0;
    // The request as the Functions worker hands it over with HTTP streaming on: a native Request
    // whose body arrives in socket-sized chunks (views of the same bytes, nothing copied), given
    // to the registered handler directly: the test harness's own request copy is not timed.
    const route = t.app.routes.routes.find((r) => r.name === 'deploymentStepLogWrite')!;
    // Each run is a new step's log, as a deployment's steps each upload theirs (replacing one would
    // also time deleting the blob it replaces).
    let step = 0;
    const CHUNK = 64 * 1024;
    const upload = async () => {
      const name = `step-${step++}`;
      const url = `http://127.0.0.1:7071/api/${base}/${dep.body.id}/steps/${name}/log`;
      let off = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (off >= bytes.length) return controller.close();
          controller.enqueue(bytes.subarray(off, (off += CHUNK)));
        },
      });
      const init = {
        method: 'PUT',
        body,
        duplex: 'half' as const,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      };
      const nativeRequest = new Request(url, init);
      const request = new HttpRequest({ nativeRequest, params: { tenantId: TENANT, environmentId: envId, deploymentId: dep.body.id, step: name } } as never);
      const res = await route.handler(request, new InvocationContext({ functionName: route.name, invocationId: randomUUID() }));
      if (res.status !== 200) throw new Error(`upload: ${res.status} ${typeof res.body === 'string' ? res.body : ''}`);
    };
    try {
      results.push(
        await compare(
          `deployments: ${logMiB} MiB log through the handler vs raw BlockBlobClient (time ratio; target 1/0.8)`,
          1.25,
          () => container.getBlockBlobClient(`raw/${n++}`).uploadData(bytes),
          upload,
          { iterations, warmup },
        ),
      );
    } finally {
      clearInterval(sample);
    }
    const up = results[0]!;
    const mibs = (ms: number) => (logMiB / (ms / 1000)).toFixed(1);
    up.notes =
      `throughput ${mibs(up.medianMs)} MiB/s vs raw ${mibs(up.baselineMedianMs)} MiB/s = ${(up.baselineMedianMs / up.medianMs).toFixed(2)}x (target >= 0.8x); ` +
      `peak RSS ${(peak / MIB).toFixed(0)} MiB (${((peak - rssBefore) / MIB).toFixed(0)} MiB above the start of the upload runs; ` +
      `process maxRSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB)`;

    // 2. The history pages.
    const owner = t.owner.forPlacement({ model: 'pooled' });
    await sql`
      insert into deployments.deployments (tenant_id, id, environment_id, service_id, revision, kind, image, image_digest, status, created_by, created_at, updated_at)
      select ${TENANT}, 'dep_' || lpad(to_hex(g), 16, '0'), ${envId}, ${svc.body.id as string}, 1 + g, 'rollout',
             'contoso.azurecr.io/api@sha256:' || repeat('b', 64), 'sha256:' || repeat('b', 64),
             (array['succeeded', 'failed', 'cancelled'])[1 + g % 3], 'seed',
             ${BASE}::timestamptz + g * interval '1 second', ${BASE}::timestamptz + g * interval '1 second'
      from generate_series(1, ${deployments - 1}) g`.execute(owner);
    await sql`analyze deployments.deployments`.execute(owner);
    const pool = new pg.Pool({ connectionString: t.db.url, max: 4 });
    try {
      const path = `${base}?maxpagesize=100`;
      const viaApi = await walk(t, token, path);
      const viaSql = await rawWalk(pool, envId, 100);
      if (viaApi.length !== deployments || JSON.stringify(viaApi) !== JSON.stringify(viaSql)) throw new Error('history pages differ from the raw query');
      results.push(
        await compare(
          `deployments: one environment's ${deployments} deployments, ${Math.ceil(deployments / 100)} pages (${t.db.engine})`,
          2,
          () => rawWalk(pool, envId, 100),
          () => walk(t, token, path),
          { iterations, warmup },
        ),
      );
    } finally {
      await pool.end();
    }
    return results;
  } finally {
    await t.close();
    await azurite.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;
  process.exit(report(await benchDeployments()) ? 0 : 1);
}
