// Metrics (defined in docs/metrics.md) on plain arrays (no tensors), shared by the trainer, the CLI and the UI.

/** Rolling-window size used for smoothed curves: min(50, n/10), at least 1 (docs/analysis.md). */
export function smoothingWindow(n: number): number {
  return Math.max(1, Math.min(50, Math.floor(n / 10)));
}

/** Trailing rolling mean (a live chart cannot centre its window on the future). */
export function rollingMean(values: readonly number[], window: number): number[] {
  const out: number[] = new Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= window) sum -= values[i - window];
    out[i] = sum / Math.min(i + 1, window);
  }
  return out;
}

/** Window of the convergence test: the last min(100, n/5) logged steps (docs/metrics.md). */
export function convergenceWindow(n: number): number {
  return Math.min(100, Math.floor(n / 5));
}

/**
 * Coefficient of variation in % (sample std / mean) over the last min(100, n/5) values; NaN when the
 * window holds fewer than 2 values. Converged when < 5%.
 */
export function convergenceCv(values: ArrayLike<number>, n = values.length): number {
  // `n` is the number of values logged so far when `values` holds only the last ones (≥ the window).
  const w = convergenceWindow(n);
  if (w < 2 || values.length < w) return NaN;
  let sum = 0;
  for (let i = values.length - w; i < values.length; i++) sum += values[i];
  const mean = sum / w;
  let ss = 0;
  for (let i = values.length - w; i < values.length; i++) ss += (values[i] - mean) ** 2;
  return (Math.sqrt(ss / (w - 1)) / mean) * 100;
}

export const CONVERGED_CV_PERCENT = 5;
/** A latent fires "densely" above this fraction of tokens (`dense_fraction`, docs/metrics.md). */
export const DENSE_FRACTION = 0.1;
export const L0_TARGET_FRACTION = 0.05;
export const L0_TARGET_TOLERANCE = 0.01;

export interface TargetStatus {
  final: number;
  target: number;
  deviation: number;
  achieved: boolean;
}

/** The default sparsity target (docs/metrics.md): achieved when |final L0 fraction − 0.05| < 0.01. */
export function targetStatus(finalFraction: number, target = L0_TARGET_FRACTION, tolerance = L0_TARGET_TOLERANCE): TargetStatus {
  const deviation = Math.abs(finalFraction - target);
  return { final: finalFraction, target, deviation, achieved: deviation < tolerance };
}

/** Sums over a split from which nmse, fve and nmse_per_token follow. */
export interface ReconstructionSums {
  rows: number;
  /** Σ ||x − x̂||² */
  errSq: number;
  /** Σ ||x||² */
  xSq: number;
  /** Σ ||x − x̄||² with x̄ the split's mean row */
  centeredSq: number;
  /** Σ over rows of ||x − x̂||² / ||x||² */
  relErrSum: number;
}

export function nmse(s: ReconstructionSums): number {
  return s.errSq / s.xSq;
}
export function fve(s: ReconstructionSums): number {
  return 1 - s.errSq / s.centeredSq;
}
export function nmsePerToken(s: ReconstructionSums): number {
  return s.relErrSum / s.rows;
}

/** Σ ||x − x̄||² over rows of a row-major [rows, d] array, in float64. */
export function centeredSumOfSquares(data: Float32Array, rows: number, d: number): number {
  const mean = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) mean[j] += data[r * d + j];
  for (let j = 0; j < d; j++) mean[j] /= rows;
  let sum = 0;
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) { const v = data[r * d + j] - mean[j]; sum += v * v; }
  return sum;
}

/**
 * Feature recovery on data with planted features: mean over true features of the best cosine
 * similarity with any decoder row. trueDict [nTrue, d] and wDec [dSae, d], both row-major.
 */
export function featureRecovery(trueDict: Float32Array, nTrue: number, wDec: Float32Array, dSae: number, d: number): number {
  const decNorm = new Float64Array(dSae);
  for (let i = 0; i < dSae; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += wDec[i * d + j] ** 2;
    decNorm[i] = Math.sqrt(s) || 1;
  }
  let total = 0;
  for (let t = 0; t < nTrue; t++) {
    let tn = 0;
    for (let j = 0; j < d; j++) tn += trueDict[t * d + j] ** 2;
    tn = Math.sqrt(tn) || 1;
    let best = -1;
    for (let i = 0; i < dSae; i++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += trueDict[t * d + j] * wDec[i * d + j];
      const cos = dot / (tn * decNorm[i]);
      if (cos > best) best = cos;
    }
    total += best;
  }
  return total / nTrue;
}

/**
 * Area under the ROC curve of `scores` for binary `labels` (positive when > 0.5): the probability
 * that a random positive scores above a random negative, ties counting ½. Computed as the
 * Mann–Whitney U with average ranks in O(n log n), so it scales to every row of a split. NaN when
 * either class is empty or a score is NaN (no ordering is defined then).
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new RangeError(`auroc: ${n} scores but ${labels.length} labels; they must pair up one to one.`);
  let nPos = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) return NaN;
    if (labels[i] > 0.5) nPos++;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  // Sum of the positives' 1-based ranks, a tied run sharing the mean of the ranks it spans.
  let rankSumPos = 0;
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end++;
    const averageRank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) if (labels[order[k]] > 0.5) rankSumPos += averageRank;
    start = end;
  }
  const u = rankSumPos - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}
