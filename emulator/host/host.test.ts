/**
 * The local host against the fixture app (fixtures/host-app), built with the project's own
 * esbuild build: registration through the `@azure/functions-core` stand-in in this process, then a
 * real host in a child process serving it over a real port.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../scripts/build.js';
import { loadFunctionsApp, startHost, type FunctionsApp, type StartedHost } from './index.js';

const fixtureDir = path.resolve('emulator/host/fixtures/host-app');
const streamFixtureDir = path.resolve('emulator/host/fixtures/host-app-stream');
const outDir = path.resolve(`.local/test/host-app-${process.pid}`);
const entry = path.join(outDir, 'main.js');
const streamEntry = path.join(outDir, 'stream', 'main.js');

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  mkdirSync(outDir, { recursive: true });
  await buildApp({ entry: path.join(fixtureDir, 'main.ts'), outfile: entry });
  await buildApp({ entry: path.join(streamFixtureDir, 'main.ts'), outfile: streamEntry });
});

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

describe('loadFunctionsApp (in this process)', () => {
  let app: FunctionsApp;
  beforeAll(async () => {
    app = await loadFunctionsApp(entry, { functionAppDirectory: fixtureDir, logSink: () => undefined });
  });

  it('collects every registration with the metadata Azure indexes', () => {
    const byName = new Map(app.functions.map((f) => [f.name, f]));
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining(['echo', 'itemById', 'itemSpecial', 'tick', 'startupTick', 'helloSequence', 'sayHello', 'shout', 'startOrchestration']),
    );

    const echo = byName.get('echo');
    expect(echo?.trigger).toMatchObject({
      type: 'httpTrigger',
      direction: 'in',
      methods: ['POST', 'PUT'],
      route: 'echo/{id:int}/{label?}',
      authLevel: 'function',
    });
    expect(echo?.bindings.$return).toMatchObject({ type: 'http', direction: 'out' });
    expect(byName.get('itemById')?.trigger).toMatchObject({ methods: ['GET'], route: 'items/{id}', authLevel: 'anonymous' });

    expect(byName.get('tick')?.trigger).toMatchObject({ type: 'timerTrigger', schedule: '0 0 0 1 1 *' });
    expect(byName.get('startupTick')?.trigger).toMatchObject({ type: 'timerTrigger', runOnStartup: true });
    expect(byName.get('helloSequence')?.trigger.type).toBe('orchestrationTrigger');
    expect(byName.get('sayHello')?.trigger.type).toBe('activityTrigger');

    const starter = byName.get('startOrchestration');
    expect(starter?.trigger).toMatchObject({ type: 'httpTrigger', methods: ['POST'], route: 'orchestrators/{name}/{instanceId?}' });
    expect(Object.values(starter?.bindings ?? {}).some((b) => b.type === 'durableClient' && b.direction === 'in')).toBe(true);
    expect(Object.values(byName.get('nightlyStart')?.bindings ?? {}).map((b) => b.type)).toEqual(['timerTrigger', 'durableClient']);
  });

  it('invokes through the programming model with the worker request shape', async () => {
    const echo = app.getFunction('ECHO');
    if (!echo) throw new Error('echo is not registered');
    const response = await app.invoke(echo, {
      inputData: [
        {
          name: echo.trigger.name,
          data: {
            http: {
              method: 'POST',
              url: 'http://localhost:7071/api/echo/5',
              nullableHeaders: { 'x-test': { value: 'in-process' } },
              nullableParams: { id: { value: '5' } },
              body: { bytes: Buffer.from('hi') },
            },
          },
        },
      ],
    });
    const http = response.returnValue?.http;
    expect(http?.statusCode).toBe('201');
    const body = JSON.parse(Buffer.from(http?.body?.bytes ?? []).toString('utf8')) as Record<string, unknown>;
    expect(body).toMatchObject({ params: { id: '5' }, header: 'in-process', bodyBase64: Buffer.from('hi').toString('base64') });
  });

  it('serves one app per process', async () => {
    expect(await loadFunctionsApp(entry)).toBe(app);
    await expect(loadFunctionsApp(path.join(outDir, 'other.js'))).rejects.toThrow(/already serves/);
  });
});

describe('startHost (child process, real port)', () => {
  let host: StartedHost;
  const output: string[] = [];
  const api = (p: string, init?: RequestInit) => fetch(`${host.url}/api/${p}`, init);
  const stats = async () => (await (await api('stats')).json()) as { ticks: number; startupTicks: number; lastTimer: Record<string, unknown> | null };
  const status = async (id: string) => {
    const res = await fetch(`${host.url}/runtime/webhooks/durabletask/instances/${encodeURIComponent(id)}?showHistory=true`);
    return res.status === 404 ? undefined : ((await res.json()) as { runtimeStatus: string; output: unknown; customStatus: unknown; historyEvents?: { EventType: string }[] });
  };
  const settled = (id: string) =>
    waitFor(async () => {
      const s = await status(id);
      return s && !['Pending', 'Running', 'ContinuedAsNew'].includes(s.runtimeStatus) ? s : undefined;
    }, `instance ${id} to finish`);
  const start = (name: string, id: string, input?: unknown) =>
    api(`orchestrators/${name}/${encodeURIComponent(id)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: input === undefined ? '' : JSON.stringify(input),
    });

  beforeAll(async () => {
    host = await startHost({
      entry,
      port: 0,
      functionAppDirectory: fixtureDir,
      env: { DURABLE_TASK_HUB: 'fixturehub', WEBSITE_HOSTNAME: undefined },
      onOutput: (line) => output.push(line),
    });
  });

  afterAll(async () => {
    await host?.stop();
  });

  it('reports the functions it indexed and prints them with their URLs', () => {
    expect(host.functions.find((f) => f.name === 'echo')?.trigger.route).toBe('echo/{id:int}/{label?}');
    expect(output.join('\n')).toMatch(/echo: \[POST,PUT\] http:\/\/localhost:\d+\/api\/echo\/\{id:int\}\/\{label\?\}/);
  });

  it('round-trips an HTTP function: params, query, headers, raw body, status, headers, cookies', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    const res = await api('echo/42/first?x=1&x=2&Y=3', {
      method: 'PUT',
      headers: { 'x-test': 'hello', 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-echo-id')).toBe('42');
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(res.headers.getSetCookie()).toEqual(['session=abc; path=/; httponly', 'theme=dark; samesite=lax']);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      method: 'PUT',
      params: { id: '42', label: 'first' },
      query: { x: '1,2', Y: '3' },
      header: 'hello',
      contentType: 'application/octet-stream',
      bodyBase64: bytes.toString('base64'),
      functionName: 'echo',
      hasTraceContext: true,
    });
    expect(body.url).toBe(`${host.url}/api/echo/42/first?x=1&x=2&Y=3`);
    expect(output.some((l) => l.includes('echo 42'))).toBe(true);
  });

  it('passes an empty body when the request has no Content-Length (chunked), as the host does', async () => {
    const url = new URL(`${host.url}/api/echo/7`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, { method: 'POST', headers: { 'transfer-encoding': 'chunked', 'x-test': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.write('part one, ');
      req.end('part two');
    });
    expect(answer.status).toBe(201);
    expect((JSON.parse(answer.body) as { bodyBase64: string }).bodyBase64).toBe('');

    const sized = await api('echo/7', { method: 'POST', body: 'sized' });
    expect((await sized.json()) as Record<string, unknown>).toMatchObject({ bodyBase64: Buffer.from('sized').toString('base64') });
  });

  it('routes by constraints and methods, under the api prefix only', async () => {
    expect(await (await api('special-items/latest')).json()).toEqual({ route: 'special' });
    expect(await (await api('ITEMS/7')).json()).toEqual({ route: 'byId', id: '7' });
    expect((await api('echo/not-a-number', { method: 'POST' })).status).toBe(404);
    expect((await api('echo/1', { method: 'GET' })).status).toBe(404);
    expect((await fetch(`${host.url}/items/7`)).status).toBe(404);
  });

  it('answers unknown routes with an empty 404, as the Functions host does', async () => {
    const res = await api('no/such/route');
    expect(res.status).toBe(404);
    expect(res.headers.get('x-ms-error-code')).toBeNull();
    expect(await res.text()).toBe('');
  });

  it('writes streamed bodies, empty results (200, empty body) and failures like the host', async () => {
    const streamed = await api('stream');
    expect(await streamed.text()).toBe('one two three');
    expect(streamed.headers.get('content-type')).toBe('text/plain');
    const nothing = await api('things/9', { method: 'DELETE' });
    expect(nothing.status).toBe(200);
    expect(await nothing.text()).toBe('');
    const boom = await api('boom');
    expect(boom.status).toBe(500);
    expect(await boom.text()).toBe('');
    expect(output.some((l) => l.includes("Executed 'Functions.boom' (Failed"))).toBe(true);
  });

  it('runs runOnStartup timers, and any timer on demand through the admin API', async () => {
    await waitFor(async () => ((await stats()).startupTicks === 1 ? true : undefined), 'the runOnStartup timer');
    expect((await stats()).ticks).toBe(0);
    const res = await fetch(`${host.url}/admin/functions/tick`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: '' }),
    });
    expect(res.status).toBe(202);
    const after = await waitFor(async () => {
      const s = await stats();
      return s.ticks === 1 ? s : undefined;
    }, 'the admin-invoked timer');
    expect(after.lastTimer).toMatchObject({ isPastDue: false, schedule: { adjustForDST: true } });
    expect((await fetch(`${host.url}/admin/functions/nope`, { method: 'POST' })).status).toBe(404);

    // A timer with a durable client input (df.app.client.timer) gets the client binding too.
    expect((await fetch(`${host.url}/admin/functions/nightlyStart`, { method: 'POST' })).status).toBe(202);
    expect((await settled('nightly')).output).toMatchObject({ loud: 'HELLO, NIGHT' });
  });

  it('runs an orchestration started through the real durable client to completion', async () => {
    const res = await start('helloSequence', 'greet-1', { name: 'Ada' });
    expect(res.status).toBe(202);
    const links = (await res.json()) as { id: string; statusQueryGetUri: string; sendEventPostUri: string };
    expect(links.id).toBe('greet-1');
    expect(res.headers.get('location')).toBe(links.statusQueryGetUri);
    expect(links.statusQueryGetUri).toBe(`${host.url}/runtime/webhooks/durabletask/instances/greet-1?taskHub=fixturehub&connection=Storage`);

    const done = await settled('greet-1');
    expect(done.runtimeStatus).toBe('Completed');
    expect(done.output).toEqual({ greeting: 'Hello, Ada', loud: 'HELLO, ADA' });
    expect(done.customStatus).toEqual({ step: 'done' });
    expect(done.historyEvents?.map((e) => e.EventType)).toEqual(['ExecutionStarted', 'TaskCompleted', 'TaskCompleted', 'ExecutionCompleted']);

    // The same status through the client binding (client.getStatus).
    const viaClient = (await (await api('durable/greet-1')).json()) as { runtimeStatus: string; output: unknown };
    expect(viaClient).toMatchObject({ runtimeStatus: 'Completed', output: { loud: 'HELLO, ADA' } });
  });

  it('handles a duplicate deterministic instance id as the extension does', async () => {
    // Running: the extension refuses (409), the client rejects, the starter reports it.
    expect((await start('waitForApproval', 'approve-1')).status).toBe(202);
    await waitFor(async () => ((await status('approve-1'))?.runtimeStatus === 'Running' ? true : undefined), 'approve-1 to run');
    const duplicate = await start('waitForApproval', 'approve-1');
    expect(duplicate.status).toBe(409);
    expect(((await duplicate.json()) as { error: string }).error).toMatch(/409.*An Orchestration instance with the status Running already exists/);

    const raised = await api('durable/approve-1/raise', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"approved":true}' });
    expect(raised.status).toBe(202);
    expect((await settled('approve-1')).output).toBe('approved');

    // Finished: a start with the same id replaces it with a new run.
    expect((await start('helloSequence', 'greet-2', { name: 'one' })).status).toBe(202);
    expect((await settled('greet-2')).output).toMatchObject({ loud: 'HELLO, ONE' });
    expect((await start('helloSequence', 'greet-2', { name: 'two' })).status).toBe(202);
    const rerun = await waitFor(async () => {
      const s = await status('greet-2');
      return s?.runtimeStatus === 'Completed' && (s.output as { loud: string }).loud === 'HELLO, TWO' ? s : undefined;
    }, 'greet-2 to run again');
    expect(rerun.output).toEqual({ greeting: 'Hello, two', loud: 'HELLO, TWO' });
  });

  it('retries activities, propagates failures, fires timers, fans out, continues as new and runs sub-orchestrations', async () => {
    const cases: [string, string, unknown][] = [
      ['retrying', 'retry-1', 'k1'],
      ['failing', 'fail-1', undefined],
      ['catching', 'catch-1', undefined],
      ['sleepy', 'sleep-1', undefined],
      ['fanOut', 'fan-1', ['a', 'b', 'c']],
      ['counter', 'count-1', 0],
      ['parent', 'parent-1', undefined],
    ];
    for (const [name, id, input] of cases) expect((await start(name, id, input)).status).toBe(202);

    const retry = await settled('retry-1');
    expect(retry).toMatchObject({ runtimeStatus: 'Completed', output: 'ok after 3' });
    expect(retry.historyEvents?.filter((e) => e.EventType === 'TaskFailed')).toHaveLength(2);
    expect(retry.historyEvents?.filter((e) => e.EventType === 'TimerFired')).toHaveLength(2);

    const failed = await settled('fail-1');
    expect(failed.runtimeStatus).toBe('Failed');
    expect(String(failed.output)).toMatch(/Orchestrator function 'failing' failed: .*activity exploded/);

    expect(String((await settled('catch-1')).output)).toMatch(/^caught: Activity function 'alwaysFails' failed: activity exploded/);
    expect((await settled('sleep-1')).output).toBe('woke');
    expect((await settled('fan-1')).output).toEqual(['Hello, a', 'Hello, b', 'Hello, c']);
    expect((await settled('count-1')).output).toBe(3);
    expect((await settled('parent-1')).output).toBe('parent got HELLO, CHILD');
    expect((await status('parent-1:0'))?.runtimeStatus).toBe('Completed');
  });

  it('terminates and purges through the client', async () => {
    expect((await start('waitForApproval', 'stop-1')).status).toBe(202);
    await waitFor(async () => ((await status('stop-1'))?.runtimeStatus === 'Running' ? true : undefined), 'stop-1 to run');
    expect((await api('durable/stop-1/terminate', { method: 'POST' })).status).toBe(202);
    expect(await settled('stop-1')).toMatchObject({ runtimeStatus: 'Terminated', output: 'stopped by test' });

    const purged = await api('durable/stop-1', { method: 'DELETE' });
    expect(await purged.json()).toEqual({ instancesDeleted: 1 });
    expect(await status('stop-1')).toBeUndefined();
    const missing = await api('durable/stop-1');
    expect(missing.status).toBe(404);
  });

  it('refuses with 501 what the local task hub does not emulate', async () => {
    const hook = (p: string, init?: RequestInit) => fetch(`${host.url}/runtime/webhooks/durabletask/${p}`, init);
    for (const res of [
      await hook('instances/'),
      await hook('instances/?createdTimeFrom=2020-01-01T00:00:00Z', { method: 'DELETE' }),
      await hook('instances/greet-1/suspend', { method: 'POST' }),
      await hook('instances/greet-1/resume', { method: 'POST' }),
      await hook('instances/greet-1/restart', { method: 'POST' }),
      await hook('instances/greet-1/rewind', { method: 'POST' }),
      await hook('entities/counter/one'),
    ]) {
      expect(res.status, res.url).toBe(501);
      expect(((await res.json()) as { Message: string }).Message).toMatch(/is not supported by the local Functions host/);
    }
  });

  it('gives management links for any instance', async () => {
    const links = (await (await api('durable/some-id/links')).json()) as Record<string, string>;
    expect(links.id).toBe('some-id');
    expect(links.statusQueryGetUri).toMatch(/\/runtime\/webhooks\/durabletask\/instances\/some-id\?taskHub=fixturehub&connection=Storage$/);
    expect(links.sendEventPostUri).toContain('/instances/some-id/raiseEvent/{eventName}?');
  });

  it('refuses to start with a task hub name Azure Storage cannot hold, as the Durable extension does', async () => {
    for (const bad of ['bad-hub', '1hub', 'ab', 'a'.repeat(51)]) {
      await expect(
        startHost({ entry, port: 0, functionAppDirectory: fixtureDir, env: { DURABLE_TASK_HUB: bad }, runTimers: false, onOutput: () => undefined }),
        bad,
      ).rejects.toThrow(/Task hub name '.*' should contain only alphanumeric characters, start with a letter/);
    }
  });

  it('refuses a second host on a busy port, naming the port', async () => {
    await expect(startHost({ entry, port: host.port, functionAppDirectory: fixtureDir, onOutput: () => undefined })).rejects.toThrow(
      new RegExp(`Port ${host.port} .*already in use`),
    );
  });
});

describe('startHost with HTTP streaming enabled (app.setup({ enableHttpStream: true }))', () => {
  let host: StartedHost;
  beforeAll(async () => {
    host = await startHost({ entry: streamEntry, port: 0, functionAppDirectory: streamFixtureDir, onOutput: () => undefined });
  });
  afterAll(async () => {
    await host?.stop();
  });

  it('streams request bodies in and response bodies out through the library proxy (no route prefix here)', async () => {
    const big = Buffer.alloc(300_000, 7);
    const upload = await fetch(`${host.url}/upload/big`, { method: 'POST', headers: { 'x-test': 'yes' }, body: big });
    expect(upload.status).toBe(201);
    expect(await upload.json()).toEqual({ name: 'big', bytes: big.length, header: 'yes' });

    const ticker = await fetch(`${host.url}/ticker`);
    expect(ticker.headers.get('x-kind')).toBe('stream');
    expect(await ticker.text()).toBe('tick 1\ntick 2\ntick 3\n');
    expect((await fetch(`${host.url}/fails`)).status).toBe(500);
  });
});

describe('startHost with a short functionTimeout and HTTP response limit, after a missed timer occurrence', () => {
  let host: StartedHost;
  const output: string[] = [];
  const appDir = path.join(outDir, 'timeouts');
  const statusDir = path.join(appDir, 'timers');
  beforeAll(async () => {
    mkdirSync(statusDir, { recursive: true });
    const hostJson = JSON.parse(readFileSync(path.join(fixtureDir, 'host.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(path.join(appDir, 'host.json'), JSON.stringify({ ...hostJson, functionTimeout: '00:00:02' }));
    // 'tick' (once a year, so monitored) last ran on 2020-01-01 and was next due on 2021-01-01:
    // the host was down then.
    writeFileSync(
      path.join(statusDir, 'tick.json'),
      JSON.stringify({ Last: '2020-01-01T00:00:00.000Z', Next: '2021-01-01T00:00:00.000Z', LastUpdated: '2020-01-01T00:00:00.000Z' }),
    );
    host = await startHost({
      entry,
      port: 0,
      functionAppDirectory: appDir,
      env: { DURABLE_TASK_HUB: 'fixturehub', WEBSITE_TIME_ZONE: 'Eastern Standard Time' },
      timerStatusDir: statusDir,
      httpResponseLimitMs: 1_000,
      onOutput: (line) => output.push(line),
    });
  });

  it('runs a missed occurrence once at start with isPastDue, and records the new status', async () => {
    const stats = await waitFor(async () => {
      const s = (await (await fetch(`${host.url}/api/stats`)).json()) as { ticks: number; lastTimer: Record<string, unknown> | null };
      return s.ticks === 1 ? s : undefined;
    }, 'the past-due tick');
    expect(stats.lastTimer).toMatchObject({ isPastDue: true, scheduleStatus: { next: '2021-01-01T00:00:00.000Z' } });
    const recorded = await waitFor(async () => {
      const s = JSON.parse(readFileSync(path.join(statusDir, 'tick.json'), 'utf8')) as { Next: string };
      return s.Next !== '2021-01-01T00:00:00.000Z' ? s : undefined;
    }, 'the recorded status');
    expect(new Date(recorded.Next).toISOString()).toMatch(/-01-01T00:00:00\.000Z$/);
    expect(new Date(recorded.Next).getTime()).toBeGreaterThan(Date.now());
    expect(output.join('\n')).toMatch(/WEBSITE_TIME_ZONE is set .* schedules run in UTC/);
  });
  afterAll(async () => {
    await host?.stop();
  });

  it('answers 500 like the front end when no response starts within the limit (230 s in Azure)', async () => {
    const fast = await fetch(`${host.url}/api/slow/10`);
    expect(fast.status).toBe(200);
    expect(await fast.text()).toBe('done');
    const started = Date.now();
    const late = await fetch(`${host.url}/api/slow/1500`);
    expect(late.status).toBe(500);
    expect(await late.text()).toMatch(/^500 - The request timed out\./);
    expect(Date.now() - started).toBeLessThan(1_450);
  });

  it('fails an invocation that exceeds host.json functionTimeout', async () => {
    expect((await fetch(`${host.url}/admin/functions/slowTick`, { method: 'POST' })).status).toBe(202);
    await waitFor(
      async () => (output.some((l) => l.includes('Timeout value of 00:00:02 was exceeded by function: Functions.slowTick')) ? true : undefined),
      'the functionTimeout of slowTick',
    );
    expect(output.some((l) => /Executed 'Functions\.slowTick' \(Failed/.test(l))).toBe(true);
    expect(output.some((l) => /Executed 'Functions\.slowTick' \(Succeeded/.test(l))).toBe(false);
  });
});
