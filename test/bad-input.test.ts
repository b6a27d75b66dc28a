/**
 * Bad input on every route the app registers (new services are covered as they land): malformed
 * JSON, wrong types, unknown fields, oversize bodies, wrong media types, NUL characters, unicode
 * and injection strings in bodies and queries. Each gets a 4xx in the error format, and the
 * databases are unchanged afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../shared/http/input.js';
import { expectApiError, startTestApp, type CallResult, type TestApp } from './app.js';

let t: TestApp;
let root: string;
let envId: string;
let svcId: string;
let bindingId: string;
let depId: string;

// The app's own body limit (1 MiB by default), not a small one: a small limit would answer 413 to
// the large cases below before the parser and the schemas ever saw them.
beforeAll(async () => {
  t = await startTestApp();
  root = await t.token('platform-admin', { admin: true });
  await t.createTenant('victim', 'vic');
  const env = await t.call('POST', 'tenants/victim/environments', { token: root, body: { name: 'prod', kind: 'prod', region: 'westeurope' } });
  envId = env.body.id;
  const svc = await t.call('POST', `tenants/victim/environments/${envId}/services`, { token: root, body: { name: 'api', owner: 'team-a' } });
  svcId = svc.body.id;
  const binding = await t.call('POST', 'tenants/victim/secret-bindings', { token: root, body: SECRET_BINDING });
  bindingId = binding.body.id;
  const image = `contoso.azurecr.io/api@sha256:${'a'.repeat(64)}`;
  const dep = await t.call('POST', `tenants/victim/environments/${envId}/deployments`, { token: root, body: { serviceId: svcId, image } });
  depId = dep.body.id;
});

/** A secret binding of the victim tenant (a reference; its value is generated into the vault). */
const SECRET_BINDING = {
  name: 'victim-secret',
  secretName: 'victim-secret',
  rotation: { intervalDays: 30, generator: { kind: 'random', length: 32, alphabet: 'hex' } },
  initialValue: 'generate',
};
afterAll(() => t?.close());

const INJECTIONS = ["' OR '1'='1", "'; DROP TABLE tenants.tenants; --", '%27%20OR%201=1', '$1', '\\', '{"$gt":""}'];
const UNICODE = ['🚀🔥', 'مرحبا بالعالم', 'e\u0301', '\u202Eevil', 'Ωmega', '\uFFFF', 'a'.repeat(10_000)];

function expectClientError(r: CallResult, what: string): void {
  expect(r.status, what).toBeGreaterThanOrEqual(400);
  expect(r.status, what).toBeLessThan(500);
  expect(typeof r.body?.error?.code, what).toBe('string');
  expect(typeof r.body?.error?.message, what).toBe('string');
  expect(r.headers.get('x-ms-error-code'), what).toBe(r.body.error.code);
  expect(JSON.stringify(r.body), what).not.toMatch(/at .*\.(ts|js):\d+|select |insert |syntax error/i);
}

const pathOf = (route: string) => route.replace('{tenantId}', 'victim').replace(/\{(\w+)\??(:[^}]*)?\}/g, 'x1');
/** The path of a route with real ids where it has them (so a request gets past the existence checks). */
const realPathOf = (route: string) =>
  route
    .replace('{tenantId}', 'victim')
    .replace('{environmentId}', envId)
    .replace('{serviceId}', svcId)
    .replace('{bindingId}', bindingId)
    .replace('{deploymentId}', depId)
    // Well-formed ids of nothing: the body is validated before the handler looks them up.
    .replace('{findingId}', 'dfnd_0000000000000000')
    .replace(/\{(\w+)\??(:[^}]*)?\}/g, 'x1');
const cursor = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');

describe('bad input', () => {
  it('answers every malformed body with a 4xx and changes nothing', async () => {
    const before = await t.snapshot();
    const withBody = t.app.routes.routes.filter((r) => t.kernel.openapi.examples.has(r.name));
    expect(withBody.length).toBeGreaterThan(2);
    for (const r of withBody) {
      // Real ids: with made-up ones the path check answers 404 before the body is read.
      const path = realPathOf(r.route);
      const example = t.kernel.openapi.examples.get(r.name)!.example as Record<string, unknown>;
      const call = (o: Parameters<TestApp['call']>[2]) => t.call(r.method, path, { token: root, ...o });
      const oversize = JSON.stringify({ ...example, pad: 'x'.repeat(t.kernel.settings.http.maxBodyBytes) });
      const cases: [string, Parameters<TestApp['call']>[2]][] = [
        ['malformed JSON', { rawBody: '{"id": "x",' }],
        ['not UTF-8', { rawBody: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) }],
        ['empty body', { rawBody: '' }],
        ['array', { body: [] }],
        ['number', { body: 42 }],
        ['null', { body: null }],
        ['unknown field', { body: { ...example, zzUnknown: 1 } }],
        ['oversize', { rawBody: oversize }],
        ['lying content-length', { rawBody: oversize, headers: { 'content-length': '10' } }],
        ['wrong media type', { rawBody: JSON.stringify(example), headers: { 'content-type': 'text/plain' } }],
        ['NUL in a string', { body: mapStrings(example, (s) => `${s}\u0000`) }],
        ['NUL in a key', { body: { ...example, 'a\u0000b': 1 } }],
        // PostgreSQL would store U+FFFD instead: refused, not silently changed.
        ['unpaired surrogate in a string', { body: mapStrings(example, (s) => `${s}\ud800`) }],
        ['unpaired surrogate in a key', { body: { ...example, 'a\udc00': 'x' } }],
        ['wrong types', { body: mapValues(example, (v) => (typeof v === 'string' ? 123 : 'not-the-type')) }],
        ['deep nesting', { rawBody: '['.repeat(5000) + ']'.repeat(5000) }],
      ];
      for (const [what, o] of cases) expectClientError(await call(o), `${r.method} ${r.route}: ${what}`);
      // Within the size limit, so it reaches the parser (which once overflowed the stack: 500).
      for (const depth of [MAX_JSON_DEPTH + 1, 5000, 100_000]) {
        const deep = await call({ rawBody: '['.repeat(depth) + ']'.repeat(depth) });
        expectApiError(deep, 400, 'InvalidJson');
        const inObject = await call({ rawBody: JSON.stringify({ ...example, labels: '@' }).replace('"@"', '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)) });
        expectApiError(inObject, 400, 'InvalidJson');
      }
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('never fails with a 5xx on unicode or injection strings in bodies', async () => {
    for (const r of t.app.routes.routes.filter((x) => t.kernel.openapi.examples.has(x.name))) {
      const example = t.kernel.openapi.examples.get(r.name)!.example as Record<string, unknown>;
      for (const s of [...INJECTIONS, ...UNICODE]) {
        const res = await t.call(r.method, realPathOf(r.route), { token: root, body: mapStrings(example, () => s) });
        expect(res.status, `${r.method} ${r.route} with ${JSON.stringify(s).slice(0, 40)}`).toBeLessThan(500);
        if (res.status >= 400) expectClientError(res, r.route);
      }
    }
    // The injection strings above were data, not SQL: the registry is intact.
    expect((await t.call('GET', 'tenants/victim', { token: root })).status).toBe(200);
  });

  it('rejects unknown, malformed or hostile query parameters on every GET with a 4xx', async () => {
    const before = await t.snapshot();
    for (const r of t.app.routes.routes.filter((x) => x.method === 'GET' && !('anonymous' in x.access))) {
      const path = pathOf(r.route);
      expectClientError(await t.call('GET', `${path}?zzUnknown=1`, { token: root }), `${path} unknown`);
      for (const s of INJECTIONS) {
        const res = await t.call('GET', `${path}?maxpagesize=${encodeURIComponent(s)}`, { token: root });
        expectClientError(res, `${path} maxpagesize=${s}`);
        const tok = await t.call('GET', `${path}?skipToken=${encodeURIComponent(s)}`, { token: root });
        expect(tok.status, `${path} skipToken=${s}`).toBeLessThan(500);
      }
      expectClientError(await t.call('GET', `${path}?maxpagesize=0`, { token: root }), `${path} maxpagesize=0`);
      expectClientError(await t.call('GET', `${path}?maxpagesize=100000`, { token: root }), `${path} maxpagesize too big`);
    }
    expect(await t.snapshot()).toEqual(before);
  });

  // Regressions: each of these answered 5xx once.
  it('refuses creation-time bounds PostgreSQL cannot hold with a 400 (they answered 500)', async () => {
    const before = await t.snapshot();
    const lists = t.app.routes.routes.filter((r) => r.method === 'GET' && !('anonymous' in r.access));
    const ranged = lists.filter((r) => JSON.stringify(t.kernel.openapi.document().paths?.[`/${r.route}`]?.get?.parameters ?? []).includes('createdAfter'));
    expect(ranged.length).toBeGreaterThan(1);
    for (const r of ranged) {
      const path = realPathOf(r.route);
      // Year 0000 does not exist in PostgreSQL; an offset can push 9999-12-31 into year 10000.
      for (const v of ['0000-01-01T00:00:00Z', '0000-12-31T23:59:59.999Z', '0001-01-01T00:00:00+00:01', '9999-12-31T23:59:59-01:00', '9999-12-31T23:59:59.999-00:01']) {
        for (const p of ['createdAfter', 'createdBefore']) {
          const res = await t.call('GET', `${path}?${p}=${encodeURIComponent(v)}`, { token: root });
          expectApiError(res, 400, 'InvalidRequest');
          expect(res.body.error.target, `${path} ${p}=${v}`).toBe(`query.${p}`);
        }
      }
      // The bounds themselves are fine.
      const edges = await t.call('GET', `${path}?createdAfter=0001-01-01T00:00:00Z&createdBefore=${encodeURIComponent('9999-12-31T23:59:59.999Z')}`, { token: root });
      expect(edges.status, `${path} edges`).toBe(200);
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('refuses tampered skipTokens with a 400, never a 503 to retry (a NUL once reached SQL)', async () => {
    const before = await t.snapshot();
    const tokens: [string, string][] = [
      ['NUL in a name key', cursor({ o: 'name', k: 'a\u0000b', i: 'env_0000000000000000' })],
      ['NUL in an id', cursor({ o: 'name', k: 'a', i: '\u0000' })],
      ['NUL in a string cursor', cursor('a\u0000')],
      ['control character', cursor({ o: 'name', k: 'a\u0001', i: 'x' })],
      ['control character in a string cursor', cursor('\u001b[2J')],
      ['unpaired surrogate', cursor('{"o":"name","k":"\\ud800","i":"x"}')],
      ['unpaired surrogate in a string cursor', cursor('"\\udfff"')],
      ['NUL in an unknown key', cursor({ o: 'name', k: 'a', i: 'x', '\u0000': 1 })],
    ];
    // Creation-time keys PostgreSQL cannot hold, or that only Date.parse tolerates.
    const created: [string, string][] = [
      ['year 0000', cursor({ o: 'created', k: '0000-01-01T00:00:00.000Z', i: 'x' })],
      ['expanded year', cursor({ o: 'created', k: '+275760-09-13T00:00:00.000Z', i: 'x' })],
      ['year 10000', cursor({ o: 'created', k: '+010000-01-01T00:00:00.000Z', i: 'x' })],
      ['not ISO', cursor({ o: 'created', k: '0', i: 'x' })],
      ['not ISO either', cursor({ o: 'created', k: 'Tue, 01 Jan 2030 00:00:00 GMT', i: 'x' })],
    ];
    const paged = t.app.routes.routes.filter((r) => r.method === 'GET' && JSON.stringify(t.kernel.openapi.document().paths?.[`/${r.route}`]?.get?.parameters ?? []).includes('skipToken'));
    expect(paged.length).toBeGreaterThan(3);
    for (const r of paged) {
      const path = realPathOf(r.route);
      for (const [what, tok] of [...tokens, ...created.map(([w, c]): [string, string] => [w, `${c}&createdAfter=2000-01-01T00:00:00Z`])]) {
        const [token, extra] = tok.split('&');
        const res = await t.call('GET', `${path}?skipToken=${token}${extra ? `&${extra}` : ''}`, { token: root });
        expect(res.headers.get('retry-after'), `${path}: ${what}`).toBeNull();
        expectApiError(res, 400, 'InvalidRequest');
      }
    }
    expect(await t.snapshot()).toEqual(before);
  });

  it('refuses an unpaired surrogate in free text rather than store U+FFFD in its place', async () => {
    const before = await t.snapshot();
    const patch = await t.call('PATCH', 'tenants/victim', { token: root, body: { displayName: 'Victim \ud800' } });
    expectApiError(patch, 400, 'InvalidRequest');
    expect(patch.body.error.target).toBe('body.displayName');
    const create = await t.call('POST', 'tenants/victim/environments', { token: root, body: { name: 'ok-name', kind: 'dev', region: 'westeurope', description: '\udc00 text' } });
    expectApiError(create, 400, 'InvalidRequest');
    expect(await t.snapshot()).toEqual(before);
  });

  it('treats hostile path segments as not found', async () => {
    for (const seg of ["x' OR 1=1", '..', 'A'.repeat(300), '🚀', '%00']) {
      const r = await t.call('GET', `tenants/${encodeURIComponent(seg)}`, { token: root });
      expect(r.status, seg).toBe(404);
      // `tenants/..` normalises to a path no function serves: the host's own empty 404, as in Azure.
      if (seg === '..') expect(r.body).toBeUndefined();
      else expectClientError(r, seg);
    }
  });

  it('rejects malformed If-Match and Repeatability-Request-ID headers', async () => {
    const m = await t.call('PATCH', 'tenants/victim', { token: root, body: { displayName: 'v' }, headers: { 'if-match': 'W/"abc"' } });
    expectClientError(m, 'weak etag');
    const rid = await t.call('POST', 'tenants', { token: root, body: { id: 'rid', displayName: 'r' }, headers: { 'repeatability-request-id': 'bad id!' } });
    expectClientError(rid, 'bad request id');
    expect((await t.call('GET', 'tenants/rid', { token: root })).status).toBe(404);
  });

  it('reads a JSON body without Content-Length (HTTP streaming passes a chunked body on), and refuses an empty one', async () => {
    const r = await t.call('POST', 'tenants', { token: root, body: { id: 'chunked', displayName: 'Chunked' }, chunked: true });
    expect(r.status).toBe(201);
    const before = await t.snapshot();
    expectApiError(await t.call('POST', 'tenants', { token: root, rawBody: '', chunked: true }), 400, 'InvalidJson');
    expect(await t.snapshot()).toEqual(before);
  });
});

function mapStrings(v: unknown, f: (s: string) => unknown): unknown {
  if (typeof v === 'string') return f(v);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f)]));
  return v;
}

function mapValues(v: Record<string, unknown>, f: (x: unknown) => unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, f(x)]));
}
