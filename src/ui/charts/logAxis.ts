// Every log axis of the page is made here (loss, λ, the runs overlay and frontier, the histograms
// of counts), so none is left with Plotly's own log ticks: over a decade or more those label the
// minor positions with their leading digit alone ("100, 5, 2, 10, 5, 2, 1"). Here labels are full
// values, at powers of ten, with unlabeled minor ticks and grid lines at 2…9 × 10ⁿ between them.
// Data over less than that get labels at 1, 2 and 5 × 10ⁿ; data within a part of a decade keep
// Plotly's ticks, which are full values on an axis shorter than a decade (8, 10, 12, 14). Data of
// a single value get 1, 2, 5 too: Plotly pads their axis to a decade or more.

type Layout = Record<string, unknown>;

/** Tick settings of one log axis (merged into a Plotly axis, or set with relayout). */
export interface LogTicks {
  tickmode: 'array' | 'auto';
  tickvals: number[] | null;
  ticktext: string[] | null;
  minor: Layout;
}

/** m × 10ⁿ as Plotly reads it, without 3 × 0.1 = 0.30000000000000004. */
const value = (m: number, n: number) => Number(`${m}e${n}`);

/** "0.2", "1", "50", "1000"; "1e-2", "5e-3", "1e4" further out. */
export function logTickLabel(m: number, n: number): string {
  return n >= -1 && n <= 3 ? String(value(m, n)) : `${m}e${n}`;
}

const MINOR_GRID = '#f4f5f7';

/** The ticks for data over [lo, hi] (positive): see the top of this file. */
export function logTicks(lo: number, hi: number): LogTicks {
  const auto: LogTicks = { tickmode: 'auto', tickvals: null, ticktext: null, minor: { showgrid: false, tickmode: 'auto' } };
  if (!(lo > 0) || !(hi >= lo) || !Number.isFinite(hi)) return auto;
  // One decade of candidates beyond each end: Plotly's autorange pads the data range, and ticks
  // outside the shown range are not drawn.
  const first = Math.floor(Math.log10(lo)) - 1;
  const last = Math.ceil(Math.log10(hi)) + 1;
  const inRange = (mantissas: number[]) => {
    let n = 0;
    for (let e = first; e <= last; e++) for (const m of mantissas) { const v = value(m, e); if (v >= lo && v <= hi) n++; }
    return n;
  };
  const single = Math.log10(hi / lo) < 0.05;
  const labelled = inRange([1]) >= 2 ? [1] : inRange([1, 2, 5]) >= 3 || single ? [1, 2, 5] : null;
  if (!labelled) return auto;
  const tickvals: number[] = [];
  const ticktext: string[] = [];
  const minor: number[] = [];
  for (let e = first; e <= last; e++) {
    for (let m = 1; m <= 9; m++) {
      if (labelled.includes(m)) { tickvals.push(value(m, e)); ticktext.push(logTickLabel(m, e)); } else minor.push(value(m, e));
    }
  }
  return { tickmode: 'array', tickvals, ticktext, minor: { tickmode: 'array', tickvals: minor, showgrid: true, gridcolor: MINOR_GRID, ticks: '' } };
}

/** The ticks for every positive finite value of `series` (none: Plotly's). */
export function logTicksOf(...series: ArrayLike<unknown>[]): LogTicks {
  const range = new LogRange();
  for (const s of series) range.add(s);
  return range.ticks();
}

/** A Plotly log axis for the values of `series`, with the ticks above; `extra` is merged last. */
export function logAxis(series: ArrayLike<unknown>[], extra: Layout = {}): Layout {
  return { type: 'log', ...logTicksOf(...series), ...extra };
}

/**
 * A log axis of latent counts labelled at powers of two (k and L0 are usually chosen so), from
 * just below the smallest value to past the largest.
 */
export function powerOfTwoLogAxis(values: readonly number[], extra: Layout = {}): Layout {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  const tickvals: number[] = [];
  if (positive.length) for (let t = 2 ** Math.floor(Math.log2(Math.min(...positive))); t <= 2 * Math.max(...positive); t *= 2) tickvals.push(t);
  return { type: 'log', tickmode: 'array', tickvals, ticktext: tickvals.map(String), ...extra };
}

/** The positive range of a growing data set (a live chart's), and its ticks. */
export class LogRange {
  lo = Infinity;
  hi = -Infinity;
  private shown = '';

  add(values: ArrayLike<unknown>): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) continue;
      if (v < this.lo) this.lo = v;
      if (v > this.hi) this.hi = v;
    }
  }

  ticks(): LogTicks {
    return logTicks(this.lo, this.hi);
  }

  /**
   * The ticks when they differ from the ones last returned here, else null: the range grows on
   * every append, the ticks change only when it passes a labelled value.
   */
  changedTicks(): LogTicks | null {
    const t = this.ticks();
    const key = `${t.tickmode} ${t.tickvals?.[0]} ${t.tickvals?.length}`;
    if (key === this.shown) return null;
    this.shown = key;
    return t;
  }
}

/** `ticks` as relayout keys of `axis` ('yaxis.tickvals', 'yaxis.minor', …). */
export function tickRelayout(axis: string, ticks: LogTicks): Layout {
  const out: Layout = {};
  for (const [k, v] of Object.entries(ticks)) out[`${axis}.${k}`] = v;
  return out;
}
