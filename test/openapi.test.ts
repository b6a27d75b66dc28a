/** The OpenAPI document covers every registered HTTP function, and every body example is valid. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe('OpenAPI', () => {
  it('is served anonymously at /api/openapi.json as OpenAPI 3.1', async () => {
    const r = await t.call('GET', 'openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    expect(r.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('documents every registered route with its method, parameters and error response', async () => {
    const doc = (await t.call('GET', 'openapi.json')).body;
    const routes = t.app.routes.routes;
    expect(routes.length).toBeGreaterThan(5);
    for (const r of routes) {
      const op = doc.paths[`/${r.route}`]?.[r.method.toLowerCase()];
      expect(op, `${r.method} /${r.route}`).toBeDefined();
      expect(op.operationId).toBe(r.name);
      expect(op.responses.default.content['application/json'].schema.$ref).toBe('#/components/schemas/ErrorResponse');
      const pathParams = [...r.route.matchAll(/\{(\w+)\??(?::[^}]*)?\}/g)].map((m) => m[1]).sort();
      const documented = (op.parameters ?? []).filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name).sort();
      expect(documented, `${r.route} path parameters`).toEqual(pathParams);
    }
    const documentedOps = Object.values(doc.paths as Record<string, Record<string, unknown>>).flatMap((p) => Object.keys(p));
    expect(documentedOps.length).toBe(routes.length);
  });

  it('has a valid example for every request body', async () => {
    const doc = (await t.call('GET', 'openapi.json')).body;
    const withBodies = t.app.routes.routes.filter((r) => doc.paths[`/${r.route}`][r.method.toLowerCase()].requestBody);
    expect(withBodies.length).toBeGreaterThan(0);
    for (const r of withBodies) {
      const ex = t.kernel.openapi.examples.get(r.name);
      expect(ex, r.name).toBeDefined();
      const parsed = ex!.schema.safeParse(ex!.example);
      expect(parsed.success, `${r.name}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
      const content = doc.paths[`/${r.route}`][r.method.toLowerCase()].requestBody.content;
      expect(Object.values(content as Record<string, { example: unknown }>)[0]?.example).toEqual(ex!.example);
    }
  });
});
