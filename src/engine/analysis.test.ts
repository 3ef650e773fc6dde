// The training analysis against hand-computed values and, where python3 with NumPy is installed,
// against numpy.gradient / numpy.histogram themselves.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { MetricLog } from './metricLog';
import type { MetricRow } from './types';
import { centredRollingMean, convergenceVerdicts, gradient, histogram, lossRateOfChange, sampleStd, sparsityVerdict, statisticsCsv, statisticsTable } from './analysis';

let numpy = true;
try { execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }); } catch { numpy = false; }
if (!numpy) console.warn('[analysis.test] NumPy checks skipped: python3 with numpy is not installed');
const py = (code: string, input: unknown) => JSON.parse(execFileSync('python3', ['-c', code], { input: JSON.stringify(input) }).toString());

describe('statistics table', () => {
  const rows = [
    { step: 1, total_loss: 4, recon_loss: 3, sparsity_loss: 1, sparsity_l0: 0.2 },
    { step: 2, total_loss: 2, recon_loss: 1.5, sparsity_loss: 0.5, sparsity_l0: 0.1 },
    { step: 3, total_loss: 3, recon_loss: 2, sparsity_loss: 1, sparsity_l0: 0.06 },
    { step: 4, total_loss: 1, recon_loss: 0.5, sparsity_loss: 0.5, sparsity_l0: 0.05 },
  ];
  it('gives Initial, Final, Min, Max, Mean, sample Std, Change and Change % by hand', () => {
    const [total] = statisticsTable(rows, ['total_loss']);
    // values 4, 2, 3, 1: mean 2.5, Σ(v − m)² = 2.25 + 0.25 + 0.25 + 2.25 = 5, std = √(5/3).
    expect(total).toEqual({ column: 'total_loss', initial: 4, final: 1, min: 1, max: 4, mean: 2.5, std: Math.sqrt(5 / 3), change: -3, change_percent: -75 });
    expect(statisticsTable(rows, ['missing', 'sparsity_l0']).map((s) => s.column)).toEqual(['sparsity_l0']);
  });
  it('gives no Change % for a signed quantity: FVE, or a column with a negative value', () => {
    const signed = [{ fve: -2.058, x: -1 }, { fve: 0.8956, x: 2 }];
    const [fve, x] = statisticsTable(signed, ['fve', 'x']);
    expect(fve.change).toBeCloseTo(2.9536, 12);
    expect(fve.change_percent).toBeNaN();
    expect(x.change_percent).toBeNaN();
    // FVE is signed by definition, even in a run where it stayed positive.
    expect(statisticsTable([{ fve: 0.2 }, { fve: 0.9 }], ['fve'])[0].change_percent).toBeNaN();
  });
  it('writes the CSV with the step,total_loss,… header and one line per column', () => {
    const csv = statisticsCsv(statisticsTable(rows, ['total_loss', 'recon_loss']));
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe(',Initial,Final,Min,Max,Mean,Std,Change,Change (%)');
    expect(lines[1].split(',')).toEqual(['total_loss', '4', '1', '1', '4', '2.5', String(Math.sqrt(5 / 3)), '-3', '-75']);
    expect(lines).toHaveLength(3);
    const zero = statisticsCsv(statisticsTable([{ a: 0 }, { a: 1 }], ['a']));
    expect(zero.trim().split('\n')[1].split(',').pop()).toBe('inf');
  });
  it('judges convergence on the last min(100, n/5) values and the sparsity target at |final − 0.05| < 0.01', () => {
    // 50 rows: the window is 10; the last 10 total losses alternate 1.0 / 1.1 → CV = std/mean.
    const many = Array.from({ length: 50 }, (_, i) => ({ step: i, total_loss: i < 40 ? 10 - i * 0.2 : i % 2 ? 1.1 : 1.0, sparsity_l0: 0.058 }));
    const [v] = convergenceVerdicts(many, ['total_loss']);
    const tail = Array.from({ length: 10 }, (_, k) => ((40 + k) % 2 ? 1.1 : 1.0));
    expect(v.window).toBe(10);
    expect(v.mean).toBeCloseTo(1.05, 12);
    expect(v.cv).toBeCloseTo((sampleStd(tail) / 1.05) * 100, 10);
    expect(v.cv).toBeCloseTo((Math.sqrt((10 * 0.05 ** 2) / 9) / 1.05) * 100, 10); // = 5.0195%
    expect(v.converged).toBe(false); // 5.02% ≥ 5%
    expect(sparsityVerdict(many)).toMatchObject({ final: 0.058, achieved: true });
    expect(sparsityVerdict([{ sparsity_l0: 0.061 }])!.achieved).toBe(false);
    expect(convergenceVerdicts(many.slice(0, 9), ['total_loss'])).toEqual([]); // window 1: no verdict
    // A column that never moves (TopK has no sparsity penalty: 0 throughout) is converged, CV 0.
    expect(convergenceVerdicts(Array.from({ length: 20 }, () => ({ sparsity_loss: 0 })), ['sparsity_loss'])[0]).toMatchObject({ cv: 0, converged: true });
  });
});

describe('rate of change and histogram', () => {
  it('numpy.gradient by hand: central inside, one-sided at the ends, uneven spacing', () => {
    expect(gradient([1, 4, 9, 16])).toEqual([3, 4, 6, 7]);
    // x = 0, 1, 3 of y = x²: inside, NumPy's second-order form gives the exact derivative 2.
    expect(gradient([0, 1, 9], [0, 1, 3])[1]).toBeCloseTo(2, 12);
  });
  it('centred rolling mean is pandas’ rolling(center=True): NaN at the edges, one more value before for even windows', () => {
    const r = centredRollingMean([1, 2, 3, 4, 5, 6], 4);
    expect(r.slice(0, 2).every(Number.isNaN)).toBe(true);
    expect(r[2]).toBe(2.5); // values 1..4
    expect(r[4]).toBe(4.5); // values 3..6
    expect(Number.isNaN(r[5])).toBe(true);
    expect(centredRollingMean([1, 2, 3], 3)).toEqual([NaN, 2, NaN]);
  });
  it('loss rate of change smooths the gradient of total_loss with min(50, n/10)', () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ step: i * 10, total_loss: 100 - 2 * i }));
    const r = lossRateOfChange(rows);
    expect(r.rate.every((v) => v === -2)).toBe(true); // per logged row
    expect(r.smoothed.filter(Number.isFinite).every((v) => v === -2)).toBe(true);
    expect(r.smoothed.filter(Number.isFinite)).toHaveLength(40 - 4 + 1); // window 4
  });
  it('histogram by hand: equal bins, the last one closed', () => {
    const h = histogram([0, 0.5, 1, 1.5, 2, 2], 4);
    expect(h.edges).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(h.counts).toEqual([1, 1, 1, 3]);
    expect(histogram([0.05, 0.05, 0.3], 2, [0, 0.1])).toEqual({ edges: [0, 0.05, 0.1], counts: [0, 2] });
  });
  it.skipIf(!numpy)('matches numpy.gradient and numpy.histogram on random data', () => {
    const values = Array.from({ length: 300 }, (_, i) => Math.sin(i * 0.37) * 3 + ((i * 7919) % 13) / 13);
    const x = values.map((_, i) => i * 10 + (i % 3));
    const ref = py('import json,sys,numpy as np; v,x=json.load(sys.stdin); c,e=np.histogram(v,50); print(json.dumps([np.gradient(v).tolist(), np.gradient(v,x).tolist(), c.tolist(), e.tolist()]))', [values, x]);
    const g = gradient(values);
    const gx = gradient(values, x);
    for (let i = 0; i < values.length; i++) { expect(g[i]).toBeCloseTo(ref[0][i], 10); expect(gx[i]).toBeCloseTo(ref[1][i], 10); }
    const h = histogram(values, 50);
    expect(h.counts).toEqual(ref[2]);
    h.edges.forEach((e, i) => expect(e).toBeCloseTo(ref[3][i], 10));
  });
});

describe('on a log stored by column', () => {
  it('gives the same table, verdicts and rate as the same rows as objects', () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({
      step: i * 10, total_loss: 5 + 50 / (i + 1) + (i % 3) * 0.01, recon_loss: 4 + 40 / (i + 1), sparsity_loss: 1,
      sparsity_l0: 0.05 + (i % 7) * 0.001, ...(i % 4 === 0 ? { val_nmse: 0.1 + i / 1000 } : {}), ...(i === 5 ? { total_loss: Number.NaN } : {}),
    }) as unknown as MetricRow);
    const log = MetricLog.fromRows(rows);
    const cols = ['total_loss', 'recon_loss', 'sparsity_l0', 'val_nmse', 'absent'];
    expect(statisticsTable(log, cols)).toEqual(statisticsTable(rows, cols));
    expect(statisticsTable(log, cols).map((s) => s.column)).toEqual(['total_loss', 'recon_loss', 'sparsity_l0', 'val_nmse']);
    expect(convergenceVerdicts(log)).toEqual(convergenceVerdicts(rows));
    expect(sparsityVerdict(log, 0.05, 0.01)).toEqual(sparsityVerdict(rows, 0.05, 0.01));
    expect(lossRateOfChange(log)).toEqual(lossRateOfChange(rows));
    expect(lossRateOfChange(log).step).not.toContain(50);
  });
});
