/**
 * The published OpenAPI document (what GET /api/openapi.json serves) is the contract, so it is
 * checked as a client or gateway would read it, never through the zod schemas it came from: by an
 * independent OpenAPI 3.1 validator, with a JSON Schema 2020-12 validator built from the served
 * document (examples, patterns), and against every registered route. Every answer any test
 * receives is checked against it too (test/app.ts, test/contract.ts); the last tests here prove
 * that check bites. Redocly's lint runs in `npm run lint` (redocly.yaml).
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from '../shared/http/openapi.js';
import { route } from '../shared/http/route.js';
import { startTestApp, type TestApp } from './app.js';
import { compileIn, deref, describeErrors, openApiAjv, operations } from './contract.js';

let t: TestApp;
let doc: any;
let root: string;
beforeAll(async () => {
  t = await startTestApp();
  root = await t.token('platform-admin', { admin: true });
  const r = await t.call('GET', 'openapi.json');
  expect(r.status).toBe(200);
  doc = r.body;
});
afterAll(() => t?.close());

const ERROR_REF = '#/components/schemas/ErrorResponse';

/** Every `[value, path]` in the document for which `pick(key, value)` holds. */
function collect(v: unknown, pick: (key: string, value: unknown, parent: any) => boolean, path = '#'): [any, string, any][] {
  const out: [any, string, any][] = [];
  const walk = (x: unknown, p: string) => {
    if (Array.isArray(x)) x.forEach((y, i) => walk(y, `${p}/${i}`));
    else if (x && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        if (pick(k, y, x)) out.push([y, `${p}/${k}`, x]);
        walk(y, `${p}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`);
      }
    }
  };
  walk(v, path);
  return out;
}

describe('OpenAPI', () => {
  it('is served anonymously at /api/openapi.json as OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('is a valid OpenAPI 3.1 document by the specification’s own schema (an independent validator)', async () => {
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    expect(res.errors ?? [], JSON.stringify(res.errors, null, 1)?.slice(0, 3000)).toEqual([]);
    expect(res.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // Every local reference points at something.
    for (const [ref, where] of collect(doc, (k, v) => k === '$ref' && typeof v === 'string')) {
      expect(deref(doc, { $ref: ref }), `${where}: ${ref}`).toBeDefined();
    }
  });

  it('documents every registered route with its method, parameters and error response', async () => {
    const routes = t.app.routes.routes;
    expect(routes.length).toBeGreaterThan(5);
    for (const r of routes) {
      const op = doc.paths[`/${r.route}`]?.[r.method.toLowerCase()];
      expect(op, `${r.method} /${r.route}`).toBeDefined();
      expect(op.operationId).toBe(r.name);
      expect(op.responses.default.content['application/json'].schema.$ref).toBe(ERROR_REF);
      const pathParams = [...r.route.matchAll(/\{(\w+)\??(?::[^}]*)?\}/g)].map((m) => m[1]).sort();
      const documented = (op.parameters ?? [])
        .map((p: unknown) => deref(doc, p))
        .filter((p: { in: string }) => p.in === 'path')
        .map((p: { name: string }) => p.name)
        .sort();
      expect(documented, `${r.route} path parameters`).toEqual(pathParams);
    }
    const documentedOps = Object.values(doc.paths as Record<string, Record<string, unknown>>).flatMap((p) => Object.keys(p));
    expect(documentedOps.length).toBe(routes.length);
  });

  it('documents the 4xx and 503 answers each operation can give, each with the error schema', async () => {
    for (const r of t.app.routes.routes) {
      const op = doc.paths[`/${r.route}`][r.method.toLowerCase()];
      const what = `${r.method} /${r.route}`;
      const statuses = Object.keys(op.responses);
      const params = (op.parameters ?? []).map((p: unknown) => deref(doc, p));
      const header = (name: string) => params.some((p: { in: string; name: string }) => p.in === 'header' && p.name === name);
      const expected = ['400']; // every query string is strict: an unknown parameter is a 400
      const a = r.access;
      if (!('anonymous' in a)) expected.push('401', '503');
      if ('platformAdmin' in a) expected.push('403');
      if ('tenantRole' in a) {
        expected.push('404', '429');
        if (r.method !== 'GET' || a.tenantRole !== 'reader') expected.push('403');
      }
      if (/\{\w+\}/.test(r.route)) expected.push('404');
      if (t.kernel.openapi.examples.has(r.name)) expected.push('413', '415');
      if (['PUT', 'PATCH', 'DELETE'].includes(r.method) || r.route.endsWith('/retire')) {
        expected.push('412');
        expect(header('If-Match'), `${what}: If-Match`).toBe(true);
      }
      if (header('Repeatability-Request-ID')) expected.push('409');
      expect(statuses, what).toEqual(expect.arrayContaining([...new Set(expected)]));
      for (const s of statuses.filter((x) => x === 'default' || Number(x) >= 400)) {
        const res = deref(doc, op.responses[s]);
        expect(res.content['application/json'].schema.$ref, `${what} ${s}`).toBe(ERROR_REF);
        expect(res.headers['x-ms-error-code'], `${what} ${s}`).toBeDefined();
        expect(res.description, `${what} ${s}`).toMatch(/\S/);
      }
      for (const s of statuses.filter((x) => x === '429' || x === '503')) expect(op.responses[s].headers['Retry-After'], `${what} ${s}`).toBeDefined();
      if (op.responses['401']) expect(op.responses['401'].headers['WWW-Authenticate'], what).toBeDefined();
    }
    // The creates that take Repeatability-Request-ID say so, and document its 409.
    const ops = operations(doc);
    for (const name of ['tenantCreate', 'environmentCreate', 'catalogServiceRegister']) {
      const op = ops.get(name)!.op;
      expect(op.parameters.map((p: unknown) => deref(doc, p).name), name).toContain('Repeatability-Request-ID');
      expect(op.responses['409'].description, name).toContain('RepeatabilityConflict');
      expect(Object.keys(op.responses['201'].headers), name).toEqual(expect.arrayContaining(['Location', 'ETag', 'Repeatability-Result']));
    }
  });

  it('has an example for every request body that the published schema accepts', async () => {
    const ajv = openApiAjv(doc);
    const withBodies = t.app.routes.routes.filter((r) => doc.paths[`/${r.route}`][r.method.toLowerCase()].requestBody);
    expect(withBodies.length).toBeGreaterThan(0);
    for (const r of withBodies) {
      const content = doc.paths[`/${r.route}`][r.method.toLowerCase()].requestBody.content as Record<string, { schema: unknown; example: unknown }>;
      for (const [type, media] of Object.entries(content)) {
        expect(media.example, `${r.name} ${type}`).toBeDefined();
        const validate = compileIn(ajv, media.schema);
        expect(validate(media.example), `${r.name} ${type}: ${describeErrors(validate.errors)}`).toBe(true);
      }
      // JSON bodies' examples are also what the other suites send; a streamed (binary) body's is not JSON.
      const first = Object.values(content)[0] as { schema: { format?: string }; example: unknown } | undefined;
      if (first?.schema.format !== 'binary') expect(first?.example).toEqual(t.kernel.openapi.examples.get(r.name)?.example);
    }
  });

  it('has only examples that the published schema they illustrate accepts', async () => {
    const ajv = openApiAjv(doc);
    const examples = collect(doc, (k) => k === 'example');
    expect(examples.length).toBeGreaterThan(10);
    for (const [example, where, owner] of examples) {
      // A media type or parameter illustrates its `schema`; a schema illustrates itself.
      const schema = 'schema' in owner ? owner.schema : owner;
      const validate = compileIn(ajv, schema);
      expect(validate(example), `${where}: ${describeErrors(validate.errors)}`).toBe(true);
    }
  });

  it('uses only portable patterns: ECMA-262 without flags and without \\p{…} classes', async () => {
    const patterns = collect(doc, (k, v, parent) => k === 'pattern' && typeof v === 'string' && typeof parent.type !== 'undefined');
    expect(patterns.length).toBeGreaterThan(10);
    for (const [pattern, where] of patterns) {
      expect(pattern, where).not.toMatch(/^\/.*\/[a-z]*$/); // a regex literal with its flags, e.g. "/^a$/u"
      expect(pattern, where).not.toMatch(/\\[pP]\{/);
      expect(() => new RegExp(pattern), `${where}: ${pattern}`).not.toThrow();
      // JSON Schema validators (Ajv among them) compile patterns with the `u` flag.
      expect(() => new RegExp(pattern, 'u'), `${where}: ${pattern}`).not.toThrow();
    }
  });

  it('documents the Repeatability-Request-ID rule the pipeline enforces', async () => {
    const documented = new RegExp(doc.components.parameters.RepeatabilityRequestId.schema.pattern);
    let n = 0;
    for (const id of ['a', 'A.b_c:d-1', 'x'.repeat(128), 'x'.repeat(129), 'bad id!', '%2F', '']) {
      const r = await t.call('POST', 'tenants', { token: root, body: { id: `rid-${n++}`, displayName: 'r' }, headers: { 'repeatability-request-id': id } });
      expect(r.status === 201, JSON.stringify(id)).toBe(documented.test(id));
    }
  });
});

describe('the contract check on every answer', () => {
  it('fails a call whose answer has an undocumented status or breaks the documented schema', async () => {
    const answers: { status: number; body: unknown }[] = [
      { status: 418, body: { ok: true } },
      { status: 200, body: { ok: 'yes' } },
      { status: 200, body: undefined },
      { status: 500, body: { error: { code: 'InternalError', message: 'x' } } },
    ];
    let i = 0;
    t.app.routes.add(
      'contractProbe',
      'GET',
      'contract-probe',
      route({
        summary: 'Answers whatever the test asks for',
        tags: ['test'],
        access: { anonymous: true },
        responses: { 200: { description: 'ok', schema: z.object({ ok: z.boolean() }) } },
        handler: async () => answers[i++]!,
      }),
    );
    await expect(t.call('GET', 'contract-probe')).rejects.toThrow(/status 418 is not documented/);
    await expect(t.call('GET', 'contract-probe')).rejects.toThrow(/does not match the documented schema: \/ok must be boolean/);
    await expect(t.call('GET', 'contract-probe')).rejects.toThrow(/documents a body .* but none is sent/);
    // `default` covers a 500 in the document, but an answer must have its status documented explicitly.
    await expect(t.call('GET', 'contract-probe')).rejects.toThrow(/status 500 is not documented/);
  });
});
