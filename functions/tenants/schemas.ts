/** Request/response schemas of the tenants service (zod), and its row types. */
import { z } from '../../shared/http/openapi.js';

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
export const PRINCIPAL_ID_PATTERN = /^[A-Za-z0-9._@:-]{1,128}$/;

export const TenantId = z.string().regex(TENANT_ID_PATTERN).openapi({ description: 'Lowercase letters, digits and dashes', example: 'contoso' });
export const PrincipalId = z.string().regex(PRINCIPAL_ID_PATTERN).openapi({ example: '5f1c2e0a-6a53-4c1e-9d1b-1f0e8e3c9a11' });
const DisplayName = z.string().trim().min(1).max(200);
const SiloName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);

export const Isolation = z
  .discriminatedUnion('model', [
    z.strictObject({ model: z.literal('pooled') }),
    z.strictObject({ model: z.literal('siloed'), database: SiloName }),
  ])
  .openapi('TenantIsolation', { description: 'pooled: shared tables isolated by row-level security; siloed: a dedicated database' });

const count = (max: number) => z.number().int().min(0).max(max);
export const Quotas = z
  .strictObject({
    maxEnvironments: count(10_000),
    maxServicesPerEnvironment: count(100_000),
    maxDeploymentsPerDay: count(1_000_000),
    maxReplicasPerService: count(10_000),
    maxSecretBindings: count(1_000_000),
    requestsPerMinute: count(1_000_000),
  })
  .openapi('TenantQuotas');

export const DEFAULT_QUOTAS: z.infer<typeof Quotas> = {
  maxEnvironments: 20,
  maxServicesPerEnvironment: 200,
  maxDeploymentsPerDay: 500,
  maxReplicasPerService: 50,
  maxSecretBindings: 1000,
  requestsPerMinute: 6000,
};

export const TenantStatus = z.enum(['active', 'suspended']);
export const TenantRole = z.enum(['reader', 'operator', 'admin']);

export const CreateTenant = z
  .strictObject({
    id: TenantId,
    displayName: DisplayName,
    isolation: Isolation.optional(),
    quotas: Quotas.partial().optional(),
  })
  .openapi('CreateTenant');

export const PatchTenant = z
  .strictObject({
    displayName: DisplayName.optional(),
    status: TenantStatus.optional(),
    quotas: Quotas.partial().optional(),
  })
  .openapi('PatchTenant', { description: 'JSON merge patch; isolation cannot change after creation' });

export const Tenant = z
  .object({
    id: TenantId,
    displayName: z.string(),
    isolation: Isolation,
    status: TenantStatus,
    quotas: Quotas,
    createdAt: z.string(),
    updatedAt: z.string(),
    etag: z.string(),
  })
  .openapi('Tenant');

export const PutMember = z.strictObject({ role: TenantRole }).openapi('PutMember');
export const Member = z
  .object({ principalId: PrincipalId, role: TenantRole, createdAt: z.string(), updatedAt: z.string(), etag: z.string() })
  .openapi('TenantMember');

export const TenantParams = z.object({ tenantId: TenantId });
export const MemberParams = z.object({ tenantId: TenantId, principalId: PrincipalId });
export const ListTenantsQuery = z.object({ status: TenantStatus.optional() });

export const list = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ value: z.array(item), nextLink: z.string().optional() }).openapi(name);

export type TenantDto = z.infer<typeof Tenant>;
export type MemberDto = z.infer<typeof Member>;
export type QuotasDto = z.infer<typeof Quotas>;
