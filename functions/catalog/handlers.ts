/** HTTP handlers of the catalog service: validate (schemas), call the service, shape the response. */
import type { z } from 'zod';
import { route, type RouteContext, type TenantAccess } from '../../shared/http/route.js';
import { notFound } from '../../shared/errors.js';
import { createdRange, decodeKeyset, keysetOf } from '../../shared/http/keyset.js';
import { parseLabelSelector } from '../../shared/labels.js';
import type { TenantRef } from '../../shared/sql/service-db.js';
import { environmentRetired, type EnvironmentsApi } from '../environments/api.js';
import { toSummary, type ServiceRetiredListener } from './api.js';
import { assembleFacts } from './facts.js';
import type { CatalogPlugs } from './plugs.js';
import * as store from './store.js';
import * as schemas from './schemas.js';
import { patchService, registerService, retireService, toServiceDto } from './service.js';
import { CATALOG_SQL } from './sql.js';

/** What the catalog handlers use. */
export interface CatalogHandlerDeps {
  now: () => Date;
  environments: Pick<EnvironmentsApi, 'getEnvironment'>;
  plugs: CatalogPlugs;
  serviceRetired: readonly ServiceRetiredListener[];
}

type ServiceFilters = Partial<Pick<z.output<typeof schemas.ListTenantServicesQuery>, 'status' | 'owner' | 'lifecycle' | 'namePrefix' | 'labelSelector' | 'createdAfter' | 'createdBefore'>> & {
  skipToken?: string | undefined;
};

const TAGS = ['catalog'];
const tenantOf = ({ tenant }: { tenant: TenantAccess }): TenantRef => ({ tenantId: tenant.tenantId, placement: tenant.placement });

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function catalogHandlers({ now, environments, plugs, serviceRetired }: CatalogHandlerDeps) {
  /** The environment must exist in the tenant (asked of its owner, in its own transaction). */
  const requireEnvironment = async (tenant: TenantRef, environmentId: string) => {
    const env = await environments.getEnvironment(tenant, environmentId);
    if (!env) throw notFound(`Environment '${environmentId}'`, 'environmentId');
    return env;
  };

  const listRows = (ctx: RouteContext<unknown, ServiceFilters, unknown, unknown>, environmentId: string | undefined) => {
    const q = ctx.query;
    const range = createdRange(q);
    const labels = parseLabelSelector(q.labelSelector ?? '');
    const after = decodeKeyset(q.skipToken, range.order);
    return {
      range,
      rows: ctx.read(CATALOG_SQL, (db) =>
        store.selectServices(db, ctx.tenant.tenantId, {
          ...(environmentId !== undefined ? { environmentId } : {}),
          status: q.status ?? 'active',
          ...(q.owner ? { owner: q.owner } : {}),
          ...(q.lifecycle ? { lifecycle: q.lifecycle } : {}),
          ...(q.namePrefix ? { namePrefix: q.namePrefix } : {}),
          labels,
          range,
          ...(after ? { after } : {}),
          limit: ctx.pageSize + 1,
        }),
      ),
    };
  };

  const register = route({
    summary: 'Register a service in an environment (counts against the tenant quota maxServicesPerEnvironment)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.EnvironmentParams,
    body: { schema: schemas.RegisterService, example: schemas.REGISTER_EXAMPLE },
    idempotent: CATALOG_SQL,
    // Asked before (never inside) the catalog transaction; see the race note in index.ts.
    prepare: async (ctx) => {
      const { environmentId } = ctx.params;
      const env = await requireEnvironment(tenantOf(ctx), environmentId);
      if (env.status === 'retired') throw environmentRetired(environmentId);
    },
    responses: {
      201: { description: 'Registered', schema: schemas.Service },
      409: { description: 'Name taken (Conflict), quota reached (QuotaExceeded) or environment retired (EnvironmentRetired)' },
    },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const tenant = { ...tenantOf(ctx), maxServicesPerEnvironment: ctx.tenant.quotas.maxServicesPerEnvironment ?? 0 };
      const row = await ctx.tx(CATALOG_SQL, (trx) => registerService(trx, tenant, environmentId, ctx.body, now()));
      return {
        status: 201,
        body: toServiceDto(row),
        etag: row.etag,
        headers: { Location: `/api/tenants/${tenant.tenantId}/environments/${environmentId}/services/${row.id}` },
      };
    },
  });

  const list = route({
    summary: "List an environment's services: filters, label selector, creation-time range; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EnvironmentParams,
    query: schemas.ListServicesQuery,
    paged: true,
    responses: { 200: { description: 'A page of services, by name (or by creation time when a range is given)', schema: schemas.ServiceList } },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const { range, rows } = listRows(ctx, environmentId);
      const page = await rows;
      // A service row exists only in an environment of this tenant, so only an empty page needs
      // the environments service to tell "no such environment" (404) from "no services".
      if (page.length === 0) await requireEnvironment(tenantOf(ctx), environmentId);
      return { status: 200, body: ctx.page(page, (r) => keysetOf(range.order, r), toServiceDto) };
    },
  });

  const listTenant = route({
    summary: "List the tenant's services across environments: filters, label selector, creation-time range; keyset-paginated",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    query: schemas.ListTenantServicesQuery,
    paged: true,
    responses: { 200: { description: 'A page of services, by name (or by creation time when a range is given)', schema: schemas.ServiceList } },
    handler: async (ctx) => {
      const { range, rows } = listRows(ctx, ctx.query.environmentId);
      return { status: 200, body: ctx.page(await rows, (r) => keysetOf(range.order, r), toServiceDto) };
    },
  });

  const loadService = async (ctx: RouteContext<z.output<typeof schemas.ServiceParams>, unknown, unknown, unknown>) => {
    const { environmentId, serviceId } = ctx.params;
    const [row] = await ctx.read(CATALOG_SQL, (db) => store.selectService(db, ctx.tenant.tenantId, serviceId, environmentId));
    if (!row) throw notFound(`Service '${serviceId}'`, 'serviceId');
    return row;
  };

  const get = route({
    summary: 'Get a service',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    responses: { 200: { description: 'The service', schema: schemas.Service } },
    handler: async (ctx) => {
      const row = await loadService(ctx);
      return { status: 200, body: toServiceDto(row), etag: row.etag };
    },
  });

  const patch = route({
    summary: 'Update a service (JSON merge patch; honours If-Match)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ServiceParams,
    body: {
      schema: schemas.PatchService,
      example: { lifecycle: 'deprecated', labels: { tier: null, team: 'payments' } },
      contentType: 'application/merge-patch+json',
    },
    responses: {
      200: { description: 'The updated service', schema: schemas.Service },
      409: { description: 'Name taken, or the service is retired (ServiceRetired)' },
      412: { description: 'If-Match does not match the current ETag' },
    },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const row = await ctx.tx(CATALOG_SQL, (trx) => patchService(trx, ctx.tenant.tenantId, environmentId, serviceId, ctx.body, ctx.ifMatch, now()));
      return { status: 200, body: toServiceDto(row), etag: row.etag };
    },
  });

  const retire = route({
    summary: 'Retire a service (kept read-only, purged after the retention period; honours If-Match; safe to retry)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.ServiceParams,
    responses: {
      200: { description: 'The retired service', schema: schemas.Service },
      412: { description: 'If-Match does not match the current ETag' },
    },
    handler: async (ctx) => {
      const { environmentId, serviceId } = ctx.params;
      const row = await ctx.tx(CATALOG_SQL, (trx) => retireService(trx, ctx.tenant.tenantId, environmentId, serviceId, ctx.ifMatch, now()));
      // After the commit, and again on a retry: listeners are idempotent (as the environments' are).
      for (const listener of serviceRetired) await listener(tenantOf(ctx), toSummary(row));
      return { status: 200, body: toServiceDto(row), etag: row.etag };
    },
  });

  const facts = route({
    summary: "A service's fact sheet, assembled from the services that own each part",
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.ServiceParams,
    responses: { 200: { description: 'The fact sheet; parts whose owning service is not wired in are absent', schema: schemas.ServiceFacts } },
    handler: async (ctx) => {
      const row = await loadService(ctx);
      const body = await assembleFacts(plugs, tenantOf(ctx), row, now(), (m) => ctx.invocation.warn(m));
      return { status: 200, body };
    },
  });

  return { register, list, listTenant, get, patch, retire, facts };
}
