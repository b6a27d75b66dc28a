/**
 * For tests that drive the built app over HTTP on the local host (test/e2e.test.ts,
 * test/operations-telemetry.test.ts): dev-issuer tokens for a stack's key, JSON calls under
 * `/api`, and a port nothing listens on (a store that is down).
 */
import { createServer } from 'node:net';
import { mintDevToken, readDevIssuer } from '../shared/auth/dev-issuer.js';

/** A bearer token of the stack's dev issuer (its key file is the stack's `AUTH_DEV_KEY_FILE`). */
export async function stackToken(keyFile: string, sub: string, admin = false): Promise<string> {
  return mintDevToken(await readDevIssuer(keyFile), { subject: sub, audience: 'api://runtime-platform', admin });
}

/** Calls `METHOD <baseUrl>/api/<path>` with an optional bearer token and JSON body; parses a JSON answer. */
export async function callApi(baseUrl: string, method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const res = await fetch(`${baseUrl}/api/${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
