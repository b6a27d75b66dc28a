import { describe, expect, it } from 'vitest';
import { TenantRateLimiter } from './rate-limit.js';

describe('TenantRateLimiter', () => {
  it('allows the quota per minute per tenant, then asks to wait, and refills over time', () => {
    let now = 0;
    const l = new TenantRateLimiter(() => now);
    for (let i = 0; i < 60; i++) expect(l.take('a', 60)).toBe(0);
    expect(l.take('a', 60)).toBe(1);
    expect(l.take('b', 60)).toBe(0);
    now += 1000;
    expect(l.take('a', 60)).toBe(0);
    expect(l.take('a', 60)).toBeGreaterThan(0);
    expect(l.take('z', 0)).toBe(60);
  });
});

describe('TenantRateLimiter with a cost', () => {
  it('takes a batch at once, says how long until a batch that does not fit would, and never takes more than a minute holds', () => {
    let now = 0;
    const l = new TenantRateLimiter(() => now);
    expect(l.take('a', 6000, 5000)).toBe(0);
    // 1000 left: 2000 more need 1000 tokens more, 10 s at 100 per second.
    expect(l.take('a', 6000, 2000)).toBe(10);
    now += 10_000;
    expect(l.take('a', 6000, 2000)).toBe(0);
    expect(l.take('b', 6000, 6001)).toBe(60);
  });
});
