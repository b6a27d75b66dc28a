/**
 * `npm run lint:openapi` writes the published OpenAPI document (what `GET /api/openapi.json`
 * serves) to a file, for `redocly lint` (see `redocly.yaml`):
 *
 *   tsx scripts/openapi.ts [--out <file>]     default .local/openapi.json
 *
 * The document is built from the route declarations alone: the app is composed with settings that
 * name a database but never connect to it, and the document route is invoked like any other.
 */
import azureFunctions from '@azure/functions';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { composeOffline } from './offline-app.js';

// @azure/functions is CommonJS whose classes Node's ESM loader cannot see as named exports.
const { HttpRequest, InvocationContext } = azureFunctions;

/** The document as the app serves it, composed without any database or issuer. */
export async function publishedDocument(): Promise<unknown> {
  const { app, close } = await composeOffline();
  const route = app.routes.routes.find((r) => r.name === 'openapiDocument');
  if (!route) throw new Error('no openapiDocument route is registered');
  const res = await route.handler(
    new HttpRequest({ method: 'GET', url: 'http://localhost/api/openapi.json' }),
    new InvocationContext({ functionName: route.name, invocationId: 'openapi-script' }),
  );
  if (res.status !== 200 || typeof res.body !== 'string') throw new Error(`openapi.json answered ${res.status}`);
  await close();
  return JSON.parse(res.body) as unknown;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string', default: '.local/openapi.json' } }, strict: true });
  const out = values.out;
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(await publishedDocument(), null, 2)}\n`);
  process.stdout.write(`wrote ${out}\n`);
}

await main();
