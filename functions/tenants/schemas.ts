/**
 * Request/response schemas of the tenants service (zod). The quota part is built from the quota
 * declarations of every service (`quotas` in each descriptor), so a service adds the quota it
 * enforces without editing this file or the kernel.
 */
import { z } from '../../shared/http/openapi.js';
import { DisplayName, listOf, TenantId, TenantParams } from '../../shared/http/vocabulary.js';
import type { QuotaDeclaration } from '../../shared/service.js';

export { TenantId, TenantParams };

export const PRINCIPAL_ID_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;
export const PrincipalId = z.string().regex(PRINCIPAL_ID_PATTERN).openapi({ example: '5f1c2e0a-6a53-4c1e-9d1b-1f0e8e3c9a11' });
const SiloName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);

export const Isolation = z
  .discriminatedUnion('model', [z.strictObject({ model: z.literal('pooled') }), z.strictObject({ model: z.literal('siloed'), database: SiloName })])
  .openapi('TenantIsolation', { description: 'pooled: shared tables isolated by row-level security; siloed: a dedicated database' });

export const TenantStatus = z.enum(['active', 'suspended']);
export const TenantRole = z.enum(['reader', 'operator', 'admin']);

export const PutMember = z.strictObject({ role: TenantRole }).openapi('PutMember');
export const Member = z
  .object({ principalId: PrincipalId, role: TenantRole, createdAt: z.string(), updatedAt: z.string(), etag: z.string() })
  .openapi('TenantMember');
export const MemberList = listOf(Member, 'TenantMemberList');
export const MemberParams = z.object({ tenantId: TenantId, principalId: PrincipalId });
export const ListTenantsQuery = z.object({ status: TenantStatus.optional() });

/** Every quota a tenant carries, by name, as the services declare them. */
export type QuotaCatalog = Readonly<Record<string, QuotaDeclaration>>;
/** A tenant's quota values. */
export type QuotasDto = Record<string, number>;

/** The tenant schemas for the declared quotas; built once per app instance. */
export function tenantSchemas(catalog: QuotaCatalog) {
  const names = Object.keys(catalog).sort();
  const Quotas = z
    .strictObject(Object.fromEntries(names.map((n) => [n, z.number().int().min(0).max(catalog[n]!.max).openapi({ description: catalog[n]!.description })])))
    .openapi('TenantQuotas');
  const defaults: QuotasDto = Object.fromEntries(names.map((n) => [n, catalog[n]!.default]));

  const CreateTenant = z
    .strictObject({ id: TenantId, displayName: DisplayName, isolation: Isolation.optional(), quotas: Quotas.partial().optional() })
    .openapi('CreateTenant');
  const PatchTenant = z
    .strictObject({ displayName: DisplayName.optional(), status: TenantStatus.optional(), quotas: Quotas.partial().optional() })
    .openapi('PatchTenant', { description: 'JSON merge patch; isolation cannot change after creation' });
  const Tenant = z
    .object({ id: TenantId, displayName: z.string(), isolation: Isolation, status: TenantStatus, quotas: Quotas, createdAt: z.string(), updatedAt: z.string(), etag: z.string() })
    .openapi('Tenant');
  const TenantListItem = Tenant.extend({
    role: TenantRole.openapi({ description: "The caller's role in the tenant; platform admins act as, and are shown as, admin in every tenant" }),
  }).openapi('TenantListItem');
  return { Quotas, defaults, CreateTenant, PatchTenant, Tenant, TenantList: listOf(TenantListItem, 'TenantList') };
}

export type TenantSchemas = ReturnType<typeof tenantSchemas>;
export type CreateTenantInput = z.output<TenantSchemas['CreateTenant']>;
export type PatchTenantInput = z.output<TenantSchemas['PatchTenant']>;
export type TenantDto = z.infer<TenantSchemas['Tenant']>;
export type MemberDto = z.infer<typeof Member>;
