import { describe, expect, it } from 'vitest';
import { parseRouteTemplate, RouteTemplateError } from './routes.js';

describe('parseRouteTemplate', () => {
  it('matches literals case-insensitively and extracts parameters', () => {
    const t = parseRouteTemplate('tenants/{tenantId}/environments/{id}');
    expect(t.match('Tenants/t1/ENVIRONMENTS/e-2')).toEqual({ tenantId: 't1', id: 'e-2' });
    expect(t.match('tenants/t1/environments')).toBeUndefined();
    expect(t.match('tenants/t1/environments/e/extra')).toBeUndefined();
    expect(t.match('tenants/t1/environments/e/')).toEqual({ tenantId: 't1', id: 'e' });
  });

  it('decodes values but keeps an encoded slash', () => {
    expect(parseRouteTemplate('files/{name}').match('files/a%20b%2Fc')).toEqual({ name: 'a b%2Fc' });
  });

  it('supports optional parameters and defaults', () => {
    const t = parseRouteTemplate('items/{id?}');
    expect(t.match('items')).toEqual({});
    expect(t.match('items/3')).toEqual({ id: '3' });
    expect(parseRouteTemplate('pages/{n=1}').match('pages')).toEqual({ n: '1' });
  });

  it('applies inline constraints', () => {
    const t = parseRouteTemplate('echo/{id:int}/{slug:alpha:minlength(2)}');
    expect(t.match('echo/42/ab')).toEqual({ id: '42', slug: 'ab' });
    expect(t.match('echo/x/ab')).toBeUndefined();
    expect(t.match('echo/42/a')).toBeUndefined();
    expect(parseRouteTemplate('g/{id:guid}').match('g/3f2504e0-4f89-11d3-9a0c-0305e82c3301')).toBeDefined();
    expect(parseRouteTemplate('g/{id:guid}').match('g/nope')).toBeUndefined();
    expect(parseRouteTemplate('r/{n:range(1,5)}').match('r/6')).toBeUndefined();
    expect(parseRouteTemplate('x/{v:regex(^a:b$)}').match('x/a:b')).toEqual({ v: 'a:b' });
    expect(parseRouteTemplate('x/{v:unknownconstraint}').match('x/anything')).toEqual({ v: 'anything' });
  });

  it('supports catch-all and multi-part segments', () => {
    const t = parseRouteTemplate('blobs/{container}/{*path}');
    expect(t.match('blobs/c/a/b/c.txt')).toEqual({ container: 'c', path: 'a/b/c.txt' });
    expect(t.match('blobs/c')).toEqual({ container: 'c' });
    expect(parseRouteTemplate('files/{name}.{ext}').match('files/report.tar.gz')).toEqual({ name: 'report', ext: 'tar.gz' });
  });

  it('orders literals before constrained before plain parameters before catch-alls', () => {
    const templates = ['items/{*rest}', 'items/{id}', 'items/special', 'items/{id:int}'].map(parseRouteTemplate);
    templates.sort((a, b) => a.precedence - b.precedence);
    expect(templates.map((t) => t.template)).toEqual(['items/special', 'items/{id:int}', 'items/{id}', 'items/{*rest}']);
  });

  it('rejects malformed templates', () => {
    expect(() => parseRouteTemplate('a/{b')).toThrow(RouteTemplateError);
    expect(() => parseRouteTemplate('a/{1b}')).toThrow(RouteTemplateError);
  });
});
