/**
 * The per-tenant request-rate quota (`requestsPerMinute`), as a token bucket per tenant on each
 * instance. Each instance enforces the full rate on its own, so with N instances a tenant may get
 * up to N times the quota: this protects an instance from one noisy tenant; a strict global limit
 * belongs in front of the app (API Management / Front Door rate-limit policies), not in a shared
 * counter that would cost every request a database write.
 */
export class TenantRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Takes `cost` (one request, or e.g. a batch's results) from the tenant's bucket; returns seconds
   * to wait when it holds less, else 0. A cost above `perMinute` can never be taken: 60.
   */
  take(tenantId: string, perMinute: number, cost = 1): number {
    if (perMinute <= 0 || cost > perMinute) return 60;
    const t = this.now();
    const b = this.buckets.get(tenantId) ?? { tokens: perMinute, at: t };
    b.tokens = Math.min(perMinute, b.tokens + ((t - b.at) * perMinute) / 60_000);
    b.at = t;
    if (this.buckets.size >= 100_000) this.buckets.clear();
    this.buckets.set(tenantId, b);
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil(((cost - b.tokens) * 60) / perMinute));
  }
}
