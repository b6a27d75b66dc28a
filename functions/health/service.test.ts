import { describe, expect, it } from 'vitest';
import { advance, KnownPartitions } from './service.js';
import type { ResultRow } from './store.js';

const at = (min: number) => new Date(Date.UTC(2026, 2, 1, 12, min));
const result = (ord: number, min: number, status: ResultRow['status']): ResultRow => ({
  tenant_id: 't',
  service_id: 's',
  observed_at: at(min),
  batch_id: 'b',
  ord,
  environment_id: 'e',
  check_name: 'http',
  status,
  latency_ms: 1,
  message: null,
  received_at: at(60),
});

describe('advance', () => {
  it('walks a service through its results in observed order, recording each change of status', () => {
    const rows = [result(0, 3, 'healthy'), result(1, 1, 'unhealthy'), result(2, 2, 'unhealthy'), result(3, 0, 'healthy')];
    const { latest, transitions } = advance(new Map(), new Map([['s', rows]]));
    expect(transitions.map((t) => [t.from_status, t.to_status, t.at])).toEqual([
      [null, 'healthy', at(0)],
      ['healthy', 'unhealthy', at(1)],
      ['unhealthy', 'healthy', at(3)],
    ]);
    expect(latest).toMatchObject([{ status: 'healthy', observed_at: at(3), changed_at: at(3), ord: 0 }]);
  });

  it('keeps changedAt while the status holds, counts the worse status as later at the same instant, and skips results older than the latest row', () => {
    const current = new Map([['s', { status: 'degraded' as const, observed_at: at(10), changed_at: at(5) }]]);
    const { latest, transitions } = advance(current, new Map([['s', [result(0, 9, 'healthy'), result(1, 11, 'degraded'), result(2, 12, 'unhealthy'), result(3, 12, 'healthy')]]]));
    expect(transitions.map((t) => [t.from_status, t.to_status])).toEqual([['degraded', 'unhealthy']]);
    expect(latest).toMatchObject([{ status: 'unhealthy', observed_at: at(12), changed_at: at(12) }]);
    const none = advance(current, new Map([['s', [result(0, 9, 'unhealthy')]]]));
    expect(none).toEqual({ latest: [], transitions: [] });
    const same = advance(current, new Map([['s', [result(0, 20, 'degraded')]]]));
    expect(same.latest[0]?.changed_at).toEqual(at(5));
    expect(same.transitions).toEqual([]);
  });
});

describe('KnownPartitions', () => {
  it('remembers days per database and forgets those that left the retention window', () => {
    let now = new Date('2026-03-01T00:00:00Z');
    const known = new KnownPartitions(() => now);
    const pooled = known.forDatabase({ model: 'pooled' });
    expect(pooled.has('2026-02-28', '2026-03-01')).toBe(false);
    pooled.add('2026-02-28', '2026-03-01');
    expect(pooled.has('2026-02-28', '2026-03-01')).toBe(true);
    expect(pooled.has('2026-02-28', '2026-03-02')).toBe(false);
    expect(known.forDatabase({ model: 'siloed', database: 'eu' }).has('2026-03-01', '2026-03-01')).toBe(false);
    now = new Date('2026-04-15T00:00:00Z');
    pooled.add('2026-04-15', '2026-04-15');
    expect(pooled.has('2026-03-01', '2026-03-01')).toBe(false);
  });
});
