import { describe, expect, it } from 'vitest';
import { overlaps, parseTemplate, RouteTemplateError } from './route-template.js';
import { Registrar } from '../registrar.js';
import { route } from './route.js';
import type { ServiceInstance } from '../service.js';

const o = (a: string, b: string) => overlaps(parseTemplate(a), parseTemplate(b));

describe('route templates', () => {
  it('tells apart routes no path can match both of, and finds those one path can', () => {
    expect(o('tenants/{tenantId}', 'tenants/{tenantId}/members')).toBe(false);
    expect(o('tenants/{tenantId}/services', 'tenants/{tenantId}/environments')).toBe(false);
    expect(o('items/{id}', 'items/search')).toBe(true);
    expect(o('items/{id:int}', 'items/search')).toBe(true);
    expect(o('items/{a}/x', 'items/{b}/x')).toBe(true);
    expect(o('items/{id?}', 'items')).toBe(true);
    expect(o('Items/A', 'items/a')).toBe(true);
  });

  it('refuses what the Functions host refuses', () => {
    expect(() => parseTemplate('admin/things')).toThrow(RouteTemplateError);
    expect(() => parseTemplate('runtime/x')).toThrow(RouteTemplateError);
    expect(() => parseTemplate('items/{id:nonsense}')).toThrow(/constraint 'nonsense'/);
    expect(() => parseTemplate('items//x')).toThrow(RouteTemplateError);
    expect(() => parseTemplate('items/{id?}/x')).toThrow(/optional/);
    expect(() => parseTemplate('items/{id:int:min(1)}')).not.toThrow();
  });

  it('makes registration fail with both function names when two routes can match one path', () => {
    const r = new Registrar(() => Promise.reject(new Error('metadata only'))).service<ServiceInstance>('probe');
    const load = () => route({ summary: 's', tags: [], access: { anonymous: true }, responses: { 200: { description: 'ok' } }, handler: async () => ({ status: 200 }) });
    r.http('probeById', 'GET', 'probe-items/{itemId}', load);
    r.http('probeCreate', 'POST', 'probe-items/search', load);
    expect(() => r.http('probeSearch', 'GET', 'probe-items/search', load)).toThrow(/'probeById'.*'probeSearch'/);
  });
});
