/**
 * `npm start` (after `npm run build`): starts the local Azure stand-ins, applies every service's
 * migrations, then runs the Functions host for `dist/main.js` on http://localhost:7071.
 *
 *   npm start                      stand-ins + migrations + the local host (a child process)
 *   npm start -- --func            ... but Azure Functions Core Tools (`func start`) instead
 *   npm run stack                  stand-ins + migrations only (for `func start` in another terminal,
 *                                  which reads the local.settings.json the stack writes)
 *   options: --port <n> (default 7071), --verbose
 *
 * The host runs in a child process so that the stack's settings and NODE_EXTRA_CA_CERTS (the local
 * TLS stand-ins' certificate) apply from process start. Ctrl-C stops everything this started.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { runMigrations } from '../scripts/migrate.js';
import { startHost, type StartedHost } from './host/index.js';
import { startStack } from './stack.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Fails with a clear message when something already listens on the port. */
async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new Error(`Port ${port} (${what}) is already in use: is \`npm start\` already running? Stop it, or pass --port.`));
      } else reject(error);
    });
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/** Rewords "address in use" errors of the stand-ins so they name the port. */
function explainStartError(error: unknown): Error {
  const e = error as NodeJS.ErrnoException & { port?: number };
  if (e?.code === 'EADDRINUSE') {
    const port = e.port ?? /:(\d+)/.exec(e.message)?.[1];
    return new Error(`Port ${port ?? '(unknown)'} is already in use: is the local stack already running (\`npm start\` or \`npm run stack\`)?`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

function funcOnPath(): boolean {
  const result = spawnSync('func', ['--version'], { stdio: 'ignore' });
  return result.status === 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      func: { type: 'boolean', default: false },
      'stack-only': { type: 'boolean', default: false },
      port: { type: 'string', default: '7071' },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--port ${values.port} is not a port`);
  if (values.func && !funcOnPath()) {
    throw new Error('--func was given but Azure Functions Core Tools (`func`) is not on PATH; run without --func to use the local host.');
  }
  if (!values['stack-only']) await assertPortFree(port, 'Functions host');

  log('Starting the local Azure stand-ins...');
  let stack: Awaited<ReturnType<typeof startStack>>;
  try {
    stack = await startStack();
  } catch (error) {
    throw explainStartError(error);
  }

  let host: StartedHost | undefined;
  let func: ChildProcess | undefined;
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    log('Stopping...');
    try {
      await host?.stop();
      if (func && func.exitCode === null) {
        func.kill('SIGTERM');
        await new Promise((r) => func?.once('exit', r));
      }
    } finally {
      await stack.stop();
    }
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    log('Applying migrations...');
    await runMigrations(stack.env, (line) => log(`  ${line}`));

    // No TZ from WEBSITE_TIME_ZONE: Flex Consumption does not support that setting, and the host
    // evaluates schedules in UTC whatever TZ is (emulator/host/ncrontab.ts).
    const env: Record<string, string | undefined> = { ...stack.env };

    if (values['stack-only']) {
      log('');
      log('The local stand-ins are running; local.settings.json holds their settings.');
      log('Start the app with `func start` (Azure Functions Core Tools) in another terminal. Ctrl-C stops the stand-ins.');
      return;
    }

    if (values.func) {
      func = spawn('func', ['start', '--port', String(port), ...(values.verbose ? ['--verbose'] : [])], {
        env: { ...process.env, ...env },
        stdio: 'inherit',
      });
      func.once('exit', (code) => void stopAll(code ?? 1));
    } else {
      host = await startHost({ entry: 'dist/main.js', port, env, verbose: values.verbose, timerStatusDir: '.local/timers' });
      void host.exited.then((code) => {
        if (!stopping) {
          log(`The host exited (code ${code}).`);
          void stopAll(code ?? 1);
        }
      });
    }

    const url = `http://localhost:${port}`;
    log('');
    log(`The API is at ${url}/api`);
    log('Get a token:   npm run --silent token -- --sub <id> --admin');
    log(`Then:          curl -H "Authorization: Bearer $(npm run --silent token -- --sub me --admin)" ${url}/api/...`);
    log('Ctrl-C stops the host and the stand-ins.');
  } catch (error) {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error));
    await stopAll(1);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
