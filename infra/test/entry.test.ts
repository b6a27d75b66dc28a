/**
 * The program's entry point, as `pulumi up` runs it: reads the stack's configuration and exports
 * the outputs the delivery pipeline reads.
 */
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { installMocks, TENANT, valueOf, type Recording } from './harness.js';

let recording: Recording;
let outputs: Record<string, unknown>;

beforeAll(async () => {
  recording = await installMocks('dev');
  pulumi.runtime.setAllConfig({
    'azure-native:location': 'westeurope',
    'runtime-platform:deployerPrincipalName': 'runtime-platform-pipeline',
    'runtime-platform:functionAppName': 'func-rp-dev-contoso',
  });
  outputs = { ...(await import('../src/index.js')) };
});

describe('stack outputs', () => {
  it('name what the pipeline needs to migrate and deploy', async () => {
    const resolved = Object.fromEntries(
      await Promise.all(Object.entries(outputs).map(async ([k, v]) => [k, await valueOf(v as pulumi.Input<unknown>)] as const)),
    );
    expect(resolved).toMatchObject({
      resourceGroupName: 'rg-runtime-platform-dev',
      functionAppName: 'func-rp-dev-contoso',
      functionAppHostName: 'func-rp-dev-contoso.azurewebsites.net',
      postgresHost: 'postgres.postgres.database.azure.com',
      postgresDatabase: 'runtime_platform',
      postgresAdminName: 'runtime-platform-pipeline',
      siloDatabases: {},
      sqlSilos: '{}',
      authIssuer: `https://login.microsoftonline.com/${TENANT}/v2.0`,
      authAudience: 'api://runtime-platform',
      keyVaultUrl: 'https://rpkv.vault.azure.net/',
    });
    expect(recording.resources.map((r) => r.type)).toEqual(
      expect.arrayContaining(['azure-native:web:WebApp', 'azure-native:dbforpostgresql:Server', 'azure-native:keyvault:Vault']),
    );
  });
});
