// The live loss chart's smoothing: automatic min(50, n/10) trailing window, or a fixed one.
import { describe, expect, it } from 'vitest';
import { SeriesBuilder } from './series';
import type { MetricRow } from '../../engine/types';

const rows = (values: number[]) => values.map((v, i) => ({ step: i + 1, total_loss: v, recon_loss: 2 * v, sparsity_loss: 0, sparsity_l0: 0.05 }) as unknown as MetricRow);

describe('SeriesBuilder', () => {
  const values = Array.from({ length: 40 }, (_, i) => (i * 7) % 11);

  it('a fixed window gives the trailing mean of that many rows, also across appends', () => {
    const b = new SeriesBuilder(3);
    const first = b.append(rows(values.slice(0, 25)));
    const second = b.append(rows(values.slice(25)).map((r, i) => ({ ...r, step: 26 + i })));
    const smooth = [...first.smooth.total_loss, ...second.smooth.total_loss];
    const expected = values.map((_, i) => { const t = values.slice(Math.max(0, i - 2), i + 1); return t.reduce((a, v) => a + v, 0) / t.length; });
    smooth.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
    expect(second.smooth.recon_loss[0]).toBeCloseTo(2 * expected[25], 12);
    expect(first.raw.total_loss).toEqual(values.slice(0, 25));
  });

  it('the automatic window grows as min(50, n/10)', () => {
    const smooth = new SeriesBuilder().append(rows(values)).smooth.total_loss;
    // Row 39 (n = 40): window 4 → the mean of rows 36..39.
    expect(smooth[39]).toBeCloseTo((values[36] + values[37] + values[38] + values[39]) / 4, 12);
    // Rows before n = 20 have window 1: the raw value.
    expect(smooth[5]).toBe(values[5]);
  });

  it('keeps only a bounded history and still matches the whole-series smoothing and CV on a long run', () => {
    const long = Array.from({ length: 3000 }, (_, i) => 5 + Math.sin(i * 0.37) + 1000 / (i + 10));
    for (const window of [0, 7, 400]) {
      const b = new SeriesBuilder(window);
      const smooth: number[] = [];
      const cv: (number | null)[] = [];
      for (let i = 0; i < long.length; i += 97) {
        const p = b.append(rows(long.slice(i, i + 97)));
        smooth.push(...p.smooth.total_loss);
        cv.push(...p.cv);
      }
      expect(b.length).toBe(3000);
      for (const i of [0, 9, 99, 500, 1234, 2999]) {
        const n = i + 1;
        const w = window > 0 ? window : Math.max(1, Math.min(50, Math.floor(n / 10)));
        const tail = long.slice(Math.max(0, n - w), n);
        expect(smooth[i]).toBeCloseTo(tail.reduce((a, v) => a + v, 0) / tail.length, 9);
        const cw = Math.min(100, Math.floor(n / 5));
        if (cw < 2) { expect(cv[i]).toBeNull(); continue; }
        const t = long.slice(n - cw, n);
        const m = t.reduce((a, v) => a + v, 0) / cw;
        const sd = Math.sqrt(t.reduce((a, v) => a + (v - m) ** 2, 0) / (cw - 1));
        expect(cv[i]).toBeCloseTo((sd / m) * 100, 9);
      }
      // The history never holds more than twice what the windows need.
      const kept = (b as unknown as { history: { total_loss: number[] } }).history.total_loss.length;
      expect(kept).toBeLessThanOrEqual(2 * Math.max(128, window));
    }
  });
});
