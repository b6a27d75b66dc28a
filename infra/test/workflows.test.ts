/**
 * The delivery pipeline and the stack files, parsed: what the pipeline must do in what order, and
 * what the committed stack configuration may hold. Nothing here reaches GitHub or Azure.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { secretsProviderProblems } from '../ci/secrets-provider.js';
import { FLEX_MAX_INSTANCES } from '../src/config.js';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, unknown>;
}
interface Workflow {
  env?: Record<string, unknown>;
  jobs: Record<string, { env?: Record<string, unknown>; steps?: Step[] }>;
}

const repo = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const workflow = (file: string) => parse(repo(`.github/workflows/${file}`)) as Workflow;
const stackJob = workflow('stack.yml').jobs['stack']!;
const steps = stackJob.steps!;

const index = (what: string, pred: (s: Step) => boolean) => {
  const i = steps.findIndex(pred);
  expect(i, `no step: ${what}`).toBeGreaterThanOrEqual(0);
  return i;
};
const isAzureLogin = (s: Step) => s.uses?.startsWith('azure/login@') ?? false;
const isPulumi = (command: string) => (s: Step) => (s.uses?.startsWith('pulumi/actions@') ?? false) && s.with?.['command'] === command;
const runs = (text: string) => (s: Step) => s.run?.includes(text) ?? false;

describe('Node 22', () => {
  it('every job sets up Node 22', () => {
    for (const file of ['deploy.yml', 'stack.yml']) {
      const setups = Object.values(workflow(file).jobs).flatMap((j) => (j.steps ?? []).filter((s) => s.uses?.startsWith('actions/setup-node@')));
      expect(setups.length, file).toBeGreaterThan(0);
      for (const s of setups) expect(String(s.with?.['node-version']), file).toBe('22');
    }
  });

  it('the infra workspace requires Node 22 (its @pulumi/pulumi declares engines node >=22)', () => {
    const pkg = JSON.parse(repo('infra/package.json')) as { engines: { node: string }; dependencies: Record<string, string> };
    expect(pkg.engines.node).toBe('>=22');
    expect(pkg.dependencies['@pulumi/pulumi']).not.toBe('3.248.0');
  });
});

describe('a first deploy outlives the Azure login: log in again after pulumi up', () => {
  it('an Azure login sits between `pulumi up` and the firewall, migration and app-login steps', () => {
    const up = index('pulumi up', isPulumi('up'));
    const firewall = index('firewall', runs('firewall-rule create'));
    const migrate = index('migrate', runs('npm run migrate'));
    const appLogin = index('app login', runs('app-login.sql'));
    const relogin = steps.findIndex((s, i) => i > up && isAzureLogin(s));
    expect(relogin, 'no azure/login after pulumi up').toBeGreaterThan(up);
    expect(relogin).toBeLessThan(Math.min(firewall, migrate, appLogin));
    expect(steps[relogin]!.if).toBe(steps[up]!.if);
    // Nothing long-running between the fresh login and the steps that need its tokens.
    for (const s of steps.slice(relogin + 1, appLogin)) expect(s.uses ?? '', s.name).not.toMatch(/^pulumi\//);
  });

  it('the smoke test that asks for an API token has a fresh login before it', () => {
    const deploy = index('deploy', runs('deployment source config-zip'));
    const smoke = index('smoke test', runs('infra/ci/smoke.ts'));
    const relogin = steps.findIndex((s, i) => i > deploy && isAzureLogin(s));
    expect(relogin).toBeGreaterThan(deploy);
    expect(relogin).toBeLessThan(smoke);
  });
});

describe('the stack keeps its Key Vault secrets provider on a fresh checkout', () => {
  it('falls back to the provider recorded in the stack state, never to passphrase', () => {
    expect(stackJob.env?.['PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER']).toBe('true');
    expect(stackJob.env?.['PULUMI_SECRETS_PROVIDER']).toBe('${{ vars.PULUMI_SECRETS_PROVIDER }}');
    expect(JSON.stringify(workflow('stack.yml'))).not.toMatch(/PULUMI_CONFIG_PASSPHRASE/);
  });

  it('selects the stack with the provider and checks it before any preview or update', () => {
    const check = index('secrets provider check', runs('infra/ci/secrets-provider.ts'));
    expect(steps[check]!.run).toMatch(/pulumi stack select .*--create .*--secrets-provider "\$PULUMI_SECRETS_PROVIDER"/);
    const pulumiRuns = steps.map((s, i) => [s, i] as const).filter(([s]) => isPulumi('preview')(s) || isPulumi('up')(s));
    expect(pulumiRuns.length).toBe(2);
    for (const [s, i] of pulumiRuns) {
      expect(i, s.name).toBeGreaterThan(check);
      expect(s.with?.['secrets-provider'], s.name).toBe('${{ vars.PULUMI_SECRETS_PROVIDER }}');
    }
  });

  it('the committed stack files record no passphrase, and any recorded provider is a Key Vault key with its data key', () => {
    for (const stack of ['dev', 'prod']) {
      const text = repo(`infra/Pulumi.${stack}.yaml`);
      const file = (parse(text) ?? {}) as Record<string, unknown>;
      expect(file, stack).not.toHaveProperty('encryptionsalt');
      const recorded = file['secretsprovider'];
      if (recorded !== undefined) {
        expect(String(recorded), stack).toMatch(/^azurekeyvault:\/\/[a-z0-9-]+\.vault\.azure\.net\/keys\/[^/\s]+/);
        expect(secretsProviderProblems({ expected: String(recorded), stackFile: text }), stack).toEqual([]);
      }
    }
  });
});

describe('preview kept, smoke-tested after deploy', () => {
  it('the preview output is uploaded as an artifact in both modes', () => {
    const preview = index('pulumi preview', isPulumi('preview'));
    expect(steps[preview]!.id).toBe('preview');
    expect(steps[preview]!.if).toBeUndefined();
    const upload = index('preview artifact', (s) => (s.uses?.startsWith('actions/upload-artifact@') ?? false) && String(s.with?.['name']).startsWith('pulumi-preview-'));
    expect(upload).toBeGreaterThan(preview);
    expect(upload).toBeLessThan(index('pulumi up', isPulumi('up')));
  });

  it('the smoke test runs after the zip deploy, against the deployed host', () => {
    const deploy = index('deploy', runs('deployment source config-zip'));
    const smoke = index('smoke test', runs('infra/ci/smoke.ts'));
    expect(smoke).toBeGreaterThan(deploy);
    expect(steps[smoke]!.env?.['APP_URL']).toBe('https://${{ steps.up.outputs.functionAppHostName }}');
  });
});

describe('stack configuration', () => {
  it('functionMaxInstances is within what Flex Consumption accepts (1..1000)', () => {
    for (const stack of ['dev', 'prod']) {
      const config = ((parse(repo(`infra/Pulumi.${stack}.yaml`)) as { config: Record<string, unknown> }).config ?? {});
      const max = Number(config['runtime-platform:functionMaxInstances'] ?? 40);
      expect(max, stack).toBeGreaterThanOrEqual(FLEX_MAX_INSTANCES.min);
      expect(max, stack).toBeLessThanOrEqual(FLEX_MAX_INSTANCES.max);
    }
  });
});
