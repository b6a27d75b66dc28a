/**
 * The secrets service's port to Azure Key Vault, and its adapter over `@azure/keyvault-secrets`
 * (the kernel's `SecretClient`, `DefaultAzureCredential` in Azure, the Key Vault stand-in locally).
 * Domain code sees only this port: version ids, enabled flags, tags — never a value, except the
 * one it hands to {@link SecretVault.write}, which goes to the vault and nowhere else.
 *
 * A tenant's secrets live in the shared vault as `<tenantId>--<secretName>`. A secret name has no
 * `--` and starts with a letter or digit, so the last `--` of a vault name is always the one
 * between tenant and secret: no two (tenant, secret) pairs share a vault name, and a tenant can
 * reach only its own secrets.
 */
import type { SecretClient } from '@azure/keyvault-secrets';
import { UnavailableError } from '../../shared/errors.js';
import { vaultSecretExists } from './errors.js';

/** Tags the service puts on the versions it writes (Key Vault tags: metadata, never values). */
export const TAG_BINDING = 'rp-binding';
export const TAG_ROTATION = 'rp-rotation';

/** One version of a secret, without its value. */
export interface VaultVersion {
  version: string;
  enabled: boolean;
  createdOn: Date;
  tags: Record<string, string>;
}

/** Port: what the service does with Key Vault. */
export interface SecretVault {
  /** Every version of a secret, newest first; empty when the secret does not exist. */
  versions(vaultName: string): Promise<VaultVersion[]>;
  /** Writes `value` as a new version with `tags`; returns the version id. */
  write(vaultName: string, value: string, tags: Record<string, string>): Promise<string>;
  /** Enables or disables one version. A missing version is left alone. */
  setEnabled(vaultName: string, version: string, enabled: boolean): Promise<void>;
}

/** The name of a tenant's secret in the vault. */
export function vaultSecretName(tenantId: string, secretName: string): string {
  return `${tenantId}--${secretName}`;
}

/** The newest enabled version, if any. */
export function newestEnabled(versions: readonly VaultVersion[]): VaultVersion | undefined {
  return versions.find((v) => v.enabled);
}

interface RestErrorLike {
  statusCode?: number;
  code?: string;
}
const statusOf = (e: unknown): number | undefined => (e && typeof e === 'object' ? (e as RestErrorLike).statusCode : undefined);

/**
 * Turns what the vault threw into the service's errors: a name in the deleted-but-recoverable
 * state is a conflict the client can act on; anything else (throttling, an outage, a missing
 * grant) is the vault being unavailable to us — 503 with Retry-After, never its text.
 */
function mapError(e: unknown, secretName: string): Error {
  if (statusOf(e) === 409) return vaultSecretExists(secretName);
  return new UnavailableError('Key Vault is not available now.', statusOf(e) === 429 ? 30 : 5);
}

/** The adapter over the kernel's `SecretClient` (built lazily, once). */
export function keyVaultSecrets(client: () => Promise<SecretClient>): SecretVault {
  const guard = async <T>(name: string, f: (c: SecretClient) => Promise<T>): Promise<T> => {
    let c: SecretClient;
    try {
      c = await client();
    } catch {
      throw new UnavailableError('Key Vault is not configured on this instance.', 60);
    }
    try {
      return await f(c);
    } catch (e) {
      throw mapError(e, name.slice(name.indexOf('--') + 2));
    }
  };
  return {
    versions: (name) =>
      guard(name, async (c) => {
        const out: VaultVersion[] = [];
        try {
          for await (const p of c.listPropertiesOfSecretVersions(name)) {
            if (!p.version) continue;
            out.push({ version: p.version, enabled: p.enabled !== false, createdOn: p.createdOn ?? new Date(0), tags: p.tags ?? {} });
          }
        } catch (e) {
          if (statusOf(e) === 404) return [];
          throw e;
        }
        return out.sort((a, b) => b.createdOn.getTime() - a.createdOn.getTime());
      }),
    write: (name, value, tags) =>
      guard(name, async (c) => {
        const s = await c.setSecret(name, value, { tags, contentType: 'text/plain' });
        return s.properties.version ?? '';
      }),
    setEnabled: (name, version, enabled) =>
      guard(name, async (c) => {
        try {
          await c.updateSecretProperties(name, version, { enabled });
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }),
  };
}
