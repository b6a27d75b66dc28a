/**
 * A local stand-in for Application Insights ingestion: an HTTPS server (node:https, no framework)
 * that receives what the `applicationinsights` 3.x SDK (its Azure Monitor OpenTelemetry exporter)
 * sends, so a developer and the tests see what would reach Application Insights.
 *
 *   POST   /v2.1/track, /v2/track     the ingestion API: a JSON array of envelopes, one envelope,
 *                                     or newline-delimited envelopes; gzip'd or not
 *   GET    /envelopes                 what arrived, oldest first (filters: type, name, operationId;
 *                                     `since` = a sequence number from an earlier listing)
 *   DELETE /envelopes                 forgets everything received so far
 *   GET    /                          counts by telemetry type
 *
 * The exporter always posts to `https://<IngestionEndpoint host>/v2.1/track`, whatever scheme the
 * connection string's `IngestionEndpoint` names, so this speaks HTTPS with the stand-ins'
 * certificate (emulator/certs.ts), which the app trusts through `NODE_EXTRA_CA_CERTS`. It gzips
 * only for Azure's own ingestion domains, but a gzip'd body is accepted too (by header or by its
 * magic bytes). It answers as the ingestion service does (`{itemsReceived, itemsAccepted,
 * errors}`), so the exporter neither retries nor keeps the batch on disk.
 *
 * Envelopes are kept in memory (the newest `maxEnvelopes`) and, when `file` is given, appended to
 * a JSON-lines file. Nothing is forwarded anywhere. The instrumentation key is not checked.
 */
import { once } from 'node:events';
import { appendFile, mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { dirname } from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** An Application Insights envelope as the exporter sends it (the fields tests look at). */
export interface Envelope {
  /** e.g. `Microsoft.ApplicationInsights.Request`. */
  name: string;
  time: string;
  iKey?: string;
  sampleRate?: number;
  /** Context tags: `ai.operation.id`, `ai.operation.parentId`, `ai.cloud.role`, … */
  tags?: Record<string, string>;
  data?: { baseType?: string; baseData?: Record<string, unknown> & { properties?: Record<string, string> } };
}

/** An envelope as the capture server keeps it: with its arrival number and telemetry type. */
export interface CapturedEnvelope extends Envelope {
  /** Arrival order, from 1. */
  seq: number;
  /**
   * The telemetry type, the base type without `Data`: `Request`, `RemoteDependency`, `Exception`,
   * `Message` (traces), `Event`, `Availability`, `Metric`, `PageView`.
   */
  type: string;
}

/** What to look for among the captured envelopes. */
export interface EnvelopeQuery {
  type?: string;
  /** `baseData.name` (requests, dependencies, events, availability) or `baseData.message` (traces). */
  name?: string;
  /** The `ai.operation.id` tag. */
  operationId?: string;
  /** Only envelopes that arrived after this sequence number. */
  since?: number;
  /** Envelopes with every one of these custom dimensions (`baseData.properties`). */
  properties?: Record<string, string>;
}

/** Options for {@link startAppInsightsCapture}. */
export interface AppInsightsCaptureOptions {
  /** TLS certificate and key (PEM). */
  tls: { cert: string; key: string };
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** A JSON-lines file each envelope is appended to (developers: `tail -f`); omitted = memory only. */
  file?: string;
  /** How many envelopes to keep in memory (the oldest go first). Default 50,000. */
  maxEnvelopes?: number;
  /** Largest request body read (after decompression). Default 16 MiB. */
  maxBodyBytes?: number;
}

/** A running capture server. */
export interface AppInsightsCapture {
  /** Base URL, e.g. `https://127.0.0.1:4318/`; the connection string's `IngestionEndpoint`. */
  url: string;
  port: number;
  /** The instrumentation key the connection string names (any key is accepted). */
  instrumentationKey: string;
  /** `InstrumentationKey=…;IngestionEndpoint=https://127.0.0.1:<port>/` for the app settings. */
  connectionString: string;
  /** Envelopes matching `query`, oldest first. */
  envelopes(query?: EnvelopeQuery): CapturedEnvelope[];
  /**
   * Resolves with the matching envelopes once at least `count` (default 1) have arrived; rejects
   * after `timeoutInMs` (default 10 s) naming what did arrive.
   */
  waitFor(query: EnvelopeQuery, opts?: { count?: number; timeoutInMs?: number }): Promise<CapturedEnvelope[]>;
  /** The sequence number of the newest envelope (0 when none): a `since` for later queries. */
  mark(): number;
  /** Forgets every envelope received so far. */
  clear(): void;
  /** Every request body that could not be read as envelopes (with its reason), for tests. */
  readonly rejected: readonly string[];
  stop(): Promise<void>;
}

/** The instrumentation key of the local connection string (any is accepted; this one is recognisable). */
export const LOCAL_INSTRUMENTATION_KEY = '00000000-0000-4000-8000-000000000000';

const DEFAULT_MAX_ENVELOPES = 50_000;
const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Starts the capture server. Rejects with the listen error (e.g. `EADDRINUSE`). */
export async function startAppInsightsCapture(options: AppInsightsCaptureOptions): Promise<AppInsightsCapture> {
  const host = options.host ?? '127.0.0.1';
  const maxEnvelopes = options.maxEnvelopes ?? DEFAULT_MAX_ENVELOPES;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let kept: CapturedEnvelope[] = [];
  let seq = 0;
  const rejected: string[] = [];
  const waiters = new Set<() => void>();
  let writes: Promise<void> = options.file ? mkdir(dirname(options.file), { recursive: true }).then(() => undefined) : Promise.resolve();

  const accept = (envelopes: Envelope[]) => {
    const added = envelopes.map((e) => ({ ...e, seq: ++seq, type: typeOf(e) }));
    kept.push(...added);
    if (kept.length > maxEnvelopes) kept = kept.slice(kept.length - maxEnvelopes);
    if (options.file && added.length > 0) {
      const file = options.file;
      const lines = added.map((e) => `${JSON.stringify(e)}\n`).join('');
      writes = writes.then(() => appendFile(file, lines)).catch(() => undefined);
    }
    for (const w of [...waiters]) w();
  };

  const envelopes = (query: EnvelopeQuery = {}) => kept.filter((e) => matches(e, query));

  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', keepAlive: true }, (req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, { error: String(error) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/v2.1/track' || path === '/v2/track') {
      if (req.method !== 'POST') return send(res, 405, { error: 'POST only' });
      let items: unknown[];
      try {
        items = parseBody(await readBody(req, maxBodyBytes));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        rejected.push(reason);
        return send(res, 400, { itemsReceived: 0, itemsAccepted: 0, errors: [{ index: 0, statusCode: 400, message: reason }] });
      }
      const good: Envelope[] = [];
      const errors: { index: number; statusCode: number; message: string }[] = [];
      items.forEach((item, index) => {
        if (isEnvelope(item)) good.push(item);
        else errors.push({ index, statusCode: 400, message: 'Not an envelope: name, time and data.baseType are required' });
      });
      accept(good);
      // 206 with the failed items is what the ingestion service answers to a partly bad batch.
      return send(res, errors.length > 0 ? 206 : 200, { itemsReceived: items.length, itemsAccepted: good.length, errors });
    }
    if (path === '/envelopes') {
      if (req.method === 'DELETE') {
        kept = [];
        return send(res, 204);
      }
      if (req.method !== 'GET') return send(res, 405, { error: 'GET or DELETE' });
      const q = url.searchParams;
      const query: EnvelopeQuery = {
        ...(q.get('type') ? { type: q.get('type')! } : {}),
        ...(q.get('name') ? { name: q.get('name')! } : {}),
        ...(q.get('operationId') ? { operationId: q.get('operationId')! } : {}),
        ...(q.get('since') ? { since: Number(q.get('since')) } : {}),
      };
      return send(res, 200, { value: envelopes(query) });
    }
    if (path === '/' && req.method === 'GET') {
      const counts: Record<string, number> = {};
      for (const e of kept) counts[e.type] = (counts[e.type] ?? 0) + 1;
      return send(res, 200, { received: seq, kept: kept.length, counts });
    }
    // Live Metrics and anything else the SDK may try: not emulated.
    return send(res, 404, { error: `${req.method} ${path} is not emulated` });
  }

  server.on('clientError', (_error, socket) => socket.destroy());
  server.listen(options.port ?? 0, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}/`;

  return {
    url,
    port,
    instrumentationKey: LOCAL_INSTRUMENTATION_KEY,
    connectionString: `InstrumentationKey=${LOCAL_INSTRUMENTATION_KEY};IngestionEndpoint=${url}`,
    envelopes,
    mark: () => seq,
    clear: () => void (kept = []),
    rejected,
    waitFor(query, opts = {}) {
      const count = opts.count ?? 1;
      const timeoutInMs = opts.timeoutInMs ?? 10_000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = envelopes(query);
          if (found.length < count) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = envelopes({ ...(query.since !== undefined ? { since: query.since } : {}) }).map((e) => `${e.type}:${nameOf(e) ?? '?'}`);
          reject(new Error(`No ${count} envelope(s) matching ${JSON.stringify(query)} within ${timeoutInMs} ms; arrived: ${seen.join(', ') || 'nothing'}`));
        }, timeoutInMs);
        waiters.add(check);
        check();
      });
    },
    async stop() {
      for (const w of waiters) waiters.delete(w);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await writes;
    },
  };
}

/** The telemetry type of an envelope: its base type without `Data` (`RequestData` → `Request`). */
export function typeOf(e: Envelope): string {
  const base = e.data?.baseType ?? '';
  if (base) return base.replace(/Data$/, '');
  return e.name.replace(/^Microsoft\.ApplicationInsights\.(?:[0-9a-f]+\.)?/i, '');
}

/** What an envelope is called: `baseData.name`, or a trace's `message`. */
export function nameOf(e: Envelope): string | undefined {
  const d = e.data?.baseData;
  if (!d) return undefined;
  if (typeof d.name === 'string') return d.name;
  if (typeof d.message === 'string') return d.message;
  return undefined;
}

function matches(e: CapturedEnvelope, q: EnvelopeQuery): boolean {
  if (q.since !== undefined && e.seq <= q.since) return false;
  if (q.type !== undefined && e.type !== q.type) return false;
  if (q.name !== undefined && nameOf(e) !== q.name) return false;
  if (q.operationId !== undefined && e.tags?.['ai.operation.id'] !== q.operationId) return false;
  if (q.properties) {
    const props = e.data?.baseData?.properties ?? {};
    for (const [k, v] of Object.entries(q.properties)) if (props[k] !== v) return false;
  }
  return true;
}

function isEnvelope(x: unknown): x is Envelope {
  const e = x as Envelope | null;
  return !!e && typeof e === 'object' && typeof e.name === 'string' && typeof e.time === 'string' && typeof e.data?.baseType === 'string';
}

/** Reads the body, gunzipping it when the header or the gzip magic bytes say so. */
async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new Error(`The body is larger than ${max} bytes`);
    chunks.push(chunk);
  }
  let body = Buffer.concat(chunks);
  const gzipped = /gzip/i.test(String(req.headers['content-encoding'] ?? '')) || (body[0] === 0x1f && body[1] === 0x8b);
  if (gzipped) {
    body = await gunzipAsync(body, { maxOutputLength: max }).catch(() => {
      throw new Error('The body is not valid gzip, or larger than allowed once decompressed');
    });
  }
  return body.toString('utf8');
}

/** A JSON array of envelopes, one envelope, or newline-delimited envelopes. */
function parseBody(text: string): unknown[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  try {
    const parsed: unknown = JSON.parse(trimmed);
    return Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    // Not one JSON value: newline-delimited JSON, as the classic SDKs send.
  }
  return trimmed
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as unknown;
      } catch {
        throw new Error(`Line ${i + 1} of the body is not JSON`);
      }
    });
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}
