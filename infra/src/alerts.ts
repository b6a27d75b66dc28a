/**
 * The alert rules on the telemetry the app sends (docs/operations.md, "Telemetry items"), and the
 * action group that notifies the operators.
 *
 * Every rule is a log search alert (`ScheduledQueryRule`, kind `LogAlert`) scoped to the
 * Application Insights component. A query run in the component's scope uses the Application
 * Insights schema (`customEvents`, `requests`, column `name`, `resultCode`), also for a
 * workspace-based component; the workspace's own tables (`AppEvents`, `AppRequests`) are only
 * queried in the workspace's scope. Source: "Migrate to workspace-based Application Insights
 * resources", sections "Understanding log queries" and "Workspace-based resource changes"
 * (https://learn.microsoft.com/azure/azure-monitor/app/convert-classic-resource,
 * MicrosoftDocs/azure-docs `articles/azure-monitor/app/convert-classic-resource.md`), and the
 * Azure Monitor table reference (AppEvents, AppRequests: resource type `microsoft.insights/components`).
 *
 * The event names are the app's constants (functions/platform/isolation-check.ts,
 * functions/platform/outbox.ts, functions/secrets/telemetry.ts, functions/drift/telemetry.ts), and
 * the request fields are those the app's request telemetry carries (shared/tracing.ts: the
 * `trigger` custom dimension, `resultCode`); the infra tests read them from there and check each
 * query.
 */
import * as pulumi from '@pulumi/pulumi';
import type { Component } from '@pulumi/azure-native/applicationinsights/index.js';
import { ActionGroup, ScheduledQueryRule } from '@pulumi/azure-native/monitor/index.js';
import type { PlatformConfig } from './config.js';
import type { Placement } from './monitoring.js';

/** The custom events the rules query (the same strings as the app's constants). */
export const EVENTS = {
  isolationCheckFailed: 'IsolationCheckFailed',
  isolationCheckPassed: 'IsolationCheckPassed',
  outboxDeadLettered: 'OutboxEventsDeadLettered',
  secretRotationFailed: 'SecretRotationFailed',
  driftScanStarted: 'DriftScanStarted',
  driftScanFinished: 'DriftScanFinished',
} as const;

/**
 * The fields of the app's request telemetry the 5xx rule reads: its own requests carry the
 * `trigger` custom dimension (`http` for HTTP functions); the Functions host's requests, which
 * share their operation, carry none, so each invocation counts once.
 */
export const REQUESTS = {
  triggerDimension: 'trigger',
  httpTrigger: 'http',
} as const;

/** How long a drift scan may run before the drift-scan rule reports it as not finished. */
export const DRIFT_SCAN_DEADLINE_HOURS = 6;
/** The 5xx rule fires above this share of server errors among the HTTP requests of its window… */
export const HTTP_5XX_MAX_PERCENT = 5;
/** …when the window holds at least this many requests (one 500 of 3 is not an outage). */
export const HTTP_5XX_MIN_REQUESTS = 20;

/** One rule: what it queries and when it fires. */
export interface AlertSpec {
  /** The logical name and the rule's name suffix. */
  key: string;
  displayName: string;
  description: string;
  /** 0 (critical) … 4 (verbose). */
  severity: 0 | 1 | 2 | 3 | 4;
  query: string;
  operator: 'GreaterThan' | 'LessThan';
  threshold: number;
  /** ISO 8601 durations. */
  evaluationFrequency: string;
  windowSize: string;
  /** Resolve the alert by itself once the condition no longer holds. */
  autoMitigate: boolean;
}

const q = (s: string) => JSON.stringify(s);

/** The rules, in the order of docs/operations.md. Each counts the rows its query returns. */
export const ALERTS: readonly AlertSpec[] = [
  {
    key: 'isolation-check-failed',
    displayName: 'Tenant isolation check failed',
    description: `The continuous isolation check sent ${EVENTS.isolationCheckFailed}: tenant isolation is not proven. Read the findings (GET /api/platform/isolation-check) and see docs/operations.md.`,
    severity: 0,
    query: `customEvents | where name == ${q(EVENTS.isolationCheckFailed)}`,
    operator: 'GreaterThan',
    threshold: 0,
    evaluationFrequency: 'PT5M',
    windowSize: 'PT15M',
    autoMitigate: true,
  },
  {
    key: 'isolation-check-missing',
    displayName: 'Tenant isolation check stopped running',
    description: `No ${EVENTS.isolationCheckPassed} nor ${EVENTS.isolationCheckFailed} event in 2 hours: the hourly isolationCheck timer is not running or not reporting.`,
    severity: 1,
    query: `customEvents | where name in (${q(EVENTS.isolationCheckPassed)}, ${q(EVENTS.isolationCheckFailed)})`,
    operator: 'LessThan',
    threshold: 1,
    evaluationFrequency: 'PT1H',
    windowSize: 'PT2H',
    autoMitigate: true,
  },
  {
    key: 'outbox-dead-lettered',
    displayName: 'Outbox events dead-lettered',
    description: `A publishing pass sent ${EVENTS.outboxDeadLettered}: look at the dead letters (GET /api/platform/outbox/dead-letters), fix the cause, re-drive.`,
    severity: 2,
    query: `customEvents | where name == ${q(EVENTS.outboxDeadLettered)}`,
    operator: 'GreaterThan',
    threshold: 0,
    evaluationFrequency: 'PT15M',
    windowSize: 'PT15M',
    autoMitigate: true,
  },
  {
    key: 'secret-rotation-failed',
    displayName: 'Secret rotation failed',
    description: `A secret rotation sent ${EVENTS.secretRotationFailed} (properties tenantId, bindingId, instanceId, code): the binding still points at its old version. Read the rotation's status and see docs/operations.md.`,
    severity: 1,
    query: `customEvents | where name == ${q(EVENTS.secretRotationFailed)}`,
    operator: 'GreaterThan',
    threshold: 0,
    evaluationFrequency: 'PT15M',
    windowSize: 'PT15M',
    autoMitigate: true,
  },
  {
    key: 'drift-scan-unfinished',
    displayName: 'Drift scan did not finish',
    description: `A drift scan sent ${EVENTS.driftScanStarted} more than ${DRIFT_SCAN_DEADLINE_HOURS} hours ago and no ${EVENTS.driftScanFinished} with outcome succeeded: it failed, hangs, or stopped reporting. One row per scan (scanId, tenantId, environmentId).`,
    severity: 2,
    // Over the last day: scans started before the deadline without a successful finish.
    query: [
      `customEvents`,
      `| where name in (${q(EVENTS.driftScanStarted)}, ${q(EVENTS.driftScanFinished)})`,
      `| extend scanId = tostring(customDimensions.scanId), outcome = tostring(customDimensions.outcome)`,
      `| summarize startedAt = minif(timestamp, name == ${q(EVENTS.driftScanStarted)}), succeeded = countif(name == ${q(EVENTS.driftScanFinished)} and outcome == "succeeded"),`,
      `    tenantId = take_any(tostring(customDimensions.tenantId)), environmentId = take_any(tostring(customDimensions.environmentId)) by scanId`,
      `| where isnotnull(startedAt) and startedAt < ago(${DRIFT_SCAN_DEADLINE_HOURS}h) and succeeded == 0`,
    ].join('\n'),
    operator: 'GreaterThan',
    threshold: 0,
    evaluationFrequency: 'PT1H',
    windowSize: 'P1D',
    autoMitigate: true,
  },
  {
    key: 'http-5xx',
    displayName: 'HTTP API 5xx rate',
    description: `More than ${HTTP_5XX_MAX_PERCENT}% of the HTTP API's requests answered with a 5xx status over 15 minutes (of at least ${HTTP_5XX_MIN_REQUESTS} requests).`,
    severity: 2,
    // resultCode is a string; itemCount counts what sampling (if ever turned on) left out.
    query: [
      `requests`,
      `| where tostring(customDimensions.${REQUESTS.triggerDimension}) == ${q(REQUESTS.httpTrigger)}`,
      `| summarize total = sum(itemCount), serverErrors = sumif(itemCount, toint(resultCode) >= 500)`,
      `| extend failedPercent = 100.0 * serverErrors / total`,
      `| where total >= ${HTTP_5XX_MIN_REQUESTS} and failedPercent > ${HTTP_5XX_MAX_PERCENT}`,
    ].join('\n'),
    operator: 'GreaterThan',
    threshold: 0,
    evaluationFrequency: 'PT5M',
    windowSize: 'PT15M',
    autoMitigate: true,
  },
];

/** The action group (absent when no receiver is configured) and the rules. */
export interface PlatformAlerts {
  actionGroup: ActionGroup | undefined;
  rules: Record<string, ScheduledQueryRule>;
}

/**
 * Declares the action group and the rules. Without `alertEmails` the rules are still created,
 * with no action: they show in the portal's alerts but notify nobody.
 */
export function createAlerts(
  at: Placement,
  config: PlatformConfig,
  appInsights: Component,
  opts: pulumi.CustomResourceOptions,
): PlatformAlerts {
  const emails = config.alertEmails;
  let actionGroup: ActionGroup | undefined;
  if (emails.length > 0) {
    actionGroup = new ActionGroup(
      'alerts',
      {
        resourceGroupName: at.resourceGroupName,
        location: 'Global',
        tags: at.tags,
        enabled: true,
        // At most 12 characters (the SMS and e-mail sender name).
        groupShortName: 'rp-alerts',
        emailReceivers: emails.map((emailAddress, i) => ({ name: `email-${i + 1}`, emailAddress, useCommonAlertSchema: true })),
      },
      opts,
    );
  } else {
    void pulumi.log.warn(
      'alertEmails is not set: the alert rules are created without an action group and notify nobody',
    );
  }

  const rules: Record<string, ScheduledQueryRule> = {};
  for (const spec of ALERTS) {
    rules[spec.key] = new ScheduledQueryRule(
      `alert-${spec.key}`,
      {
        resourceGroupName: at.resourceGroupName,
        location: at.location,
        tags: at.tags,
        kind: 'LogAlert',
        displayName: `${spec.displayName} (${config.environment})`,
        description: spec.description,
        enabled: true,
        severity: spec.severity,
        scopes: [appInsights.id],
        evaluationFrequency: spec.evaluationFrequency,
        windowSize: spec.windowSize,
        autoMitigate: spec.autoMitigate,
        criteria: {
          allOf: [
            {
              query: spec.query,
              timeAggregation: 'Count',
              operator: spec.operator,
              threshold: spec.threshold,
              failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
            },
          ],
        },
        ...(actionGroup ? { actions: { actionGroups: [actionGroup.id] } } : {}),
      },
      opts,
    );
  }
  return { actionGroup, rules };
}
