/**
 * Composition root and the app's entry (built to dist/main.js, which package.json `main` names).
 * Settings are validated once here; a bad setting stops start-up with a message naming it.
 */
import { app } from '@azure/functions';
import { loadSettings } from './shared/settings.js';
import { createKernel } from './shared/kernel.js';
import { startTelemetry } from './shared/telemetry.js';
import { registerAll } from './functions/registry.js';

app.setup({ enableHttpStream: false });

const settings = loadSettings();
startTelemetry(settings);
registerAll(createKernel(settings));
