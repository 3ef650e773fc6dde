// Statistics of an activation dataset gathered in one pass over its rows, chunk by chunk, so the
// same code serves an in-memory array and a file streamed from disk: per-dimension mean and std,
// the histogram of row norms, non-finite rows, and the outlier rows whose norm is far above the
// rest (BOS / first positions typically: a few such rows dominate an MSE fit).
import { histogram } from '../engine/normHistogram';
import type { DatasetStats, OutlierInfo } from './types';

const HISTOGRAM_BINS = 40;
/** A row is an outlier when its norm exceeds median + OUTLIER_Z robust standard deviations … */
export const OUTLIER_Z = 6;
/** … and at least this multiple of the median norm (so tight distributions do not flag noise). */
export const OUTLIER_MIN_RATIO = 1.5;

export class StatsAccumulator {
  private readonly sum: Float64Array;
  private readonly sumSq: Float64Array;
  private min = Infinity;
  private max = -Infinity;
  private rowsSeen = 0;
  /** ‖x‖ of every row (the whole row: all layers of a multi-layer row). */
  readonly norms: Float32Array;
  /** Rows holding NaN or ±Inf. */
  nonFiniteRows = 0;
  firstNonFiniteRow = -1;

  constructor(readonly rows: number, readonly width: number) {
    this.sum = new Float64Array(width);
    this.sumSq = new Float64Array(width);
    this.norms = new Float32Array(rows);
  }

  /** Add `count` consecutive rows [count · width] starting at dataset row `firstRow`. */
  add(data: Float32Array, firstRow: number): void {
    const w = this.width;
    const count = data.length / w;
    const { sum, sumSq } = this;
    for (let r = 0; r < count; r++) {
      const base = r * w;
      let sq = 0;
      let finite = true;
      for (let j = 0; j < w; j++) {
        const v = data[base + j];
        if (!Number.isFinite(v)) { finite = false; break; }
        sq += v * v;
      }
      if (!finite) {
        if (this.firstNonFiniteRow < 0) this.firstNonFiniteRow = firstRow + r;
        this.nonFiniteRows += 1;
        this.norms[firstRow + r] = NaN;
        continue;
      }
      for (let j = 0; j < w; j++) {
        const v = data[base + j];
        sum[j] += v;
        sumSq[j] += v * v;
        if (v < this.min) this.min = v;
        if (v > this.max) this.max = v;
      }
      this.norms[firstRow + r] = Math.sqrt(sq);
      this.rowsSeen += 1;
    }
  }

  /** The statistics of the finite rows, with outliers found among them. */
  finish(): { stats: Omit<DatasetStats, 'outliers'> & { outliers: OutlierInfo }; outlierRows: Uint32Array } {
    const n = Math.max(1, this.rowsSeen);
    const w = this.width;
    const perDimMean = new Array<number>(w);
    const perDimStd = new Array<number>(w);
    let total = 0, totalSq = 0;
    for (let j = 0; j < w; j++) {
      const m = this.sum[j] / n;
      perDimMean[j] = m;
      perDimStd[j] = Math.sqrt(Math.max(0, this.sumSq[j] / n - m * m));
      total += this.sum[j];
      totalSq += this.sumSq[j];
    }
    const mean = total / (n * w);
    const finiteNorms = this.norms.filter((v) => Number.isFinite(v));
    let normSum = 0;
    for (const v of finiteNorms) normSum += v;
    const { threshold, median } = outlierThreshold(finiteNorms);
    const outlierRows: number[] = [];
    this.norms.forEach((v, r) => { if (v > threshold) outlierRows.push(r); });
    const examples = outlierRows.slice(0, 12).map((row) => ({ row, norm: this.norms[row] }));
    return {
      stats: {
        mean,
        std: Math.sqrt(Math.max(0, totalSq / (n * w) - mean * mean)),
        meanNorm: normSum / n,
        min: this.rowsSeen ? this.min : 0,
        max: this.rowsSeen ? this.max : 0,
        perDimMean,
        perDimStd,
        normHistogram: histogram(finiteNorms, HISTOGRAM_BINS),
        medianNorm: median,
        outliers: { count: outlierRows.length, thresholdNorm: threshold, examples },
      },
      outlierRows: Uint32Array.from(outlierRows),
    };
  }
}

/** Median and the outlier norm threshold: max(median + Z·1.4826·MAD, ratio·median). */
export function outlierThreshold(norms: Float32Array): { threshold: number; median: number } {
  if (norms.length === 0) return { threshold: Infinity, median: 0 };
  const median = quantile(norms, 0.5);
  const deviations = norms.map((v) => Math.abs(v - median));
  const mad = quantile(deviations, 0.5);
  return { threshold: Math.max(median + OUTLIER_Z * 1.4826 * mad, OUTLIER_MIN_RATIO * median), median };
}

/** The q-quantile (lower) of the values (sorts a copy). */
function quantile(values: Float32Array, q: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}
