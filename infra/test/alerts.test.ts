/**
 * The alert rules under Pulumi's mocks, with receivers configured: each rule exists with its
 * severity, its scope (the Application Insights component) and the action group, and each query
 * names the telemetry the app actually sends — the event names are the app's own constants, and
 * the request fields are those of the app's request telemetry (shared/tracing.ts; what arrives is
 * proven in test/operations-telemetry.test.ts).
 */
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { ISOLATION_CHECK_FAILED, ISOLATION_CHECK_PASSED } from '../../functions/platform/isolation-check.js';
import { OUTBOX_DEAD_LETTERED } from '../../functions/platform/outbox.js';
import { SECRET_ROTATION_FAILED } from '../../functions/secrets/telemetry.js';
import { DRIFT_SCAN_FINISHED, DRIFT_SCAN_STARTED } from '../../functions/drift/telemetry.js';
import { REQUEST_DIMENSIONS, TRIGGER_KINDS } from '../../shared/tracing.js';
import { ALERTS, DRIFT_SCAN_DEADLINE_HOURS, EVENTS, HTTP_5XX_MAX_PERCENT, HTTP_5XX_MIN_REQUESTS, REQUESTS } from '../src/alerts.js';
import { readConfig } from '../src/config.js';
import type { Platform } from '../src/platform.js';
import { installMocks, settled, type Recorded, type Recording } from './harness.js';

const EMAILS = ['oncall@example.com', 'platform-team@example.com'];

let recording: Recording;
let platform: Platform;

const of = (type: string) => recording.resources.filter((r) => r.type === `azure-native:${type}`);
const rule = (key: string): Recorded => {
  const found = of('monitor:ScheduledQueryRule').filter((r) => r.name === `alert-${key}`);
  expect(found, key).toHaveLength(1);
  return found[0]!;
};
const queryOf = (r: Recorded): string => {
  const allOf = r.inputs['criteria'].allOf as any[];
  expect(allOf).toHaveLength(1);
  return allOf[0].query as string;
};

beforeAll(async () => {
  recording = await installMocks('staging');
  pulumi.runtime.setAllConfig({
    'azure-native:location': 'westeurope',
    'runtime-platform:deployerPrincipalName': 'runtime-platform-pipeline',
    'runtime-platform:alertEmails': JSON.stringify(EMAILS),
  });
  const config = readConfig();
  const { createPlatform } = await import('../src/platform.js');
  platform = createPlatform(config);
  const count = await settled(platform);
  expect(recording.resources).toHaveLength(count);
});

describe('action group', () => {
  it('has one e-mail receiver per configured address, with the common alert schema', () => {
    const groups = of('monitor:ActionGroup');
    expect(groups).toHaveLength(1);
    const group = groups[0]!;
    expect(group.inputs['enabled']).toBe(true);
    expect(group.inputs['location']).toBe('Global');
    expect((group.inputs['groupShortName'] as string).length).toBeLessThanOrEqual(12);
    expect(group.inputs['emailReceivers']).toEqual(
      EMAILS.map((emailAddress, i) => ({ name: `email-${i + 1}`, emailAddress, useCommonAlertSchema: true })),
    );
    expect(platform.alerts.actionGroup).toBeDefined();
  });
});

describe('alert rules', () => {
  it('the infra event names are the app’s constants', () => {
    expect(EVENTS).toEqual({
      isolationCheckFailed: ISOLATION_CHECK_FAILED,
      isolationCheckPassed: ISOLATION_CHECK_PASSED,
      outboxDeadLettered: OUTBOX_DEAD_LETTERED,
      secretRotationFailed: SECRET_ROTATION_FAILED,
      driftScanStarted: DRIFT_SCAN_STARTED,
      driftScanFinished: DRIFT_SCAN_FINISHED,
    });
  });

  it('the request fields are those the app’s request telemetry carries', () => {
    // Every registered function runs in a request span whose `trigger` dimension is its trigger kind.
    expect(REQUESTS.triggerDimension).toBe(REQUEST_DIMENSIONS.trigger);
    expect(TRIGGER_KINDS).toContain(REQUESTS.httpTrigger);
  });

  it('declares exactly the six rules', () => {
    expect(of('monitor:ScheduledQueryRule').map((r) => r.name).sort()).toEqual([
      'alert-drift-scan-unfinished',
      'alert-http-5xx',
      'alert-isolation-check-failed',
      'alert-isolation-check-missing',
      'alert-outbox-dead-lettered',
      'alert-secret-rotation-failed',
    ]);
    expect(ALERTS).toHaveLength(6);
  });

  it('every rule is an enabled log alert on the Application Insights component, notifying the action group', () => {
    const component = of('applicationinsights:Component');
    expect(component).toHaveLength(1);
    const group = of('monitor:ActionGroup')[0]!;
    for (const r of of('monitor:ScheduledQueryRule')) {
      expect(r.inputs['kind'], r.name).toBe('LogAlert');
      expect(r.inputs['enabled'], r.name).toBe(true);
      expect(r.inputs['scopes'], r.name).toEqual([component[0]!.id]);
      expect(r.inputs['scopes'][0], r.name).toMatch(/\/providers\/Microsoft\.Insights\/components\//);
      expect(r.inputs['actions'], r.name).toEqual({ actionGroups: [group.id] });
      // Scoped to the component: the Application Insights schema, never the workspace's tables.
      expect(queryOf(r), r.name).toMatch(/^(customEvents|requests)\s*\|/);
      expect(queryOf(r), r.name).not.toMatch(/\bApp(Events|Requests|Traces)\b/);
    }
  });

  it('IsolationCheckFailed: severity 0, on the app’s failure event, every 5 minutes', () => {
    const r = rule('isolation-check-failed');
    expect(r.inputs['severity']).toBe(0);
    expect(queryOf(r)).toContain(`"${ISOLATION_CHECK_FAILED}"`);
    expect(queryOf(r)).toMatch(/^customEvents \| where name == /);
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT5M', windowSize: 'PT15M', autoMitigate: true });
  });

  it('missing heartbeat: severity 1, neither the pass nor the failure event in 2 hours, checked hourly', () => {
    const r = rule('isolation-check-missing');
    expect(r.inputs['severity']).toBe(1);
    expect(queryOf(r)).toContain(`"${ISOLATION_CHECK_PASSED}"`);
    expect(queryOf(r)).toContain(`"${ISOLATION_CHECK_FAILED}"`);
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'LessThan', threshold: 1 });
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT1H', windowSize: 'PT2H', autoMitigate: true });
  });

  it('OutboxEventsDeadLettered: severity 2, on the app’s dead-letter event', () => {
    const r = rule('outbox-dead-lettered');
    expect(r.inputs['severity']).toBe(2);
    expect(queryOf(r)).toContain(`"${OUTBOX_DEAD_LETTERED}"`);
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT15M', windowSize: 'PT15M' });
  });

  it('SecretRotationFailed: severity 1, on the app’s rotation failure event', () => {
    const r = rule('secret-rotation-failed');
    expect(r.inputs['severity']).toBe(1);
    expect(queryOf(r)).toBe(`customEvents | where name == "${SECRET_ROTATION_FAILED}"`);
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT15M', windowSize: 'PT15M', autoMitigate: true });
  });

  it('unfinished drift scans: severity 2, a DriftScanStarted without a succeeded DriftScanFinished after the deadline', () => {
    const r = rule('drift-scan-unfinished');
    const query = queryOf(r);
    expect(r.inputs['severity']).toBe(2);
    expect(query).toContain(`"${DRIFT_SCAN_STARTED}"`);
    expect(query).toContain(`"${DRIFT_SCAN_FINISHED}"`);
    // The events' properties: scanId pairs them, outcome says how the scan ended.
    expect(query).toContain('tostring(customDimensions.scanId)');
    expect(query).toContain('outcome == "succeeded"');
    expect(query).toContain(`startedAt < ago(${DRIFT_SCAN_DEADLINE_HOURS}h) and succeeded == 0`);
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
    // Checked hourly over the last day: a scan started 6 to 24 hours ago is looked at 18 times.
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT1H', windowSize: 'P1D', autoMitigate: true });
  });

  it('5xx rate: severity 2, more than 5% of at least 20 HTTP requests in 15 minutes', () => {
    const r = rule('http-5xx');
    const query = queryOf(r);
    expect(r.inputs['severity']).toBe(2);
    // Only the app's own HTTP requests (not the host's copy of each, not timers), as a rate.
    expect(query).toMatch(/^requests\n\| where tostring\(customDimensions\.trigger\) == "http"\n/);
    expect(query).toContain('sumif(itemCount, toint(resultCode) >= 500)');
    expect(query).toContain(`where total >= ${HTTP_5XX_MIN_REQUESTS} and failedPercent > ${HTTP_5XX_MAX_PERCENT}`);
    expect([HTTP_5XX_MIN_REQUESTS, HTTP_5XX_MAX_PERCENT]).toEqual([20, 5]);
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 0 });
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT5M', windowSize: 'PT15M', autoMitigate: true });
  });
});
