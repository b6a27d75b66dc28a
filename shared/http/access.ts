/**
 * Access control, the first thing a request meets: authenticate the caller, then resolve and
 * authorize the tenant of a tenant-scoped route before any tenant data is touched, and take one
 * request from the tenant's rate quota. Answers the SQL scope the request runs in.
 */
import type { HttpRequest } from '@azure/functions';
import { apiError, notFound } from '../errors.js';
import type { Authenticator, Principal } from '../auth/authenticate.js';
import type { SqlScope } from '../sql/database.js';
import { TenantRateLimiter } from './rate-limit.js';
import { TENANT_ROLES, type HttpMethod, type RouteAccess, type TenantAccess, type TenantAccessPort, type TenantRole } from './route.js';
import { TENANT_ID_PATTERN } from './vocabulary.js';

/** Who is calling, in which tenant, and the scope their queries run in. */
export interface Access {
  principal: Principal;
  tenant: TenantAccess;
  scope: SqlScope;
}

const ANONYMOUS: Principal = { id: 'anonymous', kind: 'user', isPlatformAdmin: false };
const POOLED = { model: 'pooled' } as const;

/** The tenant a non-tenant route runs as: none (id ''), no quotas. */
function noTenant(principal: Principal): TenantAccess {
  return { tenantId: '', placement: POOLED, status: 'active', quotas: {}, role: principal.isPlatformAdmin ? 'admin' : 'reader' };
}

/**
 * The scope of a route that is not tenant-scoped. Only platform-admin routes (and, for platform
 * admins, `authenticated` routes that ask for it) run in the platform scope; any other such route
 * runs in the principal scope, which row-level security opens to no tenant's rows but the
 * caller's own memberships, so a new route of this kind is never cross-tenant by default.
 */
function nonTenantScope(principal: Principal, access: Exclude<RouteAccess, { tenantRole: TenantRole }>): SqlScope {
  if ('platformAdmin' in access) return { platform: true, placement: POOLED };
  if ('anonymous' in access) return { principal: '', placement: POOLED };
  if (access.platformAdminsSeeAll && principal.isPlatformAdmin) return { platform: true, placement: POOLED };
  return { principal: principal.id, placement: POOLED };
}

/** Checks access to routes; one per app instance (it holds the rate limiter's buckets). */
export class AccessControl {
  private readonly limiter = new TenantRateLimiter();

  constructor(
    private readonly authenticator: Authenticator,
    private readonly tenants: TenantAccessPort,
  ) {}

  /** Authenticates and authorizes `request` for a route with `access`; throws a 4xx when refused. */
  async check(request: HttpRequest, method: HttpMethod, access: RouteAccess): Promise<Access> {
    const principal = 'anonymous' in access ? ANONYMOUS : await this.authenticator.authenticate(request.headers.get('authorization'));
    if ('platformAdmin' in access && !principal.isPlatformAdmin) {
      throw apiError('Forbidden', 'This operation needs a platform administrator.');
    }
    if (!('tenantRole' in access)) {
      return { principal, tenant: noTenant(principal), scope: nonTenantScope(principal, access) };
    }
    const tenantId = request.params.tenantId ?? '';
    const tenant = TENANT_ID_PATTERN.test(tenantId) ? await this.tenants.resolve(principal, tenantId, { fresh: access.fresh === true }) : null;
    if (!tenant) throw notFound(`Tenant '${printable(tenantId)}'`, 'tenantId');
    if (rank(tenant.role) < rank(access.tenantRole)) {
      throw apiError('Forbidden', `This operation needs the '${access.tenantRole}' role in the tenant.`);
    }
    if (tenant.status === 'suspended' && method !== 'GET' && !principal.isPlatformAdmin) {
      throw apiError('TenantSuspended', 'The tenant is suspended; only reads are allowed.');
    }
    const wait = principal.isPlatformAdmin ? 0 : this.limiter.take(tenant.tenantId, tenant.quotas.requestsPerMinute ?? 0);
    if (wait > 0) {
      throw apiError('TooManyRequests', "The tenant's request rate quota is exhausted; retry later.", { headers: { 'Retry-After': String(wait) } });
    }
    return { principal, tenant, scope: { tenantId: tenant.tenantId, placement: tenant.placement } };
  }
}

function rank(role: TenantRole): number {
  return TENANT_ROLES.indexOf(role);
}

/** An id safe to echo in a message. */
function printable(s: string): string {
  return s.length > 64 || /[^\x20-\x7e]/.test(s) ? '(invalid id)' : s;
}
