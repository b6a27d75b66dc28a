/**
 * Authentication settings: the dev issuer needs an explicit local opt-in and is refused on any
 * Azure host, whatever settings it carries; the accepted audiences; the SQL-only loader.
 */
import { describe, expect, it } from 'vitest';
import { AZURE_HOST_MARKERS, azureHostMarkers, loadSettings, loadSqlSettings, SettingsError } from './settings.js';

const SQL = { SQL_CONNECTION_STRING: 'postgres://x@h/db' };
const DEV = { ...SQL, AUTH_MODE: 'dev', AUTH_DEV_ALLOW: 'local' };
const ENTRA = {
  ...SQL,
  AUTH_ISSUER: 'https://login.microsoftonline.com/tid/v2.0',
  AUTH_JWKS_URI: 'https://login.microsoftonline.com/tid/discovery/v2.0/keys',
};

function refusal(env: Record<string, string>): string {
  try {
    loadSettings(env);
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError);
    return (e as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(env)}`);
}

/** One environment per marker, with every name the marker needs set. */
const markerEnvs = AZURE_HOST_MARKERS.map((m) => Object.fromEntries((typeof m === 'string' ? [m] : [...m]).map((k) => [k, 'x'])));

describe('the dev issuer', () => {
  it('is accepted locally only with AUTH_DEV_ALLOW=local', () => {
    expect(loadSettings(DEV).auth.mode).toBe('dev');
    expect(refusal({ ...SQL, AUTH_MODE: 'dev' })).toMatch(/AUTH_DEV_ALLOW=local/);
    expect(refusal({ ...SQL, AUTH_MODE: 'dev', AUTH_DEV_ALLOW: 'true' })).toMatch(/AUTH_DEV_ALLOW/);
  });

  it.each(markerEnvs)('is refused on an Azure host (%o), opt-in or not', (marker) => {
    expect(refusal({ ...DEV, ...marker })).toMatch(/never accepted when running in Azure/);
    expect(refusal({ ...SQL, AUTH_MODE: 'dev', ...marker })).toMatch(/never accepted when running in Azure/);
    // The opt-in itself is refused there, even in entra mode.
    expect(refusal({ ...ENTRA, AUTH_DEV_ALLOW: 'local', ...marker })).toMatch(/AUTH_DEV_ALLOW: must not be set when running in Azure/);
    expect(loadSettings({ ...ENTRA, ...marker }).inAzure).toBe(true);
  });

  it('counts a two-name marker only when both are set', () => {
    expect(azureHostMarkers({ CONTAINER_NAME: 'c' })).toEqual([]);
    expect(azureHostMarkers({ FUNCTIONS_EXTENSION_VERSION: '~4' })).toEqual([]);
    expect(azureHostMarkers({ FUNCTIONS_EXTENSION_VERSION: '~4', CONTAINER_NAME: 'c' })).toEqual(['FUNCTIONS_EXTENSION_VERSION+CONTAINER_NAME']);
    expect(azureHostMarkers({ WEBSITE_SITE_NAME: '' })).toEqual([]);
    expect(loadSettings({ ...DEV, CONTAINER_NAME: 'c' }).auth.mode).toBe('dev');
  });
});

describe('audiences', () => {
  it('accepts the application id URI by default, and the client id when AUTH_CLIENT_ID names it', () => {
    expect(loadSettings(ENTRA).auth).toMatchObject({ audience: 'api://runtime-platform', audiences: ['api://runtime-platform'] });
    const id = '6f1c2e0a-6a53-4c1e-9d1b-1f0e8e3c9a11';
    expect(loadSettings({ ...ENTRA, AUTH_CLIENT_ID: id }).auth).toMatchObject({ audience: 'api://runtime-platform', audiences: ['api://runtime-platform', id] });
    expect(loadSettings({ ...ENTRA, AUTH_AUDIENCE: `api://rp, ${id}` }).auth).toMatchObject({ audience: 'api://rp', audiences: ['api://rp', id] });
    expect(refusal({ ...ENTRA, AUTH_CLIENT_ID: 'not-a-guid' })).toMatch(/AUTH_CLIENT_ID/);
    expect(refusal({ ...ENTRA, AUTH_AUDIENCE: ' , ' })).toMatch(/AUTH_AUDIENCE/);
  });
});

describe('loadSqlSettings', () => {
  it('reads the databases without any authentication setting', () => {
    expect(loadSqlSettings({ ...SQL, WEBSITE_SITE_NAME: 'app' }).pooled).toEqual({ kind: 'url', url: 'postgres://x@h/db' });
    expect(() => loadSqlSettings({})).toThrow(/SQL_CONNECTION_STRING/);
  });
});
