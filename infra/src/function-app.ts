/**
 * The Function App on Flex Consumption: Node.js 22, a system-assigned managed identity, and app
 * settings that hold no secret. Every connection is identity-based (`…__accountName`, endpoints
 * and URLs); the Application Insights connection string carries an instrumentation key, which is
 * an identifier, not a credential.
 *
 * The app is declared WITHOUT `siteConfig`. Whenever `siteConfig` is given, the azure-native SDK
 * fills in defaults before sending it (`siteConfigArgsProvideDefaults` in
 * `@pulumi/azure-native/types/input.js`: `netFrameworkVersion: "v4.6"`, `http20Enabled`,
 * `localMySqlEnabled`), and Flex Consumption rejects `netFrameworkVersion` and `ftpsState`:
 * "The following site configuration property (Site.SiteConfig.NetFrameworkVersion) for Flex
 * Consumption sites is invalid" (pulumi/pulumi-azure-native#4168;
 * microsoft/azure-pipelines-tasks#21032 lists FtpsState, Use32BitWorkerProcess,
 * NetFrameworkVersion and FunctionsRuntimeScaleMonitoringEnabled). The app settings are therefore
 * a separate `WebAppApplicationSettings` resource (`sites/<app>/config/appsettings`), which owns
 * the whole set: a setting added by hand is removed by the next `pulumi up`.
 *
 * Runtime: Node.js 22 from `functionAppConfig.runtime` (Microsoft's own Flex Consumption
 * quickstart uses `runtimeName: 'node'`, `runtimeVersion: '22'`:
 * Azure-Samples/functions-quickstart-typescript-azd infra/main.bicep).
 */
import * as pulumi from '@pulumi/pulumi';
import { AppServicePlan, WebApp, WebAppApplicationSettings, WebAppFtpAllowed, WebAppScmAllowed } from '@pulumi/azure-native/web/index.js';
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
  if (!config.auth.clientId) {
    void pulumi.log.warn('authClientId is not set: the app accepts only tokens whose aud is authAudience, so Entra v2.0 tokens (aud = client id) are refused');
  }
  const silos = pulumi.output(v.postgresHost).apply((host) =>
    JSON.stringify(Object.fromEntries(config.postgres.silos.map((s) => [s, { host, database: siloDatabaseName(s) }]))),
  );
  return entraOnly({
    // Functions host: storage, Durable Functions task hub and telemetry, all without keys.
    AzureWebJobsStorage__accountName: v.hostStorageAccountName,
    DURABLE_TASK_HUB: taskHubName(config.environment),
    APPLICATIONINSIGHTS_CONNECTION_STRING: v.appInsightsConnectionString,
    // Authentication: Microsoft Entra ID tokens, verified in-app against the tenant's JWKS. v2.0
    // tokens carry the API's client id as `aud`, v1.0 tokens its application id URI.
    AUTH_MODE: 'entra',
    AUTH_ISSUER: pulumi.interpolate`https://login.microsoftonline.com/${v.tenantId}/v2.0`,
    AUTH_JWKS_URI: pulumi.interpolate`https://login.microsoftonline.com/${v.tenantId}/discovery/v2.0/keys`,
    AUTH_AUDIENCE: config.auth.audience,
    ...(config.auth.clientId ? { AUTH_CLIENT_ID: config.auth.clientId } : {}),
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
  });
}

/**
 * The local dev issuer's opt-in, which no deployment may carry: the app accepts dev tokens only
 * with `AUTH_MODE=dev` and `AUTH_DEV_ALLOW=local` (and refuses both on any Azure host anyway).
 */
export const DEV_AUTH_SETTINGS = ['AUTH_DEV_ALLOW', 'AUTH_DEV_KEY_FILE'] as const;

/** Returns `settings` after checking they verify Entra tokens and never enable the dev issuer. */
export function entraOnly(settings: Record<string, pulumi.Input<string>>): Record<string, pulumi.Input<string>> {
  if (settings['AUTH_MODE'] !== 'entra') throw new Error(`app settings: AUTH_MODE must be 'entra', not ${JSON.stringify(settings['AUTH_MODE'])}`);
  const dev = DEV_AUTH_SETTINGS.filter((k) => k in settings);
  if (dev.length > 0) throw new Error(`app settings: ${dev.join(', ')} enable the local dev issuer and are never set in Azure`);
  return settings;
}

/** Task hub names are 3–45 letters and digits, starting with a letter. */
export function taskHubName(environment: string): string {
  return `runtimeplatform${environment.replace(/[^A-Za-z0-9]/g, '')}`.slice(0, 45);
}

/** The Node.js major version the app runs on (`functionAppConfig.runtime`). */
export const NODE_RUNTIME_VERSION = '22';

/** The Flex Consumption plan and the Function App. */
export interface PlatformFunctionApp {
  plan: AppServicePlan;
  app: WebApp;
  /** The app settings given to the app (ARM does not return them with the site). */
  settings: Record<string, pulumi.Input<string>>;
  /** The resource that writes them (`config/appsettings`). */
  appSettings: WebAppApplicationSettings;
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
        runtime: { name: 'node', version: NODE_RUNTIME_VERSION },
        deployment: {
          storage: { type: 'blobContainer', value: deploymentContainerUrl, authentication: { type: 'SystemAssignedIdentity' } },
        },
        scaleAndConcurrency: {
          maximumInstanceCount: config.functionApp.maximumInstanceCount,
          instanceMemoryMB: config.functionApp.instanceMemoryMB,
        },
      },
      // No siteConfig: see the module comment. FTP(S) is closed by WebAppFtpAllowed below rather
      // than by siteConfig.ftpsState, which Flex Consumption rejects.
    },
    opts,
  );
  const appSettings = new WebAppApplicationSettings(
    'app-settings',
    { name: app.name, resourceGroupName: at.resourceGroupName, properties: settings },
    opts,
  );
  const basicAuthOff: [WebAppFtpAllowed, WebAppScmAllowed] = [
    new WebAppFtpAllowed('app-ftp-basic-auth-off', { resourceGroupName: at.resourceGroupName, name: app.name, allow: false }, opts),
    new WebAppScmAllowed('app-scm-basic-auth-off', { resourceGroupName: at.resourceGroupName, name: app.name, allow: false }, opts),
  ];
  return { plan, app, settings, appSettings, basicAuthOff };
}
