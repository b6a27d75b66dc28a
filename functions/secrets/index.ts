/**
 * secrets — SecretBindingService: a tenant's secret bindings, references to Azure Key Vault secrets
 * (vault, secret name, current version — never values), who consumes them, and their rotation.
 * Storage map rows: "Secret bindings (metadata)" — PostgreSQL, schema `secrets`, role
 * `rp_secrets`, kept `storageMap.secretBindings.retentionDays` days; "Secret material" — Azure Key
 * Vault, resolved by the workloads' managed identity, per rotation policy.
 *
 * <!-- functions:secrets -->
 *   POST    /api/tenants/{tenantId}/secret-bindings              secretBindingCreate  tenant operator
 *   GET     /api/tenants/{tenantId}/secret-bindings              secretBindingList    tenant reader
 *   GET     /api/tenants/{tenantId}/secret-bindings/{bindingId}  secretBindingGet     tenant reader
 *   PATCH   /api/tenants/{tenantId}/secret-bindings/{bindingId}  secretBindingPatch   tenant operator
 *   DELETE  /api/tenants/{tenantId}/secret-bindings/{bindingId}  secretBindingDelete  tenant admin
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { CatalogApi } from '../catalog/api.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { SecretsInstance } from './api.js';

const routes = lazyRoutes((self: SecretsInstance, kernel) =>
  import('./handlers.js').then((m) =>
    m.secretHandlers({ now: kernel.now, vaultUrl: kernel.settings.keyVault.url, environments: self.needs.environments, catalog: self.needs.catalog }),
  ),
);

/** This service's error codes and their HTTP status (thrown from errors.ts). */
export const SECRET_ERRORS = { VaultSecretMissing: 409, VaultSecretExists: 409, UnknownValueProvider: 400 } as const satisfies ErrorTable;

export const secrets = defineService({
  name: 'secrets',
  sql: () => import('./sql.js').then((m) => m.SECRETS_SQL),
  migrations: () => import('./migrations/index.js').then((m) => m.migrations),
  errors: SECRET_ERRORS,
  quotas: { maxSecretBindings: { default: 1000, max: 1_000_000, description: 'Secret bindings' } },
  needs: ['tenants', 'environments', 'catalog'],
  create: async ({ kernel, deps }: { kernel: Kernel; deps: { tenants: TenantsApi; environments: EnvironmentsApi; catalog: CatalogApi } }) =>
    (await import('./api.js')).createSecrets(kernel, deps),
  register(r) {
    const list = 'tenants/{tenantId}/secret-bindings';
    const one = `${list}/{bindingId}`;
    r.http('secretBindingCreate', 'POST', list, routes('create'));
    r.http('secretBindingList', 'GET', list, routes('list'));
    r.http('secretBindingGet', 'GET', one, routes('get'));
    r.http('secretBindingPatch', 'PATCH', one, routes('patch'));
    r.http('secretBindingDelete', 'DELETE', one, routes('remove'));
  },
});
