/** HTTP handlers of the tenants service: validate (schemas), call the service, shape the response. */
import { z } from '../../shared/http/openapi.js';
import { route } from '../../shared/http/route.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { notFound } from '../../shared/errors.js';
import * as store from './store.js';
import * as schemas from './schemas.js';
import { createTenant, patchTenant, removeMember, setMember, toMemberDto, toTenantDto } from './service.js';
import { TENANTS_SQL } from './sql.js';
import type { TenantsApi } from './api.js';

/** What the tenants handlers use. */
export interface TenantHandlerDeps {
  api: Pick<TenantsApi, 'invalidate'>;
  schemas: schemas.TenantSchemas;
  /** True when this deployment has a silo database of that name. */
  siloExists: (name: string) => boolean;
}

const TAGS = ['tenants'];

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function tenantHandlers({ api, schemas: s, siloExists }: TenantHandlerDeps) {
  const tenantDto = (r: store.TenantRow) => toTenantDto(r, s.defaults);

  const create = route({
    summary: 'Create a tenant',
    tags: TAGS,
    access: { platformAdmin: true },
    body: {
      schema: s.CreateTenant,
      example: { id: 'contoso', displayName: 'Contoso', isolation: { model: 'pooled' }, quotas: { maxEnvironments: 10 } },
    },
    idempotent: TENANTS_SQL,
    responses: { 201: { description: 'Created', schema: s.Tenant }, 409: { description: 'A tenant with this id exists (Conflict)' } },
    handler: async (ctx) => {
      const row = await ctx.tx(TENANTS_SQL, (trx) => createTenant(trx, ctx.body, siloExists, s.defaults));
      return { status: 201, body: tenantDto(row), etag: row.etag, headers: { Location: `/api/tenants/${row.tenant_id}` } };
    },
  });

  // Members see the tenants they belong to, with their role; platform admins see every tenant.
  // Members run in the principal scope, which admits only their own memberships and those
  // tenants; platform admins run in the platform scope (`platformAdminsSeeAll`).
  const list = route({
    summary: "List the caller's tenants (every tenant for platform admins)",
    tags: TAGS,
    access: { authenticated: true, platformAdminsSeeAll: true },
    query: schemas.ListTenantsQuery,
    paged: true,
    responses: { 200: { description: "A page of tenants, in id order, with the caller's role in each", schema: s.TenantList } },
    handler: async (ctx) => {
      const after = decodeCursor(ctx.query.skipToken, z.string());
      const page = { limit: ctx.pageSize + 1, after, status: ctx.query.status };
      const rows: (store.TenantRow & { role: store.MemberRow['role'] })[] = ctx.principal.isPlatformAdmin
        ? (await ctx.read(TENANTS_SQL, (db) => store.selectTenants(db, page))).map((r) => ({ ...r, role: 'admin' as const }))
        : await ctx.read(TENANTS_SQL, (db) => store.selectTenantsOfPrincipal(db, ctx.principal.id, page));
      return { status: 200, body: ctx.page(rows, (r) => r.tenant_id, (r) => ({ ...tenantDto(r), role: r.role })) };
    },
  });

  const get = route({
    summary: 'Get a tenant (its isolation, status and quotas)',
    tags: TAGS,
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    responses: { 200: { description: 'The tenant', schema: s.Tenant } },
    handler: async (ctx) => {
      const [row] = await ctx.read(TENANTS_SQL, (db) => store.readTenant(db, { tenantId: ctx.params.tenantId }));
      if (!row) throw notFound(`Tenant '${ctx.params.tenantId}'`, 'tenantId');
      return { status: 200, body: tenantDto(row), etag: row.etag };
    },
  });

  const patch = route({
    summary: 'Update a tenant (JSON merge patch; honours If-Match)',
    tags: TAGS,
    access: { platformAdmin: true },
    params: schemas.TenantParams,
    body: { schema: s.PatchTenant, example: { status: 'suspended', quotas: { maxEnvironments: 5 } }, contentType: 'application/merge-patch+json' },
    responses: { 200: { description: 'The updated tenant', schema: s.Tenant } },
    handler: async (ctx) => {
      const { tenantId } = ctx.params;
      const row = await ctx.tx(TENANTS_SQL, (trx) => patchTenant(trx, tenantId, ctx.body, ctx.ifMatch, s.defaults));
      api.invalidate(tenantId);
      return { status: 200, body: tenantDto(row), etag: row.etag };
    },
  });

  const listMembers = route({
    summary: "List a tenant's members",
    tags: TAGS,
    access: { tenantRole: 'admin' },
    params: schemas.TenantParams,
    paged: true,
    responses: { 200: { description: 'A page of members', schema: schemas.MemberList } },
    handler: async (ctx) => {
      const after = decodeCursor(ctx.query.skipToken, z.string());
      const rows = await ctx.read(TENANTS_SQL, (db) => store.selectMembers(db, ctx.params.tenantId, { limit: ctx.pageSize + 1, after }));
      return { status: 200, body: ctx.page(rows, (r) => r.principal_id, toMemberDto) };
    },
  });

  const putMember = route({
    summary: "Grant or change a member's role (If-Match: * only changes, If-None-Match: * only adds)",
    tags: TAGS,
    // Changes who may do what: the caller's access is read afresh, never from the cache.
    access: { tenantRole: 'admin', fresh: true },
    params: schemas.MemberParams,
    body: { schema: schemas.PutMember, example: { role: 'operator' } },
    responses: {
      200: { description: 'Role changed', schema: schemas.Member },
      201: { description: 'Member added', schema: schemas.Member },
      409: { description: 'The last admin of the tenant cannot be demoted (Conflict)' },
    },
    handler: async (ctx) => {
      const { tenantId, principalId } = ctx.params;
      const row = await ctx.tx(TENANTS_SQL, (trx) => setMember(trx, tenantId, principalId, ctx.body.role, ctx.ifMatch, ctx.ifNoneMatch, ctx.principal));
      api.invalidate(tenantId);
      return { status: row.created ? 201 : 200, body: toMemberDto(row), etag: row.etag };
    },
  });

  const deleteMember = route({
    summary: 'Remove a member',
    tags: TAGS,
    access: { tenantRole: 'admin', fresh: true },
    params: schemas.MemberParams,
    responses: { 204: { description: 'Removed (or was not a member)' }, 409: { description: 'The last admin of the tenant cannot be removed (Conflict)' } },
    handler: async (ctx) => {
      const { tenantId, principalId } = ctx.params;
      await ctx.tx(TENANTS_SQL, (trx) => removeMember(trx, tenantId, principalId, ctx.ifMatch, ctx.principal));
      api.invalidate(tenantId);
      return { status: 204 };
    },
  });

  return { create, list, get, patch, listMembers, putMember, deleteMember };
}
