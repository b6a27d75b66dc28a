/**
 * secrets — SecretBindingService: a tenant's secret bindings, references to Azure Key Vault secrets
 * (vault, secret name, current version — never values), who consumes them, and their rotation.
 * Storage map rows: "Secret bindings (metadata)" — PostgreSQL, schema `secrets`, role
 * `rp_secrets`, kept `storageMap.secretBindings.retentionDays` days; "Secret material" — Azure Key
 * Vault, resolved by the workloads' managed identity, per rotation policy.
 *
 * <!-- functions:secrets -->
 *   POST           /api/tenants/{tenantId}/secret-bindings                                     secretBindingCreate         tenant operator
 *   GET            /api/tenants/{tenantId}/secret-bindings                                     secretBindingList           tenant reader
 *   GET            /api/tenants/{tenantId}/secret-bindings/{bindingId}                         secretBindingGet            tenant reader
 *   PATCH          /api/tenants/{tenantId}/secret-bindings/{bindingId}                         secretBindingPatch          tenant operator
 *   DELETE         /api/tenants/{tenantId}/secret-bindings/{bindingId}                         secretBindingDelete         tenant admin
 *   POST           /api/tenants/{tenantId}/secret-bindings/{bindingId}/rotate                  secretBindingRotate         tenant operator
 *   GET            /api/tenants/{tenantId}/secret-bindings/{bindingId}/rotations               secretBindingRotationList   tenant reader
 *   GET            /api/tenants/{tenantId}/secret-bindings/{bindingId}/rotations/{rotationId}  secretBindingRotationGet    tenant reader
 *   GET            /api/tenants/{tenantId}/secret-bindings/{bindingId}/blast-radius            secretBindingBlastRadius    tenant reader
 *   timer          0 *\/15 * * * *                                                             secretRotationTimer
 *   orchestration                                                                              secretRotationRun
 *   activity                                                                                   secretRotationBegin
 *   activity                                                                                   secretRotationWriteVersion
 *   activity                                                                                   secretRotationCommit
 *   activity                                                                                   secretRotationDisable
 *   activity                                                                                   secretRotationFail
 *   timer          0 45 3 * * *                                                                secretRetention
 * <!-- /functions -->
 *
 * Rules and decisions, and why: docs/services.md.
 */
import type { Kernel } from '../../shared/kernel.js';
import type { ErrorTable } from '../../shared/errors.js';
import { durableClientInput } from '../../shared/registrar.js';
import { defineService, lazyRoutes } from '../../shared/service.js';
import type { CatalogApi } from '../catalog/api.js';
import type { EnvironmentsApi } from '../environments/api.js';
import type { TenantsApi } from '../tenants/api.js';
import type { SecretsInstance } from './api.js';
import type { rotationActivities } from './rotation.js';

/** Every 15 minutes (NCRONTAB, with seconds): due rotations, and previous versions whose overlap ended. */
export const ROTATION_SCHEDULE = '0 */15 * * * *';
/** Daily at 03:45 UTC: retention of binding metadata and rotation history. */
export const RETENTION_SCHEDULE = '0 45 3 * * *';

const durable = async () => (await import('../../shared/orchestration.js')).durableOrchestrations;

const routes = lazyRoutes((self: SecretsInstance, kernel) =>
  import('./handlers.js').then((m) =>
    m.secretHandlers({
      now: kernel.now,
      vaultUrl: kernel.settings.keyVault.url,
      vault: self.vault,
      providers: self.providers,
      environments: self.needs.environments,
      catalog: self.needs.catalog,
      orchestrations: async (invocation) => (await durable())(invocation),
      referenceSource: self.referenceSource,
    }),
  ),
);

/** The rotation activities of one instance, built once. */
const activities = lazyActivities();
function lazyActivities() {
  const built = new WeakMap<SecretsInstance, Promise<ReturnType<typeof rotationActivities>>>();
  return (self: SecretsInstance, kernel: Kernel) => {
    let p = built.get(self);
    if (!p) {
      p = import('./rotation.js').then((m) => m.rotationActivities({ kernel, vault: self.vault, providers: self.providers }));
      built.set(self, p);
    }
    return p;
  };
}

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
    r.http('secretBindingRotate', 'POST', `${one}/rotate`, routes('rotate'), { extraInputs: [durableClientInput] });
    r.http('secretBindingRotationList', 'GET', `${one}/rotations`, routes('rotations'));
    r.http('secretBindingRotationGet', 'GET', `${one}/rotations/{rotationId}`, routes('rotation'));
    r.http('secretBindingBlastRadius', 'GET', `${one}/blast-radius`, routes('blastRadius'));
    r.timer(
      'secretRotationTimer',
      ROTATION_SCHEDULE,
      'Starts one rotation orchestration per due binding (deterministic instance id) and disables previous versions whose overlap ended',
      async (self, kernel) => {
        const { sweepRotations } = await import('./schedule.js');
        return async (_timer, context) => {
          const port = (await durable())(context);
          const s = await sweepRotations({ kernel, tenants: self.needs.tenants, vault: self.vault, log: (m) => context.warn(m) }, (name, id, input) => port.start(name, id, input));
          if (s.started + s.disabled > 0 || s.failedTenants.length > 0) {
            context.log(`secrets: ${s.started} rotations started, ${s.alreadyRunning} already running, ${s.disabled} previous versions disabled, ${s.failedTenants.length} tenants failed`);
          }
        };
      },
      { durableClient: true },
    );
    r.orchestration('secretRotationRun', 'Rotates one binding: new Key Vault version, binding moved, SecretRotated emitted', async () => (await import('./rotation.js')).rotationOrchestrator);
    r.activity('secretRotationBegin', 'Records the rotation in the history table (safe to run twice)', async (self, kernel) => (await activities(self, kernel)).begin);
    r.activity('secretRotationWriteVersion', 'Writes the new version to Key Vault, or finds the one tagged with the rotation id', async (self, kernel) => (await activities(self, kernel)).writeVersion);
    r.activity('secretRotationCommit', 'Moves the binding to the new version and emits SecretRotated in one transaction (once)', async (self, kernel) => (await activities(self, kernel)).commit);
    r.activity('secretRotationDisable', 'Disables versions whose overlap has ended (never the current one)', async (self, kernel) => (await activities(self, kernel)).disable);
    r.activity('secretRotationFail', 'Records a failed rotation and sends SecretRotationFailed', async (self, kernel) => (await activities(self, kernel)).fail);
    r.timer('secretRetention', RETENTION_SCHEDULE, "Removes deleted bindings and rotation history older than the storage map's retention", async (self, kernel) => {
      const { purgeExpired } = await import('./schedule.js');
      return async (_timer, context) => {
        const s = await purgeExpired({ kernel, tenants: self.needs.tenants, vault: self.vault, log: (m) => context.warn(m) });
        context.log(`secrets retention (before ${s.cutoff}): ${s.bindings} bindings, ${s.rotations} rotations removed, ${s.failedTenants.length} tenants failed`);
      };
    });
  },
});
