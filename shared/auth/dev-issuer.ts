/**
 * The local dev issuer: an ES256 key pair kept in a git-ignored file, so the local stack, the
 * `token` command and tests can mint bearer tokens the app accepts when `AUTH_MODE=dev` and
 * `AUTH_DEV_ALLOW=local`. Settings refuse both on any Azure host, so these tokens are never
 * accepted there.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

export const DEV_ISSUER = 'https://dev-issuer.local/runtime-platform';
export const DEV_KID = 'dev-issuer-1';

/** Contents of the dev issuer's key file. */
export interface DevIssuerKeys {
  issuer: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Creates the key file if missing and returns its keys. */
export async function ensureDevIssuer(file: string): Promise<DevIssuerKeys> {
  try {
    return await readDevIssuer(file);
  } catch {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const keys: DevIssuerKeys = {
      issuer: DEV_ISSUER,
      privateJwk: { ...(await exportJWK(privateKey)), kid: DEV_KID, alg: 'ES256' },
      publicJwk: { ...(await exportJWK(publicKey)), kid: DEV_KID, alg: 'ES256', use: 'sig' },
    };
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, JSON.stringify(keys, null, 2), { mode: 0o600 });
    return keys;
  }
}

/** Reads an existing key file. */
export async function readDevIssuer(file: string): Promise<DevIssuerKeys> {
  return JSON.parse(await readFile(file, 'utf8')) as DevIssuerKeys;
}

/** Options for {@link mintDevToken}. */
export interface MintDevTokenOptions {
  subject: string;
  audience: string;
  admin?: boolean;
  /** Workload identities (agents) carry the `app` kind; people carry `user`. */
  kind?: 'user' | 'app';
  expiresInSeconds?: number;
}

/** Signs a token with the dev issuer's private key. */
export async function mintDevToken(keys: DevIssuerKeys, opts: MintDevTokenOptions): Promise<string> {
  const key = await importJWK(keys.privateJwk, 'ES256');
  const roles = opts.admin ? ['Platform.Admin'] : [];
  return new SignJWT({ roles, idtyp: opts.kind ?? 'user' })
    .setProtectedHeader({ alg: 'ES256', kid: keys.privateJwk.kid ?? DEV_KID, typ: 'JWT' })
    .setIssuer(keys.issuer)
    .setAudience(opts.audience)
    .setSubject(opts.subject)
    .setIssuedAt()
    .setExpirationTime(`${opts.expiresInSeconds ?? 8 * 3600}s`)
    .sign(key);
}
