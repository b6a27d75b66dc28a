/**
 * Application Insights (`applicationinsights` 3.x, OpenTelemetry based), started only when a
 * connection string is set; loaded lazily so local runs and tests pay nothing for it.
 */
import type { Settings } from './settings.js';

/** Starts telemetry in the background when configured; failures never stop the app. */
export function startTelemetry(settings: Settings): void {
  const cs = settings.telemetry.connectionString;
  if (!cs) return;
  import('applicationinsights')
    .then((mod) => {
      // CommonJS: its API is the default export under ESM.
      const ai = (mod as unknown as { default?: typeof mod }).default ?? mod;
      ai.setup(cs).setAutoCollectConsole(false).setSendLiveMetrics(false).start();
    })
    .catch(() => undefined);
}
