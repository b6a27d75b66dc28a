/**
 * Health results as Application Insights telemetry ("Health telemetry (detail)" in the storage map),
 * through the kernel's telemetry port: every result is an availability item (`availabilityResults`;
 * degraded counts as available), an unhealthy one also an exception `HealthCheckFailed` and a
 * degraded one a warning trace, both carrying the (already redacted) excerpt. Properties name the
 * tenant, environment, service, check, status and batch — never a token or a secret: the excerpt is
 * the only free text, and it was redacted before it was stored.
 */
import type { Telemetry } from '../../shared/telemetry.js';
import type { ResultRow } from './store.js';

/** The exception name of an unhealthy result (what a KQL query filters on). */
export const HEALTH_CHECK_FAILED = 'HealthCheckFailed';

/** Sends one batch's stored results. */
export function reportResults(telemetry: Telemetry, rows: readonly ResultRow[]): void {
  for (const r of rows) {
    const name = `${r.service_id}/${r.check_name}`;
    const properties = { tenantId: r.tenant_id, environmentId: r.environment_id, serviceId: r.service_id, check: r.check_name, status: r.status, batchId: r.batch_id };
    telemetry.trackAvailability({
      name,
      success: r.status !== 'unhealthy',
      durationMs: r.latency_ms,
      time: r.observed_at,
      runLocation: r.environment_id,
      ...(r.message !== null ? { message: r.message } : {}),
      properties,
    });
    const excerpt = r.message ?? '(no excerpt)';
    if (r.status === 'unhealthy') {
      const error = new Error(`${name} is unhealthy: ${excerpt}`);
      error.name = HEALTH_CHECK_FAILED;
      // Our stack says nothing about the probe's failure; do not send source paths.
      error.stack = `${error.name}: ${error.message}`;
      telemetry.trackException({ error, properties });
    } else if (r.status === 'degraded') {
      telemetry.trackTrace({ message: `${name} is degraded: ${excerpt}`, severity: 'warning', properties });
    }
  }
}
