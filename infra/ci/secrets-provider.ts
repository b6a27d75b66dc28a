/**
 * Checks, before `pulumi preview`/`up`, that a stack encrypts with the environment's Key Vault key
 * and not with Pulumi's passphrase default.
 *
 * Why: with a self-managed backend (azblob://), Pulumi picks the secrets manager from
 * `Pulumi.<stack>.yaml` (`secretsprovider:`, `encryptedkey:`; `encryptionsalt:` for passphrase),
 * and when that file names none it falls back to the backend default, which is passphrase
 * (pulumi.com/docs/iac/cli/commands/pulumi_stack_init: "a stack created using the local or cloud
 * object storage backend will use the passphrase secrets provider"). `--secrets-provider` on
 * `pulumi stack select --create` (and pulumi/actions' `secrets-provider`) only applies when the
 * stack is created. A fresh checkout of an existing stack whose file does not record the provider
 * would therefore look for a passphrase. The pipeline sets
 * `PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true`, with which the CLI uses the secrets manager
 * recorded in the stack's state and writes it back to the stack file (pulumi/pulumi#17236,
 * CLI 3.134.0), and this check makes sure that state and any committed stack file name the
 * expected Key Vault key.
 *
 * Where Pulumi records it (pulumi/pulumi sdk/go/common/workspace/project.go, `ProjectStack`):
 * `secretsprovider` and `encryptedkey` in the stack file; in the state,
 * `deployment.secrets_providers = { type: "cloud", state: { url, encryptedkey } }`
 * (pkg/secrets/cloud/manager.go, `cloudSecretsManagerState`).
 *
 *   npx tsx infra/ci/secrets-provider.ts --expected <url> --stack-file infra/Pulumi.dev.yaml --state state.json
 */
import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';

/** What `pulumi stack export` prints, as far as this check reads it. */
interface StateExport {
  deployment?: {
    resources?: unknown[];
    secrets_providers?: { type?: string; state?: { url?: string } };
  };
}

/** Problems with a stack's secrets configuration; empty when it uses `expected`. */
export function secretsProviderProblems(input: { expected: string; stackFile?: string; state?: StateExport }): string[] {
  const problems: string[] = [];
  if (!input.expected.startsWith('azurekeyvault://')) {
    problems.push(`the expected secrets provider "${input.expected}" is not an azurekeyvault:// key URL (set PULUMI_SECRETS_PROVIDER)`);
  }
  if (input.stackFile !== undefined) {
    const file = (parse(input.stackFile) ?? {}) as Record<string, unknown>;
    if ('encryptionsalt' in file) problems.push('the stack file records a passphrase secrets provider (encryptionsalt)');
    const recorded = file['secretsprovider'];
    if (recorded !== undefined && recorded !== input.expected) {
      problems.push(`the stack file records secretsprovider "${String(recorded)}", not "${input.expected}"`);
    }
    if (recorded !== undefined && !('encryptedkey' in file)) {
      problems.push('the stack file records secretsprovider without its encryptedkey (commit both lines Pulumi writes)');
    }
  }
  const deployment = input.state?.deployment;
  const sp = deployment?.secrets_providers;
  if (sp) {
    if (sp.type !== 'cloud') problems.push(`the stack's state is encrypted by the "${String(sp.type)}" secrets provider, not a cloud key`);
    else if (sp.state?.url !== input.expected) {
      problems.push(`the stack's state is encrypted with "${String(sp.state?.url)}", not "${input.expected}"`);
    }
  } else if ((deployment?.resources ?? []).length > 0) {
    problems.push('the stack has resources but its state names no secrets provider');
  }
  return problems;
}

function main(): void {
  const { values } = parseArgs({
    options: { expected: { type: 'string' }, 'stack-file': { type: 'string' }, state: { type: 'string' } },
  });
  const read = (path: string | undefined) => (path && existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  const state = read(values.state);
  const problems = secretsProviderProblems({
    expected: values.expected ?? '',
    stackFile: read(values['stack-file']),
    state: state ? (JSON.parse(state) as StateExport) : undefined,
  });
  if (problems.length === 0) {
    console.log(`secrets provider: ${values.expected}`);
    return;
  }
  for (const p of problems) console.error(`::error::${p}`);
  process.exit(1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
