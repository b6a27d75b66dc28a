/** HTTP handlers of the environments service: validate (schemas), call the service, shape the response. */
import { route } from '../../shared/http/route.js';
import { notFound } from '../../shared/errors.js';
import { createdRange, decodeKeyset, keysetOf } from '../../shared/http/keyset.js';
import { parseLabelSelector } from '../../shared/labels.js';
import * as store from './store.js';
import * as schemas from './schemas.js';
import { createEnvironment, patchEnvironment, retireEnvironment, toEnvironmentDto, type RetireListeners } from './service.js';
import { ENVIRONMENTS_SQL } from './sql.js';

/** What the environments handlers use. */
export interface EnvironmentHandlerDeps {
  now: () => Date;
  listeners: Pick<RetireListeners, 'notify'>;
}

const TAGS = ['environments'];
const location = (tenantId: string, id: string) => `/api/tenants/${tenantId}/environments/${id}`;

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function environmentHandlers({ now, listeners }: EnvironmentHandlerDeps) {
  const create = route({
    summary: 'Create an environment (counts against the tenant quota maxEnvironments)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.TenantParams,
    body: { schema: schemas.CreateEnvironment, example: schemas.CREATE_EXAMPLE },
    idempotent: ENVIRONMENTS_SQL,
    responses: {
      201: { description: 'Created', schema: schemas.Environment },
      409: { description: 'Name taken (Conflict) or quota reached (QuotaExceeded)' },
    },
    handler: async (ctx) => {
      const { tenantId, placement, quotas } = ctx.tenant;
      const maxEnvironments = quotas.maxEnvironments ?? 0;
      const row = await ctx.tx(ENVIRONMENTS_SQL, (trx) => createEnvironment(trx, { tenantId, placement, maxEnvironments }, ctx.body, now()));
      return { status: 201, body: toEnvironmentDto(row), etag: row.etag, headers: { Location: location(tenantId, row.id) } };
    },
  });

  const list = route({
    summary: 'List environments: filters, label selector, creation-time range; keyset-paginated',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    query: schemas.ListEnvironmentsQuery,
    paged: true,
    responses: { 200: { description: 'A page of environments, by name (or by creation time when a range is given)', schema: schemas.EnvironmentList } },
    handler: async (ctx) => {
      const q = ctx.query;
      const range = createdRange(q);
      const labels = parseLabelSelector(q.labelSelector ?? '');
      const after = decodeKeyset(q.skipToken, range.order);
      const rows = await ctx.read(ENVIRONMENTS_SQL, (db) =>
        store.selectEnvironments(db, ctx.tenant.tenantId, {
          status: q.status ?? 'active',
          ...(q.kind ? { kind: q.kind } : {}),
          ...(q.region ? { region: q.region } : {}),
          ...(q.namePrefix ? { namePrefix: q.namePrefix } : {}),
          labels,
          range,
          ...(after ? { after } : {}),
          limit: ctx.pageSize + 1,
        }),
      );
      return { status: 200, body: ctx.page(rows, (r) => keysetOf(range.order, r), toEnvironmentDto) };
    },
  });

  const get = route({
    summary: 'Get an environment',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.EnvironmentParams,
    responses: { 200: { description: 'The environment', schema: schemas.Environment } },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const [row] = await ctx.read(ENVIRONMENTS_SQL, (db) => store.selectEnvironment(db, ctx.tenant.tenantId, environmentId));
      if (!row) throw notFound(`Environment '${environmentId}'`, 'environmentId');
      return { status: 200, body: toEnvironmentDto(row), etag: row.etag };
    },
  });

  const patch = route({
    summary: 'Update an environment (JSON merge patch; honours If-Match)',
    tags: TAGS,
    access: { tenantRole: 'operator' },
    params: schemas.EnvironmentParams,
    body: {
      schema: schemas.PatchEnvironment,
      example: { displayName: 'Production (West Europe)', labels: { team: 'platform', obsolete: null } },
      contentType: 'application/merge-patch+json',
    },
    responses: {
      200: { description: 'The updated environment', schema: schemas.Environment },
      409: { description: 'Name taken, or the environment is retired (EnvironmentRetired)' },
      412: { description: 'If-Match does not match the current ETag' },
    },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const row = await ctx.tx(ENVIRONMENTS_SQL, (trx) => patchEnvironment(trx, ctx.tenant.tenantId, environmentId, ctx.body, ctx.ifMatch, now()));
      return { status: 200, body: toEnvironmentDto(row), etag: row.etag };
    },
  });

  const retire = route({
    summary: 'Retire an environment and every service in it (tenant admin; honours If-Match; safe to retry)',
    tags: TAGS,
    access: { tenantRole: 'admin' },
    params: schemas.EnvironmentParams,
    responses: {
      200: { description: 'The retired environment', schema: schemas.Environment },
      412: { description: 'If-Match does not match the current ETag' },
    },
    handler: async (ctx) => {
      const { environmentId } = ctx.params;
      const { tenantId, placement } = ctx.tenant;
      const { row } = await ctx.tx(ENVIRONMENTS_SQL, (trx) => retireEnvironment(trx, tenantId, environmentId, ctx.ifMatch, now()));
      // After the commit, and again on a retry of an already-retired environment: the cascade is
      // idempotent, and a failure here leaves the environment retired and the request retryable.
      await listeners.notify({ tenantId, placement }, row.id, row.retired_at ?? now());
      return { status: 200, body: toEnvironmentDto(row), etag: row.etag };
    },
  });

  return { create, list, get, patch, retire };
}
