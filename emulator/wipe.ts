/**
 * `npm run local:wipe`: deletes the local stack's state (`.local/`): the PGlite database,
 * Azurite's data, the Key Vault stand-in's secrets, the TLS certificate, the dev issuer's key and
 * caches. Everything is created again on the next start. Refuses while a stack is running on it.
 * `local.settings.json` is left alone (it may hold values added by hand; the next start rewrites
 * the stack's own).
 */
import { rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readStackLock } from './stack.js';

/** Raised when a running stack uses the state directory. */
export class StackRunningError extends Error {
  override name = 'StackRunningError';
}

/** Deletes `stateDir` unless a running stack holds its lock. Returns false if there was nothing to delete. */
export async function wipeLocalState(stateDir = '.local'): Promise<boolean> {
  const dir = resolve(stateDir);
  const running = await readStackLock(dir);
  if (running) {
    throw new StackRunningError(
      `A local stack is running on ${dir} (pid ${running.pid}, since ${running.startedAt}). ` +
        'Stop it first (Ctrl-C in its terminal), then wipe again.',
    );
  }
  const exists = await stat(dir).then(
    () => true,
    () => false,
  );
  if (!exists) return false;
  await rm(dir, { recursive: true, force: true });
  return true;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2] ?? '.local';
  wipeLocalState(dir).then(
    (deleted) => console.log(deleted ? `Deleted ${resolve(dir)}.` : `Nothing to delete: ${resolve(dir)} does not exist.`),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exit(1);
    },
  );
}
