/**
 * Bearer-token verification in `entra` mode, against a real HTTP JWKS endpoint fetched by jose's
 * remote key set exactly as the app configures it: audiences (application id URI and client id),
 * the required `exp`, and the issuer's key endpoint failing (503 with Retry-After, never 401).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isApiError, type ApiError } from '../errors.js';
import type { Settings } from '../settings.js';
import { createAuthenticator } from './authenticate.js';

const ISSUER = 'https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000bb/v2.0';
const APP_ID_URI = 'api://runtime-platform';
const CLIENT_ID = '6f1c2e0a-6a53-4c1e-9d1b-1f0e8e3c9a11';

let server: Server;
let base: string;
let closedPort: number;
let privateKey: CryptoKey;
let publicJwk: JWK;

/** Where the JWKS endpoint answers: the keys, a 500, or a body that is not JSON. */
beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  server = createServer((req, res) => {
    if (req.url === '/keys') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
    } else if (req.url === '/error') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('<html>not json');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port nothing listens on: bind one, then close it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
});
afterAll(() => new Promise((r) => server?.close(r)));

function entra(jwksUri: string): Settings['auth'] {
  return { mode: 'entra', issuer: ISSUER, audience: APP_ID_URI, audiences: [APP_ID_URI, CLIENT_ID], jwksUri, devKeyFile: '', platformAdmins: [] };
}

async function token(claims: { aud?: string; exp?: boolean; kid?: string; sub?: string } = {}): Promise<string> {
  let jwt = new SignJWT({ oid: claims.sub ?? 'user-1', roles: [] })
    .setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? 'k1', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(claims.aud ?? CLIENT_ID)
    .setIssuedAt();
  if (claims.exp !== false) jwt = jwt.setExpirationTime('10m');
  return jwt.sign(privateKey);
}

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!isApiError(e)) throw new Error(`expected an ApiError, got ${String(e)}`);
  return e;
}

describe('entra tokens', () => {
  it('accepts the v2.0 audience (the client id) and the application id URI', async () => {
    const auth = createAuthenticator(entra(`${base}/keys`));
    expect(await auth.authenticate(`Bearer ${await token({ aud: CLIENT_ID, sub: 'v2-user' })}`)).toMatchObject({ id: 'v2-user', kind: 'user' });
    expect(await auth.authenticate(`Bearer ${await token({ aud: APP_ID_URI, sub: 'v1-user' })}`)).toMatchObject({ id: 'v1-user' });
  });

  it('refuses another audience, a token without exp, and an unknown key id with 401', async () => {
    const auth = createAuthenticator(entra(`${base}/keys`));
    for (const bad of [await token({ aud: 'api://someone-else' }), await token({ exp: false }), await token({ kid: 'unknown' })]) {
      const e = await refusal(auth.authenticate(`Bearer ${bad}`));
      expect([e.status, e.code]).toEqual([401, 'Unauthorized']);
      expect(e.extra.headers?.['WWW-Authenticate']).toContain('Bearer');
    }
  });

  it.each([
    ['a closed port', () => `http://127.0.0.1:${closedPort}/keys`],
    ['an HTTP 500', () => `${base}/error`],
    ['a body that is not a key set', () => `${base}/garbage`],
  ])('answers 503 with Retry-After when the JWKS endpoint gives %s', async (_what, uri) => {
    const auth = createAuthenticator(entra(uri()));
    const e = await refusal(auth.authenticate(`Bearer ${await token()}`));
    expect([e.status, e.code]).toEqual([503, 'ServiceUnavailable']);
    expect(e.extra.headers?.['Retry-After']).toMatch(/^\d+$/);
  });

  it('still answers 401 for a malformed token while the JWKS endpoint is down (no key fetch needed)', async () => {
    const auth = createAuthenticator(entra(`http://127.0.0.1:${closedPort}/keys`));
    expect((await refusal(auth.authenticate('Bearer abc.def.ghi'))).status).toBe(401);
    expect((await refusal(auth.authenticate(null))).status).toBe(401);
  });
});
