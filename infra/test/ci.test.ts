/**
 * The pipeline's own scripts: the secrets-provider check.
 */
import { describe, expect, it } from 'vitest';
import { secretsProviderProblems } from '../ci/secrets-provider.js';

const KV = 'azurekeyvault://rp-state.vault.azure.net/keys/pulumi';

describe('secrets provider check', () => {
  const cloudState = (url: string, resources: unknown[] = [{}]) => ({
    deployment: { resources, secrets_providers: { type: 'cloud', state: { url } } },
  });

  it('accepts a stack whose state uses the Key Vault key, with or without the provider in its stack file', () => {
    expect(secretsProviderProblems({ expected: KV, stackFile: 'config: {}\n', state: cloudState(KV) })).toEqual([]);
    const recorded = `secretsprovider: ${KV}\nencryptedkey: abc=\nconfig: {}\n`;
    expect(secretsProviderProblems({ expected: KV, stackFile: recorded, state: cloudState(KV) })).toEqual([]);
    // A stack created just now has no resources and may not name a provider yet.
    expect(secretsProviderProblems({ expected: KV, stackFile: 'config: {}\n', state: { deployment: {} } })).toEqual([]);
  });

  it('refuses passphrase, another key, or a provider without its encrypted data key', () => {
    expect(secretsProviderProblems({ expected: KV, stackFile: 'encryptionsalt: v1:abc\n' })).toEqual([
      expect.stringMatching(/passphrase/),
    ]);
    expect(
      secretsProviderProblems({ expected: KV, state: { deployment: { secrets_providers: { type: 'passphrase' } } } }),
    ).toEqual([expect.stringMatching(/"passphrase" secrets provider/)]);
    expect(secretsProviderProblems({ expected: KV, state: cloudState('azurekeyvault://other.vault.azure.net/keys/k') })).toHaveLength(1);
    expect(secretsProviderProblems({ expected: KV, stackFile: `secretsprovider: ${KV}\n` })).toEqual([
      expect.stringMatching(/without its encryptedkey/),
    ]);
    expect(secretsProviderProblems({ expected: KV, state: { deployment: { resources: [{}] } } })).toHaveLength(1);
    expect(secretsProviderProblems({ expected: '' })).toEqual([expect.stringMatching(/PULUMI_SECRETS_PROVIDER/)]);
  });
});
