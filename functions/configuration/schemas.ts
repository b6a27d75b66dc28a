/** Request/response schemas of the configuration service (zod). */
import { z } from '../../shared/http/openapi.js';
import { Description, listOf, resourceId, TenantParams } from '../../shared/http/vocabulary.js';

export const EnvironmentId = resourceId('env', 'env_3f9a1c07d2b84e65');
export const ServiceId = resourceId('svc', 'svc_8c1e5a2f90b3d476');
export const ConfigurationParams = TenantParams.extend({ environmentId: EnvironmentId, serviceId: ServiceId });

/** A version number in a path or query: 1 to 999,999,999, no sign, no leading zero. */
const VERSION_PATTERN = /^[1-9][0-9]{0,8}$/;
const VersionParam = z.string().regex(VERSION_PATTERN).openapi({ example: '7', description: 'A version number (1, 2, …)' });
export const VersionParams = ConfigurationParams.extend({ version: VersionParam });

/** Who syncs: an agent names itself (e.g. `aks-weu-1/node-3`); see docs/services.md. */
export const ConsumerId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/)
  .openapi({ example: 'aks-weu-1/checkout-7d9f', description: "The syncing agent's own name: 1-128 of A-Z a-z 0-9 . _ : @ / -, starting alphanumeric" });

export const Settings = z.record(z.string(), z.unknown()).openapi('ConfigurationSettings', {
  description:
    'The settings: a JSON object, nested as you like. A setting that needs a secret holds {"secretRef": "<secret binding name>"}; values that look like secrets are refused (see the service docs). Names are 1-128 of A-Z a-z 0-9 _ . : $ - .',
});

export const PutConfiguration = z
  .strictObject({
    settings: Settings,
    comment: Description.optional().openapi({ description: 'Why this version (kept with it)' }),
  })
  .openapi('PutConfiguration');

export const PUT_EXAMPLE: z.input<typeof PutConfiguration> = {
  settings: {
    logLevel: 'info',
    features: { newCheckout: true, maxCartItems: 50 },
    database: { host: 'orders-db.internal', port: 5432, password: { secretRef: 'orders-db-password' } },
  },
  comment: 'Enable the new checkout',
};

const instant = z.string().openapi({ description: 'ISO 8601' });

const versionFields = {
  environmentId: EnvironmentId,
  serviceId: ServiceId,
  version: z.number().int(),
  settingCount: z.number().int(),
  secretRefs: z.array(z.string()).openapi({ description: 'The secret binding names the settings reference' }),
  comment: z.string().nullable(),
  publishedAt: instant,
  publishedBy: z.string(),
  etag: z.string(),
};

export const ConfigurationVersion = z.object({ ...versionFields, settings: Settings }).openapi('ConfigurationVersion');
export const ConfigurationVersionSummary = z.object(versionFields).openapi('ConfigurationVersionSummary');
export const ConfigurationVersionList = listOf(ConfigurationVersionSummary, 'ConfigurationVersionList');

export const GetConfigurationQuery = z.object({ consumer: ConsumerId.optional().openapi({ description: 'Records that this consumer now runs the version answered (or confirmed by a 304)' }) });

export const DiffQuery = z.object({
  from: VersionParam.optional().openapi({ description: 'The older version (default: the one before `to`)' }),
  to: VersionParam.optional().openapi({ description: 'The newer version (default: the latest)' }),
});

export const ConfigurationDiff = z
  .object({
    from: z.number().int(),
    to: z.number().int(),
    added: z.array(z.object({ path: z.string(), value: z.unknown() })),
    removed: z.array(z.object({ path: z.string(), value: z.unknown() })),
    changed: z.array(z.object({ path: z.string(), from: z.unknown(), to: z.unknown() })),
  })
  .openapi('ConfigurationDiff', { description: 'Setting by setting, as JSON Pointers into the settings; arrays compare whole' });

export const ConsumersQuery = z.object({
  olderThanLatest: z.enum(['true', 'false']).optional().openapi({ description: 'true: only consumers that run an older version than the latest' }),
});

export const ConfigurationConsumer = z
  .object({
    consumer: z.string(),
    version: z.number().int().openapi({ description: 'The version it last synced' }),
    latestVersion: z.number().int(),
    behind: z.boolean().openapi({ description: 'It runs an older version than the latest' }),
    syncedAt: instant.openapi({ description: 'When it first synced that version' }),
    syncedBy: z.string().openapi({ description: 'The principal it synced as' }),
    lastSeenAt: instant.openapi({ description: 'Its last sync or poll (refreshed at most hourly while nothing changes)' }),
  })
  .openapi('ConfigurationConsumer');
export const ConfigurationConsumerList = listOf(ConfigurationConsumer, 'ConfigurationConsumerList');

export type ConfigurationVersionDto = z.infer<typeof ConfigurationVersion>;
export type ConfigurationVersionSummaryDto = z.infer<typeof ConfigurationVersionSummary>;
