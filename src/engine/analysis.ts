// The training analysis (docs/analysis.md) on a run's logged rows (plain arrays, no tensors): the
// statistics table, the convergence and sparsity-target verdicts, the smoothed loss rate of change
// and the histogram of the L0 fraction. Definitions follow pandas / NumPy:
// std is the sample std (ddof 1), the gradient is numpy.gradient, rolling means are centred and
// undefined (NaN) where the window is incomplete, histograms are numpy.histogram's.
import { CONVERGED_CV_PERCENT, L0_TARGET_FRACTION, L0_TARGET_TOLERANCE, convergenceWindow, smoothingWindow } from './metrics';

export interface ColumnStatistics {
  column: string;
  initial: number;
  final: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  change: number;
  /**
   * (final − initial) / initial · 100; ±Infinity or NaN when initial is 0, as in pandas. NaN for a
   * signed quantity (FVE, or any column with a negative value): a relative change of a value that
   * can cross zero says nothing (FVE from −2.06 to 0.90 would read −143%).
   */
  change_percent: number;
}

/** Columns whose values can be negative by definition (FVE = 1 − error / variance). */
const SIGNED_COLUMNS = new Set(['fve']);

type Row = Record<string, number>;
/** Logged rows: as objects, or a log stored by column (MetricLog), which is not copied into objects. */
export type Rows = readonly Row[] | { readonly length: number; column(name: string): ArrayLike<number> };

/** A column's values in row order, undefined where a row lacks it. */
function rawColumn(rows: Rows, column: string): ArrayLike<number | undefined> {
  return Array.isArray(rows) ? (rows as readonly Row[]).map((r) => r[column]) : (rows as Exclude<Rows, readonly Row[]>).column(column);
}

/** Values of a column in row order, non-finite values left out (a column logged only sometimes). */
export function columnValues(rows: Rows, column: string): number[] {
  const out: number[] = [];
  const values = rawColumn(rows, column);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && Number.isFinite(v)) out.push(v);
  }
  return out;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN;
}

/** Sample standard deviation (ddof 1, pandas' default); NaN below 2 values. */
export function sampleStd(values: readonly number[]): number {
  if (values.length < 2) return NaN;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

/** Initial, Final, Min, Max, Mean, Std, Change, Change % of each column that has values. */
export function statisticsTable(rows: Rows, columns: readonly string[]): ColumnStatistics[] {
  const out: ColumnStatistics[] = [];
  for (const column of columns) {
    const v = columnValues(rows, column);
    if (!v.length) continue;
    const initial = v[0];
    const final = v[v.length - 1];
    let min = Infinity, max = -Infinity;
    for (const x of v) { if (x < min) min = x; if (x > max) max = x; }
    const signed = SIGNED_COLUMNS.has(column) || min < 0;
    out.push({ column, initial, final, min, max, mean: mean(v), std: sampleStd(v), change: final - initial, change_percent: signed ? NaN : ((final - initial) / initial) * 100 });
  }
  return out;
}

/** The table as CSV, laid out like pandas' `to_csv` of the statistics DataFrame (columns as rows). */
export function statisticsCsv(table: readonly ColumnStatistics[]): string {
  const head = ',Initial,Final,Min,Max,Mean,Std,Change,Change (%)';
  const num = (v: number) => (Number.isNaN(v) ? '' : Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : '-inf');
  const lines = table.map((s) => [s.column, s.initial, s.final, s.min, s.max, s.mean, s.std, s.change, s.change_percent].map((v, i) => (i === 0 ? v : num(v as number))).join(','));
  return [head, ...lines].join('\n') + '\n';
}

export interface ConvergenceVerdict {
  column: string;
  /** Logged values the verdict looks at: the last min(100, n/5). */
  window: number;
  mean: number;
  std: number;
  /** std / mean · 100 over the window. */
  cv: number;
  converged: boolean;
}

/** Seed 002's convergence check per loss column: CV over the last min(100, n/5) values < 5%. */
export function convergenceVerdicts(rows: Rows, columns: readonly string[] = ['total_loss', 'recon_loss', 'sparsity_loss']): ConvergenceVerdict[] {
  const out: ConvergenceVerdict[] = [];
  for (const column of columns) {
    const v = columnValues(rows, column);
    const w = convergenceWindow(v.length);
    if (w < 2) continue;
    const tail = v.slice(v.length - w);
    const m = mean(tail);
    const std = sampleStd(tail);
    // A constant column (e.g. no sparsity penalty: always 0) has not moved: CV 0, not 0/0.
    const cv = std === 0 ? 0 : (std / m) * 100;
    out.push({ column, window: w, mean: m, std, cv, converged: Number.isFinite(cv) && Math.abs(cv) < CONVERGED_CV_PERCENT });
  }
  return out;
}

export interface SparsityVerdict {
  final: number;
  mean: number;
  target: number;
  deviation: number;
  achieved: boolean;
}

/** Seed 002's sparsity target: |final L0 fraction − 0.05| < 0.01. */
export function sparsityVerdict(rows: Rows, target = L0_TARGET_FRACTION, tolerance = L0_TARGET_TOLERANCE): SparsityVerdict | null {
  const v = columnValues(rows, 'sparsity_l0');
  if (!v.length) return null;
  const final = v[v.length - 1];
  const deviation = Math.abs(final - target);
  return { final, mean: mean(v), target, deviation, achieved: deviation < tolerance };
}

/**
 * numpy.gradient of values at the given x (or unit spacing): second-order central differences
 * inside (for uneven spacing, NumPy's weighted form), first-order one-sided at the ends.
 */
export function gradient(values: readonly number[], x?: readonly number[]): number[] {
  const n = values.length;
  if (n < 2) return values.map(() => NaN);
  const at = (i: number) => (x ? x[i] : i);
  const out = new Array<number>(n);
  out[0] = (values[1] - values[0]) / (at(1) - at(0));
  out[n - 1] = (values[n - 1] - values[n - 2]) / (at(n - 1) - at(n - 2));
  for (let i = 1; i < n - 1; i++) {
    const h1 = at(i) - at(i - 1);
    const h2 = at(i + 1) - at(i);
    out[i] = (h1 * h1 * values[i + 1] - h2 * h2 * values[i - 1] + (h2 * h2 - h1 * h1) * values[i]) / (h1 * h2 * (h1 + h2));
  }
  return out;
}

/**
 * pandas' rolling(window, center=True).mean(): the mean of the window centred on each value (for
 * an even window, one more value before than after), NaN where the window runs off either end.
 */
export function centredRollingMean(values: readonly number[], window: number): number[] {
  const n = values.length;
  const out = new Array<number>(n).fill(NaN);
  if (window < 1) return out;
  const after = Math.floor((window - 1) / 2);
  const before = window - 1 - after;
  for (let i = before; i + after < n; i++) {
    let s = 0;
    for (let j = i - before; j <= i + after; j++) s += values[j];
    out[i] = s / window;
  }
  return out;
}

/** The loss rate of change: numpy.gradient of the total loss, smoothed with the min(50, n/10) window. */
export function lossRateOfChange(rows: Rows, column = 'total_loss', window?: number): { step: number[]; rate: number[]; smoothed: number[] } {
  const all = rawColumn(rows, column);
  const allSteps = rawColumn(rows, 'step');
  const values: number[] = [];
  const step: number[] = [];
  for (let i = 0; i < all.length; i++) {
    const v = all[i], s = allSteps[i];
    if (typeof v === 'number' && Number.isFinite(v) && typeof s === 'number' && Number.isFinite(s)) { values.push(v); step.push(s); }
  }
  // Per logged row (unit spacing), not per step: rows may be logged only every N steps.
  const rate = gradient(values);
  return { step, rate, smoothed: centredRollingMean(rate, window ?? smoothingWindow(values.length)) };
}

/**
 * numpy.histogram(values, bins, range): equal bins over [min, max] (or `range`), the last one
 * closed; values outside `range` are left out.
 */
export function histogram(values: readonly number[], bins = 50, range?: [number, number]): { edges: number[]; counts: number[] } {
  if (!values.length) return { edges: [], counts: [] };
  let lo = Infinity, hi = -Infinity;
  if (range) [lo, hi] = range;
  else for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) {
    if (v < lo || v > hi) continue;
    let b = Math.floor(((v - lo) / (hi - lo)) * bins);
    if (b >= bins) b = bins - 1;
    // Floating-point edges: put the value in the bin whose [edge, next edge) holds it.
    if (b > 0 && v < edges[b]) b -= 1;
    else if (b < bins - 1 && v >= edges[b + 1]) b += 1;
    counts[b] += 1;
  }
  return { edges, counts };
}
