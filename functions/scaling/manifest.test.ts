/**
 * Manifests rendered through the route, validated against the schema each target publishes
 * (test/fixtures/schemas/, see its README for sources and commits): the Kubernetes OpenAPI
 * definitions of autoscaling/v2, KEDA's ScaledObject CRD, and Container Apps' `Scale`. Validation
 * is strict, as `kubectl apply --validate=strict` is: a listed object admits no other field. Also:
 * JSON or YAML by Accept, 406 otherwise, and what a target cannot express refused, naming it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeErrors } from '../../test/contract.js';
import { expectApiError, startTestApp, type TestApp } from '../../test/app.js';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/schemas');
const read = (f: string) => readFileSync(join(FIXTURES, f), 'utf8');

type Json = any;

/** As strict validators read Kubernetes schemas: an object that lists its fields admits no others. */
function strict(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Json = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === 'enum' || k === 'required' ? v : strict(v)]));
  if (out.properties && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) out.additionalProperties = false;
  return out;
}

function validator(root: Json): ValidateFunction {
  // Draft-07 (what Kubernetes' and Azure's schemas are written in); their own keywords (x-…) are annotations.
  const ajv = new Ajv.default({ strict: false, allErrors: true, validateFormats: false });
  return ajv.compile(strict(root));
}

const hpaSchema = validator({ ...JSON.parse(read('kubernetes-autoscaling-v2.json')), $ref: '#/definitions/io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler' });
const crd = parseYaml(read('keda.sh_scaledobjects.yaml'));
const kedaSchema = validator(crd.spec.versions.find((v: Json) => v.name === 'v1alpha1').schema.openAPIV3Schema);
const acaSchema = validator({ ...JSON.parse(read('containerapps-scale-2025-07-01.json')), $ref: '#/definitions/Scale' });
const schemaOf = { hpa: hpaSchema, keda: kedaSchema, aca: acaSchema };

function expectValid(target: keyof typeof schemaOf, manifest: unknown): void {
  const v = schemaOf[target];
  expect(v(manifest), `${target}: ${describeErrors(v.errors)}\n${JSON.stringify(manifest, null, 1)}`).toBe(true);
}

let clock = new Date('2026-03-01T00:00:00.000Z');
let t: TestApp;
let token: string;
let env: string;

beforeAll(async () => {
  t = await startTestApp({ now: () => clock });
  const s = await t.seedTenant('mf', 'mia', { quotas: { maxReplicasPerService: 5000 } });
  token = s.token;
  env = s.environmentId;
});
afterAll(() => t?.close());

const IDENTITY = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-apps/providers/Microsoft.ManagedIdentity/userAssignedIdentities/orders-reader';
const T = {
  cpu: { type: 'cpu', name: 'cpu', targetUtilization: 70 },
  memory: { type: 'memory', name: 'memory', targetUtilization: 80 },
  http: { type: 'httpConcurrency', name: 'http', concurrentRequests: 100 },
  queue: { type: 'azureQueue', name: 'orders', accountName: 'ordersstore', queueName: 'orders', queueLength: 50, activationQueueLength: 1, identity: IDENTITY, triggerAuthentication: 'orders-reader' },
  bus: { type: 'serviceBus', name: 'bus', namespace: 'contoso-bus', queueName: 'payments', messageCount: 20, identity: 'system', triggerAuthentication: 'bus-reader' },
  topic: { type: 'serviceBus', name: 'topic', namespace: 'contoso-bus', topicName: 'events', subscriptionName: 'billing', messageCount: 10, activationMessageCount: 2, identity: 'system', triggerAuthentication: 'bus-reader' },
  cron: { type: 'cron', name: 'office-hours', timezone: 'Europe/Amsterdam', start: '0 8 * * 1-5', end: '0 18 * * 1-5', desiredReplicas: 6 },
  redis: { type: 'keda', name: 'redis', scaler: { type: 'redis', metadata: { address: 'redis.cache:6379', listName: 'jobs', listLength: '10', passwordFromEnv: 'REDIS_PASSWORD' } }, triggerAuthentication: 'redis-auth' },
};
const BEHAVIOR = {
  scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }] },
  scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }] },
};

let n = 0;
/** A new service with `spec` as its policy; returns the policy's path. */
async function withPolicy(spec: Record<string, unknown>): Promise<string> {
  const s = await t.call('POST', `tenants/mf/environments/${env}/services`, { token, body: { name: `svc-${n++}`, owner: 'team' } });
  const path = `tenants/mf/environments/${env}/services/${s.body.id}/scaling-policy`;
  const r = await t.call('PUT', path, { token, body: spec });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return path;
}

const manifest = (path: string, target: string, accept?: string) => t.call('GET', `${path}/manifest?target=${target}`, { token, ...(accept ? { headers: { accept } } : {}) });

describe('manifests, validated against the targets\' published schemas', () => {
  it('HorizontalPodAutoscaler autoscaling/v2: resource metrics and behaviour', async () => {
    const path = await withPolicy({ minReplicas: 2, maxReplicas: 20, workload: { kind: 'StatefulSet', name: 'ledger' }, triggers: [T.cpu, T.memory], behavior: BEHAVIOR });
    const r = await manifest(path, 'hpa');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expectValid('hpa', r.body);
    expect(r.body.spec).toMatchObject({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'ledger' },
      minReplicas: 2,
      maxReplicas: 20,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } },
        { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } },
      ],
      behavior: BEHAVIOR,
    });
    expect(r.body.metadata.labels['runtime-platform/policy-version']).toBe('1');
  });

  it('KEDA ScaledObject keda.sh/v1alpha1: every KEDA trigger, behaviour, cooldown', async () => {
    const path = await withPolicy({ minReplicas: 0, maxReplicas: 40, triggers: [T.cpu, T.memory, T.queue, T.bus, T.topic, T.cron, T.redis], behavior: BEHAVIOR, cooldownSeconds: 120 });
    const r = await manifest(path, 'keda');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expectValid('keda', r.body);
    const spec = r.body.spec;
    expect(spec).toMatchObject({ minReplicaCount: 0, maxReplicaCount: 40, cooldownPeriod: 120, advanced: { horizontalPodAutoscalerConfig: { behavior: BEHAVIOR } } });
    expect(spec.triggers).toEqual([
      { type: 'cpu', name: 'cpu', metricType: 'Utilization', metadata: { value: '70' } },
      { type: 'memory', name: 'memory', metricType: 'Utilization', metadata: { value: '80' } },
      { type: 'azure-queue', name: 'orders', metadata: { queueName: 'orders', queueLength: '50', accountName: 'ordersstore', activationQueueLength: '1' }, authenticationRef: { name: 'orders-reader' } },
      { type: 'azure-servicebus', name: 'bus', metadata: { namespace: 'contoso-bus', queueName: 'payments', messageCount: '20' }, authenticationRef: { name: 'bus-reader' } },
      {
        type: 'azure-servicebus',
        name: 'topic',
        metadata: { namespace: 'contoso-bus', topicName: 'events', subscriptionName: 'billing', messageCount: '10', activationMessageCount: '2' },
        authenticationRef: { name: 'bus-reader' },
      },
      { type: 'cron', name: 'office-hours', metadata: { timezone: 'Europe/Amsterdam', start: '0 8 * * 1-5', end: '0 18 * * 1-5', desiredReplicas: '6' } },
      { type: 'redis', name: 'redis', metadata: T.redis.scaler.metadata, authenticationRef: { name: 'redis-auth' } },
    ]);
  });

  it('Container Apps template.scale: http, custom and queue rules, cooldown', async () => {
    const path = await withPolicy({ minReplicas: 0, maxReplicas: 30, triggers: [T.cpu, T.memory, T.http, T.queue, T.bus, T.cron, T.redis], cooldownSeconds: 300 });
    const r = await manifest(path, 'aca');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expectValid('aca', r.body);
    expect(r.body).toEqual({
      minReplicas: 0,
      maxReplicas: 30,
      cooldownPeriod: 300,
      rules: [
        { name: 'cpu', custom: { type: 'cpu', metadata: { type: 'Utilization', value: '70' } } },
        { name: 'memory', custom: { type: 'memory', metadata: { type: 'Utilization', value: '80' } } },
        { name: 'http', http: { metadata: { concurrentRequests: '100' } } },
        { name: 'orders', azureQueue: { accountName: 'ordersstore', queueName: 'orders', queueLength: 50, identity: IDENTITY } },
        { name: 'bus', custom: { type: 'azure-servicebus', metadata: { namespace: 'contoso-bus', queueName: 'payments', messageCount: '20' }, identity: 'system' } },
        { name: 'office-hours', custom: { type: 'cron', metadata: { timezone: 'Europe/Amsterdam', start: '0 8 * * 1-5', end: '0 18 * * 1-5', desiredReplicas: '6' } } },
        { name: 'redis', custom: { type: 'redis', metadata: T.redis.scaler.metadata } },
      ],
    });
    // Exactly one kind of rule each (the schema leaves that to the service).
    for (const rule of r.body.rules) expect(Object.keys(rule).filter((k) => k !== 'name')).toHaveLength(1);
  });

  it('a strict validator would catch a misspelt field (the check bites)', () => {
    expect(hpaSchema({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', spec: { scaleTargetRef: { kind: 'Deployment', name: 'x' }, maxReplicas: 2, minReplica: 1 } })).toBe(false);
    expect(kedaSchema({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', spec: { scaleTargetRef: { name: 'x' }, triggers: [{ type: 'cpu', metadata: { value: 5 } }] } })).toBe(false);
    expect(acaSchema({ minReplicas: 1, rules: [{ name: 'x', azureQueue: { queue: 'q' } }] })).toBe(false);
  });
});

describe('formats', () => {
  it('answers YAML for Accept: application/yaml (the same manifest), JSON by default, 406 otherwise', async () => {
    const path = await withPolicy({ minReplicas: 1, maxReplicas: 5, triggers: [T.cpu] });
    const json = await manifest(path, 'keda', 'application/json');
    const yaml = await manifest(path, 'keda', 'application/yaml');
    expect(yaml.status).toBe(200);
    expect(yaml.headers.get('content-type')).toBe('application/yaml; charset=utf-8');
    expect(yaml.text).toMatch(/^apiVersion: keda\.sh\/v1alpha1\nkind: ScaledObject\n/);
    expect(parseYaml(yaml.text!)).toEqual(json.body);
    expectValid('keda', parseYaml(yaml.text!));
    expect((await manifest(path, 'keda', 'text/html, application/yaml;q=0.5')).headers.get('content-type')).toContain('application/yaml');
    expect((await manifest(path, 'keda', 'application/*')).headers.get('content-type')).toContain('application/json');
    expect((await manifest(path, 'keda', '*/*')).headers.get('content-type')).toContain('application/json');
    for (const accept of ['text/html', 'application/xml', 'application/yaml;q=0, application/json;q=0']) {
      const r = await manifest(path, 'keda', accept);
      expectApiError(r, 406, 'NotAcceptable');
      expect(r.body.error.target).toBe('Accept');
    }
    expectApiError(await manifest(path, 'swarm'), 400, 'InvalidRequest');
  });
});

describe('what a target cannot express', () => {
  it('is refused with 422 TargetCannotExpress naming every trigger and feature, never dropped', async () => {
    const hpa = await withPolicy({ minReplicas: 1, maxReplicas: 10, triggers: [T.cpu, T.queue, T.cron, T.http] });
    const r = await manifest(hpa, 'hpa');
    expectApiError(r, 422, 'TargetCannotExpress');
    expect(r.body.error.target).toBe('triggers.orders');
    expect(r.body.error.details.map((d: { target: string }) => d.target)).toEqual(['triggers.orders', 'triggers.office-hours', 'triggers.http']);
    expect(r.body.error.message).toContain('hpa target cannot express triggers.orders, triggers.office-hours, triggers.http');

    const keda = await withPolicy({ minReplicas: 1, maxReplicas: 10, triggers: [T.http, { ...T.queue, triggerAuthentication: undefined }] });
    const k = await manifest(keda, 'keda');
    expectApiError(k, 422, 'TargetCannotExpress');
    expect(k.body.error.details.map((d: { target: string }) => d.target)).toEqual(['triggers.http', 'triggers.orders']);

    const aca = await withPolicy({ minReplicas: 1, maxReplicas: 2000, triggers: [T.cpu, { ...T.bus, identity: undefined }], behavior: BEHAVIOR });
    const a = await manifest(aca, 'aca');
    expectApiError(a, 422, 'TargetCannotExpress');
    expect(a.body.error.details.map((d: { target: string }) => d.target)).toEqual(['triggers.bus', 'behavior', 'maxReplicas']);

    const zero = await withPolicy({ minReplicas: 0, maxReplicas: 10, triggers: [T.cpu, T.queue] });
    expect((await manifest(zero, 'hpa')).body.error.details.map((d: { target: string }) => d.target)).toEqual(['triggers.orders', 'minReplicas']);
  });

  it('renders a pause: KEDA pauses itself, HPA and Container Apps hold the pause replicas; it ends by itself', async () => {
    const until = new Date(clock.getTime() + 3_600_000).toISOString();
    const held = await withPolicy({ minReplicas: 2, maxReplicas: 10, triggers: [T.cpu], pause: { until, replicas: 4 } });
    const k = await manifest(held, 'keda');
    expectValid('keda', k.body);
    expect(k.body.metadata.annotations).toEqual({ 'runtime-platform/paused-until': until, 'autoscaling.keda.sh/paused-replicas': '4' });
    const h = await manifest(held, 'hpa');
    expectValid('hpa', h.body);
    expect(h.body.spec).toMatchObject({ minReplicas: 4, maxReplicas: 4 });
    expect((await manifest(held, 'aca')).body).toMatchObject({ minReplicas: 4, maxReplicas: 4 });

    const open = await withPolicy({ minReplicas: 2, maxReplicas: 10, triggers: [T.cpu], pause: { until } });
    expect((await manifest(open, 'keda')).body.metadata.annotations['autoscaling.keda.sh/paused']).toBe('true');
    const refused = await manifest(open, 'hpa');
    expectApiError(refused, 422, 'TargetCannotExpress');
    expect(refused.body.error.target).toBe('pause');

    clock = new Date(clock.getTime() + 3_600_000);
    const after = await manifest(open, 'hpa');
    expect(after.status).toBe(200);
    expect(after.body.metadata.annotations).toBeUndefined();
    expect(after.body.spec).toMatchObject({ minReplicas: 2, maxReplicas: 10 });
  });
});
