/**
 * Entry point of the Pulumi program: one stack per platform environment. The outputs below are
 * what the delivery pipeline reads after `pulumi up` (see docs/infrastructure.md).
 */
import * as pulumi from '@pulumi/pulumi';
import { readConfig } from './config.js';
import { createPlatform } from './platform.js';

const config = readConfig();
const platform = createPlatform(config);

export const resourceGroupName = platform.resourceGroup.name;
export const functionAppName = platform.functionApp.app.name;
export const functionAppHostName = platform.functionApp.app.defaultHostName;
export const functionAppPrincipalId = platform.functionApp.app.identity.apply((i) => i?.principalId);
export const postgresHost = platform.database.server.fullyQualifiedDomainName;
export const postgresServerName = platform.database.server.name;
export const postgresDatabase = platform.database.pooled.name;
export const postgresAdminName = config.postgres.deployerPrincipalName;
export const siloDatabases = Object.fromEntries(Object.entries(platform.database.silos).map(([silo, db]) => [silo, db.name]));
const settings = platform.functionApp.settings;
export const sqlSilos = pulumi.output(settings['SQL_SILOS']);
export const authIssuer = pulumi.output(settings['AUTH_ISSUER']);
export const authJwksUri = pulumi.output(settings['AUTH_JWKS_URI']);
/** The API's audience: the post-deploy smoke test asks Entra for a token for it. */
export const authAudience = config.auth.audience;
export const cosmosEndpoint = platform.cosmos.account.documentEndpoint;
export const keyVaultUrl = platform.vault.properties.apply((p) => p.vaultUri);
export const registryLoginServer = platform.registry.loginServer;
