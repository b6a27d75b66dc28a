/**
 * The app composed for the docs and contract commands, without any store or issuer: settings name
 * a database on a closed port and an issuer that is never asked, and nothing connects, because
 * pools and signing keys are created on first use, which never comes. Every route is loaded.
 */
import { composeApp } from '../composition/app.js';
import { registerAll, services } from '../composition/services.js';
import { createKernel, type Kernel } from '../shared/kernel.js';
import { Registrar, type App } from '../shared/registrar.js';
import { loadSettings } from '../shared/settings.js';

/** The composed app and what composed it; call `close()` when done. */
export async function composeOffline(): Promise<{ kernel: Kernel; registrar: Registrar; app: App; close: () => Promise<void> }> {
  const settings = loadSettings({
    SQL_CONNECTION_STRING: 'postgres://offline@127.0.0.1:1/none',
    AUTH_MODE: 'entra',
    AUTH_ISSUER: 'https://issuer.invalid/',
    AUTH_JWKS_URI: 'https://issuer.invalid/keys',
  });
  const kernel = createKernel(settings);
  const registrar = new Registrar((r) => composeApp(kernel, r, services));
  // Outside the Functions host, @azure/functions runs in test mode and warns once per registration.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void (/test mode|Azure Functions runtime/.test(String(args[0])) ? undefined : warn(...args));
  try {
    registerAll(registrar);
  } finally {
    console.warn = warn;
  }
  const app = await registrar.loadRoutes();
  return { kernel, registrar, app, close: () => kernel.sql.close() };
}
