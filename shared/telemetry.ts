/**
 * Application Insights (`applicationinsights` 3.x, OpenTelemetry based), started only when a
 * connection string is set; loaded lazily so local runs and tests pay nothing for it.
 *
 * Logs written through the invocation context (`context.log`, `context.error`) reach Application
 * Insights through the Functions host as traces with their severity; `Telemetry.trackEvent` adds a
 * custom event (the `customEvents` table) when telemetry is on, and does nothing otherwise — so
 * anything that must be seen is logged as well.
 */
import { randomUUID } from 'node:crypto';
import type { TelemetryClient } from 'applicationinsights';
import type { Settings } from './settings.js';

/** A custom event: a stable name (what alert rules query), string properties, numeric measurements. */
export interface TelemetryEvent {
  name: string;
  properties?: Record<string, string>;
  measurements?: Record<string, number>;
}

/** Port: where custom events go. The composition root hands the started one to the kernel. */
export interface Telemetry {
  /** Sends a custom event when telemetry is on; never throws. */
  trackEvent(event: TelemetryEvent): void;
  /** Sends an availability result (the `availabilityResults` table); never throws. */
  trackAvailability(a: { name: string; success: boolean; durationMs: number; time: Date; runLocation?: string; message?: string; properties?: Record<string, string> }): void;
  /** Sends an exception (the `exceptions` table); never throws. */
  trackException(e: { error: Error; properties?: Record<string, string> }): void;
  /** Sends a trace (the `traces` table) with its severity; never throws. */
  trackTrace(t: { message: string; severity: 'verbose' | 'information' | 'warning' | 'error' | 'critical'; properties?: Record<string, string> }): void;
  /** Sends what is buffered. */
  flush(): Promise<void>;
}

/** Telemetry that sends nothing (not configured; tests). */
export const noTelemetry: Telemetry = {
  trackEvent: () => undefined,
  trackAvailability: () => undefined,
  trackException: () => undefined,
  trackTrace: () => undefined,
  flush: async () => undefined,
};

/** Starts telemetry in the background when configured; failures never stop the app. */
export function startTelemetry(settings: Settings): Telemetry {
  const cs = settings.telemetry.connectionString;
  if (!cs) return noTelemetry;
  const client: Promise<TelemetryClient | undefined> = import('applicationinsights')
    .then((mod) => {
      // CommonJS: its API is the default export under ESM.
      const ai = (mod as unknown as { default?: typeof mod }).default ?? mod;
      ai.setup(cs).setAutoCollectConsole(false).setSendLiveMetrics(false).start();
      return ai.defaultClient;
    })
    .catch(() => undefined);
  const send = (fn: (c: TelemetryClient) => void) => void client.then((c) => c && fn(c)).catch(() => undefined);
  const SEVERITY = { verbose: 'Verbose', information: 'Information', warning: 'Warning', error: 'Error', critical: 'Critical' } as const;
  return {
    trackEvent: (event) => send((c) => c.trackEvent(event)),
    trackAvailability: ({ durationMs, ...a }) => send((c) => c.trackAvailability({ ...a, duration: durationMs, id: randomUUID(), runLocation: a.runLocation ?? '', message: a.message ?? '' })),
    trackException: ({ error, properties }) => send((c) => c.trackException({ exception: error, ...(properties ? { properties } : {}) })),
    trackTrace: ({ message, severity, properties }) => send((c) => c.trackTrace({ message, severity: SEVERITY[severity], ...(properties ? { properties } : {}) })),
    flush: async () => {
      const c = await client.catch(() => undefined);
      await c?.flush();
    },
  };
}
