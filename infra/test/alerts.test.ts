/**
 * The alert rules under Pulumi's mocks, with receivers configured: each rule exists with its
 * severity, its scope (the Application Insights component) and the action group, and each query
 * names the telemetry the app actually sends — the event names are the app's own constants.
 */
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { ISOLATION_CHECK_FAILED, ISOLATION_CHECK_PASSED } from '../../functions/platform/isolation-check.js';
import { OUTBOX_DEAD_LETTERED } from '../../functions/platform/outbox.js';
import { ALERTS, EVENTS } from '../src/alerts.js';
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
    });
  });

  it('declares exactly the four rules', () => {
    expect(of('monitor:ScheduledQueryRule').map((r) => r.name).sort()).toEqual(
      ['alert-http-5xx', 'alert-isolation-check-failed', 'alert-isolation-check-missing', 'alert-outbox-dead-lettered'],
    );
    expect(ALERTS).toHaveLength(4);
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
      expect(queryOf(r), r.name).toMatch(/^(customEvents|requests) \|/);
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

  it('5xx rate: severity 2, more than 5 server errors in 5 minutes', () => {
    const r = rule('http-5xx');
    expect(r.inputs['severity']).toBe(2);
    expect(queryOf(r)).toBe('requests | where toint(resultCode) >= 500');
    expect(r.inputs['criteria'].allOf[0]).toMatchObject({ timeAggregation: 'Count', operator: 'GreaterThan', threshold: 5 });
    expect(r.inputs).toMatchObject({ evaluationFrequency: 'PT5M', windowSize: 'PT5M', autoMitigate: true });
  });
});
