import { describe, expect, it } from 'vitest';
import { deepEqual, diffStates, pathMatcher, type ActualResource, type Coverage, type DesiredResource } from './diff.js';

const fresh: Coverage = { status: 'fresh', source: 'agent:a' };
const cov = (...kinds: string[]): Record<string, Coverage> => Object.fromEntries(kinds.map((k) => [k, fresh]));
const svc = (name: string, properties: Record<string, unknown>, extra: Partial<DesiredResource> = {}): DesiredResource => ({ kind: 'service', name, properties, ...extra });
const act = (name: string, properties: Record<string, unknown>, kind = 'service'): ActualResource => ({ kind, name, properties });

describe('diffStates', () => {
  it('reports nested object differences by JSON Pointer, with missing, unexpected and changed', () => {
    const d = { 'service/api': svc('api', { image: 'a:1', env: { LOG: 'info', 'a/b': 'x', 'c~d': 1 } }) };
    const a = { 'service/api': act('api', { image: 'a:2', env: { LOG: 'debug', 'c~d': 1, EXTRA: true }, status: 'Running' }) };
    const r = diffStates(d, a, cov('service'));
    expect(r.differences.map((x) => [x.path, x.kind, x.severity])).toEqual([
      ['/image', 'changed', 'high'],
      ['/env/LOG', 'changed', 'medium'],
      ['/env/a~1b', 'missing', 'medium'],
      ['/env/EXTRA', 'unexpected', 'medium'],
    ]);
    // Undeclared top-level properties (status) are not compared.
    expect(r.differences.find((x) => x.path === '/status')).toBeUndefined();
    expect(r.differences[0]).toMatchObject({ resource: 'service/api', desired: 'a:1', actual: 'a:2' });
  });

  it('compares arrays item by item, reporting extra and missing items by index', () => {
    const d = { 'service/api': svc('api', { ports: [80, 443, 8080], args: ['--a'] }) };
    const a = { 'service/api': act('api', { ports: [80, 444], args: ['--a', '--b'] }) };
    const r = diffStates(d, a, cov('service'));
    expect(r.differences.map((x) => [x.path, x.kind])).toEqual([
      ['/ports/1', 'changed'],
      ['/ports/2', 'missing'],
      ['/args/1', 'unexpected'],
    ]);
    // An array against an object (or a number against a string) is a change of the whole value.
    const t = diffStates({ 'service/x': svc('x', { v: [1], n: 1 }) }, { 'service/x': act('x', { v: { 0: 1 }, n: '1' }) }, cov('service'));
    expect(t.differences.map((x) => [x.path, x.kind])).toEqual([['/v', 'changed'], ['/n', 'changed']]);
  });

  it('reports missing and extra resources, and only for kinds a fresh source covers', () => {
    const d = { 'service/api': svc('api', {}), 'service/web': svc('web', {}), 'keyVault/kv': { kind: 'keyVault', name: 'kv', properties: {} } };
    const a = { 'service/api': act('api', {}), 'service/rogue': act('rogue', { image: 'x' }), 'blobContainer/extra': act('extra', {}, 'blobContainer') };
    const r = diffStates(d, a, cov('service'));
    expect(r.differences.map((x) => [x.resource, x.path, x.kind, x.severity])).toEqual([
      ['service/web', '', 'missing', 'high'],
      ['service/rogue', '', 'unexpected', 'medium'],
    ]);
    expect(r.unknown).toEqual([{ resource: 'keyVault/kv', path: '', reason: 'No actual-state source covers keyVault resources' }]);
    expect(r.compared).toBe(2);
  });

  it('reports resources of a stale source as unknown, never as drift', () => {
    const stale: Coverage = { status: 'stale', source: 'agent:a', observedAt: '2026-01-01T00:00:00.000Z' };
    const r = diffStates({ 'service/api': svc('api', { image: 'a:1' }) }, {}, { service: stale });
    expect(r.differences).toEqual([]);
    expect(r.unknown[0]?.reason).toContain('stale');
  });

  it('reports properties a source cannot observe as unknown', () => {
    const d = { 'blobContainer/b': { kind: 'blobContainer', name: 'b', properties: { deleteAfterDays: 365 } } };
    const a = { 'blobContainer/b': { kind: 'blobContainer', name: 'b', properties: {}, unobserved: ['deleteAfterDays'] } };
    const r = diffStates(d, a, cov('blobContainer'));
    expect(r.differences).toEqual([]);
    expect(r.unknown).toEqual([{ resource: 'blobContainer/b', path: '/deleteAfterDays', reason: 'agent:a cannot observe this property' }]);
  });

  it('suppresses a replica count inside the active scaling policy range, and reports one outside', () => {
    const ranged = (n: number) =>
      diffStates(
        { 'service/api': svc('api', { replicas: { min: 2, max: 5 } }, { ranges: { replicas: { min: 2, max: 5, reason: 'Inside scaling policy pol_1 v3 (2..5)' } } }) },
        { 'service/api': act('api', { replicas: n }) },
        cov('service'),
      );
    for (const n of [2, 3, 5]) {
      const r = ranged(n);
      expect(r.differences, `replicas ${n}`).toEqual([]);
      expect(r.suppressed).toEqual([{ resource: 'service/api', path: '/replicas', reason: 'Inside scaling policy pol_1 v3 (2..5)' }]);
    }
    expect(ranged(6).differences).toEqual([{ resource: 'service/api', path: '/replicas', kind: 'changed', severity: 'medium', desired: { min: 2, max: 5 }, actual: 6 }]);
    expect(ranged(1).differences).toHaveLength(1);
  });

  it('applies ignore rules: JSON Pointers with their subtree, one-segment and any-depth wildcards, resource globs', () => {
    const d = { 'service/api': svc('api', { labels: { a: '1', b: '2' }, image: 'x:1', env: { deep: { k: 1 } } }), 'service/web': svc('web', { image: 'w:1' }) };
    const a = { 'service/api': act('api', { labels: { a: '9', b: '8' }, image: 'x:2', env: { deep: { k: 2 } } }), 'service/web': act('web', { image: 'w:2' }) };
    const run = (rules: { resource?: string; path: string }[]) =>
      diffStates(d, a, cov('service'), rules.map((r, i) => ({ id: `dign_${i}`, reason: 'r', ...r }))).differences.map((x) => `${x.resource}${x.path}`);
    expect(run([])).toEqual(['service/api/labels/a', 'service/api/labels/b', 'service/api/image', 'service/api/env/deep/k', 'service/web/image']);
    expect(run([{ path: '/labels' }])).toEqual(['service/api/image', 'service/api/env/deep/k', 'service/web/image']);
    expect(run([{ path: '/labels/*' }])).toEqual(['service/api/image', 'service/api/env/deep/k', 'service/web/image']);
    expect(run([{ path: '/**/k' }])).toEqual(['service/api/labels/a', 'service/api/labels/b', 'service/api/image', 'service/web/image']);
    expect(run([{ resource: 'service/w*', path: '/image' }])).toEqual(['service/api/labels/a', 'service/api/labels/b', 'service/api/image', 'service/api/env/deep/k']);
    const r = diffStates(d, a, cov('service'), [{ id: 'dign_x', reason: 'managed by the cluster', path: '/labels' }]);
    expect(r.suppressed[0]).toEqual({ resource: 'service/api', path: '/labels/a', reason: 'Ignore rule dign_x: managed by the cluster' });
  });

  it('matches paths as JSON Pointers (escaped segments) and patterns', () => {
    expect(pathMatcher('/a~1b')('/a~1b/c')).toBe(true);
    expect(pathMatcher('/a')('/ab')).toBe(false);
    expect(pathMatcher('/a/*/c')('/a/x/c')).toBe(true);
    expect(pathMatcher('/a/*/c')('/a/x/y/c')).toBe(false);
    expect(pathMatcher('/a/**/c')('/a/x/y/c')).toBe(true);
    expect(pathMatcher('/a/**/c')('/a/c')).toBe(true);
    expect(pathMatcher('')('/anything')).toBe(true);
  });

  it('finds nothing when the states agree, as a deep-equal walk does', () => {
    const d = { 'service/api': svc('api', { image: 'a', env: { x: [1, { y: null }] } }) };
    const a = { 'service/api': act('api', { image: 'a', env: { x: [1, { y: null }] } }) };
    expect(diffStates(d, a, cov('service')).differences).toEqual([]);
    expect(deepEqual(d['service/api'].properties, a['service/api'].properties)).toBe(true);
    expect(deepEqual({ a: [1] }, { a: [1, 2] })).toBe(false);
  });
});
