/**
 * The telemetry port with Application Insights on: each kind of item reaches the ingestion
 * endpoint (the local capture server, over HTTPS trusted as the app trusts it) when `flush`
 * resolves — the process exits right after, nothing is waited for — inside the operation of the
 * invocation that tracked it, with the error's code, and with no token, password or connection
 * string left in it. The SDK runs in a child process: Application Insights registers global
 * OpenTelemetry providers and trusts the certificate through NODE_EXTRA_CA_CERTS, read at start.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAppInsightsCapture, type AppInsightsCapture, type CapturedEnvelope } from '../emulator/appinsights/server.js';
import { ensureLocalCert, type LocalCert } from '../emulator/certs.js';
import { noTelemetry, startTelemetry } from './telemetry.js';
import { loadSettings } from './settings.js';
import { REDACTED, scrubProperties, scrubText } from './telemetry-scrub.js';

let dir: string;
let cert: LocalCert;
let capture: AppInsightsCapture;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'telemetry-test-'));
  cert = await ensureLocalCert(join(dir, 'certs'));
  capture = await startAppInsightsCapture({ tls: cert });
});
afterAll(async () => {
  await capture?.stop();
  await rm(dir, { recursive: true, force: true });
});

const SECRETS = ['eyJhbGciOiJSUzI1NiJ9', 'c2lnbmF0dXJlLW5vdC1wcmludGVk', 'bm90LXByaW50ZWQta2V5', 'hunter2', 's3cr3t-pw', 'AccountKey=bm90'];

describe('telemetry port', () => {
  it('delivers events, availability, exceptions and traces by the time flush resolves, in the invocation’s operation, without secrets', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      NODE_EXTRA_CA_CERTS: cert.certFile,
      APPLICATIONINSIGHTS_CONNECTION_STRING: capture.connectionString,
      SQL_CONNECTION_STRING: 'postgres://probe@127.0.0.1:1/probe',
      AUTH_MODE: 'dev',
      AUTH_DEV_ALLOW: 'local',
    };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/fixtures/telemetry-probe.ts'], { env, timeout: 60_000 });
    expect(stdout.trim()).toBe('flushed');
    const got = capture.envelopes();
    const one = (type: string): CapturedEnvelope => {
      const found = got.filter((e) => e.type === type);
      expect(found, `${type} among ${got.map((e) => e.type).join(', ')}`).toHaveLength(1);
      return found[0]!;
    };

    const request = got.find((e) => e.type === 'Request' && e.data?.baseData?.name === 'probeTimer')!;
    expect(request.data?.baseData).toMatchObject({
      name: 'probeTimer',
      success: true,
      properties: { invocationId: 'probe-invocation-1', functionName: 'probeTimer', trigger: 'timer', service: 'probe' },
    });
    const operationId = request.tags?.['ai.operation.id'];
    for (const type of ['Event', 'Availability', 'Exception', 'Message']) expect(one(type).tags?.['ai.operation.id'], type).toBe(operationId);
    // The tenant of an orchestration's input; an invocation that worked for two tenants counts them.
    const requests = got.filter((e) => e.type === 'Request');
    expect(requests.map((r) => r.data?.baseData?.name).sort()).toEqual(['probeOrchestrator', 'probeSweep', 'probeTimer']);
    expect(requests.find((r) => r.data?.baseData?.name === 'probeOrchestrator')!.data?.baseData?.properties).toMatchObject({ tenantId: 'fabrikam', trigger: 'orchestration' });
    const sweep = requests.find((r) => r.data?.baseData?.name === 'probeSweep')!.data?.baseData?.properties;
    expect(sweep).toMatchObject({ tenantCount: '2' });
    expect(sweep).not.toHaveProperty('tenantId');

    expect(one('Event').data?.baseData).toMatchObject({ name: 'ProbeEvent', properties: { tenantId: 'contoso', authorization: REDACTED }, measurements: { items: 3 } });
    const availability = one('Availability');
    expect(availability.data?.baseData).toMatchObject({
      name: 'api/http',
      success: false,
      duration: '00:00:01.250',
      runLocation: 'agent-1',
      properties: { tenantId: 'contoso', status: 'unhealthy', connectionString: REDACTED },
    });
    // The result's own time, not the time it was tracked; the marker that carried it is gone.
    expect(availability.time).toBe('2026-01-02T03:04:05.678Z');
    expect(Object.keys(availability.data?.baseData?.properties ?? {}).sort()).toEqual(['connectionString', 'status', 'tenantId']);
    const exception = one('Exception');
    expect(exception.data?.baseData?.properties).toMatchObject({ code: 'VaultRefused', tenantId: 'contoso' });
    expect(exception.data?.baseData?.exceptions).toMatchObject([{ typeName: 'RotationError' }]);
    expect((exception.data?.baseData?.exceptions as { message: string }[])[0]!.message).toContain(`Bearer ${REDACTED}`);
    expect(one('Message').data?.baseData).toMatchObject({ severityLevel: 'Warning', message: `rotation retried with postgres://app:${REDACTED}@db.example.com:5432/rp` });

    const everything = JSON.stringify(got);
    for (const secret of SECRETS) expect(everything, secret).not.toContain(secret);
  });

  it('is a no-op without a connection string, ready at once and flushing nothing', async () => {
    const t = startTelemetry(loadSettings({ SQL_CONNECTION_STRING: 'postgres://x@127.0.0.1/x', AUTH_MODE: 'dev', AUTH_DEV_ALLOW: 'local' }));
    expect(await t.ready).toBe(false);
    t.trackEvent({ name: 'Nothing' });
    await t.flush();
    await noTelemetry.flush();
  });
});

describe('scrubbing', () => {
  it('removes tokens, keys, passwords and connection-string secrets, and secret-named properties', () => {
    expect(scrubText('Authorization: Bearer abc.def-ghi')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(scrubText('got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123 back')).toBe(`got ${REDACTED} back`);
    expect(scrubText('AccountName=a;AccountKey=xyz==;EndpointSuffix=core.windows.net')).toBe(`AccountName=a;AccountKey=${REDACTED};EndpointSuffix=core.windows.net`);
    expect(scrubText('https://acct.blob.core.windows.net/c/b?sv=2024&sig=abc%2Bdef&se=x')).toBe(`https://acct.blob.core.windows.net/c/b?sv=2024&sig=${REDACTED}&se=x`);
    expect(scrubText('Server=db;User Id=app;Password="p;w"')).toBe(`Server=db;User Id=app;Password=${REDACTED}`);
    expect(scrubText('InstrumentationKey=0000;IngestionEndpoint=https://x/')).toBe(`InstrumentationKey=${REDACTED};IngestionEndpoint=https://x/`);
    expect(scrubText('postgres://rp_app:pw@host:5432/db')).toBe(`postgres://rp_app:${REDACTED}@host:5432/db`);
    expect(scrubText('client_secret=abc&grant_type=x')).toBe(`client_secret=${REDACTED}&grant_type=x`);
    // Ordinary text is left alone, including words like "token" and paging tokens' names.
    expect(scrubText('skipToken=abc tenant contoso, binding db-password rotated')).toBe('skipToken=abc tenant contoso, binding db-password rotated');
    expect(scrubProperties({ Password: 'x', client_secret: 'y', 'connection-string': 'z', tenantId: 'contoso', note: 'Bearer t0ken' })).toEqual({
      Password: REDACTED,
      client_secret: REDACTED,
      'connection-string': REDACTED,
      tenantId: 'contoso',
      note: `Bearer ${REDACTED}`,
    });
  });
});
