/**
 * The {@link ImageResolver} adapter for registries that speak the OCI Distribution API: Azure
 * Container Registry in Azure, the CNCF distribution server (Debian's `docker-registry`) locally.
 *
 * `HEAD /v2/<repository>/manifests/<tag>` with the manifest media types in `Accept` answers the
 * digest in `Docker-Content-Digest`; when a registry leaves that header out, the manifest is
 * fetched and hashed (the digest of a manifest is the SHA-256 of its bytes). Only registries named
 * in `IMAGE_REGISTRIES` are contacted (an image reference comes from a client: without the list the
 * app could be pointed at any host). Loopback registries are spoken to over plain HTTP, every other
 * over HTTPS.
 *
 * Authentication, in Azure: ACR answers 401 with a `WWW-Authenticate: Bearer realm=…,service=…`
 * challenge; the adapter exchanges the managed identity's Microsoft Entra token for an ACR refresh
 * token (`POST /oauth2/exchange`), that for a pull-scoped access token (`POST /oauth2/token`), and
 * retries with it. The local registry runs without authentication, so that path is not exercised
 * locally (docs/local-stack.md).
 */
import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/identity';
import { UnavailableError } from '../../shared/errors.js';
import type { ImageResolver } from './images.js';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** The Entra scope of Azure Container Registry's token exchange. */
const ACR_SCOPE = 'https://containerregistry.azure.net/.default';
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Options of {@link ociRegistryResolver}. */
export interface OciRegistryOptions {
  /** Registries (host or host:port) that may be asked; any other resolves to nothing. */
  allowed: readonly string[];
  /** The managed identity, for registries that challenge with a bearer token (ACR). */
  credential?: () => Promise<TokenCredential>;
  /** Per request. Default 10 s. */
  timeoutInMs?: number;
}

const isLoopback = (registry: string) => /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(registry);

/** Builds the resolver. */
export function ociRegistryResolver(opts: OciRegistryOptions): ImageResolver {
  const allowed = new Set(opts.allowed.map((r) => r.toLowerCase()));
  const timeout = opts.timeoutInMs ?? 10_000;

  const call = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await fetch(url, { ...init, redirect: 'follow', signal: AbortSignal.timeout(timeout) });
    } catch {
      throw new UnavailableError('The container registry cannot be reached; retry later.', 10);
    }
  };

  /** An ACR access token for pulling `repository` (the Entra token exchange). */
  const acrToken = async (registry: string, repository: string, challenge: string): Promise<string | undefined> => {
    if (!opts.credential) return undefined;
    const service = /service="([^"]+)"/.exec(challenge)?.[1] ?? registry;
    const aad = await (await opts.credential()).getToken(ACR_SCOPE);
    if (!aad) return undefined;
    const form = (o: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(o).toString() });
    const ex = await call(`https://${registry}/oauth2/exchange`, form({ grant_type: 'access_token', service, access_token: aad.token }));
    if (!ex.ok) return undefined;
    const refresh = ((await ex.json()) as { refresh_token?: string }).refresh_token;
    if (!refresh) return undefined;
    const tk = await call(`https://${registry}/oauth2/token`, form({ grant_type: 'refresh_token', service, scope: `repository:${repository}:pull`, refresh_token: refresh }));
    if (!tk.ok) return undefined;
    return ((await tk.json()) as { access_token?: string }).access_token;
  };

  return {
    async resolve({ registry, repository, tag }) {
      if (!allowed.has(registry.toLowerCase())) return undefined;
      const url = `${isLoopback(registry) ? 'http' : 'https'}://${registry}/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
      const headers: Record<string, string> = { accept: MANIFEST_TYPES };
      let res = await call(url, { method: 'HEAD', headers });
      if (res.status === 401) {
        const token = await acrToken(registry, repository, res.headers.get('www-authenticate') ?? '');
        if (!token) return undefined;
        headers.authorization = `Bearer ${token}`;
        res = await call(url, { method: 'HEAD', headers });
      }
      if (res.status === 404 || res.status === 401 || res.status === 403) return undefined;
      if (!res.ok) throw new UnavailableError(`The container registry answered ${res.status}; retry later.`, 10);
      const digest = res.headers.get('docker-content-digest');
      if (digest && DIGEST.test(digest)) return digest;
      const get = await call(url, { method: 'GET', headers });
      if (!get.ok) return undefined;
      return `sha256:${createHash('sha256').update(Buffer.from(await get.arrayBuffer())).digest('hex')}`;
    },
  };
}
