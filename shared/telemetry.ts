/**
 * Application Insights (`applicationinsights` 3.x, OpenTelemetry based), started only when a
 * connection string is set. This module is part of the start-up chunk, so it holds the port and
 * nothing heavy: the SDK and its set-up (`app-insights.ts`) are imported in the background when
 * telemetry is on, and local runs and tests without a connection string pay nothing for them.
 *
 * What goes out (docs/operations.md, "What an operator sees in Application Insights"):
 * - through this port: custom events (`customEvents`, what alert rules query), availability
 *   results (`availabilityResults`), exceptions and traces;
 * - through the registrar and the kernel (`tracing.ts`): a request per function invocation and a
 *   dependency per call to PostgreSQL, Blob, Queue, Cosmos DB and Key Vault, under one operation id.
 *
 * Logs written through the invocation context (`context.log`, `context.error`) reach Application
 * Insights through the Functions host as traces, whether or not this SDK is on; anything that must
 * be seen with telemetry off is logged as well.
 *
 * Nothing secret leaves: property values and messages are scrubbed of tokens, keys, passwords and
 * connection strings before they are handed to the SDK, and everything the SDK sends is scrubbed
 * again on its way out (`telemetry-scrub.ts`).
 */
import type { Settings } from './settings.js';

/** A custom event: a stable name (what alert rules query), string properties, numeric measurements. */
export interface TelemetryEvent {
  name: string;
  properties?: Record<string, string>;
  measurements?: Record<string, number>;
}

/** An availability result (the `availabilityResults` table), e.g. one health check's outcome. */
export interface TelemetryAvailability {
  name: string;
  success: boolean;
  durationMs: number;
  time: Date;
  runLocation?: string;
  message?: string;
  properties?: Record<string, string>;
}

/** An exception (the `exceptions` table). Its `code` property is the error's code unless given. */
export interface TelemetryException {
  error: Error;
  properties?: Record<string, string>;
}

/** A trace (the `traces` table). */
export interface TelemetryTrace {
  message: string;
  severity: 'verbose' | 'information' | 'warning' | 'error' | 'critical';
  properties?: Record<string, string>;
}

/**
 * Port: where telemetry items go. The composition root hands the started one to the kernel. Items
 * tracked during a function invocation belong to its operation (same operation id as its request).
 * No method throws, and none waits for the network.
 */
export interface Telemetry {
  /** Sends a custom event. */
  trackEvent(event: TelemetryEvent): void;
  /** Sends an availability result. */
  trackAvailability(a: TelemetryAvailability): void;
  /** Sends an exception, with the error's code and never its secrets. */
  trackException(e: TelemetryException): void;
  /** Sends a trace. */
  trackTrace(t: TelemetryTrace): void;
  /**
   * Exports everything tracked so far (requests, dependencies and the items above) and resolves
   * once the ingestion endpoint has answered. Never rejects.
   */
  flush(): Promise<void>;
}

/** Telemetry that sends nothing (not configured; tests). */
export const noTelemetry: Telemetry = {
  trackEvent: () => undefined,
  trackAvailability: () => undefined,
  trackException: () => undefined,
  trackTrace: () => undefined,
  flush: () => Promise.resolve(),
};

/** The app's telemetry, as `startTelemetry` returns it. */
export interface StartedTelemetry extends Telemetry {
  /**
   * Resolves once the SDK is started (true) or has failed to start or is not configured (false).
   * The app's first invocation waits for it, so that its request is not lost.
   */
  readonly ready: Promise<boolean>;
}

/** Starts telemetry in the background when configured; failures never stop the app. */
export function startTelemetry(settings: Settings): StartedTelemetry {
  const cs = settings.telemetry.connectionString;
  if (!cs) return { ...noTelemetry, ready: Promise.resolve(false) };
  const sdk = import('./app-insights.js')
    .then((m) => m.startAppInsights(cs))
    .catch(() => undefined);
  // Each call is forwarded once the SDK is up; a promise continuation keeps the caller's async
  // context, so an item tracked during an invocation still belongs to its operation.
  const forward =
    <A>(send: (t: Telemetry, a: A) => void) =>
    (a: A): void =>
      void sdk.then((t) => t && send(t, a)).catch(() => undefined);
  return {
    trackEvent: forward((t, e) => t.trackEvent(e)),
    trackAvailability: forward((t, a) => t.trackAvailability(a)),
    trackException: forward((t, e) => t.trackException(e)),
    trackTrace: forward((t, e) => t.trackTrace(e)),
    flush: async () => {
      const t = await sdk;
      await t?.flush();
    },
    ready: sdk.then((t) => t !== undefined),
  };
}
