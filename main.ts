/**
 * The app's entry (built to dist/main.js, which package.json `main` names) and composition root.
 * Settings are validated here, once, at start: a bad setting stops start-up with a message naming
 * it. Functions register with their metadata (composition/services.ts); the kernel and each
 * service are built on the first invocation (composition/app.ts), handlers on their first use.
 */
import { app } from '@azure/functions';
import { loadSettings } from './shared/settings.js';
import { Registrar } from './shared/registrar.js';
import { startTelemetry } from './shared/telemetry.js';
import { registerAll, services } from './composition/services.js';

const settings = loadSettings();
const telemetry = startTelemetry(settings);

const registrar = new Registrar(async (r) => {
  // The first invocation also waits for Application Insights (when on), so its request is not lost.
  const [{ createKernel }, { composeApp }] = await Promise.all([import('./shared/kernel.js'), import('./composition/app.js'), telemetry.ready]);
  return composeApp(createKernel(settings, { telemetry }), r, services);
});
// Request and response bodies stream between the host and the worker instead of being buffered
// whole (a deployment's step log can be large); the pipeline reads JSON bodies with its size bound.
app.setup({ enableHttpStream: true });
registerAll(registrar);
