/**
 * The Function App on Flex Consumption: Node.js 20, a system-assigned managed identity, and app
 * settings that hold no secret. Every connection is identity-based (`…__accountName`, endpoints
 * and URLs); the Application Insights connection string carries an instrumentation key, which is
 * an identifier, not a credential.
 */
import * as pulumi from '@pulumi/pulumi';
import { AppServicePlan, WebApp, WebAppFtpAllowed, WebAppScmAllowed } from '@pulumi/azure-native/web/index.js';
import { siloDatabaseName, type PlatformConfig } from './config.js';
import type { Placement } from './monitoring.js';

/** Values the app settings are made of; all of them are addresses or names. */
export interface AppSettingInputs {
  tenantId: pulumi.Input<string>;
  hostStorageAccountName: pulumi.Input<string>;
  dataBlobEndpoint: pulumi.Input<string>;
  dataQueueEndpoint: pulumi.Input<string>;
  artifactsContainer: pulumi.Input<string>;
  eventsQueue: pulumi.Input<string>;
  postgresHost: pulumi.Input<string>;
  cosmosEndpoint: pulumi.Input<string>;
  keyVaultUrl: pulumi.Input<string>;
  appInsightsConnectionString: pulumi.Input<string>;
}

/** The app's settings: the names shared/settings.ts reads, plus the host's identity-based storage. */
export function appSettings(config: PlatformConfig, v: AppSettingInputs): Record<string, pulumi.Input<string>> {
  const silos = pulumi.output(v.postgresHost).apply((host) =>
    JSON.stringify(Object.fromEntries(config.postgres.silos.map((s) => [s, { host, database: siloDatabaseName(s) }]))),
  );
  return {
    // Functions host: storage, Durable Functions task hub and telemetry, all without keys.
    AzureWebJobsStorage__accountName: v.hostStorageAccountName,
    DURABLE_TASK_HUB: taskHubName(config.environment),
    APPLICATIONINSIGHTS_CONNECTION_STRING: v.appInsightsConnectionString,
    // Authentication: Microsoft Entra ID tokens, verified in-app against the tenant's JWKS.
    AUTH_MODE: 'entra',
    AUTH_ISSUER: pulumi.interpolate`https://login.microsoftonline.com/${v.tenantId}/v2.0`,
    AUTH_JWKS_URI: pulumi.interpolate`https://login.microsoftonline.com/${v.tenantId}/discovery/v2.0/keys`,
    AUTH_AUDIENCE: config.auth.audience,
    AUTH_PLATFORM_ADMINS: config.auth.platformAdmins.join(','),
    // PostgreSQL: Entra token of the managed identity; its login name is the app's name.
    SQL_HOST: v.postgresHost,
    SQL_DATABASE: config.postgres.database,
    SQL_USER: config.functionApp.name,
    SQL_PORT: '5432',
    SQL_SSL: 'true',
    SQL_SILOS: silos,
    // Blob and Queue, Cosmos DB, Key Vault: endpoints only; the managed identity authenticates.
    STORAGE_BLOB_URL: v.dataBlobEndpoint,
    STORAGE_QUEUE_URL: v.dataQueueEndpoint,
    ARTIFACTS_CONTAINER: v.artifactsContainer,
    EVENTS_QUEUE: v.eventsQueue,
    COSMOS_ENDPOINT: v.cosmosEndpoint,
    COSMOS_DATABASE: config.cosmos.database,
    KEYVAULT_URL: v.keyVaultUrl,
  };
}

/** Task hub names are 3–45 letters and digits, starting with a letter. */
export function taskHubName(environment: string): string {
  return `runtimeplatform${environment.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 45);
}

/** The Flex Consumption plan and the Function App. */
export interface PlatformFunctionApp {
  plan: AppServicePlan;
  app: WebApp;
  /** The app settings given to the app (ARM does not return them with the site). */
  settings: Record<string, pulumi.Input<string>>;
  /** Basic-auth publishing (FTP and SCM) is switched off: deployments use Entra tokens. */
  basicAuthOff: [WebAppFtpAllowed, WebAppScmAllowed];
}

/** Creates the plan and the app. */
export function createFunctionApp(
  at: Placement,
  config: PlatformConfig,
  deploymentContainerUrl: pulumi.Input<string>,
  settings: Record<string, pulumi.Input<string>>,
  opts: pulumi.CustomResourceOptions,
): PlatformFunctionApp {
  const name = config.functionApp.name;
  const plan = new AppServicePlan(
    'plan',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      kind: 'functionapp',
      reserved: true, // Linux
      sku: { name: 'FC1', tier: 'FlexConsumption' },
    },
    opts,
  );
  const app = new WebApp(
    'app',
    {
      name,
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      kind: 'functionapp,linux',
      serverFarmId: plan.id,
      httpsOnly: true,
      identity: { type: 'SystemAssigned' },
      functionAppConfig: {
        runtime: { name: 'node', version: '20' },
        deployment: {
          storage: { type: 'blobContainer', value: deploymentContainerUrl, authentication: { type: 'SystemAssignedIdentity' } },
        },
        scaleAndConcurrency: {
          maximumInstanceCount: config.functionApp.maximumInstanceCount,
          instanceMemoryMB: config.functionApp.instanceMemoryMB,
        },
      },
      siteConfig: {
        appSettings: Object.entries(settings).map(([settingName, value]) => ({ name: settingName, value })),
        minTlsVersion: '1.2',
        ftpsState: 'Disabled',
        http20Enabled: true,
      },
    },
    opts,
  );
  const basicAuthOff: [WebAppFtpAllowed, WebAppScmAllowed] = [
    new WebAppFtpAllowed('app-ftp-basic-auth-off', { resourceGroupName: at.resourceGroupName, name: app.name, allow: false }, opts),
    new WebAppScmAllowed('app-scm-basic-auth-off', { resourceGroupName: at.resourceGroupName, name: app.name, allow: false }, opts),
  ];
  return { plan, app, settings, basicAuthOff };
}
