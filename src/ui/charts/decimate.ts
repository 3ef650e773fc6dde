// Live charts show a bounded number of points per trace however long a run is. Plotly keeps every
// point it is given (and a calc object per point), so an undecimated chart grows the page's heap
// with every logged row and slows each redraw. Older points are thinned with M4 aggregation: per
// bucket of steps the first, last, lowest and highest point (plus a gap, if the bucket has one) —
// what a line drawn at about a bucket per pixel looks like anyway, extremes and spikes included.
// Buckets are power-of-two step ranges aligned at 0, so thinning thinned points again gives the
// same result as thinning the original points at the coarser width.

export type Point = number | null;

/**
 * Points per trace before thinning. A thinned trace has at most budget/8 buckets (≤ 5 points each,
 * usually 2–4), so raw points can arrive for a while before the next thinning.
 */
export const TRACE_POINT_BUDGET = 1200;

/**
 * M4-thin a trace to at most `maxBuckets` buckets of a power-of-two width in x (its x ascending).
 * Returns the kept indices in order.
 */
export function m4Indices(x: readonly number[], y: readonly Point[], maxBuckets: number): number[] {
  return m4(x, y, bucketWidth(x, maxBuckets));
}

/** The smallest power-of-two width that covers x's span in fewer than `maxBuckets` buckets. */
export function bucketWidth(x: readonly number[], maxBuckets: number): number {
  const span = x.length ? x[x.length - 1] - x[0] : 0;
  let width = 1;
  while (span / width >= maxBuckets) width *= 2;
  return width;
}

/** Indices of each bucket's first, last, lowest and highest finite point and its first gap. */
export function m4(x: readonly number[], y: readonly Point[], width: number): number[] {
  const n = x.length;
  const kept: number[] = [];
  let i = 0;
  while (i < n) {
    const bucket = Math.floor(x[i] / width);
    let j = i;
    let lo = -1, hi = -1, gap = -1, firstFinite = -1, lastFinite = -1;
    for (; j < n && Math.floor(x[j] / width) === bucket; j++) {
      const v = y[j];
      if (v === null || !Number.isFinite(v)) { if (gap < 0) gap = j; continue; }
      if (firstFinite < 0) firstFinite = j;
      lastFinite = j;
      if (lo < 0 || v < (y[lo] as number)) lo = j;
      if (hi < 0 || v > (y[hi] as number)) hi = j;
    }
    const picks = [firstFinite, lo, hi, lastFinite, gap].filter((k) => k >= 0).sort((a, b) => a - b);
    for (let k = 0; k < picks.length; k++) if (k === 0 || picks[k] !== picks[k - 1]) kept.push(picks[k]);
    i = j;
  }
  return kept;
}

/** The points a chart shows for one trace: raw as they arrive, thinned when over the budget. */
export class ShownTrace {
  x: number[] = [];
  y: Point[] = [];
  /** Bucket width of the last thinning (0 = never thinned). */
  width = 0;

  /** Add points; true when the trace was thinned (the whole trace must be re-sent). */
  extend(x: readonly Point[], y: readonly Point[], budget = TRACE_POINT_BUDGET): boolean {
    for (let i = 0; i < x.length; i++) {
      this.x.push(x[i] as number);
      this.y.push(y[i]);
    }
    if (this.x.length <= budget) return false;
    this.width = Math.max(this.width, bucketWidth(this.x, Math.max(1, Math.floor(budget / 8))));
    const keep = m4(this.x, this.y, this.width);
    this.x = keep.map((i) => this.x[i]);
    this.y = keep.map((i) => this.y[i]);
    return true;
  }
}
