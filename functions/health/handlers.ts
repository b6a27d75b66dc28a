/** HTTP handlers of the health service: validate (schemas), call the service, shape the response. */
import { KnownServices } from './known-services.js';
import { apiError, notFound, quotaExceeded, invalid } from '../../shared/errors.js';
import { z } from '../../shared/http/openapi.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { isStorableInstant } from '../../shared/http/keyset.js';
import { route, type TenantAccess } from '../../shared/http/route.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import type { Telemetry } from '../../shared/telemetry.js';
import type { TenantRateLimiter } from '../../shared/http/rate-limit.js';
import { environmentRetired } from '../environments/api.js';
import type { HealthNeeds } from './api.js';
import { reportResults } from './availability.js';
import * as schemas from './schemas.js';
import { batchHash, checkKnownServices, checkWindow, ingestBatch, toResultDto, toServiceHealthDto, toTransitionDto, type KnownPartitions } from './service.js';
import { HEALTH_SQL } from './sql.js';
import * as store from './store.js';
import type { HealthDb } from './store.js';
import type { Compilable, Kysely } from 'kysely';

/** What the health handlers use. */
export interface HealthHandlerDeps {
  now: () => Date;
  telemetry: Telemetry;
  limiter: Pick<TenantRateLimiter, 'take'>;
  partitions: KnownPartitions;
  environments: HealthNeeds['environments'];
  catalog: Pick<HealthNeeds['catalog'], 'requireService' | 'getServices'>;
}

/** The tenant quota this service enforces on ingest (declared in index.ts). */
export const RESULTS_QUOTA = 'healthResultsPerMinute';

const TAGS = ['health'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });

const ServiceCursor = z.object({ s: z.string().max(64) });
const TimeCursor = z.object({ t: z.string().max(64), b: schemas.BatchId, o: z.number().int().min(0).max(schemas.MAX_BATCH_RESULTS) });
const badCursor = () => invalid('The skipToken is malformed or does not belong to this list.', 'skipToken');

function timeCursor(token: string | undefined): store.TimePosition | undefined {
  const c = decodeCursor(token, TimeCursor);
  if (!c) return undefined;
  const ms = Date.parse(c.t);
  if (!isStorableInstant(ms) || new Date(ms).toISOString() !== c.t) throw badCursor();
  return { at: new Date(ms), batchId: c.b, ord: c.o };
}

function timeRange(q: { from?: string | undefined; to?: string | undefined }): store.TimeRange {
  const from = q.from !== undefined ? new Date(q.from) : undefined;
  const to = q.to !== undefined ? new Date(q.to) : undefined;
  if (from && to && from.getTime() >= to.getTime()) throw invalid('from must be earlier than to.', 'from');
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function healthHandlers({ now, telemetry, limiter, partitions, environments, catalog }: HealthHandlerDeps) {
  const services = new KnownServices((tenant, ids) => catalog.getServices(tenant, ids));
  /** An empty page is a 404 when the service is not one of the environment's (asked of the catalog). */
  const requireService = (tenant: TenantRef, environmentId: string, serviceId: string) => catalog.requireService(tenant, environmentId, serviceId);

  const append = route({
    summary: 'Append a batch of health results (idempotent per batchId; counts against the tenant quota healthResultsPerMinute)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.EnvironmentParams,
    body: { schema: schemas.AppendHealthResults, example: schemas.APPEND_EXAMPLE },
    idempotent: HEALTH_SQL,
    // Other services are asked here, before (never inside) this service's transaction.
    prepare: async (ctx) => {
      const { environmentId } = ctx.params;
      const tenant = tenantOf(ctx);
      const { results } = ctx.body;
      // Both owners at once, each in its own read.
      const [env, mine] = await Promise.all([
        environments.getEnvironment(tenant, environmentId),
        services.inEnvironment(tenant, environmentId, [...new Set(results.map((r) => r.serviceId))]),
      ]);
      if (!env) throw notFound(`Environment '${environmentId}'`, 'environmentId');
      if (env.status === 'retired') throw environmentRetired(environmentId);
      checkWindow(results, now());
      checkKnownServices(results, mine, environmentId);
      const perMinute = ctx.tenant.quotas[RESULTS_QUOTA] ?? 0;
      if (results.length > perMinute) {
        throw quotaExceeded(`The batch holds ${results.length} results; the tenant may send ${perMinute} per minute. Send smaller batches.`, RESULTS_QUOTA);
      }
      const wait = ctx.principal.isPlatformAdmin ? 0 : limiter.take(`${tenant.tenantId}`, perMinute, results.length);
      if (wait > 0) {
        throw apiError('TooManyRequests', `The tenant's quota ${RESULTS_QUOTA} is exhausted; retry later.`, { headers: { 'Retry-After': String(wait) } });
      }
    },
    responses: {
      200: { description: 'Stored; or, with replayed: true, this batchId was accepted before and nothing was inserted', schema: schemas.BatchAccepted },
      400: { description: 'Invalid results, unknown service ids (named), or results outside the accepted time window' },
      409: { description: 'The batchId was used for other results (Conflict), the batch exceeds the quota (QuotaExceeded), or the environment is retired (EnvironmentRetired)' },
      429: { description: 'The tenant quota healthResultsPerMinute (or requestsPerMinute) is exhausted' },
    },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const { batchId, results } = ctx.body;
      const tenantId = ctx.tenant.tenantId;
      const hash = batchHash(environmentId, results);
      const days = partitions.forDatabase(ctx.tenant.placement);
      const out = await ctx.tx(HEALTH_SQL, (trx) => ingestBatch(trx, { tenantId, environmentId, batchId, results, hash, now: now(), days }));
      reportResults(telemetry, out.rows);
      return { status: 200, body: { batchId, accepted: out.accepted, replayed: out.replayed } };
    },
  });

  const latestList = route({
    summary: "Latest health of every service of an environment that has reported (by service id; keyset-paginated)",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EnvironmentParams,
    query: schemas.LatestQuery,
    paged: true,
    responses: { 200: { description: "A page of the environment's services' latest health", schema: schemas.ServiceHealthList } },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const after = decodeCursor(ctx.query.skipToken, ServiceCursor)?.s;
      const rows = await ctx.read(HEALTH_SQL, (db) =>
        store.selectLatestOfEnvironment(db, ctx.tenant.tenantId, environmentId, {
          ...(ctx.query.status ? { status: ctx.query.status } : {}),
          ...(after !== undefined ? { after } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      if (rows.length === 0 && !(await environments.getEnvironment(tenantOf(ctx), environmentId))) throw notFound(`Environment '${environmentId}'`, 'environmentId');
      return { status: 200, body: ctx.page(rows, (r) => ({ s: r.service_id }), toServiceHealthDto) };
    },
  });

  const latest = route({
    summary: 'Latest health of one service: its newest result and since when it has had that status',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    responses: { 200: { description: "The service's latest health", schema: schemas.ServiceHealth } },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const [row] = await ctx.read(HEALTH_SQL, (db) => store.selectLatest(db, ctx.tenant.tenantId, serviceId));
      if (!row || row.environment_id !== environmentId) throw notFound(`Health of service '${serviceId}'`, 'serviceId');
      return { status: 200, body: toServiceHealthDto(row) };
    },
  });

  /**
   * A newest-first, time-ranged list of one service's rows (its results, or its transitions): the
   * two differ only in what they select and how a row is shown.
   */
  const timeList = <Row extends { batch_id: string; ord: number }, Dto>(spec: {
    summary: string;
    description: string;
    schema: z.ZodType;
    select: (db: Kysely<HealthDb>, q: { tenantId: string; environmentId: string; serviceId: string; range: store.TimeRange; after: store.TimePosition | undefined; limit: number }) => Compilable<Row>;
    at: (row: Row) => Date;
    dto: (row: Row) => Dto;
  }) =>
    route({
      summary: spec.summary,
      tags: TAGS,
      access: { tenantRole: 'reader' },
      params: schemas.ServiceParams,
      query: schemas.RangeQuery,
      paged: true,
      responses: { 200: { description: spec.description, schema: spec.schema } },
      handler: async (ctx) => {
        const { environmentId, serviceId } = ctx.params;
        const range = timeRange(ctx.query);
        const after = timeCursor(ctx.query.skipToken);
        const tenantId = ctx.tenant.tenantId;
        const rows = await ctx.read(HEALTH_SQL, (db) => spec.select(db, { tenantId, environmentId, serviceId, range, after, limit: ctx.pageSize + 1 }));
        if (rows.length === 0 && !after) await requireService(tenantOf(ctx), environmentId, serviceId);
        return { status: 200, body: ctx.page(rows, (r) => ({ t: spec.at(r).toISOString(), b: r.batch_id, o: r.ord }), spec.dto) };
      },
    });

  const history = timeList({
    summary: "A service's health results by observed time, newest first (keyset-paginated)",
    description: 'A page of results, newest first',
    schema: schemas.HealthResultList,
    select: (db, q) => store.selectHistory(db, q.tenantId, q.environmentId, q.serviceId, q.range, q.after, q.limit),
    at: (r) => r.observed_at,
    dto: toResultDto,
  });

  const transitions = timeList({
    summary: "A service's status changes (from, to, when), newest first (keyset-paginated)",
    description: 'A page of transitions, newest first',
    schema: schemas.HealthTransitionList,
    select: (db, q) => store.selectTransitions(db, q.tenantId, q.environmentId, q.serviceId, q.range, q.after, q.limit),
    at: (r) => r.at,
    dto: toTransitionDto,
  });

  return { append, latestList, latest, history, transitions };
}
