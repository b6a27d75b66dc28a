/**
 * Health results as Application Insights telemetry, end to end: the app (real composition and
 * pipeline) with the SDK on, pointed at the local capture server over HTTPS (the stand-ins'
 * certificate, trusted as the app trusts it), appends a batch in a child process that flushes
 * before it exits. What arrives: one availability item per result (with its own observation time,
 * success unless unhealthy, the latency as duration), an exception for the unhealthy result and a
 * warning trace for the degraded one, each with the redacted excerpt; no token, key or password.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppInsightsCapture, type AppInsightsCapture } from '../../emulator/appinsights/server.js';
import { ensureLocalCert, type LocalCert } from '../../emulator/certs.js';
import { HEALTH_CHECK_FAILED } from './availability.js';

let dir: string;
let cert: LocalCert;
let capture: AppInsightsCapture;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'health-telemetry-'));
  cert = await ensureLocalCert(join(dir, 'certs'));
  capture = await startAppInsightsCapture({ tls: cert });
});
afterAll(async () => {
  await capture?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.aGVhbHRoLXByb2JlLXNpZ25hdHVyZQ';
const KEY = 'aGVhbHRoLXByb2JlLWFjY291bnQta2V5';

describe('health results in Application Insights', () => {
  it('arrive as availability items, failures also as an exception or a trace with the excerpt, and no secret', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: cert.certFile,
      APPLICATIONINSIGHTS_CONNECTION_STRING: capture.connectionString,
      SQL_CONNECTION_STRING: 'postgres://probe@127.0.0.1:1/probe',
      AUTH_MODE: 'dev',
      AUTH_DEV_ALLOW: 'local',
      PROBE_TOKEN: TOKEN,
      PROBE_KEY: KEY,
    };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/health-availability-probe.ts'], { env, timeout: 120_000 });
    const [flushed, environmentId, serviceId] = stdout.trim().split(' ');
    expect(flushed).toBe('flushed');
    const got = capture.envelopes();

    const availability = got.filter((e) => e.type === 'Availability');
    // Three results, once: the replay of the batch sent nothing.
    expect(availability).toHaveLength(3);
    const byCheck = (check: string, status: string) => availability.find((a) => a.data?.baseData?.properties?.check === check && a.data.baseData.properties.status === status)!;
    const healthy = byCheck('http', 'healthy');
    expect(healthy.data?.baseData).toMatchObject({
      name: `${serviceId}/http`,
      success: true,
      runLocation: environmentId,
      properties: { tenantId: 'contoso', environmentId, serviceId, check: 'http', status: 'healthy', batchId: 'probe-batch-1' },
    });
    expect(byCheck('db', 'degraded').data?.baseData).toMatchObject({ success: true, duration: '00:00:00.900' });
    const unhealthy = byCheck('http', 'unhealthy');
    expect(unhealthy.data?.baseData).toMatchObject({ success: false, duration: '00:00:05.003' });
    expect(String(unhealthy.data?.baseData?.message)).toContain('GET /orders 401');
    // Each item carries its result's own observation time.
    const times = availability.map((a) => Date.parse(a.time)).sort();
    expect(times[2]! - times[0]!).toBe(2000);

    const exceptions = got.filter((e) => e.type === 'Exception');
    expect(exceptions).toHaveLength(1);
    expect(exceptions[0]!.data?.baseData?.exceptions).toMatchObject([{ typeName: HEALTH_CHECK_FAILED }]);
    const exceptionMessage = (exceptions[0]!.data?.baseData?.exceptions as { message: string }[])[0]!.message;
    expect(exceptionMessage).toContain(`${serviceId}/http is unhealthy: GET /orders 401 with Authorization: Bearer [redacted]`);
    expect(exceptions[0]!.data?.baseData?.properties).toMatchObject({ tenantId: 'contoso', serviceId, status: 'unhealthy' });
    const traces = got.filter((e) => e.type === 'Message' && String(e.data?.baseData?.message).includes('is degraded'));
    expect(traces).toHaveLength(1);
    expect(traces[0]!.data?.baseData).toMatchObject({ severityLevel: 'Warning', message: `${serviceId}/db is degraded: slow query; Server=db;User ID=app;Password=[redacted]` });

    const everything = JSON.stringify(got);
    for (const secret of [TOKEN, KEY, 'hunter2-degraded', 'eyJhbGciOiJSUzI1NiJ9']) expect(everything, secret).not.toContain(secret);
  }, 150_000);
});
