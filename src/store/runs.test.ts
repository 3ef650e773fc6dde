// Kept runs and sweeps: the IndexedDB store (fake-indexeddb stands in for the browser's), sweep
// values and form patches, the frontier's points, and the splice summary.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { RunHistory, runLabel, summariseSplice, type RunRecord } from './runHistory';
import { frontierData, frontierSeries, parseSweepValues, sweepParam, SWEEP_PARAMS } from './sweep';
import { DEFAULT_FORM, configFromForm } from './store';
import type { EvalMetrics, MetricRow } from '../engine/types';
import type { SpliceEvaluation } from '../data/languageModel';

function metrics(l0: number, nmse: number): EvalMetrics {
  return { nmse, fve: 1 - nmse, nmse_per_token: nmse, l0, l0_fraction: l0 / 64, dead_fraction: 0, steps: 100, tokens_per_s: 1, backend: 'cpu' };
}

function record(id: string, number: number, over: Partial<RunRecord> = {}): RunRecord {
  return {
    id, number, createdAt: number, datasetName: 'x.npy', state: 'done',
    config: resolveConfig({ architecture: 'topk', d_sae: 64 }, 16, 1),
    metrics: metrics(8, 0.2), splice: null, sweep: null, rows: [], weightBytes: 3,
    ...over,
  };
}

afterEach(() => {
  // A fresh database per test.
  globalThis.indexedDB = new IDBFactory();
});

describe('RunHistory', () => {
  it('keeps runs with their weights across a reopen; listing returns oldest first', async () => {
    const a = new RunHistory();
    expect(await a.open()).toEqual([]);
    const w = new Uint8Array([1, 2, 3]).buffer;
    expect(await a.save(record('r2', 2), { 'cfg.json': w })).toBeNull();
    expect(await a.save(record('r1', 1), null)).toBeNull();
    a.close();
    const b = new RunHistory();
    const runs = await b.open();
    expect(runs.map((r) => r.id)).toEqual(['r1', 'r2']);
    expect(runs[1].config.d_sae).toBe(64);
    expect(new Uint8Array((await b.weights('r2'))!['cfg.json'])).toEqual(new Uint8Array([1, 2, 3]));
    expect(await b.weights('r1')).toBeNull();
    await b.update({ ...runs[0], splice: { loss_recovered: 0.9, loss_recovered_vs_mean: 0.8, kl: 0.1, ce: 2, ce_clean: 1.5, text: 't' } });
    await b.delete('r2');
    b.close();
    const c = new RunHistory();
    const left = await c.open();
    expect(left.map((r) => r.id)).toEqual(['r1']);
    expect(left[0].splice?.loss_recovered).toBe(0.9);
    expect(await c.weights('r2')).toBeNull();
    await c.clear();
    expect(await c.open()).toEqual([]);
  });

  it('without IndexedDB the runs are kept for the session and the reason is given', async () => {
    const saved = globalThis.indexedDB;
    // @ts-expect-error: a browser without IndexedDB
    delete globalThis.indexedDB;
    try {
      const h = new RunHistory();
      expect(await h.open()).toEqual([]);
      expect(h.problem).toMatch(/no IndexedDB.*session only/);
      const files = { 'a.bin': new ArrayBuffer(4) };
      expect(await h.save(record('r1', 1), files)).toMatch(/session only/);
      expect(await h.weights('r1')).toBe(files);
    } finally {
      globalThis.indexedDB = saved;
    }
  });
});

describe('sweeps', () => {
  it('parses values and names the bad one', () => {
    expect(parseSweepValues('1e-3, 3e-3 0.01', 'lambda')).toEqual({ values: [1e-3, 3e-3, 0.01] });
    expect(parseSweepValues('64;128', 'd_sae')).toEqual({ values: [64, 128] });
    expect(parseSweepValues('', 'k')).toEqual({ error: expect.stringMatching(/type the values/) });
    expect(parseSweepValues('8, x', 'k')).toEqual({ error: '"x" is not a number' });
    expect(parseSweepValues('8, 12.5', 'k')).toEqual({ error: '12.5: k must be a whole number' });
    expect(parseSweepValues('0.1, -1', 'bandwidth')).toEqual({ error: '-1: bandwidth must be positive' });
    expect(parseSweepValues('8, 8', 'k')).toEqual({ error: 'a value appears twice' });
    expect('error' in parseSweepValues(Array.from({ length: 17 }, (_, i) => i + 1).join(','), 'k')).toBe(true);
  });

  it('offers each parameter only to the variants that have it', () => {
    const allowed = (a: Parameters<(typeof SWEEP_PARAMS)[number]['problem']>[0]) => SWEEP_PARAMS.filter((p) => p.problem(a) === null).map((p) => p.key);
    expect(allowed('relu')).toEqual(['lambda', 'd_sae']);
    expect(allowed('topk')).toEqual(['k', 'd_sae']);
    expect(allowed('jumprelu')).toEqual(['lambda', 'd_sae', 'bandwidth', 'init_threshold']);
    expect(allowed('classic')).toEqual(['lambda', 'd_sae']);
  });

  it("a value patches the form so that the worker's config carries it", () => {
    const cfgOf = (patch: object) => resolveConfig(configFromForm({ ...DEFAULT_FORM, ...patch }), 16, 1) as unknown as Record<string, unknown>;
    // λ and k leave target-L0 mode, or the controller would move them.
    const relu = cfgOf({ architecture: 'relu', ...sweepParam('lambda').patch('relu', 0.003) });
    expect(relu.l1_coefficient).toBe(0.003);
    expect(relu.sparsity_mode).toBe('manual');
    const jump = cfgOf({ architecture: 'jumprelu', ...sweepParam('lambda').patch('jumprelu', 0.02) });
    expect(jump.l0_coefficient).toBe(0.02);
    const topk = cfgOf({ architecture: 'topk', ...sweepParam('k').patch('topk', 12) });
    expect(topk.k).toBe(12);
    expect(cfgOf({ architecture: 'topk', ...sweepParam('d_sae').patch('topk', 96) }).d_sae).toBe(96);
    expect(cfgOf({ architecture: 'jumprelu', ...sweepParam('bandwidth').patch('jumprelu', 0.2) }).bandwidth).toBe(0.2);
    expect(cfgOf({ architecture: 'jumprelu', ...sweepParam('init_threshold').patch('jumprelu', 0.3) }).init_threshold).toBe(0.3);
  });

  it('frontier: one series per variant, points sorted by L0, runs without the value left out', () => {
    const runs = [
      record('a', 1, { metrics: metrics(16, 0.1), sweep: { id: 's', param: 'k', value: 16, index: 1, count: 2 } }),
      record('b', 2, { metrics: metrics(8, 0.2), sweep: { id: 's', param: 'k', value: 8, index: 0, count: 2 } }),
      record('c', 3, { config: resolveConfig({ architecture: 'relu', d_sae: 64 }, 16, 1), metrics: metrics(20, 0.15), splice: { loss_recovered: 0.93, loss_recovered_vs_mean: 0.8, kl: 0.1, ce: 2, ce_clean: 1.5, text: 't' } }),
      record('d', 4, { metrics: metrics(Number.NaN, 0.3) }),
    ];
    const nmse = frontierSeries(runs, 'nmse', (r) => r.id);
    expect(nmse.map((s) => s.architecture)).toEqual(['topk', 'relu']);
    expect(nmse[0].points.map((p) => [p.id, p.l0, p.y, p.sweepId])).toEqual([['b', 8, 0.2, 's'], ['a', 16, 0.1, 's']]);
    const lr = frontierSeries(runs, 'loss_recovered', (r) => r.id);
    expect(lr).toEqual([{ architecture: 'relu', steps: 1000, points: [expect.objectContaining({ id: 'c', l0: 20, y: 0.93, sweepId: null })] }]);
  });

  it('frontier: runs of other data are not mixed in; other step budgets are other series', () => {
    const sample = { name: 'sample (synthetic)', rows: 32768, dIn: 16, nLayers: 1 };
    const file = { name: 'resid_l3.npy', rows: 35234, dIn: 16, nLayers: 1 };
    const sameNameOtherShape = { name: 'resid_l3.npy', rows: 9461, dIn: 16, nLayers: 1 };
    const runs = [
      record('a', 1, { data: sample, datasetName: sample.name, metrics: metrics(16, 0.1) }),
      record('b', 2, { data: file, datasetName: file.name, metrics: metrics(8, 0.2) }),
      record('c', 3, { data: file, datasetName: file.name, metrics: metrics(12, 0.15), config: resolveConfig({ architecture: 'topk', d_sae: 64, steps: 300 }, 16, 1) }),
      record('d', 4, { data: sameNameOtherShape, datasetName: sameNameOtherShape.name, metrics: metrics(10, 0.3) }),
      record('e', 5, { datasetName: 'old.npy', metrics: metrics(9, 0.3) }), // kept before the shape was recorded
    ];
    const data = frontierData(runs);
    expect(data.map((d) => [d.label, d.runs])).toEqual([
      ['old.npy', 1], ['resid_l3.npy (9,461 × 16)', 1], ['resid_l3.npy (35,234 × 16)', 2], ['sample (synthetic) (32,768 × 16)', 1],
    ]);
    const onFile = frontierSeries(runs, 'nmse', (r) => r.id, data[2].key);
    expect(onFile.map((s) => [s.architecture, s.steps, s.points.map((p) => p.id)])).toEqual([['topk', 1000, ['b']], ['topk', 300, ['c']]]);
    expect(frontierSeries(runs, 'nmse', (r) => r.id, data[3].key).flatMap((s) => s.points.map((p) => p.id))).toEqual(['a']);
    expect(frontierSeries(runs, 'nmse', (r) => r.id, 'old.npy').flatMap((s) => s.points.map((p) => p.id))).toEqual(['e']);
  });

  it('labels say what differs between runs', () => {
    expect(runLabel(record('a', 3))).toBe('#3 · topk · d_sae 64 · target L0 5%');
    expect(runLabel(record('a', 4, { sweep: { id: 's', param: 'lambda', value: 0.003, index: 0, count: 3 } }))).toBe('#4 · topk · d_sae 64 · λ 0.003');
    expect(runLabel(record('a', 5, { config: resolveConfig({ architecture: 'relu', d_sae: 32, sparsity_mode: 'manual', l1_coefficient: 2e-6 }, 16, 1) }))).toBe('#5 · relu · d_sae 32 · λ 2.00e-6');
    expect(runLabel(record('a', 6, { config: resolveConfig({ architecture: 'topk', d_sae: 32, sparsity_mode: 'manual', k: 7 }, 16, 1) }))).toBe('#6 · topk · d_sae 32 · k 7');
  });

  it('a target moved by the slider during the run is the one in the label', () => {
    const rows = [10, 20, 30].map((step, i) => ({ step, target_l0: i === 0 ? 0.05 : 0.0548 }) as MetricRow);
    expect(runLabel(record('a', 7, { rows }))).toBe('#7 · topk · d_sae 64 · target L0 5.48% (moved from 5%)');
  });
});

describe('summariseSplice', () => {
  it('averages the groups (one per layer of a multi-layer SAE)', () => {
    const g = (lr: number, kl: number) => ({ sites: [1], ce: 2 + kl, kl, ce_zero: 9, kl_zero: 5, ce_mean: 5, kl_mean: 3, loss_recovered: lr, loss_recovered_vs_mean: lr - 0.1, replaced_fraction: 1 });
    const e = { ce_clean: 1.5, predictions: 10, documents: 1, tokens: 12, groups: [g(0.9, 0.2), g(0.7, 0.4)], seconds: 1, text: 'v.txt' } as unknown as SpliceEvaluation;
    const s = summariseSplice(e);
    expect(s.loss_recovered).toBeCloseTo(0.8, 12);
    expect(s.loss_recovered_vs_mean).toBeCloseTo(0.7, 12);
    expect(s.kl).toBeCloseTo(0.3, 12);
    expect(s.ce).toBeCloseTo(2.3, 12);
    expect(s.ce_clean).toBe(1.5);
    expect(s.text).toBe('v.txt');
    // Several layers: a mean of their figures, no standard error claimed.
    expect(s.loss_recovered_se).toBeUndefined();
    expect(s.predictions).toBe(10);
  });

  it('keeps the standard error, the prediction count and the hook of a one-layer splice', () => {
    const g = { sites: [3], ce: 2.1, kl: 0.1, ce_zero: 9, kl_zero: 5, ce_mean: 5, kl_mean: 3, loss_recovered: 0.93, loss_recovered_se: 0.004, loss_recovered_vs_mean: 0.8, replaced_fraction: 1 };
    const e = { ce_clean: 1.5, predictions: 1234, documents: 3, tokens: 1300, groups: [g], seconds: 1, text: 'v.txt', siteNames: ['blocks.3.hook_resid_pre'] } as unknown as SpliceEvaluation;
    expect(summariseSplice(e)).toMatchObject({ loss_recovered: 0.93, loss_recovered_se: 0.004, predictions: 1234, hooks: ['blocks.3.hook_resid_pre'] });
  });
});
