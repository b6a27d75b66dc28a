/**
 * The alert rules when the stack configures no receiver (`alertEmails` unset): the rules are still
 * declared, without an action group, and the program says so.
 */
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ALERTS } from '../src/alerts.js';
import { readConfig } from '../src/config.js';
import { installMocks, settled, type Recording } from './harness.js';

let recording: Recording;
let warnings: string[];

beforeAll(async () => {
  recording = await installMocks('staging');
  pulumi.runtime.setAllConfig({
    'azure-native:location': 'westeurope',
    'runtime-platform:deployerPrincipalName': 'runtime-platform-pipeline',
  });
  const warn = vi.spyOn(pulumi.log, 'warn').mockResolvedValue(undefined);
  const config = readConfig();
  expect(config.alertEmails).toEqual([]);
  const { createPlatform } = await import('../src/platform.js');
  const platform = createPlatform(config);
  await settled(platform);
  warnings = warn.mock.calls.map((c) => String(c[0]));
  warn.mockRestore();
});

describe('alerts without receivers', () => {
  it('declares every rule, with no action, and no action group', () => {
    const rules = recording.resources.filter((r) => r.type === 'azure-native:monitor:ScheduledQueryRule');
    expect(rules.map((r) => r.name).sort()).toEqual(ALERTS.map((a) => `alert-${a.key}`).sort());
    for (const r of rules) expect(r.inputs['actions'], r.name).toBeUndefined();
    expect(recording.resources.filter((r) => r.type === 'azure-native:monitor:ActionGroup')).toHaveLength(0);
  });

  it('warns that nobody is notified', () => {
    expect(warnings.some((w) => /alertEmails/.test(w) && /notify nobody/.test(w))).toBe(true);
  });

  it('refuses an alertEmails entry that is not an address', () => {
    pulumi.runtime.setConfig('runtime-platform:alertEmails', JSON.stringify(['not-an-address']));
    expect(() => readConfig()).toThrow(/alertEmails/);
  });
});
