/**
 * The Application Insights SDK (`applicationinsights` 3.x, the Azure Monitor OpenTelemetry
 * distro underneath), set up for this app; imported by `telemetry.ts` only when a connection
 * string is set. What it is set to, and why:
 *
 * - **No sampling** (`samplingRatio` 1, `tracesPerSecond` 0). The default rate-limited sampler
 *   (5 traces/s, adapting over 0.1 s) drops most spans started soon after start-up, and log records
 *   follow their span's decision — so a custom event that an alert counts would vanish with the
 *   invocation it belongs to.
 * - **Instrumentations**: only the Azure SDKs' (Blob, Queue, Cosmos DB, Key Vault calls become
 *   dependencies through `@azure/core-tracing`, whose state the SDKs' ESM and CommonJS builds
 *   share). Not `http`: the worker receives invocations over gRPC, not HTTP, and outgoing calls
 *   are the Azure SDKs' (it would also count the local host's own HTTP server). Not `pg`: `pg` is
 *   bundled into the app, out of its reach; the SQL layer spans statements itself (`tracing.ts`).
 *   No console, log-library, exception or performance-counter collection: the Functions host
 *   already sends the invocation logs and process counters, and the worker's process handlers stay
 *   as they are. No Live Metrics.
 * - **Scrubbing**: a span processor, ahead of the exporter, scrubs every span's attributes and
 *   events (`telemetry-scrub.ts`), including the Azure SDKs' dependency URLs and the exceptions
 *   they record; the port scrubs what it is handed.
 * - **Flush**: `flush()` force-flushes the tracer, logger and meter providers, each of which
 *   exports what it holds and waits for the ingestion endpoint's answer.
 */
import { randomUUID } from 'node:crypto';
import type { AzureMonitorOpenTelemetryOptions, TelemetryClient } from 'applicationinsights';
import { errorCode, scrubAttributesInPlace, scrubError, scrubProperties, scrubText } from './telemetry-scrub.js';
import type { Telemetry } from './telemetry.js';

/** The marker attribute that carries an availability result's own time to the log processor. */
const TIME_ATTRIBUTE = 'runtime-platform.time';

/** The parts of a finished span the scrubber touches (a `ReadableSpan`, of whichever SDK version). */
interface FinishedSpan {
  attributes: Record<string, unknown>;
  events: { attributes?: Record<string, unknown> }[];
}

/** The parts of a log record the processor touches (an SDK `LogRecord`). */
interface EmittedLogRecord {
  attributes: Record<string, unknown>;
  hrTime: [number, number];
}

const scrubSpans = {
  onStart: () => undefined,
  onEnd(span: FinishedSpan) {
    scrubAttributesInPlace(span.attributes);
    for (const e of span.events) scrubAttributesInPlace(e.attributes);
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

const logRecords = {
  onEmit(record: EmittedLogRecord) {
    const at = record.attributes[TIME_ATTRIBUTE];
    if (typeof at === 'number') {
      // The shim stamps availability results with the time they are tracked; they carry their own.
      record.hrTime = [Math.floor(at / 1000), (at % 1000) * 1_000_000];
      delete record.attributes[TIME_ATTRIBUTE];
    }
    scrubAttributesInPlace(record.attributes);
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

type Severity = 'Verbose' | 'Information' | 'Warning' | 'Error' | 'Critical';
const SEVERITY: Record<Parameters<Telemetry['trackTrace']>[0]['severity'], Severity> = {
  verbose: 'Verbose',
  information: 'Information',
  warning: 'Warning',
  error: 'Error',
  critical: 'Critical',
};

/** Starts the SDK with `connectionString` and returns the port backed by it. */
export async function startAppInsights(connectionString: string): Promise<Telemetry> {
  const mod = await import('applicationinsights');
  // CommonJS: its API is the default export under ESM.
  const ai = (mod as unknown as { default?: typeof mod }).default ?? mod;
  const setup = ai
    .setup(connectionString)
    .setAutoCollectConsole(false)
    .setAutoCollectExceptions(false)
    .setAutoCollectPerformance(false, false)
    .setSendLiveMetrics(false);
  const options: AzureMonitorOpenTelemetryOptions = {
    azureMonitorExporterOptions: { connectionString },
    samplingRatio: 1,
    tracesPerSecond: 0,
    enableLiveMetrics: false,
    instrumentationOptions: {
      azureSdk: { enabled: true },
      http: { enabled: false },
      postgreSql: { enabled: false },
      mongoDb: { enabled: false },
      mySql: { enabled: false },
      redis: { enabled: false },
      redis4: { enabled: false },
      bunyan: { enabled: false },
      winston: { enabled: false },
      console: { enabled: false },
    },
    // Structural stand-ins for the SDK's processor interfaces (its versions differ between packages).
    spanProcessors: [scrubSpans],
    logRecordProcessors: [logRecords],
  };
  ai.defaultClient.config.azureMonitorOpenTelemetryOptions = options;
  setup.start();
  return adapt(ai.defaultClient, () => ai.flushAzureMonitor());
}

/** The port over the SDK's client; every call is guarded, as the port promises never to throw. */
function adapt(client: TelemetryClient, flushProviders: () => Promise<void>): Telemetry {
  const guard =
    <A>(f: (a: A) => void) =>
    (a: A) => {
      try {
        f(a);
      } catch {
        // Telemetry never breaks the app.
      }
    };
  return {
    trackEvent: guard((e) =>
      client.trackEvent({ name: e.name, ...withProperties(e.properties), ...(e.measurements ? { measurements: e.measurements } : {}) }),
    ),
    trackAvailability: guard((a) =>
      client.trackAvailability({
        id: randomUUID(),
        name: scrubText(a.name),
        success: a.success,
        duration: a.durationMs,
        time: a.time,
        runLocation: a.runLocation ?? '',
        message: scrubText(a.message ?? ''),
        properties: { ...scrubProperties(a.properties), [TIME_ATTRIBUTE]: a.time.getTime() },
      }),
    ),
    trackException: guard((e) => {
      const code = errorCode(e.error);
      client.trackException({ exception: scrubError(e.error), ...withProperties({ ...(code ? { code } : {}), ...e.properties }) });
    }),
    trackTrace: guard((t) => client.trackTrace({ message: scrubText(t.message), severity: SEVERITY[t.severity], ...withProperties(t.properties) })),
    flush: () => flushProviders().catch(() => undefined),
  };
}

function withProperties(props: Record<string, string> | undefined): { properties?: Record<string, string> } {
  const clean = scrubProperties(props);
  return clean && Object.keys(clean).length > 0 ? { properties: clean } : {};
}
