/**
 * local.settings.sample.json lists every setting shared/settings.ts reads, with local defaults the
 * app accepts, in the Core Tools format.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../shared/settings.js';

/** Set by App Service only: their presence means "running in Azure", so never locally. */
const AZURE_ONLY = ['WEBSITE_INSTANCE_ID', 'WEBSITE_SITE_NAME'];
/** Read by the Functions host or Node, not by the app's settings. */
const HOST_SETTINGS = ['FUNCTIONS_WORKER_RUNTIME', 'AzureWebJobsStorage', 'NODE_EXTRA_CA_CERTS'];

async function sample(): Promise<{ IsEncrypted: boolean; Values: Record<string, string> }> {
  return JSON.parse(await readFile('local.settings.sample.json', 'utf8')) as { IsEncrypted: boolean; Values: Record<string, string> };
}

/** The setting names declared in the settings schema (its `NAME: z...` lines). */
async function declaredSettings(): Promise<string[]> {
  const source = await readFile('shared/settings.ts', 'utf8');
  return [...source.matchAll(/^ {4}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1] ?? '');
}

describe('local.settings.sample.json', () => {
  it('is in the Core Tools format, with the Functions host settings', async () => {
    const file = await sample();
    expect(file.IsEncrypted).toBe(false);
    expect(file.Values.FUNCTIONS_WORKER_RUNTIME).toBe('node');
    expect(file.Values.AzureWebJobsStorage).toBe('UseDevelopmentStorage=true');
  });

  it('lists every setting the app reads, and nothing else', async () => {
    const declared = (await declaredSettings()).filter((k) => !AZURE_ONLY.includes(k));
    expect(declared.length).toBeGreaterThan(20);
    const listed = Object.keys((await sample()).Values).filter((k) => !HOST_SETTINGS.includes(k));
    expect(listed.sort()).toEqual(declared.sort());
  });

  it('holds values the app accepts, in dev mode', async () => {
    const settings = loadSettings((await sample()).Values);
    expect(settings.inAzure).toBe(false);
    expect(settings.auth.mode).toBe('dev');
  });
});
