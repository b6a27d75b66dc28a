/** Timing helpers for benchmarks: interleaved runs, medians, and the result row every bench prints. */

/** One benchmark's outcome: a measured path against a baseline timed in the same run. */
export interface BenchResult {
  name: string;
  baselineMedianMs: number;
  medianMs: number;
  ratio: number;
  target: number;
  notes?: string;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Times `subject` and `baseline` alternately (so drift in machine load hits both alike) after a
 * warm-up, and returns the medians.
 */
export async function compare(
  name: string,
  target: number,
  baseline: () => Promise<unknown>,
  subject: () => Promise<unknown>,
  opts: { iterations?: number; warmup?: number; notes?: string } = {},
): Promise<BenchResult> {
  const iterations = opts.iterations ?? 1000;
  for (let i = 0; i < (opts.warmup ?? 100); i++) {
    await baseline();
    await subject();
  }
  const b: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < iterations; i++) {
    let t0 = performance.now();
    await baseline();
    b.push(performance.now() - t0);
    t0 = performance.now();
    await subject();
    s.push(performance.now() - t0);
  }
  const baselineMedianMs = median(b);
  const medianMs = median(s);
  return { name, baselineMedianMs, medianMs, ratio: medianMs / baselineMedianMs, target, ...(opts.notes ? { notes: opts.notes } : {}) };
}

/** Prints results as a table and returns whether every target was met. */
export function report(results: BenchResult[]): boolean {
  const rows = results.map((r) => ({
    benchmark: r.name,
    'baseline median ms': r.baselineMedianMs.toFixed(3),
    'median ms': r.medianMs.toFixed(3),
    ratio: `${r.ratio.toFixed(2)}x`,
    target: `<= ${r.target}x`,
    met: r.ratio <= r.target ? 'yes' : 'NO',
  }));
  console.table(rows);
  for (const r of results) if (r.notes) console.log(`${r.name}: ${r.notes}`);
  return results.every((r) => r.ratio <= r.target);
}
