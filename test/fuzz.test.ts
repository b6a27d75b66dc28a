/**
 * Property-based fuzzing of the whole HTTP surface with fast-check. For every route the app
 * registers (`t.app.routes.routes`, so a route is fuzzed as soon as it lands), requests are built
 * from the route's own description — its OpenAPI parameters, its body schema and its body example —
 * with real ids of real data (each route gets its own tenant, environments, services and members,
 * so requests get past the existence checks into the handlers), and then mutated: hostile path
 * segments, boundary and malformed values, tampered cursors, oversized and duplicated query
 * parameters, odd headers and media types, malformed bodies.
 *
 * Every answer must be a 4xx in the error format (`{error:{code,message}}`, `x-ms-error-code` equal
 * to the code) or a 2xx the route documents; never a 5xx; no stack trace, SQL or source path in an
 * error; and a request answered 4xx changes no table (`t.snapshot()`, taken whenever the database's
 * transaction counter shows that something may have written, and at the end of every batch).
 *
 * `npm test` runs a fixed seed and a bounded number of requests per route. To fuzz longer:
 *
 *   FUZZ_RUNS=2000 FUZZ_SEED=12345 npx vitest run test/fuzz.test.ts
 *
 * FUZZ_ROUTE=<route name> fuzzes one route only; a failure prints the seed and the path that
 * replay it (FUZZ_SEED, FUZZ_PATH with FUZZ_ROUTE).
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type AzuriteServer } from '../emulator/azurite.js';
import { MAX_JSON_DEPTH } from '../shared/http/input.js';
import type { RegisteredRoute } from '../shared/http/route.js';
import { startTestApp, type CallOptions, type CallResult, type TestApp } from './app.js';

const RUNS = intEnv('FUZZ_RUNS', 110);
const SEED = intEnv('FUZZ_SEED', 20_240_917);
const ONLY = process.env.FUZZ_ROUTE;
const REPLAY_PATH = process.env.FUZZ_PATH;
/** Requests between two unconditional snapshots. */
const BATCH = 25;

/** One of `values`, drawn by fast-check (so it shrinks towards the first). */
function pick<const T>(g: fc.GeneratorValue, ...values: readonly T[]): T {
  return values[g(fc.nat, values.length - 1)]!;
}

function intEnv(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer`);
  return n;
}

let t: TestApp;
let azurite: AzuriteServer;
let root: string;
let maxBodyBytes: number;
let doc: OpenApiDoc;
/** Another tenant with data, for ids that exist but not in the route's tenant. */
let other: Fixture;
/** Per route: requests sent, answers by status, snapshots taken, time (fixture included). */
const stats = new Map<string, { requests: number; byStatus: Map<number, number>; snapshots: number; ms: number }>();

beforeAll(async () => {
  // Blob storage for the routes that stream artifacts (a well-formed upload must succeed, not 503).
  azurite = await startAzurite({ blobPort: 0, queuePort: 0, tablePort: 0 });
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('deployment-artifacts').createIfNotExists();
  t = await startTestApp({ env: { STORAGE_CONNECTION_STRING: azurite.connectionString } });
  root = await t.token('platform-admin', { admin: true });
  maxBodyBytes = t.kernel.settings.http.maxBodyBytes;
  // Every route's implementation is loaded, so the document describes them all.
  doc = t.kernel.openapi.document() as unknown as OpenApiDoc;
  other = await createFixture('fz-other');
});
afterAll(async () => {
  if (stats.size > 0) {
    const rows = [...stats].map(([name, s]) => {
      const statuses = [...s.byStatus].sort(([a], [b]) => a - b).map(([k, v]) => `${k}:${v}`).join(' ');
      return `${name.padEnd(24)} ${String(s.requests).padStart(5)} requests  ${String(s.snapshots).padStart(4)} snapshots  ${String(Math.round(s.ms)).padStart(6)} ms  ${statuses}`;
    });
    const total = [...stats.values()].reduce((n, s) => n + s.requests, 0);
    console.log(`fuzz: seed ${SEED}, ${RUNS} runs per route, ${total} requests\n${rows.join('\n')}`);
  }
  await t?.close();
  await azurite?.stop();
});

// ---- The routes' own description ---------------------------------------------------------------

/** The parts of a JSON Schema (as zod-to-openapi writes them) the generators read. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  items?: Schema;
  maxItems?: number;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema | boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  example?: unknown;
}
interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: Schema }[];
  requestBody?: { content: Record<string, { schema: Schema; example?: unknown }> };
  responses: Record<string, unknown>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

function operationOf(r: RegisteredRoute): Operation {
  const op = doc.paths[`/${r.route}`]?.[r.method.toLowerCase()];
  if (!op) throw new Error(`${r.name} is not in the OpenAPI document`);
  return op;
}

function resolve(s: Schema): Schema {
  let cur = s;
  for (let i = 0; i < 10 && cur.$ref; i++) cur = doc.components.schemas[cur.$ref.replace('#/components/schemas/', '')] ?? {};
  if (cur.allOf) return cur.allOf.reduce<Schema>((acc, part) => ({ ...acc, ...resolve(part) }), {});
  return cur;
}

// ---- Data the requests point at -----------------------------------------------------------------

interface Fixture {
  tenant: string;
  admin: string;
  reader: string;
  /** Live, live, retired. */
  envs: string[];
  /** In envs[0]: live, live, retired. */
  services: string[];
  /** Secret bindings: live, live, deleted. */
  bindings: string[];
  /** Scaling events of services[0]. */
  events: string[];
  /** Of services[0]: pending, succeeded (with an artifact `manifest.yaml` and a log `apply.log`), cancelled. */
  deployments: string[];
  /** A rotation of the first binding. */
  rotations: string[];
  /** skipTokens of real pages, by the list's path (without the query). */
  cursors: Map<string, string[]>;
}

async function must(method: string, path: string, opts: CallOptions = {}): Promise<CallResult> {
  const r = await t.call(method, path, { token: root, ...opts });
  if (r.status >= 300) throw new Error(`fixture: ${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r;
}

async function createFixture(tenant: string): Promise<Fixture> {
  const admin = `${tenant}-admin`;
  const reader = `${tenant}-reader`;
  await t.createTenant(tenant, admin);
  await t.addMember(tenant, reader, 'reader');
  await t.addMember(tenant, `${tenant}-operator`, 'operator');
  const envs: string[] = [];
  for (const [i, labels] of [{ tier: 'gold', app: 'web' }, { tier: 'silver' }, {}].entries()) {
    const e = await must('POST', `tenants/${tenant}/environments`, { body: { name: `env-${i}`, kind: 'dev', region: 'westeurope', labels } });
    envs.push(e.body.id as string);
  }
  await must('POST', `tenants/${tenant}/environments/${envs[2]}/retire`);
  const services: string[] = [];
  for (const [i, labels] of [{ app: 'web' }, { app: 'api', tier: 'gold' }, {}].entries()) {
    const s = await must('POST', `tenants/${tenant}/environments/${envs[0]}/services`, { body: { name: `svc-${i}`, owner: 'team-a', labels } });
    services.push(s.body.id as string);
  }
  const deployments: string[] = [];
  const deploymentsPath = `tenants/${tenant}/environments/${envs[0]}/deployments`;
  for (const to of [[], ['in_progress', 'succeeded'], ['cancelled']]) {
    const d = await must('POST', deploymentsPath, { body: { serviceId: services[0], image: `contoso.azurecr.io/svc@sha256:${'0'.repeat(63)}${deployments.length}` } });
    for (const step of to) await must('POST', `${deploymentsPath}/${d.body.id}/transitions`, { body: { to: step } });
    deployments.push(d.body.id as string);
  }
  const raw = (body: string) => ({ rawBody: body, headers: { 'content-type': 'text/plain' } });
  await must('PUT', `${deploymentsPath}/${deployments[1]}/artifacts/manifest.yaml`, raw('kind: Deployment\n'));
  await must('PUT', `${deploymentsPath}/${deployments[1]}/steps/apply/log`, raw('applied\n'));
  await must('POST', `tenants/${tenant}/environments/${envs[0]}/services/${services[2]}/retire`);
  const bindings: string[] = [];
  for (const [i, consumers] of [[{ environmentId: envs[0] }], [{ environmentId: envs[0], serviceId: services[0] }], []].entries()) {
    const rotation = { intervalDays: 30, generator: { kind: 'random', length: 32, alphabet: 'hex' } };
    const b = await must('POST', `tenants/${tenant}/secret-bindings`, { body: { name: `sb-${i}`, secretName: `sb-${i}`, consumers, rotation, initialValue: 'generate' } });
    bindings.push(b.body.id as string);
  }
  await must('DELETE', `tenants/${tenant}/secret-bindings/${bindings[2]}`);
  const rotation = await must('POST', `tenants/${tenant}/secret-bindings/${bindings[0]}/rotate`);
  const rotations = [rotation.body.id as string];
  await t.durable.settle();
  // The first service's configuration: two versions (the first names another service and a
  // binding), two consumers.
  const cfg = `tenants/${tenant}/environments/${envs[0]}/services/${services[0]}/configuration`;
  const v1 = await must('PUT', cfg, { body: { settings: { logLevel: 'info', upstream: services[1], db: { password: { secretRef: 'sb-0' } } } } });
  await must('PUT', cfg, { body: { settings: { logLevel: 'debug', db: { password: { secretRef: 'sb-0' } } } }, headers: { 'if-match': v1.headers.get('etag')! } });
  for (const consumer of ['agent-1', 'agent-2']) await must('GET', `${cfg}?consumer=${consumer}`);
  // services[0] has a scaling policy in two versions and scaling events.
  const svc0 = `tenants/${tenant}/environments/${envs[0]}/services/${services[0]}`;
  const policy = { minReplicas: 1, maxReplicas: 10, triggers: [{ type: 'cpu', name: 'cpu', targetUtilization: 60 }] };
  const p1 = await must('PUT', `${svc0}/scaling-policy`, { body: policy });
  await must('PUT', `${svc0}/scaling-policy`, { body: { ...policy, maxReplicas: 8 }, headers: { 'if-match': p1.headers.get('etag')! } });
  const events: string[] = [];
  for (const to of [2, 3]) {
    const e = await must('POST', `${svc0}/scaling-events`, { body: { at: new Date(Date.now() - 60_000).toISOString(), fromReplicas: to - 1, toReplicas: to, trigger: 'cpu', source: 'hpa' } });
    events.push(e.body.id as string);
  }
  const cursors = new Map<string, string[]>();
  const lists = ['tenants', `tenants/${tenant}/members`, `tenants/${tenant}/environments`, `tenants/${tenant}/services`, `tenants/${tenant}/environments/${envs[0]}/services`, `tenants/${tenant}/secret-bindings`, `${cfg}/versions`, `${cfg}/consumers`, `${svc0}/scaling-policy/versions`, `${svc0}/scaling-events`, deploymentsPath];
  for (const list of lists) {
    for (const q of ['maxpagesize=1', 'maxpagesize=1&status=all&createdAfter=2000-01-01T00:00:00Z']) {
      if (list.endsWith('members') || list === 'tenants' || list.startsWith(cfg) || list.startsWith(svc0)) if (q.includes('created')) continue;
      // Deleted secret bindings are gone from lists: they have no status filter.
      const page = await must('GET', `${list}?${list.endsWith('secret-bindings') ? q.replace('&status=all', '') : q}`);
      const next = page.body.nextLink as string | undefined;
      if (next) cursors.set(list, [...(cursors.get(list) ?? []), new URL(next).searchParams.get('skipToken') ?? '']);
    }
  }
  return { tenant, admin, reader, envs, services, bindings, events, deployments, rotations, cursors };
}

// ---- Hostile values ------------------------------------------------------------------------------

const LONG_LENGTHS = [63, 64, 128, 129, 200, 201, 253, 254, 317, 318, 1024, 1025, 2000, 2001, 2048, 2049, 65_536] as const;
const HOSTILE_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '\u0001', '\u001b[31m', '\t', '\n', '\r\n', '\u007f', '\u0085', '\u009f', '\u2028', '\u202e', '\u2066',
  '\ufeff', '\ufffe', '\uffff', '\ud800', '\udfff', 'a\ud800b', '\udc00\ud800', '\ud83d\ude80', 'e\u0301', 'İ', 'ß', 'Ω',
  'NaN', 'Infinity', '-Infinity', '-0', '0', '1e309', '0x10', '1_000', ' 1', 'true', 'null', 'undefined', '[]', '{}',
  '__proto__', 'constructor', 'prototype', 'toString', "' OR '1'='1", "'; DROP TABLE tenants.tenants; --", '$1', '$$', '\\', "\\'",
  '%00', '%', '%2F', '../../etc/passwd', '..', '.', '/', '*', '?', '#', '&', '=', ',', '(', ')', '!', '${x}', '<script>', 'a,b', 'a=b',
  'env_0000000000000000', 'svc_ffffffffffffffff', 'ENV_0000000000000000', 'contoso', 'a-', '-a', 'a--b',
] as const;

/** A marker a body value carries for JSON text no JavaScript value serializes to (`1e400`, `-0`). */
const RAW = '\ue000raw:';
const RAW_NUMBERS = ['1e400', '-1e400', '1e-400', '-0', '123456789012345678901234567890', '9007199254740993', '0.1e1', '1E2', '-', '01', '+1', '.5', 'NaN', 'Infinity', '0x10'] as const;
const NUMBERS = [0, -1, 1, 0.5, -0.5, 2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 1e308, -1e308, 5e-324] as const;

/** Any UTF-16 code unit, so lone surrogates too. */
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

function hostileString(g: fc.GeneratorValue): string {
  switch (pick(g, 'list', 'list', 'long', 'wide', 'units', 'unicode', 'mixed')) {
    case 'list':
      return pick(g, ...HOSTILE_STRINGS);
    case 'long':
      return 'x'.repeat(pick(g, ...LONG_LENGTHS));
    case 'wide':
      return '\ud83d\ude80'.repeat(pick(g, ...LONG_LENGTHS));
    case 'units':
      return g(fc.string, { unit: utf16Unit, maxLength: 12 });
    case 'unicode':
      return g(fc.string, { unit: 'binary', maxLength: 12 });
    default:
      return `${pick(g, 'a', 'prod', 'x')}${pick(g, ...HOSTILE_STRINGS)}${pick(g, '', 'z')}`;
  }
}

function nested(depth: number, leaf: unknown, asObject: boolean): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asObject ? { a: v } : [v];
  return v;
}

function hostileValue(g: fc.GeneratorValue): unknown {
  switch (pick(g, 'string', 'string', 'number', 'raw', 'other', 'deep', 'json')) {
    case 'string':
      return hostileString(g);
    case 'number':
      return pick(g, ...NUMBERS);
    case 'raw':
      return `${RAW}${pick(g, ...RAW_NUMBERS)}`;
    case 'other':
      return pick<unknown>(g, null, true, false, [], {}, [null], { '': null }, { __proto__: null }, ['a', 1]);
    case 'deep':
      return nested(pick(g, 2, MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1), pick<unknown>(g, 1, 'x', null), g(fc.boolean));
    default:
      return g(fc.jsonValue, { maxDepth: 2 });
  }
}

// ---- Valid-looking values from the schemas -------------------------------------------------------

const patternArbs = new Map<string, fc.Arbitrary<string>>();
/** Strings matching `pattern` (fast-check reads the regex), or the fallback when it cannot. */
function matching(pattern: string, maxLength: number | undefined, fallback: string): fc.Arbitrary<string> {
  const key = `${pattern}\u0000${maxLength}`;
  let arb = patternArbs.get(key);
  if (!arb) {
    try {
      const re = new RegExp(pattern);
      arb = fc.stringMatching(re).filter((s) => (maxLength === undefined || s.length <= maxLength) && re.test(s));
    } catch {
      arb = fc.constant(fallback);
    }
    patternArbs.set(key, arb);
  }
  return arb;
}

/**
 * An ISO 8601 instant. Well-formed ones are what the schema's format accepts (any year 0000-9999,
 * any offset up to ±23:59, so the edges of what PostgreSQL holds); the others bend the format too.
 */
function isoInstant(g: fc.GeneratorValue, wellFormed: boolean): string {
  if (!wellFormed && g(fc.boolean)) {
    return pick(g,
      '0000-01-01T00:00:00Z', '0000-12-31T23:59:59.999+00:00', '0001-01-01T00:00:00+00:01', '9999-12-31T23:59:59-00:01', '9999-12-31T23:59:59.999-23:59',
      '2001-02-29T00:00:00Z', '2020-01-01T24:00:00Z', '2020-01-01T23:59:60Z', '2020-12-31T23:59:59.123456789+14:00', '-000001-01-01T00:00:00Z',
      '+275760-09-13T00:00:00Z', '+010000-01-01T00:00:00Z', '2020-01-01', '2020-01-01T00:00:00', '2020-01-01T00:00Z', '2020-01-01t00:00:00z',
      '2020-01-01 00:00:00Z', 'now', '0', 'NaN', '2020-01-01T00:00:00+24:00', '2020-01-01T00:00:00+0100', '1e400');
  }
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  const int = (min: number, max: number, bent: number) => g(fc.integer, { min, max: wellFormed ? max : bent });
  const year = g(fc.boolean) ? pick(g, 0, 1, 1970, 9999) : int(0, 9999, 9999);
  const date = `${pad(year, 4)}-${pad(int(1, 12, 13), 2)}-${pad(int(1, 28, 32), 2)}`;
  const time = `${pad(int(0, 23, 24), 2)}:${pad(int(0, 59, 60), 2)}:${pad(int(0, 59, 60), 2)}`;
  const frac = g(fc.boolean) ? `.${'9'.repeat(g(fc.integer, { min: 1, max: 12 }))}` : '';
  const offset = g(fc.boolean) ? 'Z' : `${pick(g, '+', '-')}${pad(int(0, 23, 24), 2)}:${pad(int(0, 59, 60), 2)}`;
  return `${date}T${time}${frac}${offset}`;
}

/** A value the schema accepts, as far as the schema can say (refinements and lookaheads aside). */
function validFor(schema: Schema, g: fc.GeneratorValue, depth = 0): unknown {
  const s = resolve(schema);
  if (s.enum) return pick(g, ...s.enum);
  const alternatives = s.oneOf ?? s.anyOf;
  if (alternatives) return validFor(alternatives[g(fc.nat, alternatives.length - 1)]!, g, depth);
  const types = Array.isArray(s.type) ? s.type : [s.type ?? 'string'];
  const type = types.length === 1 ? types[0] : pick(g, ...types);
  switch (type) {
    case 'null':
      return null;
    case 'boolean':
      return g(fc.boolean);
    case 'integer':
      return g(fc.integer, { min: s.minimum ?? -1_000_000, max: s.maximum ?? 1_000_000 });
    case 'number':
      return g(fc.double, { noNaN: true, noDefaultInfinity: true });
    case 'array': {
      if (depth > 4) return [];
      const n = g(fc.integer, { min: 0, max: Math.min(s.maxItems ?? 3, 3) });
      return Array.from({ length: n }, () => validFor(s.items ?? {}, g, depth + 1));
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth > 4) return out;
      for (const [k, p] of Object.entries(s.properties ?? {})) {
        if ((s.required ?? []).includes(k) || g(fc.boolean)) out[k] = validFor(p, g, depth + 1);
      }
      if (typeof s.additionalProperties === 'object') {
        const values = s.additionalProperties;
        const n = g(fc.integer, { min: 0, max: 3 });
        for (let i = 0; i < n; i++) out[g(() => matching('^[a-z][a-z0-9-]{0,10}[a-z0-9]$', 63, 'k'))] = validFor(values, g, depth + 1);
      }
      return out;
    }
    default:
      if (s.format === 'date-time') return isoInstant(g, true);
      if (s.pattern) return g(() => matching(s.pattern!, s.maxLength, typeof s.example === 'string' ? s.example : 'a'));
      if (s.example !== undefined && g(fc.boolean)) return s.example;
      return g(fc.string, { minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 40, 40) });
  }
}

// ---- Requests ------------------------------------------------------------------------------------

/** What a request gets wrong on purpose; a request with none is well-formed and should go deep. */
const TARGETS = ['path', 'query', 'cursor', 'body', 'raw', 'headers', 'auth'] as const;
type Target = (typeof TARGETS)[number];

function planFor(g: fc.GeneratorValue, applicable: readonly Target[]): Set<Target> {
  const kind = pick(g, 'valid', 'one', 'one', 'one', 'many');
  if (kind === 'valid') return new Set();
  if (kind === 'one') return new Set([pick(g, ...applicable)]);
  return new Set(applicable.filter(() => g(fc.boolean)));
}

const CURRENT_ETAG = '\ue000current-etag';

/** One generated request; prints compactly in fast-check's report. */
class FuzzRequest {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly opts: CallOptions & { headers: Record<string, string> },
    readonly notes: string[],
  ) {}

  [fc.toStringMethod](): string {
    const body = this.opts.rawBody;
    const shownBody =
      body === undefined ? '' : typeof body === 'string' ? ` body(${body.length}) ${JSON.stringify(body.slice(0, 300))}` : ` bytes(${body.byteLength}) ${Buffer.from(body.slice(0, 100)).toString('hex')}`;
    const headers = Object.fromEntries(
      Object.entries(this.opts.headers).map(([k, v]) => [k, v === CURRENT_ETAG ? '(the current ETag)' : v.length > 120 ? `${v.slice(0, 120)}…(${v.length})` : v]),
    );
    const path = this.path.length > 400 ? `${this.path.slice(0, 400)}…(${this.path.length})` : this.path;
    return `${this.method} /api/${path} [${this.notes.join(', ')}] headers ${JSON.stringify(headers)}${shownBody}`;
  }
}

/** Percent-encodes any string, lone surrogates included (as the UTF-8 of the code unit, which is not UTF-8). */
function encode(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) out += Buffer.from([0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]).toString('hex').replace(/../g, '%$&').toUpperCase();
    else out += encodeURIComponent(ch);
  }
  return out;
}

const HOSTILE_SEGMENTS = [
  '%2F', 'a%2Fb', '..', '.', '%2e%2e', '%2E', '%00', 'x%00', '%20', '%ZZ', '%', '~', 'A'.repeat(300), '%F0%9F%9A%80', '%ED%A0%80', '%C0%AF', '%FF',
  'env_gggggggggggggggg', 'ENV_0000000000000000', 'env_00000000000000000', 'svc_0000000000000000', 'env_0000000000000000', ';', 'a;b=c', '*', '%7BtenantId%7D',
  'CONTOSO', 'a', 'a'.repeat(64), '-a', '%2Bx', 'x%3Fy%3Dz', 'x%23y',
] as const;

function pathValue(name: string, g: fc.GeneratorValue, f: Fixture, notes: string[], mutate: boolean, serviceRoute: boolean, rotationRoute = false): string {
  const how = mutate ? pick(g, 'other', 'hostile', 'hostile', 'encoded') : 'real';
  if (how === 'hostile') {
    notes.push(`${name}:hostile`);
    return pick(g, ...HOSTILE_SEGMENTS);
  }
  if (how === 'encoded') {
    notes.push(`${name}:string`);
    return encode(hostileString(g)) || 'x';
  }
  const fx = how === 'other' ? other : f;
  if (how === 'other') notes.push(`${name}:other-tenant`);
  switch (name) {
    case 'tenantId':
      return fx.tenant;
    case 'environmentId':
      // The fixture's services live in its first environment.
      return serviceRoute ? fx.envs[0]! : pick(g, ...fx.envs);
    case 'serviceId':
      return pick(g, ...fx.services);
    case 'version':
      return pick(g, '1', '2', '3', '0', '01', '2147483648');
    case 'bindingId':
      // A rotation belongs to the first binding.
      return rotationRoute ? fx.bindings[0]! : pick(g, ...fx.bindings);
    case 'rotationId':
      return pick(g, ...fx.rotations);
    case 'eventId':
      return pick(g, ...fx.events);
    case 'deploymentId':
      return pick(g, ...fx.deployments);
    case 'artifactName':
      return pick(g, 'manifest.yaml', 'apply.log', 'new-artifact.txt');
    case 'step':
      return pick(g, 'apply', 'build');
    case 'principalId':
      return encode(pick(g, fx.admin, fx.reader, `${fx.tenant}-operator`, 'new-member', 'a@b.c', 'x:y', 'A'.repeat(128), ...(mutate ? ['A'.repeat(129), '...'] : [])));
    default:
      return encode(hostileString(g)) || 'x';
  }
}

/**
 * A real cursor of this list, or (`mutate`) a tampered or foreign one; `undefined` when the list has
 * none. Sets `wants.createdOrder` for a cursor that only a creation-time list reads that far.
 */
function cursorValue(g: fc.GeneratorValue, f: Fixture, list: string, notes: string[], mutate: boolean, wants = { createdOrder: false }): string | undefined {
  const own = f.cursors.get(list) ?? [];
  if (!mutate) return own.length > 0 ? pick(g, ...own) : undefined;
  const all = [...f.cursors.values(), ...other.cursors.values()].flat();
  const real = all.length > 0 ? pick(g, ...all) : 'e30';
  const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');
  const kind = pick(g, 'foreign', 'flip', 'random', 'shape', 'shape', 'nul', 'nul', 'created-key', 'created-key', 'text', 'std-base64', 'long');
  notes.push(`skipToken:${kind}`);
  switch (kind) {
    case 'foreign':
      return real;
    case 'flip': {
      const i = g(fc.nat, Math.max(0, real.length - 1));
      return `${real.slice(0, i)}${pick(g, 'A', '_', '-', '=', '.', '')}${real.slice(i + 1)}`;
    }
    case 'random':
      return g(fc.base64String, { maxLength: 200 }).replace(/\+/g, '-').replace(/\//g, '_');
    case 'shape': {
      const decoded: unknown = (() => {
        try {
          return JSON.parse(Buffer.from(real, 'base64url').toString('utf8'));
        } catch {
          return {};
        }
      })();
      const base = decoded && typeof decoded === 'object' && !Array.isArray(decoded) ? (decoded as Record<string, unknown>) : {};
      const key = pick(g, 'o', 'k', 'i', 'extra');
      return b64(pick(g, 'replace', 'whole') === 'whole' ? hostileValue(g) : { ...base, [key]: hostileValue(g) });
    }
    case 'nul':
      return b64({ o: pick(g, 'name', 'created'), k: `a${pick(g, '\u0000', '\u0001', '\ud800', '\u007f')}`, i: 'env_0000000000000000' });
    case 'created-key': {
      // Keys Date.parse reads but a cursor never carries, and instants PostgreSQL cannot hold.
      wants.createdOrder = true;
      const k = g(fc.boolean)
        ? isoInstant(g, false)
        : pick(g, '+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '+010000-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '2020', '0', 'Tue, 01 Jan 2030 00:00:00 GMT', '2020-01-01T00:00:00.000+01:00', '2020-01-01T00:00:00.000Z ');
      return b64({ o: 'created', k, i: pick(g, ...f.envs, ...f.services) });
    }
    case 'text':
      return b64(hostileString(g));
    case 'std-base64':
      return Buffer.from(real, 'base64url').toString('base64');
    default:
      return 'A'.repeat(pick(g, 2048, 2049, 10_000));
  }
}

function queryFor(op: Operation, g: fc.GeneratorValue, f: Fixture, list: string, notes: string[], plan: Set<Target>): string {
  const pairs: [string, string][] = [];
  const queries = (op.parameters ?? []).filter((x) => x.in === 'query');
  for (const p of queries) {
    if (p.name === 'skipToken' && plan.has('cursor')) {
      const wants = { createdOrder: false };
      pairs.push([p.name, encode(cursorValue(g, f, list, notes, true, wants) ?? '')]);
      if (wants.createdOrder && queries.some((q) => q.name === 'createdAfter')) pairs.push(['createdAfter', encode('2000-01-01T00:00:00Z')]);
      continue;
    }
    if (!p.required && g(fc.nat, 2) !== 0) continue;
    let value: string;
    if (p.name === 'skipToken') {
      const c = cursorValue(g, f, list, notes, false);
      if (c === undefined) continue;
      value = c;
    } else if (p.name === 'environmentId' && g(fc.boolean)) value = pick(g, ...f.envs, ...other.envs);
    else if (p.name === 'labelSelector' && g(fc.boolean)) value = pick(g, 'tier=gold', 'app in (web,api)', '!tier', 'tier notin (gold)', 'app!=web,tier', '');
    else if (p.name === 'namePrefix' && g(fc.boolean)) value = pick(g, 'env', 'svc', 'env-1', 'zzz');
    else value = String(validFor(p.schema, g));
    pairs.push([p.name, encode(value)]);
  }
  const mutations = plan.has('query') ? g(fc.integer, { min: 1, max: 2 }) : 0;
  for (let m = 0; m < mutations; m++) {
    const kind = pick(g, 'hostile', 'hostile', 'unknown', 'duplicate', 'oversize', 'many', 'raw', 'case');
    const names = (op.parameters ?? []).filter((x) => x.in === 'query' && x.name !== 'skipToken').map((x) => x.name);
    const dateParams = (op.parameters ?? []).filter((x) => x.in === 'query' && resolve(x.schema).format === 'date-time').map((x) => x.name);
    const name = names.length > 0 ? pick(g, ...names) : 'x';
    notes.push(`query:${kind}`);
    switch (kind) {
      case 'hostile':
        pairs.push([name, encode(dateParams.includes(name) ? isoInstant(g, false) : hostileString(g))]);
        break;
      case 'unknown':
        pairs.push([encode(pick(g, '__proto__', 'constructor', 'toString', 'api-version', '$filter', 'status[]', '', 'a'.repeat(300), hostileString(g))), '1']);
        break;
      case 'duplicate':
        if (pairs.length > 0) pairs.push([pairs[0]![0], encode(hostileString(g))]);
        break;
      case 'oversize':
        pairs.push([name, 'x'.repeat(pick(g, 1025, 2049, 70_000))]);
        break;
      case 'many':
        for (let i = 0; i < 300; i++) pairs.push([`p${i}`, String(i)]);
        break;
      case 'raw':
        pairs.push([name, pick(g, '%', '%ZZ', '%FF', '%C0%AF', '%ED%A0%80', '+', '%2B', '%26', '%3D', 'a%00b', '%EF%BB%BF')]);
        break;
      default:
        pairs.push([name.toUpperCase(), '1']);
    }
  }
  if (pairs.length === 0) return '';
  return `?${pairs.map(([k, v]) => (plan.has('query') && g(fc.nat, 20) === 0 ? k : `${k}=${v}`)).join('&')}`;
}

// Header values the HTTP stack can carry: visible Latin-1 and tab (no NUL, CR or LF).
const headerChar = fc.constantFrom(...'\t !"#$%&\'()*+,-./0123456789:;<=>?@AZ[\\]^_`az{|}~\u0080\u00a0\u00e9\u00ff'.split(''));
const headerGarbage = (g: fc.GeneratorValue) => g(fc.string, { unit: headerChar, maxLength: 40 }).trim();

function headersFor(r: RegisteredRoute, g: fc.GeneratorValue, bodyType: string | undefined, tokens: Tokens, notes: string[], plan: Set<Target>) {
  const headers: Record<string, string> = {};
  // Well-formed requests come from someone allowed to make them: a platform admin, or the tenant's admin.
  const who = plan.has('auth') ? pick(g, 'reader', 'outsider', 'app', 'odd', 'garbage', 'garbage') : 'tenantRole' in r.access ? pick(g, 'root', 'root', 'root', 'admin') : 'root';
  if (who !== 'root') notes.push(`as:${who}`);
  if (who === 'odd') {
    headers.authorization = `Bearer ${pick(g, ...tokens.odd)}`;
  } else if (who === 'garbage') {
    headers.authorization = pick(g, '', 'Bearer', 'Bearer ', 'Basic YTpi', 'bearer x.y.z', `Bearer ${tokens.root.slice(0, -3)}abc`, `Bearer ${tokens.root}x`, `Bearer ${'A'.repeat(10_000)}`, `Bearer ${headerGarbage(g)}`, `Bearer ${tokens.root}, Bearer ${tokens.root}`);
  } else {
    headers.authorization = `Bearer ${tokens[who]}`;
  }
  const odd = plan.has('headers');
  const which = odd ? pick(g, 'content-type', 'content-type', 'content-length', 'if-match', 'if-match', 'repeatability-request-id', 'repeatability-request-id', 'other') : undefined;
  if (bodyType !== undefined) {
    headers['content-type'] = bodyType;
    if (which === 'content-type') {
      headers['content-type'] = pick(g, `${bodyType}; charset=utf-8`, 'application/json', 'APPLICATION/JSON', ' application/json ', 'application/json;charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', '', ';', 'application/jsonx', 'application/json;;;', 'application/*', '*/*', 'application/merge-patch+json', 'application/json-patch+json', headerGarbage(g));
      notes.push(`content-type:${headers['content-type']}`);
    }
    if (which === 'content-length') {
      headers['content-length'] = pick(g, '0', '1', '-1', 'abc', '1e3', '99999999999999999999', ' 5 ', '0x10', String(maxBodyBytes + 1), '');
      notes.push(`content-length:${headers['content-length']}`);
    }
  }
  if (which === 'if-match') {
    headers['if-match'] = pick(g, '*', '"x"', 'W/"x"', '""', '"a", "b"', 'x', '"', '"""', ` ${headerGarbage(g)} `, '"'.repeat(3) + 'a'.repeat(500), '*, "x"', `"${'\u00e9'}"`);
    notes.push(`if-match:${headers['if-match'].slice(0, 20)}`);
  } else if (g(fc.nat, 3) === 0) {
    headers['if-match'] = CURRENT_ETAG;
  }
  if (which === 'repeatability-request-id') {
    headers['repeatability-request-id'] = pick(g, '', ' ', 'a b', 'x'.repeat(129), headerGarbage(g), '\u00e9t\u00e9', 'a/b', '*');
    notes.push('repeatability-request-id:bad');
  } else if (g(fc.nat, 2) === 0) {
    headers['repeatability-request-id'] = g(() => matching('^[A-Za-z0-9._:-]{1,128}$', 128, 'rid'));
  }
  if (which === 'other') {
    const name = pick(g, 'accept', 'x-http-method-override', 'x-forwarded-host', 'prefer', 'x-ms-client-request-id', 'accept-encoding', 'expect', 'accept-language', 'origin');
    headers[name] = headerGarbage(g);
    notes.push(name);
  }
  return headers;
}

/** Serializes a body value; {@link RAW} markers become their raw JSON text. */
function serialize(v: unknown): string {
  return JSON.stringify(v).replace(new RegExp(`"${RAW}([^"]*)"`, 'g'), '$1');
}

/** Every path in a JSON value, the root first. */
function pathsIn(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => pathsIn(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) pathsIn(x, [...at, k], out);
  return out;
}

/** `v` with the value at `path` replaced, removed, given an extra key, or wrapped in an array. */
function mutateAt(v: unknown, path: (string | number)[], op: string, value: unknown, key: string): unknown {
  if (path.length === 0) {
    if (op === 'wrap') return [v];
    if (op === 'addKey' && v && typeof v === 'object' && !Array.isArray(v)) return { ...v, [key]: value };
    return value;
  }
  const [head, ...rest] = path;
  if (Array.isArray(v)) {
    const copy = [...v];
    if (rest.length === 0 && op === 'delete') copy.splice(Number(head), 1);
    else copy[Number(head)] = mutateAt(copy[Number(head)], rest, op, value, key);
    return copy;
  }
  const obj = { ...(v as Record<string, unknown>) };
  if (rest.length === 0 && op === 'delete') delete obj[String(head)];
  else obj[String(head)] = mutateAt(obj[String(head)], rest, op, value, key);
  return obj;
}

const INVALID_UTF8 = [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]] as const;

/**
 * An example body pointed at the fixture's data: ids of services named in a body (`serviceId`) become
 * the fixture's live services, observation times (`observedAt`) the app's clock, and a batch id
 * (`batchId`) mostly a new one, so a body
 * that names other resources gets past the existence and time checks into the handler.
 */
function withFixture(value: unknown, g: fc.GeneratorValue, f: Fixture): unknown {
  if (Array.isArray(value)) return value.map((v) => withFixture(v, g, f));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      if (k === 'serviceId' && typeof v === 'string') return [k, pick(g, f.services[0]!, f.services[1]!)];
      if (k === 'observedAt' && typeof v === 'string') return [k, new Date(t.kernel.now().getTime() - g(fc.nat, 3_600_000)).toISOString()];
      // A new batch mostly, sometimes the example's (a replay, or a conflict when the rest differs).
      if (k === 'batchId' && typeof v === 'string') return [k, pick(g, v, `fz-${g(fc.nat)}`, `fz-${g(fc.nat)}`)];
      return [k, withFixture(v, g, f)];
    }),
  );
}

function bodyFor(r: RegisteredRoute, op: Operation, g: fc.GeneratorValue, notes: string[], plan: Set<Target>, f: Fixture): string | Uint8Array | undefined {
  const content = op.requestBody ? Object.values(op.requestBody.content)[0] : undefined;
  const examples = [...t.kernel.openapi.examples.values()].map((e) => e.example);
  if (!content) {
    if (r.method === 'GET' || !plan.has('body')) return undefined;
    notes.push('body-on-bodiless-route');
    return g(fc.boolean) ? serialize(pick(g, ...examples)) : hostileString(g);
  }
  const source = plan.has('body') ? pick(g, 'example', 'schema', 'merged', 'other-route') : pick(g, 'example', 'schema', 'schema', 'merged');
  notes.push(`body:${source}`);
  let value: unknown =
    source === 'example' ? withFixture(content.example, g, f)
    : source === 'schema' ? validFor(content.schema, g)
    : source === 'merged' ? { ...(content.example as object), ...(validFor(content.schema, g) as object) }
    : structuredClone(pick(g, ...examples));
  // A body naming a service (a deployment's) names a real one of the fixture's, so it can go deep.
  if (value && typeof value === 'object' && !Array.isArray(value) && 'serviceId' in value && g(fc.boolean)) value = { ...value, serviceId: pick(g, ...f.services) };
  const mutations = plan.has('body') ? pick(g, 1, 1, 1, 2, 3) : 0;
  for (let i = 0; i < mutations; i++) {
    const paths = pathsIn(value);
    const path = paths[g(fc.nat, paths.length - 1)]!;
    const op = pick(g, 'replace', 'replace', 'replace', 'delete', 'addKey', 'wrap');
    notes.push(`${op}:${path.join('.') || '(root)'}`);
    const key = pick(g, 'zzUnknown', '__proto__', 'constructor', '', 'name', hostileString(g));
    value = mutateAt(value, path, op, hostileValue(g), key);
  }
  let text = serialize(value);
  const raw = !plan.has('raw') ? 'none' : pick(g, 'bom', 'truncate', 'garbage', 'duplicate-key', 'deep', 'invalid-utf8', 'utf16', 'oversize', 'scalar', 'comment', 'escaped-surrogate');
  if (raw !== 'none') notes.push(`raw:${raw}`);
  switch (raw) {
    case 'bom':
      return `\ufeff${text}`;
    case 'truncate':
      return text.slice(0, g(fc.nat, Math.max(0, text.length - 1)));
    case 'garbage':
      return `${text}${pick(g, 'x', ',', '}', ']', ' \n', '\u0000', '{}', 'null')}`;
    case 'duplicate-key':
      return text.startsWith('{') && text !== '{}' ? `{${JSON.stringify(Object.keys(value as object)[0] ?? 'a')}:${serialize(hostileValue(g))},${text.slice(1)}` : text;
    case 'deep': {
      const d = pick(g, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 10_000);
      return g(fc.boolean) ? '['.repeat(d) + ']'.repeat(d) : `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`;
    }
    case 'invalid-utf8': {
      const bytes = Buffer.from(text, 'utf8');
      const at = g(fc.nat, bytes.length);
      return new Uint8Array(Buffer.concat([bytes.subarray(0, at), Buffer.from(pick<readonly number[]>(g, ...INVALID_UTF8)), bytes.subarray(at)]));
    }
    case 'utf16':
      return new Uint8Array(Buffer.from(text, 'utf16le'));
    case 'oversize':
      return text.startsWith('{') ? `{"pad":"${'x'.repeat(maxBodyBytes)}",${text.slice(1)}` : `${text}${' '.repeat(maxBodyBytes)}`;
    case 'scalar':
      return pick(g, '', ' ', 'null', '[]', '"x"', '0', '-0', 'true', 'NaN', '1e400', '{', '}', '{"":}');
    case 'comment':
      return `/* c */${text}`;
    case 'escaped-surrogate':
      text = text.replace(/"([^"\\]*)"(?=\s*[,}\]])/, `"$1${pick(g, '\\ud800', '\\udfff', '\\udc00\\ud800', '\\u0000', '\\u001f')}"`);
      return text;
    default:
      return text;
  }
}

interface Tokens {
  root: string;
  admin: string;
  reader: string;
  outsider: string;
  app: string;
  /** Correctly signed tokens whose subject is no principal id (NUL, too long, spaces …). */
  odd: string[];
}

function requestFor(r: RegisteredRoute, g: fc.GeneratorValue, f: Fixture, tokens: Tokens): FuzzRequest {
  const op = operationOf(r);
  const params = [...r.route.matchAll(/\{(\w+)[^}]*\}/g)].map((m) => m[1]!);
  const queries = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
  const applicable = TARGETS.filter(
    (x) =>
      (x !== 'path' || params.length > 0) &&
      (x !== 'cursor' || queries.includes('skipToken')) &&
      (x !== 'raw' || op.requestBody !== undefined) &&
      (x !== 'body' || r.method !== 'GET') &&
      (x !== 'auth' || !('anonymous' in r.access)),
  );
  const plan = planFor(g, applicable);
  const notes: string[] = [];
  const mutatedParam = plan.has('path') ? pick(g, ...params) : undefined;
  const serviceRoute = params.includes('serviceId') || params.includes('deploymentId');
  const rotationRoute = params.includes('rotationId');
  const list = r.route.replace(/\{(\w+)[^}]*\}/g, (_, name: string) => pathValue(name, g, f, [], false, serviceRoute, rotationRoute));
  const path = r.route.replace(/\{(\w+)[^}]*\}/g, (_, name: string) => pathValue(name, g, f, notes, name === mutatedParam, serviceRoute, rotationRoute));
  const query = queryFor(op, g, f, list, notes, plan);
  const body = bodyFor(r, op, g, notes, plan, f);
  const bodyType = body === undefined ? undefined : op.requestBody ? Object.keys(op.requestBody.content)[0] : 'application/json';
  const headers = headersFor(r, g, bodyType, tokens, notes, plan);
  return new FuzzRequest(r.method, `${path}${query}`, { headers, ...(body !== undefined ? { rawBody: body } : {}) }, notes);
}

// ---- The checks ----------------------------------------------------------------------------------

/** What must never reach a client: stack frames, source paths, SQL and driver text, JavaScript errors. */
const LEAKS = [
  /\bat [\w.<>$]+ \(/,
  /\bat (async )?[\w./\\:-]+\.(ts|js|mjs|cjs):\d+/,
  /[\w-]+\.(ts|js|mjs|cjs):\d+:\d+/,
  /node_modules|node:internal/,
  /\b(select|insert into|update|delete from)\b .* \b(from|where|values|set)\b/i,
  /syntax error at or near|violates .* constraint|duplicate key value|invalid input syntax|out of range for type|relation "|column "|SQLSTATE|pg_[a-z]+\(/i,
  /\b(TypeError|RangeError|ReferenceError|SyntaxError)\b/,
];

/** Problems with one answer; `request` is the text the client sent (a match it contains is an echo, not a leak). */
function problemsOf(res: CallResult, documented2xx: Set<number>, request: string): string[] {
  const out: string[] = [];
  if (res.status >= 500) out.push(`answered ${res.status}`);
  else if (res.status < 400 && !documented2xx.has(res.status)) out.push(`answered ${res.status}, which the route does not document`);
  // A path no function serves (e.g. a segment `..` that normalises away) gets the Functions
  // host's own empty 404, as in Azure: nothing of the app's ran.
  const hostNotFound = res.status === 404 && res.body === undefined && !res.headers.has('x-ms-error-code');
  if (res.status >= 400 && !hostNotFound) {
    const e = (res.body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (typeof e?.code !== 'string' || typeof e.message !== 'string') out.push('the body is not {error:{code,message}}');
    else if (res.headers.get('x-ms-error-code') !== e.code) out.push(`x-ms-error-code ${res.headers.get('x-ms-error-code')} is not error.code ${e.code}`);
    const text = JSON.stringify(res.body);
    for (const re of LEAKS) {
      const m = re.exec(text);
      if (m && !request.includes(m[0])) out.push(`the error leaks ${JSON.stringify(m[0])}`);
    }
  }
  return out;
}

/** The transaction counter of every database: unchanged means nothing could have written. */
async function writeMark(): Promise<string> {
  const marks: string[] = [];
  for (const { db } of t.owner.all()) {
    const r = await sql<{ x: string }>`select pg_snapshot_xmax(pg_current_snapshot())::text as x`.execute(db);
    marks.push(r.rows[0]?.x ?? '');
  }
  return marks.join(',');
}

async function currentEtag(path: string, token: string): Promise<string> {
  const resource = path.split('?')[0]!.replace(/\/(retire|facts)$/, '');
  const r = await t.call('GET', resource, { token });
  return r.headers.get('etag') ?? '"none"';
}

// ---- The suite -----------------------------------------------------------------------------------

/** A stable per-route seed, so adding a route does not change what the others are sent. */
function seedOf(name: string): number {
  let h = SEED | 0;
  for (const c of name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return h;
}

describe('fuzzing every registered route', () => {
  it('answers every generated request with a 4xx in the error format or a documented 2xx, never a 5xx, and a 4xx changes nothing', async () => {
    // By name: the table's order follows the order route modules finished loading.
    const routes = t.app.routes.routes.filter((r) => !ONLY || r.name === ONLY).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    expect(routes.length, ONLY ? `no route named ${ONLY}` : 'routes').toBeGreaterThan(ONLY ? 0 : 10);
    const outsider = await t.token('mallory');
    const app = await t.token('pipeline', { kind: 'app' });
    const odd = await Promise.all(['a\u0000b', 'x'.repeat(129), 'élan', 'a b', '', '\ud800', 'a/b', "' OR 1=1"].map((sub) => t.token(sub, { admin: true })));
    // A route that writes gets data of its own; reads share theirs.
    let reads: Fixture | undefined;
    for (const [i, r] of routes.entries()) {
      const started = performance.now();
      const f = r.method === 'GET' ? (reads ??= await createFixture('fz-reads')) : await createFixture(`fz-${i}`);
      const tokens: Tokens = { root, admin: await t.token(f.admin), reader: await t.token(f.reader), outsider, app, odd };
      const documented2xx = new Set(Object.keys(operationOf(r).responses).filter((s) => /^2\d\d$/.test(s)).map(Number));
      const s = { requests: 0, byStatus: new Map<number, number>(), snapshots: 0, ms: 0 };
      stats.set(r.name, s);
      let base = await t.snapshot();
      let sinceSnapshot = 0;
      const snapshot = async () => {
        s.snapshots++;
        sinceSnapshot = 0;
        return t.snapshot();
      };
      const seed = seedOf(r.name);
      // The last request that failed: after shrinking, the smallest one fast-check found.
      let failed = '';
      const property = fc.asyncProperty(fc.gen(), async (g) => {
        const req = requestFor(r, g, f, tokens);
        try {
          await send(req);
        } catch (e) {
          failed = `${req[fc.toStringMethod]()}\n${e instanceof Error ? e.message : String(e)}`;
          throw e;
        }
      });
      const send = async (req: FuzzRequest) => {
        const headers = { ...req.opts.headers };
        if (headers['if-match'] === CURRENT_ETAG) headers['if-match'] = await currentEtag(req.path, tokens.root);
        const before = await writeMark();
        const res = await t.call(req.method, req.path, { ...req.opts, headers });
        // Long work answered 202 runs in the background (an orchestration): let it finish, so its
        // writes are not taken for the writes of a later request.
        if (res.status === 202) await t.durable.settle();
        s.requests++;
        s.byStatus.set(res.status, (s.byStatus.get(res.status) ?? 0) + 1);
        const sent = `${decodeURIComponentSafe(req.path)} ${JSON.stringify(headers)} ${typeof req.opts.rawBody === 'string' ? req.opts.rawBody : ''}`;
        const problems = problemsOf(res, documented2xx, sent);
        if (problems.length > 0) throw new Error(`${problems.join('; ')}\nanswer: ${res.status} ${JSON.stringify(res.body)?.slice(0, 500)}`);
        // Nothing a 4xx does may change a table; a 2xx may. A snapshot is taken when the
        // transaction counter moved (something may have written), and after every batch.
        sinceSnapshot++;
        const wrote = (await writeMark()) !== before;
        if (res.status >= 400 && (wrote || sinceSnapshot >= BATCH)) {
          const now = await snapshot();
          const changed = Object.keys({ ...base, ...now }).filter((k) => base[k] !== now[k]);
          if (changed.length > 0) throw new Error(`answered ${res.status} ${res.body?.error?.code} but changed ${changed.join(', ')}`);
        } else if (res.status < 400 && (wrote || sinceSnapshot >= BATCH)) {
          base = await snapshot();
        }
      };
      try {
        await fc.assert(property, { seed, numRuns: RUNS, ...(REPLAY_PATH ? { path: REPLAY_PATH } : {}) });
      } catch (e) {
        const run = e instanceof Error ? /\{ seed: -?\d+, path: "([^"]*)"/.exec(e.message)?.[1] : undefined;
        throw new Error(
          `Fuzzing ${r.name} (${r.method} ${r.route}) failed on\n${failed || String(e)}\n` +
            `Replay: FUZZ_ROUTE=${r.name} FUZZ_SEED=${SEED}${run ? ` FUZZ_PATH=${run}` : ''} FUZZ_RUNS=${RUNS} npx vitest run test/fuzz.test.ts`,
        );
      }
      // The last requests since the last snapshot: a 4xx among them changed nothing either.
      const end = await snapshot();
      const changed = Object.keys({ ...base, ...end }).filter((k) => base[k] !== end[k]);
      expect(changed, `${r.name}: the last batch changed tables`).toEqual([]);
      s.ms = performance.now() - started;
    }
  }, 600_000);
});

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
