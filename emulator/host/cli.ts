/**
 * The host process: `tsx emulator/host/cli.ts --entry dist/main.js [--port 7071]
 * [--host 127.0.0.1] [--dir .] [--verbose] [--no-timers] [--http-response-limit-ms 230000]
 * [--timer-status-dir .local/timers]`.
 *
 * Like `func start`, it loads local.settings.json `Values` into the environment (without
 * overriding variables already set) before the app is loaded, takes the port from
 * `Host.LocalHttpPort` when no `--port` is given, prints the functions with their URLs, and stops
 * on SIGINT/SIGTERM. When started with an IPC channel (see `startHost`) it reports readiness there.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadFunctionsApp } from './app.js';
import { readLocalSettings } from './host-config.js';
import { serveFunctionsApp, type FunctionsHost } from './server.js';
import { summarize, type HostMessage } from './start-host.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      entry: { type: 'string', default: 'dist/main.js' },
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      dir: { type: 'string', default: '.' },
      verbose: { type: 'boolean', default: false },
      'no-timers': { type: 'boolean', default: false },
      'http-response-limit-ms': { type: 'string' },
      'timer-status-dir': { type: 'string' },
    },
    strict: true,
  });
  const dir = path.resolve(values.dir);
  const local = readLocalSettings(dir);
  for (const [key, value] of Object.entries(local.values)) if (process.env[key] === undefined) process.env[key] = value;
  const port = values.port !== undefined ? Number(values.port) : (local.localHttpPort ?? 7071);

  const app = await loadFunctionsApp(path.resolve(values.entry), { functionAppDirectory: dir });
  const host: FunctionsHost = await serveFunctionsApp(app, {
    port,
    hostname: values.host,
    verbose: values.verbose,
    runTimers: !values['no-timers'],
    ...(values['timer-status-dir'] !== undefined ? { timerStatusDir: path.resolve(values['timer-status-dir']) } : {}),
    ...(values['http-response-limit-ms'] !== undefined ? { httpResponseLimitMs: Number(values['http-response-limit-ms']) } : {}),
  });
  process.stdout.write(`${host.describe()}\n`);
  if (app.functions.length === 0) process.stdout.write('No job functions found.\n');
  process.stdout.write(`Host started on ${host.url} (local stand-in for the Azure Functions host)\n`);

  const ready: HostMessage = { type: 'ready', url: host.url, port: host.port, functions: host.functions.map(summarize) };
  process.send?.(ready);

  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('Stopping the host...\n');
    host.stop().then(
      () => process.exit(code),
      (error: unknown) => {
        process.stderr.write(`Error while stopping: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  // The parent that started us went away: do not linger as an orphan holding the port.
  process.on('disconnect', () => shutdown(0));
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`The host could not start: ${message}\n`);
  const failed: HostMessage = { type: 'error', message: error instanceof Error ? error.message : String(error) };
  if (process.send) process.send(failed, () => process.exit(1));
  else process.exit(1);
});
