/** Summary statistics of repeated measurements (pure; tested in test/unit/bench-harness.test.ts). */

/**
 * The p-th percentile (0–100) of `values` by linear interpolation between the closest ranks (the
 * definition of numpy's default and of PostgreSQL's percentile_cont). NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside 0–100`);
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    min: values.length ? Math.min(...values) : NaN,
    p50: percentile(values, 50),
    p95: percentile(values, 95),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
  };
}

/** |a ∩ b| / |b|: how many of the reference list `b` the list `a` also holds (overlap@k). */
export function overlap(a: readonly string[], b: readonly string[]): number {
  if (b.length === 0) return 1;
  const inA = new Set(a);
  return b.filter((x) => inA.has(x)).length / b.length;
}
