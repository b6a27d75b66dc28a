/**
 * Per-stack configuration. One Pulumi stack is one platform environment (dev, prod, …); its
 * `Pulumi.<stack>.yaml` holds the values below under the `runtime-platform:` namespace. Nothing
 * here is a secret: the program needs none.
 */
import * as pulumi from '@pulumi/pulumi';

/** A Microsoft Entra principal made an administrator of the PostgreSQL server. */
export interface EntraPrincipal {
  objectId: string;
  /** The name it logs in with (an app registration's display name, or a group's name). */
  name: string;
  type: 'ServicePrincipal' | 'Group' | 'User';
}

/** Everything the program reads from stack configuration, validated and defaulted. */
export interface PlatformConfig {
  /** The environment's name: the stack name. */
  environment: string;
  location: string;
  resourceGroupName: string;
  tags: Record<string, string>;
  logRetentionDays: number;
  /**
   * Who the alert rules notify (an action group with one e-mail receiver each). Empty: the rules
   * are still created, without an action.
   */
  alertEmails: string[];
  auth: {
    /** The API's application id URI: the `aud` of v1.0 tokens requested for it. */
    audience: string;
    /**
     * The API application's client id: the `aud` of v2.0 tokens (the issuer the app is given is
     * the v2.0 one). Without it only tokens whose `aud` is `audience` are accepted.
     */
    clientId: string | undefined;
    /** Principal ids (`oid`) that are platform admins. */
    platformAdmins: string[];
  };
  postgres: {
    version: string;
    skuName: string;
    skuTier: 'Burstable' | 'GeneralPurpose' | 'MemoryOptimized';
    storageSizeGB: number;
    backupRetentionDays: number;
    highAvailability: boolean;
    /** The pooled database (SQL_DATABASE). */
    database: string;
    /** Siloed tenants' databases, by silo name (the keys of SQL_SILOS). */
    silos: string[];
    /**
     * The login name of the identity that runs `pulumi up` and the migrations (the pipeline's
     * federated app registration). Its object id is read from the Azure client configuration.
     */
    deployerPrincipalName: string;
    /** Further Entra administrators (e.g. an on-call group). */
    extraAdmins: EntraPrincipal[];
    /** Let Azure-hosted callers (the Flex Consumption app has no fixed outbound IP) reach the server. */
    allowAzureServices: boolean;
  };
  cosmos: { serverless: boolean; database: string };
  storage: { eventsQueue: string; replication: 'Standard_LRS' | 'Standard_ZRS' | 'Standard_GRS' };
  functionApp: {
    /** The app's name: its host name, SQL_USER, and its PostgreSQL login (globally unique). */
    name: string;
    maximumInstanceCount: number;
    instanceMemoryMB: number;
  };
  registry: { sku: 'Basic' | 'Standard' | 'Premium' };
}

/** Bounds of `functionAppConfig.scaleAndConcurrency.maximumInstanceCount` on Flex Consumption. */
export const FLEX_MAX_INSTANCES = { min: 1, max: 1000 } as const;

/** An application (client) id, as shared/settings.ts checks AUTH_CLIENT_ID. */
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A silo name is also a SQL_SILOS key: the same rule as shared/settings.ts. */
const SILO_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** An e-mail address, loosely: one `@`, no blanks, a dot in the domain. */
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** The database that holds a siloed tenant: `silo_<name>` with dashes made SQL-identifier safe. */
export function siloDatabaseName(silo: string): string {
  return `silo_${silo.replace(/-/g, '_')}`;
}

/** Reads and validates the current stack's configuration. */
export function readConfig(): PlatformConfig {
  const cfg = new pulumi.Config();
  const environment = pulumi.getStack();
  const location = new pulumi.Config('azure-native').require('location');
  const silos = cfg.getObject<string[]>('siloDatabases') ?? [];
  for (const silo of silos) {
    if (!SILO_NAME.test(silo)) throw new Error(`siloDatabases: "${silo}" must match ${SILO_NAME}`);
  }
  const extraAdmins = cfg.getObject<EntraPrincipal[]>('postgresExtraAdmins') ?? [];
  const alertEmails = cfg.getObject<string[]>('alertEmails') ?? [];
  for (const email of alertEmails) {
    if (!EMAIL.test(email)) throw new Error(`alertEmails: "${email}" is not an e-mail address`);
  }
  const clientId = cfg.get('authClientId');
  if (clientId !== undefined && !GUID.test(clientId)) throw new Error(`authClientId: "${clientId}" must be an application (client) id, a GUID`);
  return {
    environment,
    location,
    resourceGroupName: cfg.get('resourceGroupName') ?? `rg-runtime-platform-${environment}`,
    tags: { app: 'runtime-platform', environment, ...(cfg.getObject<Record<string, string>>('tags') ?? {}) },
    logRetentionDays: cfg.getNumber('logRetentionDays', { min: 30, max: 730 }) ?? 30,
    alertEmails,
    auth: {
      audience: cfg.get('authAudience') ?? 'api://runtime-platform',
      clientId,
      platformAdmins: cfg.getObject<string[]>('platformAdmins') ?? [],
    },
    postgres: {
      version: cfg.get('postgresVersion') ?? '16',
      skuName: cfg.get('postgresSku') ?? 'Standard_B1ms',
      skuTier: (cfg.get('postgresTier') as PlatformConfig['postgres']['skuTier'] | undefined) ?? 'Burstable',
      storageSizeGB: cfg.getNumber('postgresStorageGB', { min: 32 }) ?? 32,
      backupRetentionDays: cfg.getNumber('postgresBackupRetentionDays', { min: 7, max: 35 }) ?? 7,
      highAvailability: cfg.getBoolean('postgresHighAvailability') ?? false,
      database: cfg.get('postgresDatabase') ?? 'runtime_platform',
      silos,
      deployerPrincipalName: cfg.require('deployerPrincipalName'),
      extraAdmins,
      allowAzureServices: cfg.getBoolean('postgresAllowAzureServices') ?? true,
    },
    cosmos: {
      serverless: cfg.getBoolean('cosmosServerless') ?? true,
      database: cfg.get('cosmosDatabase') ?? 'runtime-platform',
    },
    storage: {
      eventsQueue: cfg.get('eventsQueue') ?? 'runtime-events',
      replication: (cfg.get('storageReplication') as PlatformConfig['storage']['replication'] | undefined) ?? 'Standard_LRS',
    },
    functionApp: {
      name: cfg.get('functionAppName') ?? `func-runtime-platform-${environment}`,
      // Flex Consumption accepts a maximum instance count from 1 to 1000 ("Currently the lowest
      // maximum instance count value is `1`, and the highest supported maximum instance count
      // value is `1000`": https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out,
      // MicrosoftDocs/azure-docs articles/azure-functions/event-driven-scaling.md, page dated
      // 08/03/2026). The floor of 40 dates from the preview (flex-consumption-plan.md dated
      // 05/24/2024: "The lowest maximum scale in preview is `40`") and no longer applies.
      maximumInstanceCount: cfg.getNumber('functionMaxInstances', { min: FLEX_MAX_INSTANCES.min, max: FLEX_MAX_INSTANCES.max }) ?? 40,
      instanceMemoryMB: cfg.getNumber('functionInstanceMemoryMB') ?? 2048,
    },
    registry: {
      sku: (cfg.get('registrySku') as PlatformConfig['registry']['sku'] | undefined) ?? 'Basic',
    },
  };
}
