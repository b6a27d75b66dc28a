/**
 * Post-deploy smoke test of the deployed Function App: one read per service, an unknown route and
 * the health read, against the real host. Run by `.github/workflows/stack.yml` after the zip
 * deploy; also usable by hand:
 *
 *   npx tsx infra/ci/smoke.ts --base https://<app>.azurewebsites.net [--token "$TOKEN"] [--attempts 30]
 *
 * Without a token each service is read unauthenticated and must answer 401 in the API's error
 * format (`{"error":{"code":"Unauthorized",…}}`, `x-ms-error-code`, `WWW-Authenticate: Bearer`):
 * that proves the route is deployed and runs the HTTP pipeline, without touching data. With a
 * token (the pipeline identity holding the `Platform.Admin` app role or listed in
 * `platformAdmins`), each read must succeed: the tenants list, then the environments and catalog
 * lists of the first tenant (or, with no tenant yet, a 404 `NotFound` for an absent one, which
 * still goes through the tenants lookup in the database).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** One check's outcome. */
export interface SmokeResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface SmokeOptions {
  /** `https://<host>` of the app (no `/api`). */
  base: string;
  /** Bearer token for the API's audience; without it the reads are checked unauthenticated. */
  token?: string;
  /** Health reads before giving up (the host may still be starting after a deploy). */
  attempts?: number;
  /** Pause between health reads, in ms. */
  delayMs?: number;
  fetch?: typeof fetch;
}

/** A tenant id that cannot exist (ids are lowercase, this one is reserved for the smoke test). */
export const ABSENT_TENANT = 'smoke-check-absent-tenant';

type Reply = { status: number; headers: Headers; body: unknown };

export async function runSmoke(opts: SmokeOptions): Promise<SmokeResult[]> {
  const doFetch = opts.fetch ?? fetch;
  const base = opts.base.replace(/\/+$/, '');
  const results: SmokeResult[] = [];
  const record = (name: string, ok: boolean, detail: string) => results.push({ name, ok, detail });

  const get = async (path: string, token?: string): Promise<Reply> => {
    const res = await doFetch(`${base}${path}`, {
      headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, headers: res.headers, body };
  };
  const errorCode = (r: Reply) => (r.body as { error?: { code?: unknown } } | undefined)?.error?.code;
  const isList = (r: Reply) => Array.isArray((r.body as { value?: unknown } | undefined)?.value);

  // 1. Health: retried while the host starts.
  const attempts = opts.attempts ?? 30;
  let health: Reply | undefined;
  let lastError = '';
  for (let i = 1; i <= attempts; i++) {
    try {
      health = await get('/api/health');
      if (health.status === 200) break;
      lastError = `HTTP ${health.status}`;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    health = undefined;
    if (i < attempts) await new Promise((r) => setTimeout(r, opts.delayMs ?? 10_000));
  }
  const healthy = health !== undefined && (health.body as { status?: unknown } | undefined)?.status === 'ok';
  record('GET /api/health', healthy, healthy ? '200 {"status":"ok"}' : `not healthy after ${attempts} attempts: ${lastError || JSON.stringify(health?.body)}`);
  if (!healthy) return results;

  // 2. An unknown route: the Functions host answers 404 (no route of the app matches).
  const unknown = await get(`/api/smoke-check-no-such-route-${Date.now().toString(36)}`);
  record('GET an unknown route', unknown.status === 404, `HTTP ${unknown.status}`);

  // 3. One read per service.
  const reads = (tenant: string) => [
    { service: 'tenants', path: '/api/tenants' },
    { service: 'environments', path: `/api/tenants/${tenant}/environments` },
    { service: 'catalog', path: `/api/tenants/${tenant}/services` },
  ];
  if (!opts.token) {
    for (const { service, path } of reads(ABSENT_TENANT)) {
      const r = await get(path);
      const ok =
        r.status === 401 &&
        errorCode(r) === 'Unauthorized' &&
        r.headers.get('x-ms-error-code') === 'Unauthorized' &&
        /^Bearer\b/i.test(r.headers.get('www-authenticate') ?? '') &&
        typeof (r.body as { error?: { message?: unknown } }).error?.message === 'string';
      record(`${service}: GET ${path} without a token`, ok, `HTTP ${r.status} ${JSON.stringify(r.body)}`);
    }
  } else {
    const tenants = await get('/api/tenants', opts.token);
    record('tenants: GET /api/tenants', tenants.status === 200 && isList(tenants), `HTTP ${tenants.status}`);
    const first = (tenants.body as { value?: { id?: unknown }[] } | undefined)?.value?.[0];
    const tenant = typeof first?.id === 'string' ? first.id : undefined;
    for (const { service, path } of reads(tenant ?? ABSENT_TENANT).slice(1)) {
      const r = await get(path, opts.token);
      const ok = tenant ? r.status === 200 && isList(r) : r.status === 404 && errorCode(r) === 'NotFound';
      record(`${service}: GET ${path}`, ok, `HTTP ${r.status}${tenant ? '' : ' (no tenant yet: expects NotFound)'}`);
    }
  }

  // 4. ── Continuous isolation check: RESERVED ──────────────────────────────────────────────────
  //    The isolation-check route is added later by its owner. Add its read here (one `get` and
  //    one `record`), with the same "no token: 401 in the error format / token: 200" rule.
  // ────────────────────────────────────────────────────────────────────────────────────────────

  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { base: { type: 'string' }, token: { type: 'string' }, attempts: { type: 'string' } },
  });
  if (!values.base) throw new Error('--base https://<app host> is required');
  const results = await runSmoke({
    base: values.base,
    ...(values.token ? { token: values.token } : {}),
    ...(values.attempts ? { attempts: Number(values.attempts) } : {}),
  });
  for (const r of results) console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
  if (results.some((r) => !r.ok)) process.exit(1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
