/**
 * Bearer-token authentication: verifies a JWT with `jose` against the issuer's JWKS (Microsoft
 * Entra ID in Azure) or the local dev issuer's key (`AUTH_MODE=dev` with the local opt-in
 * `AUTH_DEV_ALLOW=local`, both refused in Azure by settings).
 *
 * A token must carry `exp`, the configured issuer, and one of the accepted audiences (the
 * application id URI of v1.0 tokens, or the client id that Entra puts in v2.0 tokens). A token
 * that fails any check is a 401; an issuer whose keys cannot be fetched is a 503 with
 * `Retry-After` (the caller's token may well be valid).
 */
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Settings } from '../settings.js';
import { apiError } from '../errors.js';
import { readDevIssuer } from './dev-issuer.js';

/** Who is calling. `kind: 'app'` is a workload identity (an agent or pipeline), `user` a person. */
export interface Principal {
  id: string;
  kind: 'user' | 'app';
  isPlatformAdmin: boolean;
}

/** Port: turns an `Authorization` header into a {@link Principal} or throws a 401 `ApiError`. */
export interface Authenticator {
  authenticate(authorization: string | null): Promise<Principal>;
}

/** App role (Entra app roles / dev `--admin`) that makes a principal a platform admin. */
export const PLATFORM_ADMIN_ROLE = 'Platform.Admin';

const unauthorized = (message: string) =>
  apiError('Unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });

/** The issuer's keys could not be had (network, timeout, an error status, a malformed key set). */
class KeysUnavailableError extends Error {
  override name = 'KeysUnavailableError';
}

/**
 * Wraps a key lookup so that only the token's own faults stay `jose` errors (no key with its
 * `kid`/`alg`, or several): everything else that goes wrong while getting keys — `jose` reports a
 * timeout, an HTTP error status or an unparsable body as `JOSEError`s too — is the issuer's side.
 */
function keysOrUnavailable(getKey: JWTVerifyGetKey): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await getKey(header, token);
    } catch (e) {
      if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) throw e;
      throw new KeysUnavailableError('The token issuer keys could not be loaded.', { cause: e });
    }
  };
}

/** Builds the authenticator for the configured mode. Keys are fetched lazily and cached. */
export function createAuthenticator(auth: Settings['auth']): Authenticator {
  let keys: Promise<{ getKey: JWTVerifyGetKey; issuer: string }> | undefined;
  const resolveKeys = () => {
    keys ??=
      auth.mode === 'dev'
        ? readDevIssuer(auth.devKeyFile).then((k) => ({
            getKey: createLocalJWKSet({ keys: [k.publicJwk] }),
            issuer: k.issuer,
          }))
        : Promise.resolve({
            getKey: keysOrUnavailable(createRemoteJWKSet(new URL(auth.jwksUri ?? ''), { cacheMaxAge: 10 * 60_000 })),
            issuer: auth.issuer ?? '',
          });
    // A failed key load (missing dev key file) is retried on the next request.
    keys.catch(() => (keys = undefined));
    return keys;
  };
  const admins = new Set(auth.platformAdmins);
  // Verified tokens, keyed by the token itself, kept until they expire (at most 5 minutes), so a
  // client reusing its token pays for the signature check once.
  const verified = new Map<string, { principal: Principal; until: number }>();

  return {
    async authenticate(header) {
      const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(header ?? '');
      if (!match?.[1]) throw unauthorized('A bearer token is required.');
      const now = Date.now();
      const hit = verified.get(match[1]);
      if (hit && hit.until > now) return hit.principal;
      let payload: JWTPayload;
      try {
        const { getKey, issuer } = await resolveKeys();
        ({ payload } = await jwtVerify(match[1], getKey, {
          issuer,
          audience: auth.audiences,
          algorithms: auth.mode === 'dev' ? ['ES256'] : ['RS256'],
          requiredClaims: ['exp'],
          clockTolerance: 60,
        }));
      } catch (e) {
        if (e instanceof joseErrors.JOSEError) throw unauthorized('The bearer token is invalid or expired.');
        // The issuer's keys (or the dev issuer's key file) could not be loaded: not the caller's fault.
        throw apiError('ServiceUnavailable', 'The token issuer keys could not be loaded.', {
          headers: { 'Retry-After': '10' },
        });
      }
      // Entra: `oid` is the stable object id; `sub` is pairwise per app. Dev tokens carry `sub`.
      const id = typeof payload.oid === 'string' ? payload.oid : payload.sub;
      if (!id || !/^[A-Za-z0-9._@:-]{1,128}$/.test(id)) throw unauthorized('The bearer token has no usable subject.');
      const roles = Array.isArray(payload.roles) ? payload.roles : [];
      const principal: Principal = {
        id,
        kind: payload.idtyp === 'app' ? 'app' : 'user',
        isPlatformAdmin: roles.includes(PLATFORM_ADMIN_ROLE) || admins.has(id),
      };
      if (verified.size >= 10_000) verified.clear();
      // `exp` is required (jwtVerify checked it is there and in the future).
      verified.set(match[1], { principal, until: Math.min((payload.exp ?? 0) * 1000, now + 5 * 60_000) });
      return principal;
    },
  };
}
