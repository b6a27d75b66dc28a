/**
 * The Application Insights capture server: what the real `applicationinsights` 3.x SDK sends
 * arrives (over HTTPS, trusted through NODE_EXTRA_CA_CERTS as the app trusts it), a flush
 * delivers it at once, and the wire formats the ingestion API accepts (a JSON array, one
 * envelope, newline-delimited JSON, gzip'd or not) are read; the listing and the JSON-lines file.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalCert, type LocalCert } from '../certs.js';
import { startAppInsightsCapture, type AppInsightsCapture, type Envelope } from './server.js';

let dir: string;
let cert: LocalCert;
let capture: AppInsightsCapture;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'appinsights-test-'));
  cert = await ensureLocalCert(join(dir, 'certs'));
  capture = await startAppInsightsCapture({ tls: cert, file: join(dir, 'appinsights', 'telemetry.jsonl') });
});
afterAll(async () => {
  await capture?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** One HTTPS request to the capture server, trusting its certificate. */
function send(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, capture.url), { method, ca: cert.cert, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const envelope = (name: string): Envelope => ({
  name: 'Microsoft.ApplicationInsights.Event',
  time: new Date().toISOString(),
  iKey: capture.instrumentationKey,
  tags: { 'ai.operation.id': `op-${name}` },
  data: { baseType: 'EventData', baseData: { ver: 2, name, properties: { wire: name } } },
});

describe('Application Insights capture server', () => {
  it('receives what the real SDK sends, over HTTPS trusted through NODE_EXTRA_CA_CERTS, as soon as it flushes', async () => {
    const since = capture.mark();
    const env = { PATH: process.env.PATH ?? '', NODE_EXTRA_CA_CERTS: cert.certFile, APPLICATIONINSIGHTS_CONNECTION_STRING: capture.connectionString };
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'emulator/appinsights/fixtures/sdk-probe.ts'], { env, timeout: 60_000 });
    expect(stdout).toMatch(/^flushed \d+$/m);
    // The child flushed before exiting: everything is here already, nothing is waited for.
    const got = capture.envelopes({ since });
    const one = (type: string) => {
      const found = got.filter((e) => e.type === type);
      expect(found, `${type} in ${got.map((e) => e.type).join(', ')}`).toHaveLength(1);
      return found[0]!;
    };
    const request = one('Request');
    expect(request.data?.baseData).toMatchObject({ name: 'probeRequest', properties: { probe: 'yes' } });
    const operationId = request.tags?.['ai.operation.id'];
    expect(operationId).toMatch(/^[0-9a-f]{32}$/);
    expect(one('Event').data?.baseData).toMatchObject({ name: 'ProbeEvent', properties: { probe: 'yes' } });
    expect(one('Message').data?.baseData).toMatchObject({ message: 'probe trace', severityLevel: 'Warning' });
    expect(one('Exception').data?.baseData?.exceptions).toMatchObject([{ typeName: 'Error', message: 'probe failure' }]);
    expect(one('Availability').data?.baseData).toMatchObject({ name: 'probeAvailability', success: false, runLocation: 'local', message: 'down' });
    // Items tracked inside the request's span belong to its operation.
    for (const type of ['Event', 'Message', 'Exception', 'Availability']) expect(one(type).tags?.['ai.operation.id'], type).toBe(operationId);
    expect(got.every((e) => e.iKey === capture.instrumentationKey)).toBe(true);
    expect(capture.rejected).toEqual([]);
  });

  it('reads a JSON array, one envelope, newline-delimited JSON, and gzip with or without the header', async () => {
    const since = capture.mark();
    const json = { 'content-type': 'application/json' };
    const answers = [
      await send('POST', '/v2.1/track', JSON.stringify([envelope('array-1'), envelope('array-2')]), json),
      await send('POST', '/v2/track', JSON.stringify(envelope('single')), json),
      await send('POST', '/v2.1/track', `${JSON.stringify(envelope('nd-1'))}\n${JSON.stringify(envelope('nd-2'))}\n`, { 'content-type': 'application/x-json-stream' }),
      await send('POST', '/v2.1/track', gzipSync(JSON.stringify([envelope('gzip-header')])), { ...json, 'content-encoding': 'gzip' }),
      await send('POST', '/v2.1/track', gzipSync(JSON.stringify([envelope('gzip-sniffed')])), json),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers[0]!.body).toEqual({ itemsReceived: 2, itemsAccepted: 2, errors: [] });
    expect(capture.envelopes({ since }).map((e) => e.data?.baseData?.name)).toEqual(['array-1', 'array-2', 'single', 'nd-1', 'nd-2', 'gzip-header', 'gzip-sniffed']);
    expect(capture.envelopes({ since, operationId: 'op-single' })).toHaveLength(1);
    expect(capture.envelopes({ since, properties: { wire: 'nd-2' } })).toHaveLength(1);
  });

  it('answers a partly bad batch with 206 and the failed items, and a body that is not JSON with 400', async () => {
    const since = capture.mark();
    const partial = await send('POST', '/v2.1/track', JSON.stringify([envelope('good'), { name: 'no data' }]));
    expect(partial.status).toBe(206);
    expect(partial.body).toMatchObject({ itemsReceived: 2, itemsAccepted: 1, errors: [{ index: 1, statusCode: 400 }] });
    const bad = await send('POST', '/v2.1/track', 'not json at all');
    expect(bad.status).toBe(400);
    expect(capture.rejected.at(-1)).toMatch(/not JSON/);
    expect(capture.envelopes({ since }).map((e) => e.data?.baseData?.name)).toEqual(['good']);
  });

  it('waits for envelopes that have not arrived yet, and says what arrived when they do not', async () => {
    const since = capture.mark();
    const waiting = capture.waitFor({ since, name: 'late' });
    await send('POST', '/v2.1/track', JSON.stringify([envelope('late')]));
    expect((await waiting).map((e) => e.seq)).toEqual([since + 1]);
    await expect(capture.waitFor({ since, name: 'never' }, { timeoutInMs: 50 })).rejects.toThrow(/Event:late/);
  });

  it('lists envelopes over HTTPS with filters, appends them to the JSON-lines file, and clears', async () => {
    const since = capture.mark();
    await send('POST', '/v2.1/track', JSON.stringify([envelope('listed')]));
    const listed = await send('GET', `/envelopes?type=Event&name=listed&since=${since}`);
    expect(listed.status).toBe(200);
    expect(listed.body.value.map((e: Envelope) => e.data?.baseData?.name)).toEqual(['listed']);
    expect((await send('GET', '/')).body.counts.Event).toBeGreaterThan(0);
    await capture.stop(); // waits for the file's pending writes
    const lines = (await readFile(join(dir, 'appinsights', 'telemetry.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Envelope);
    expect(lines.some((e) => e.data?.baseData?.name === 'listed')).toBe(true);
    capture = await startAppInsightsCapture({ tls: cert });
    await send('POST', '/v2.1/track', JSON.stringify([envelope('before-clear')]));
    expect((await send('DELETE', '/envelopes')).status).toBe(204);
    expect(capture.envelopes()).toEqual([]);
  });
});
