// Every registered variant through the real trainer: steps with logging and live updates leave no
// tensors behind, the metrics are finite, and export → load into a fresh trainer reproduces the
// evaluation exactly (the export holds everything inference needs).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, MULTI_LAYER, resolveConfig, type Architecture } from './config';
import { useCpu } from './testing';
import { Trainer, type TrainingData } from './trainer';
import { makeLayeredDataset, makeSyntheticDataset } from '../data/synthetic';
import { selectLayers, splitDataset } from '../data/dataset';

beforeAll(useCpu);

const single = makeSyntheticDataset({ rows: 1024, dIn: 12, nFeatures: 32, activePerRow: 3, seed: 5 });
// Four "layers" of the same tokens: the planted code seen through a different rotation per layer.
const multi = makeLayeredDataset(single, 4);

function dataFor(arch: Architecture, cfg: ReturnType<typeof resolveConfig>): TrainingData {
  const ds = MULTI_LAYER.includes(arch) ? selectLayers(multi, cfg.layer_start, cfg.layer_end) : single;
  return { ...splitDataset(ds, 0.2, 0), groundTruth: ds.groundTruth };
}

const make = (architecture: Architecture, steps = 30) => {
  const nLayers = MULTI_LAYER.includes(architecture) ? multi.nLayers : 1;
  const cfg = resolveConfig({ architecture, d_sae: 48, batch_size: 64, steps, log_every: 5, dead_tokens_window: 128, val_every: 10 }, single.dIn, nLayers);
  return new Trainer(cfg, dataFor(architecture, cfg), 'cpu');
};

describe.each(ARCHITECTURES.map((a) => [a]))('%s through the trainer', (architecture) => {
  it('trains with finite metrics and no tensor leaks across steps, live updates and evaluation', async () => {
    const t = make(architecture, 1000);
    await t.runSteps(10);
    t.takeRows();
    await t.evaluate();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      t.update({ lr: 1e-3 * (i + 1), lambda: 0.5 * (i + 1), k: 3 + i, targetL0: 0.05 + 0.02 * i, threshold: i === 1 ? 0.1 : 0 });
      await t.runSteps(10);
    }
    await t.evaluate();
    expect(tf.memory().numTensors).toBe(before);
    const rows = t.takeRows();
    expect(rows.length).toBeGreaterThan(3);
    for (const r of rows) for (const key of ['total_loss', 'recon_loss', 'l0', 'nmse', 'fve', 'dead_fraction', 'dense_fraction']) expect(Number.isFinite(r[key]), `${key} at step ${r.step}`).toBe(true);
    t.dispose();
  });

  it('export → load into a fresh trainer reproduces the evaluation', async () => {
    const a = make(architecture);
    await a.runSteps(30);
    const ea = await a.evaluate();
    const tensors = await a.exportTensors();
    const b = make(architecture);
    b.loadTensors(tensors);
    const eb = await b.evaluate();
    expect(eb.metrics.nmse).toBeCloseTo(ea.metrics.nmse, 6);
    expect(eb.metrics.l0).toBeCloseTo(ea.metrics.l0, 6);
    expect(Array.from(eb.firingFraction)).toEqual(Array.from(ea.firingFraction));
    a.dispose();
    b.dispose();
  });
});
