// The live loss chart's smoothing: automatic min(50, n/10) trailing window, or a fixed one.
import { describe, expect, it } from 'vitest';
import { SeriesBuilder } from './series';
import type { MetricRow } from '../../worker/protocol';

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
});
