import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput } from './config';
import { useCpu, values } from './testing';
import { DivergenceError, Trainer } from './trainer';
import { makeSyntheticDataset } from '../data/synthetic';
import { splitDataset } from '../data/dataset';

beforeAll(useCpu);

const sample = makeSyntheticDataset({ rows: 2048, dIn: 16, nFeatures: 48, activePerRow: 3, seed: 3 });
const split = splitDataset(sample, 0.1, 0);
const data = { ...split, groundTruth: sample.groundTruth };

function trainer(input: ConfigInput) {
  return new Trainer(resolveConfig({ d_sae: 64, batch_size: 128, log_every: 5, steps: 1000, ...input }, 16), data, 'cpu');
}

describe('Trainer', () => {
  it.each(['relu', 'topk', 'jumprelu'])('%s: no tensor leaks across 50 steps with logging, live updates and evaluation', async (architecture) => {
    const t = trainer({ architecture, k: 8, dead_tokens_window: 256 });
    await t.runSteps(10);
    t.takeRows();
    await t.evaluate();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      t.update({ lr: 1e-3 * (i + 1), lambda: 0.1 * (i + 1), k: 4 + i, bandwidth: 0.05 + 0.01 * i, threshold: 0.1 * i });
      await t.runSteps(10);
    }
    await t.evaluate();
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });

  it('initialises b_dec at the training mean and keeps W_dec rows unit-norm', async () => {
    const t = trainer({ architecture: 'relu' });
    const mean = new Float64Array(16);
    for (let r = 0; r < data.trainRows; r++) for (let j = 0; j < 16; j++) mean[j] += data.train[r * 16 + j] / data.trainRows;
    const bDec = t.params.b_dec.dataSync();
    for (let j = 0; j < 16; j++) expect(bDec[j]).toBeCloseTo(mean[j], 4);
    await t.runSteps(5);
    const w = t.params.W_dec.dataSync();
    for (let i = 0; i < 64; i++) {
      let n = 0;
      for (let j = 0; j < 16; j++) n += w[i * 16 + j] ** 2;
      expect(Math.sqrt(n)).toBeCloseTo(1, 4);
    }
    t.dispose();
  });

  it('is repeatable for a seed and differs for another', async () => {
    const losses = async (seed: number) => {
      const t = trainer({ architecture: 'topk', k: 4, seed });
      await t.runSteps(20);
      const r = t.takeRows().map((row) => row.total_loss);
      t.dispose();
      return r;
    };
    const a = await losses(1);
    expect(await losses(1)).toEqual(a);
    expect(await losses(2)).not.toEqual(a);
  });

  it('applies live updates at the next step and reports them with the step', async () => {
    const t = trainer({ architecture: 'jumprelu', init_threshold: 0.05 });
    await t.runSteps(3);
    t.update({ threshold: 0.3, lr: 5e-4 });
    expect(t.liveParams.threshold).toBe(0.05); // not before the step boundary
    await t.runSteps(1);
    expect(t.takeEvents()).toEqual([{ step: 3, changes: { threshold: 0.3, lr: 5e-4 } }]);
    // Every θ was set to 0.3, then one Adam step (≤ lr per step) moved it.
    for (const th of t.params.threshold.dataSync()) expect(Math.abs(th - 0.3)).toBeLessThan(2e-3);
    await t.runSteps(1);
    const row = t.takeRows().at(-1)!;
    expect(row.lr).toBe(5e-4);
    expect(row.threshold).toBe(0.3);
    t.dispose();
  });

  it('training reduces reconstruction error; topk L0 equals k; raising λ live lowers relu L0', async () => {
    const topk = trainer({ architecture: 'topk', k: 4, lr: 3e-3 });
    await topk.runSteps(60);
    const rows = topk.takeRows();
    expect(rows.at(-1)!.recon_loss).toBeLessThan(rows[0].recon_loss * 0.6);
    expect(rows.at(-1)!.l0).toBeCloseTo(4, 6);
    topk.dispose();

    const relu = trainer({ architecture: 'relu', l1_coefficient: 0.05, lr: 3e-3 });
    await relu.runSteps(60);
    const l0Before = relu.takeRows().at(-1)!.l0;
    relu.update({ lambda: 2 });
    await relu.runSteps(60);
    const l0After = relu.takeRows().at(-1)!.l0;
    expect(l0After).toBeLessThan(l0Before * 0.7);
    relu.dispose();
  });

  it('JumpReLU thresholds really move under training (a log-parametrised threshold would barely move)', async () => {
    // Row norm ≈ 6, like real residual streams.
    const rows = 4096, d = 16;
    const raw = values(rows * d, 7, 2.6);
    const ds = { name: 'g', rows, dIn: d, nLayers: 1, data: Float32Array.from(raw), dtype: 'float32', description: '' };
    const t = new Trainer(resolveConfig({ architecture: 'jumprelu', d_sae: 64, batch_size: 256, steps: 400, log_every: 20, l0_coefficient: 0.5, init_threshold: 0.05, bandwidth: 0.05 }, d), splitDataset(ds, 0.1, 0), 'cpu');
    const theta0 = mean(t.params.threshold.dataSync());
    await t.runSteps(400);
    const logged = t.takeRows();
    const theta1 = mean(t.params.threshold.dataSync());
    console.info(`[pitfall] mean θ ${theta0.toFixed(3)} → ${theta1.toFixed(3)}, L0 ${logged[0].l0.toFixed(1)} → ${logged.at(-1)!.l0.toFixed(1)} over 400 steps`);
    // Adam on θ itself moves it ~lr per step; a log-threshold from 0.05 would stay below ~0.07.
    expect(theta1).toBeGreaterThan(theta0 + 0.1);
    expect(logged.at(-1)!.l0).toBeLessThan(logged[0].l0 * 0.6);
    t.dispose();
  });

  it('evaluate() agrees with a plain-array recomputation from the exported weights', async () => {
    const t = trainer({ architecture: 'relu', l1_coefficient: 0.1, threshold: 0 });
    await t.runSteps(30);
    const { metrics } = await t.evaluate();
    const w = await t.exportTensors();
    const [dIn, dSae] = w.W_enc.shape;
    let err = 0, xsq = 0, l0 = 0;
    const mu = new Float64Array(dIn);
    for (let r = 0; r < data.valRows; r++) for (let j = 0; j < dIn; j++) mu[j] += data.val[r * dIn + j] / data.valRows;
    let centered = 0;
    for (let r = 0; r < data.valRows; r++) {
      const x = data.val.subarray(r * dIn, (r + 1) * dIn);
      const f = new Float64Array(dSae);
      for (let i = 0; i < dSae; i++) {
        let z = w.b_enc.data[i];
        for (let j = 0; j < dIn; j++) z += (x[j] - w.b_dec.data[j]) * w.W_enc.data[j * dSae + i];
        f[i] = Math.max(0, z);
        if (f[i] > 0) l0++;
      }
      for (let j = 0; j < dIn; j++) {
        let xh = w.b_dec.data[j];
        for (let i = 0; i < dSae; i++) xh += f[i] * w.W_dec.data[i * dIn + j];
        err += (x[j] - xh) ** 2;
        xsq += x[j] ** 2;
        centered += (x[j] - mu[j]) ** 2;
      }
    }
    expect(metrics.nmse).toBeCloseTo(err / xsq, 4);
    expect(metrics.fve).toBeCloseTo(1 - err / centered, 4);
    expect(metrics.l0).toBeCloseTo(l0 / data.valRows, 3);
    expect(metrics.feature_recovery).toBeGreaterThan(0);
    t.dispose();
  });

  it('raises DivergenceError when the loss stops being finite', async () => {
    const huge = { name: 'h', rows: 64, dIn: 4, nLayers: 1, data: Float32Array.from({ length: 256 }, (_, i) => (i % 8 < 4 ? 3e38 : -3e38)), dtype: 'float32', description: '' };
    const t = new Trainer(resolveConfig({ architecture: 'relu', d_sae: 8, batch_size: 16, log_every: 1 }, 4), splitDataset(huge, 0.1, 0), 'cpu');
    await expect(t.runSteps(3)).rejects.toBeInstanceOf(DivergenceError);
    t.dispose();
  });
});

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}
