/**
 * Log Analytics, Application Insights, and the diagnostic settings that send every store's logs
 * and metrics to the workspace.
 */
import * as pulumi from '@pulumi/pulumi';
import { Component } from '@pulumi/azure-native/applicationinsights/index.js';
import { DiagnosticSetting } from '@pulumi/azure-native/monitor/index.js';
import { Workspace } from '@pulumi/azure-native/operationalinsights/index.js';
import type { PlatformConfig } from './config.js';

/** Where a resource lives; every module takes this. */
export interface Placement {
  resourceGroupName: pulumi.Input<string>;
  location: string;
  tags: Record<string, string>;
}

/** The workspace and the Application Insights component built on it. */
export interface Monitoring {
  workspace: Workspace;
  appInsights: Component;
}

/** Creates the Log Analytics workspace and a workspace-based Application Insights component. */
export function createMonitoring(at: Placement, config: PlatformConfig, opts: pulumi.CustomResourceOptions): Monitoring {
  const workspace = new Workspace(
    'logs',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      sku: { name: 'PerGB2018' },
      retentionInDays: config.logRetentionDays,
    },
    opts,
  );
  const appInsights = new Component(
    'insights',
    {
      resourceGroupName: at.resourceGroupName,
      location: at.location,
      tags: at.tags,
      kind: 'web',
      applicationType: 'web',
      ingestionMode: 'LogAnalytics',
      workspaceResourceId: workspace.id,
      retentionInDays: config.logRetentionDays,
    },
    opts,
  );
  return { workspace, appInsights };
}

/**
 * What each kind of resource can send. Storage accounts only emit metrics at account level; their
 * logs come from each service (`blobServices/default`, …). Cosmos DB's metric category is
 * `Requests`, and its logs go to resource-specific tables (`Dedicated`).
 */
const profiles = {
  storageAccount: { logs: [], metrics: ['Transaction'] },
  storageService: { logs: ['allLogs'], metrics: ['Transaction'] },
  keyVault: { logs: ['allLogs'], metrics: ['AllMetrics'] },
  postgres: { logs: ['allLogs'], metrics: ['AllMetrics'] },
  cosmos: { logs: ['allLogs'], metrics: ['Requests'], dedicated: true },
  registry: { logs: ['allLogs'], metrics: ['AllMetrics'] },
  functionApp: { logs: ['allLogs'], metrics: ['AllMetrics'] },
} satisfies Record<string, { logs: string[]; metrics: string[]; dedicated?: boolean }>;

export type DiagnosticProfile = keyof typeof profiles;

/** Sends a resource's logs and metrics to the workspace. */
export function sendDiagnostics(
  name: string,
  resourceUri: pulumi.Input<string>,
  profile: DiagnosticProfile,
  workspace: Workspace,
  opts: pulumi.CustomResourceOptions,
): DiagnosticSetting {
  const p: { logs: string[]; metrics: string[]; dedicated?: boolean } = profiles[profile];
  return new DiagnosticSetting(
    `diag-${name}`,
    {
      name: 'to-log-analytics',
      resourceUri,
      workspaceId: workspace.id,
      logs: p.logs.map((categoryGroup) => ({ categoryGroup, enabled: true })),
      metrics: p.metrics.map((category) => ({ category, enabled: true })),
      ...(p.dedicated ? { logAnalyticsDestinationType: 'Dedicated' } : {}),
    },
    opts,
  );
}
