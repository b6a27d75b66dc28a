/** HTTP handlers of the tenants service: validate (schemas), call the service, shape the response. */
import type { Kernel } from '../../shared/kernel.js';
import type { RouteImpl } from '../../shared/http/pipeline.js';
import { decodeCursor } from '../../shared/http/pagination.js';
import { notFound } from '../../shared/errors.js';
import { z } from '../../shared/http/openapi.js';
import * as store from './store.js';
import * as schemas from './schemas.js';
import { TENANTS_SQL, createTenant, patchTenant, removeMember, setMember, toMemberDto, toTenantDto } from './service.js';
import { tenantsApi } from './api.js';

type Def = RouteImpl;

const TenantList = schemas.list(schemas.Tenant, 'TenantList');
const MemberList = schemas.list(schemas.Member, 'TenantMemberList');

/** The handlers, keyed by operation; `index.ts` gives each its name, method and route. */
export function tenantHandlers(kernel: Kernel) {
  const api = tenantsApi(kernel);
  const siloExists = (name: string) => kernel.sql.hasSilo(name);

  const create: Def = {
    summary: 'Create a tenant',
    tags: ['tenants'],
    access: { platformAdmin: true },
    body: {
      schema: schemas.CreateTenant,
      example: { id: 'contoso', displayName: 'Contoso', isolation: { model: 'pooled' }, quotas: { maxEnvironments: 10 } },
    },
    idempotent: TENANTS_SQL,
    responses: { 201: { description: 'Created', schema: schemas.Tenant } },
    handler: async (ctx) => {
      const row = await ctx.tx<store.TenantRow, store.TenantsDb>(TENANTS_SQL, (trx) => createTenant(trx, ctx.body, siloExists));
      return { status: 201, body: toTenantDto(row), etag: row.etag, headers: { Location: `/api/tenants/${row.tenant_id}` } };
    },
  };

  const list: Def = {
    summary: 'List tenants',
    tags: ['tenants'],
    access: { platformAdmin: true },
    query: schemas.ListTenantsQuery,
    paged: true,
    responses: { 200: { description: 'A page of tenants', schema: TenantList } },
    handler: async (ctx) => {
      const after = decodeCursor(ctx.query.skipToken, z.string());
      const rows = await ctx.read<store.TenantRow, store.TenantsDb>(TENANTS_SQL, (db) =>
        store.selectTenants(db, { limit: ctx.pageSize + 1, ...(after !== undefined ? { after } : {}), status: ctx.query.status }),
      );
      return { status: 200, body: ctx.page(rows, (r) => r.tenant_id, toTenantDto) };
    },
  };

  const get: Def = {
    summary: 'Get a tenant (its isolation, status and quotas)',
    tags: ['tenants'],
    access: { tenantRole: 'reader' },
    params: schemas.TenantParams,
    responses: { 200: { description: 'The tenant', schema: schemas.Tenant } },
    handler: async (ctx) => {
      const [row] = await ctx.read<store.TenantRow, store.TenantsDb>(TENANTS_SQL, (db) => store.selectTenant(db, ctx.params.tenantId));
      if (!row) throw notFound(`Tenant '${ctx.params.tenantId}'`, 'tenantId');
      return { status: 200, body: toTenantDto(row), etag: row.etag };
    },
  };

  const patch: Def = {
    summary: 'Update a tenant (JSON merge patch; honours If-Match)',
    tags: ['tenants'],
    access: { platformAdmin: true },
    params: schemas.TenantParams,
    body: { schema: schemas.PatchTenant, example: { status: 'suspended', quotas: { maxEnvironments: 5 } }, contentType: 'application/merge-patch+json' },
    responses: { 200: { description: 'The updated tenant', schema: schemas.Tenant } },
    handler: async (ctx) => {
      const tenantId: string = ctx.params.tenantId;
      const row = await ctx.tx<store.TenantRow, store.TenantsDb>(TENANTS_SQL, (trx) => patchTenant(trx, tenantId, ctx.body, ctx.ifMatch));
      api.invalidate(tenantId);
      return { status: 200, body: toTenantDto(row), etag: row.etag };
    },
  };

  const listMembers: Def = {
    summary: "List a tenant's members",
    tags: ['tenants'],
    access: { tenantRole: 'admin' },
    params: schemas.TenantParams,
    paged: true,
    responses: { 200: { description: 'A page of members', schema: MemberList } },
    handler: async (ctx) => {
      const after = decodeCursor(ctx.query.skipToken, z.string());
      const rows = await ctx.read<store.MemberRow, store.TenantsDb>(TENANTS_SQL, (db) =>
        store.selectMembers(db, ctx.params.tenantId, { limit: ctx.pageSize + 1, after }),
      );
      return { status: 200, body: ctx.page(rows, (r) => r.principal_id, toMemberDto) };
    },
  };

  const putMember: Def = {
    summary: "Grant or change a member's role",
    tags: ['tenants'],
    access: { tenantRole: 'admin' },
    params: schemas.MemberParams,
    body: { schema: schemas.PutMember, example: { role: 'operator' } },
    responses: { 200: { description: 'Role changed', schema: schemas.Member }, 201: { description: 'Member added', schema: schemas.Member } },
    handler: async (ctx) => {
      const { tenantId, principalId } = ctx.params as { tenantId: string; principalId: string };
      const row = await ctx.tx<store.MemberRow & { created: boolean }, store.TenantsDb>(TENANTS_SQL, (trx) =>
        setMember(trx, tenantId, principalId, ctx.body.role, ctx.ifMatch),
      );
      api.invalidate(tenantId);
      return { status: row.created ? 201 : 200, body: toMemberDto(row), etag: row.etag };
    },
  };

  const deleteMember: Def = {
    summary: 'Remove a member',
    tags: ['tenants'],
    access: { tenantRole: 'admin' },
    params: schemas.MemberParams,
    responses: { 204: { description: 'Removed (or was not a member)' } },
    handler: async (ctx) => {
      const { tenantId, principalId } = ctx.params as { tenantId: string; principalId: string };
      await ctx.tx<void, store.TenantsDb>(TENANTS_SQL, (trx) => removeMember(trx, tenantId, principalId, ctx.ifMatch));
      api.invalidate(tenantId);
      return { status: 204 };
    },
  };

  return { create, list, get, patch, listMembers, putMember, deleteMember };
}
