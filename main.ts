/**
 * The app's entry (built to dist/main.js, which package.json `main` names) and composition root.
 * Settings are validated here, once, at start: a bad setting stops start-up with a message naming
 * it. Functions register with their metadata; the kernel and each service's handlers are built on
 * first use (shared/registrar.ts).
 */
import { loadSettings } from './shared/settings.js';
import { Registrar } from './shared/registrar.js';
import { startTelemetry } from './shared/telemetry.js';
import { registerAll } from './composition/registry.js';

const settings = loadSettings();
startTelemetry(settings);

const registrar = new Registrar(async () => {
  const [{ createKernel }, { wire }] = await Promise.all([import('./shared/kernel.js'), import('./composition/wiring.js')]);
  return wire(createKernel(settings));
});
registerAll(registrar);
