// Pure helpers of the benchmarks: percentiles, the attribution of receipts to the old or the
// new master (failover), and the shape of one measured row (no I/O here, unit-tested in stats.spec.ts).

/** One row measured on one system (compare.js, nats.ts). */
export interface Cell { msgPerSec: number; p99ReceiptMs: number; p50ReceiptMs: number; sent: number; lost: number; duplicates: number; failedSends: number; exit: number; error?: string }

/** Nearest-rank percentile (p in 0..100) of a non-empty list; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Summary { n: number; median: number; p90: number; max: number; min: number; mean: number }

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  return {
    n,
    median: median(values),
    p90: percentile(values, 90),
    max: n ? Math.max(...values) : NaN,
    min: n ? Math.min(...values) : NaN,
    mean: n ? values.reduce((a, b) => a + b, 0) / n : NaN,
  };
}

/**
 * The first receipt that came from the new master, given receipt arrival times (ascending,
 * ms) and the kill time. Receipts the dead master sent just before it died can still reach
 * the client a few ms after the kill; while the producer runs they arrive back to back. So
 * the receipts after the kill are the old master's as long as each follows the previous
 * one within `gapMs`; the first one after a longer silence is the new master's. Returns
 * undefined if no such receipt is in the list yet.
 */
export function firstReceiptAfterFailover(receipts: readonly number[], killAt: number, gapMs: number): { at: number; stragglers: number } | undefined {
  let prev = killAt;
  // Start from the last receipt before (or at) the kill.
  let i = 0;
  while (i < receipts.length && receipts[i]! <= killAt) { prev = receipts[i]!; i++; }
  if (prev < killAt - gapMs) prev = killAt - gapMs; // a quiet producer: nothing in flight from the old master
  let stragglers = 0;
  for (; i < receipts.length; i++) {
    const r = receipts[i]!;
    if (r - prev > gapMs) return { at: r, stragglers };
    stragglers++;
    prev = r;
  }
  return undefined;
}
