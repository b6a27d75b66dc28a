/**
 * `npm run --silent token -- --sub <principal> [--admin] [--app]` prints a bearer token of the
 * local dev issuer, and nothing else, so it can be used as `$(npm run --silent token -- --sub me)`.
 * The app accepts it only with `AUTH_MODE=dev` and `AUTH_DEV_ALLOW=local`, which settings refuse in Azure.
 *
 *   --sub <id>          the principal (`sub`), required
 *   --admin             carry the Platform.Admin role
 *   --app               a workload identity (agent, pipeline) instead of a person
 *   --aud <audience>    default the first of AUTH_AUDIENCE, else api://runtime-platform
 *   --expires <seconds> default 8 hours
 *   --key-file <path>   default AUTH_DEV_KEY_FILE, else .local/dev-issuer.jwk.json (created if missing)
 *
 * Bad arguments: a message on stderr and exit code 2.
 */
import { parseArgs } from 'node:util';
import { ensureDevIssuer, mintDevToken } from '../shared/auth/dev-issuer.js';

const USAGE = 'usage: npm run --silent token -- --sub <principal> [--admin] [--app] [--aud <audience>] [--expires <seconds>] [--key-file <path>]';

function usageError(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        sub: { type: 'string' },
        admin: { type: 'boolean', default: false },
        app: { type: 'boolean', default: false },
        aud: { type: 'string' },
        expires: { type: 'string' },
        'key-file': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const subject = values.sub?.trim();
  if (!subject) usageError('--sub <principal> is required');
  const expiresInSeconds = values.expires === undefined ? undefined : Number(values.expires);
  if (expiresInSeconds !== undefined && (!Number.isInteger(expiresInSeconds) || expiresInSeconds <= 0)) {
    usageError(`--expires must be a positive number of seconds, not "${values.expires}"`);
  }

  const keys = await ensureDevIssuer(values['key-file'] ?? process.env.AUTH_DEV_KEY_FILE ?? '.local/dev-issuer.jwk.json');
  const token = await mintDevToken(keys, {
    subject,
    // AUTH_AUDIENCE may list several audiences; the first is the application id URI.
    audience: values.aud ?? (process.env.AUTH_AUDIENCE?.split(',')[0]?.trim() || 'api://runtime-platform'),
    admin: values.admin,
    kind: values.app ? 'app' : 'user',
    expiresInSeconds,
  });
  process.stdout.write(`${token}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
