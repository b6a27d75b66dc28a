/**
 * Configuration benchmarks (storage map row "Runtime configuration": versioned writes, read on
 * sync), each through the whole handler pipeline (JWT, tenant access, validation, the service's
 * rules, response shaping) against the raw SQL it needs, as `pg` queries on the same database:
 *
 * 1. The sync read: an agent polls `GET …/configuration?consumer=…` with `If-None-Match` holding
 *    the latest ETag and gets 304 — the hottest path of the service. Baseline: the one statement it
 *    needs (the head's and the consumer's primary keys). Target: median at most 2x.
 * 2. A new version of 500 settings (`PUT` with `If-Match`): parsing, the secret scan, the catalog's
 *    check that the service is live, the locked head, the version with its references, the outbox
 *    event. Baseline: a raw insert of the same document (serialized from the object, as any insert
 *    of a version must: the route serializes what it parsed). Target: under 2x.
 *
 * `npm run bench -- configuration` (PGlite by default; BENCH_DATABASE_URL or TEST_DATABASE_URL for
 * a PostgreSQL server).
 */
import pg from 'pg';
import { startTestApp } from '../test/app.js';
import { compare, type BenchResult } from './stats.js';

/** A settings document of `n` leaf settings, nested like a real service's, none of them secret. */
export function settingsDocument(n: number, revision: number): Record<string, unknown> {
  const doc: Record<string, Record<string, unknown>> = {};
  for (let i = 0; i < n; i++) {
    const group = `group${i % 25}`;
    const g = (doc[group] ??= {});
    const kind = i % 5;
    g[kind === 0 ? `cacheKey${i}` : kind === 1 ? `timeoutMs${i}` : kind === 2 ? `feature.flag${i}` : kind === 3 ? `endpoint${i}` : `tokenLifetime${i}`] =
      kind === 0 ? `orders:by-customer:${i}` : kind === 1 ? 1000 + i : kind === 2 ? i % 2 === 0 : kind === 3 ? `https://svc-${i}.internal:8443/api` : '3600';
  }
  doc.meta = { revision };
  return doc;
}

export async function benchConfiguration(opts: { iterations?: number; warmup?: number; writes?: number } = {}): Promise<BenchResult[]> {
  const t = await startTestApp({ env: { TENANT_CACHE_TTL_MS: '5000' }, contract: false });
  try {
    const seed = await t.seedTenant('bench-cfg', 'ops', { quotas: { requestsPerMinute: 1_000_000 } });
    const token = seed.token;
    const path = `tenants/bench-cfg/environments/${seed.environmentId}/services/${seed.serviceId}/configuration`;
    const pool = new pg.Pool({ connectionString: t.db.url, max: 4 });
    try {
      // 1. The sync read.
      const first = await t.call('PUT', path, { token, body: { settings: settingsDocument(50, 0) } });
      if (first.status !== 201) throw new Error(`seed configuration: ${first.status} ${JSON.stringify(first.body)}`);
      const etag = first.headers.get('etag')!;
      const poll = `${path}?consumer=bench-agent`;
      if ((await t.call('GET', poll, { token })).status !== 200) throw new Error('first sync');
      const syncArgs = ['bench-cfg', seed.environmentId, seed.serviceId, 'bench-agent'];
      const syncSql = `select h.latest_version, h.latest_etag, c.version as synced_version, c.last_seen_at
        from configuration.configurations h
        left join configuration.configuration_consumers c
          on c.tenant_id = h.tenant_id and c.environment_id = h.environment_id and c.service_id = h.service_id and c.consumer = $4
        where h.tenant_id = $1 and h.environment_id = $2 and h.service_id = $3 and h.latest_version > 0`;
      const sync = await compare(
        `configuration sync read (If-None-Match → 304) through the pipeline vs its raw SQL (${t.db.engine})`,
        2,
        async () => {
          const r = await pool.query(syncSql, syncArgs);
          if (r.rows[0]?.latest_etag !== etag.slice(1, -1)) throw new Error('unexpected sync row');
        },
        async () => {
          const r = await t.call('GET', poll, { token, headers: { 'if-none-match': etag } });
          if (r.status !== 304) throw new Error(`unexpected ${r.status}`);
        },
        { iterations: opts.iterations ?? 2000, warmup: opts.warmup ?? 200 },
      );

      // 2. A new version of 500 settings. The raw baseline inserts the same documents under a
      // configuration of its own (a head row made first, as the foreign key needs).
      const rawKey = ['bench-cfg', seed.environmentId, 'svc_00000000000000aa'];
      await pool.query(
        `insert into configuration.configurations (tenant_id, environment_id, service_id, latest_version, created_at, updated_at) values ($1, $2, $3, 0, now(), now())`,
        rawKey,
      );
      let revision = 0;
      let rawVersion = 0;
      let latestTag = etag;
      // Each revision's document is made once, outside the timings: as an object (what the raw
      // insert starts from: any insert of a version serializes the document it stores) and as the
      // request text a client sends (serialized on the client's side, not the server's).
      const documents = new Map<number, { doc: Record<string, unknown>; text: string }>();
      const document = (rev: number) => {
        let d = documents.get(rev);
        if (!d) {
          const doc = settingsDocument(500, rev);
          documents.set(rev, (d = { doc, text: JSON.stringify(doc) }));
        }
        return d;
      };
      const write = await compare(
        `configuration: a new version of 500 settings (secret scan included) through the pipeline vs a raw insert (${t.db.engine})`,
        2,
        async () => {
          rawVersion++;
          await pool.query(
            `insert into configuration.configuration_versions (tenant_id, environment_id, service_id, version, settings, setting_count, published_at, published_by)
             values ($1, $2, $3, $4, $5::jsonb, 500, now(), 'ops')`,
            [...rawKey, rawVersion, JSON.stringify(document(rawVersion).doc)],
          );
        },
        async () => {
          revision++;
          const r = await t.call('PUT', path, { token, rawBody: `{"settings":${document(revision).text}}`, headers: { 'if-match': latestTag } });
          if (r.status !== 200) throw new Error(`unexpected ${r.status} ${JSON.stringify(r.body)}`);
          latestTag = r.headers.get('etag')!;
        },
        { iterations: opts.writes ?? 300, warmup: Math.min(30, opts.warmup ?? 30) },
      );
      return [sync, write];
    } finally {
      await pool.end();
    }
  } finally {
    await t.close();
  }
}
