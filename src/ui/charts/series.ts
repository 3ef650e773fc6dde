// Turns appended metric rows into chart points. Smoothed values are trailing means whose window
// follows min(50, n/10) as n grows, and the CV point at step n covers the last min(100, n/5) rows —
// both computed when the row arrives, so points can be appended without redrawing the past. Only the
// last HISTORY values are kept: no window reaches further back.
import { convergenceCv, smoothingWindow } from '../../engine/metrics';
import type { MetricRow } from '../../engine/types';

export const LOSS_KEYS = ['total_loss', 'recon_loss', 'sparsity_loss'] as const;

export interface ChartPoints {
  step: number[];
  raw: Record<(typeof LOSS_KEYS)[number], number[]>;
  smooth: Record<(typeof LOSS_KEYS)[number], number[]>;
  l0Fraction: number[];
  cv: (number | null)[];
}

/** Values kept per loss: the largest smoothing window (50) and CV window (100) fit. */
const HISTORY = 128;

export class SeriesBuilder {
  /** `window` fixes the smoothing window (logged rows); 0 = follow min(50, n/10). */
  constructor(private readonly window = 0) {}

  private readonly history: Record<(typeof LOSS_KEYS)[number], number[]> = { total_loss: [], recon_loss: [], sparsity_loss: [] };
  private n = 0;

  /** Rows appended so far. */
  get length(): number {
    return this.n;
  }

  reset(): void {
    for (const k of LOSS_KEYS) this.history[k] = [];
    this.n = 0;
  }

  /** Points for the appended rows. */
  append(rows: readonly MetricRow[]): ChartPoints {
    const out: ChartPoints = {
      step: [], l0Fraction: [], cv: [],
      raw: { total_loss: [], recon_loss: [], sparsity_loss: [] },
      smooth: { total_loss: [], recon_loss: [], sparsity_loss: [] },
    };
    for (const r of rows) {
      this.n++;
      out.step.push(r.step);
      out.l0Fraction.push(r.sparsity_l0);
      for (const k of LOSS_KEYS) {
        const h = this.history[k];
        h.push(r[k]);
        const keep = Math.max(HISTORY, this.window);
        if (h.length > 2 * keep) h.splice(0, h.length - keep);
        const w = Math.min(h.length, this.window > 0 ? this.window : smoothingWindow(this.n));
        out.raw[k].push(r[k]);
        const tail = h.slice(-w);
        out.smooth[k].push(tail.reduce((a, b) => a + b, 0) / tail.length);
      }
      const cv = convergenceCv(this.history.total_loss, this.n);
      out.cv.push(Number.isFinite(cv) ? cv : null);
    }
    return out;
  }
}
