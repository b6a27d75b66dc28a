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
