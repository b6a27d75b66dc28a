/**
 * Azure Database for PostgreSQL Flexible Server: Microsoft Entra authentication only (password
 * authentication is off, so the program holds no administrator password), the pooled database,
 * and one database per siloed tenant from configuration.
 *
 * The identity that runs the pipeline is an Entra administrator: it applies migrations and creates
 * the app's own login (see docs/infrastructure.md). The app's managed identity is never an
 * administrator; it logs in as an ordinary role that the migrations grant the service roles to.
 */
import * as pulumi from '@pulumi/pulumi';
import { Administrator, Database, FirewallRule, Server } from '@pulumi/azure-native/dbforpostgresql/index.js';
import { siloDatabaseName, type PlatformConfig } from './config.js';
import type { Placement } from './monitoring.js';

/** The deploying identity, as the Azure client configuration reports it. */
export interface Deployer {
  tenantId: pulumi.Input<string>;
  objectId: pulumi.Input<string>;
}

/** PostgreSQL resources. */
export interface PlatformDatabase {
  server: Server;
  administrators: Administrator[];
  firewallRules: FirewallRule[];
  pooled: Database;
  /** Siloed databases by silo name. */
  silos: Record<string, Database>;
}

/** Creates the server and its databases. */
export function createDatabase(
  at: Placement,
  config: PlatformConfig,
  deployer: Deployer,
  opts: pulumi.CustomResourceOptions,
): PlatformDatabase {
  const pg = config.postgres;
  const server = new Server(
    'postgres',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      version: pg.version,
      sku: { name: pg.skuName, tier: pg.skuTier },
      storage: { storageSizeGB: pg.storageSizeGB, autoGrow: 'Enabled' },
      backup: { backupRetentionDays: pg.backupRetentionDays, geoRedundantBackup: 'Disabled' },
      highAvailability: { mode: pg.highAvailability ? 'ZoneRedundant' : 'Disabled' },
      authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Disabled', tenantId: deployer.tenantId },
      network: { publicNetworkAccess: 'Enabled' },
    },
    opts,
  );

  // The server accepts one change at a time; parallel child operations fail with "ServerIsBusy".
  // Each child below therefore waits for the previous one.
  let previous: pulumi.Resource = server;
  const next = <T extends pulumi.Resource>(make: (o: pulumi.CustomResourceOptions) => T): T => {
    const r = make({ ...opts, dependsOn: [previous] });
    previous = r;
    return r;
  };

  const admins = [
    { key: 'deployer', objectId: deployer.objectId, name: pg.deployerPrincipalName, type: 'ServicePrincipal' },
    ...pg.extraAdmins.map((a) => ({ key: a.name, objectId: a.objectId, name: a.name, type: a.type })),
  ];
  const administrators = admins.map((a) =>
    next(
      (o) =>
        new Administrator(
          `postgres-admin-${a.key}`,
          {
            resourceGroupName: at.resourceGroupName,
            serverName: server.name,
            objectId: a.objectId,
            principalName: a.name,
            principalType: a.type,
            tenantId: deployer.tenantId,
          },
          o,
        ),
    ),
  );

  const firewallRules: FirewallRule[] = [];
  if (pg.allowAzureServices) {
    // 0.0.0.0–0.0.0.0 is Azure's convention for "Azure services": a Flex Consumption app without
    // virtual-network integration has no fixed outbound address to allow instead.
    firewallRules.push(
      next(
        (o) =>
          new FirewallRule(
            'postgres-allow-azure',
            {
              resourceGroupName: at.resourceGroupName,
              serverName: server.name,
              firewallRuleName: 'AllowAllAzureServicesAndResourcesWithinAzureIps',
              startIpAddress: '0.0.0.0',
              endIpAddress: '0.0.0.0',
            },
            o,
          ),
      ),
    );
  }

  const database = (logical: string, name: string) =>
    next(
      (o) =>
        new Database(
          logical,
          { resourceGroupName: at.resourceGroupName, serverName: server.name, databaseName: name, charset: 'UTF8', collation: 'en_US.utf8' },
          o,
        ),
    );
  const pooled = database('postgres-db-pooled', pg.database);
  const silos: Record<string, Database> = {};
  for (const silo of pg.silos) silos[silo] = database(`postgres-db-silo-${silo}`, siloDatabaseName(silo));

  return { server, administrators, firewallRules, pooled, silos };
}
