// The trainer's schedules and controls: learning-rate warm-up/decay, λ warm-up, gradient clipping,
// the target-L0 controller, input normalisation, guidance, resampling, checkpoints, early stopping.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput } from './config';
import { Adam } from './adam';
import { applyNormalization, fitNormalization, foldDatasetNorm } from './normalize';
import { expectClose, matmul, useCpu, values } from './testing';
import { clipByGlobalNorm, EarlyStopper, guidedLatents, LambdaController, lrFactor, Trainer, type TrainingData } from './trainer';
import { makeSyntheticDataset } from '../data/synthetic';
import { splitDataset } from '../data/dataset';

beforeAll(useCpu);

const sample = makeSyntheticDataset({ rows: 2048, dIn: 16, nFeatures: 48, activePerRow: 3, seed: 3 });
const split = splitDataset(sample, 0.1, 0);
const data: TrainingData = { ...split, groundTruth: sample.groundTruth };
const make = (input: ConfigInput, d: TrainingData = data) =>
  new Trainer(resolveConfig({ d_sae: 64, batch_size: 128, log_every: 5, steps: 1000, ...input }, d.dIn, d.nLayers ?? 1), d, 'cpu');

describe('schedules', () => {
  it('lrFactor: linear warm-up from 0, linear decay to 0 over the last steps', () => {
    expect(lrFactor(0, 100, 10, 0)).toBeCloseTo(0.1);
    expect(lrFactor(4, 100, 10, 0)).toBeCloseTo(0.5);
    expect(lrFactor(9, 100, 10, 0)).toBeCloseTo(1);
    expect(lrFactor(50, 100, 10, 20)).toBe(1);
    expect(lrFactor(80, 100, 10, 20)).toBeCloseTo(1);
    expect(lrFactor(90, 100, 10, 20)).toBeCloseTo(0.5);
    expect(lrFactor(99, 100, 10, 20)).toBeCloseTo(0.05);
    expect(lrFactor(5, 100, 0, 0)).toBe(1);
  });

  it('logs the learning rate and λ in effect after warm-up and decay', async () => {
    const t = make({ architecture: 'relu', sparsity_mode: 'manual', l1_coefficient: 2, steps: 40, log_every: 1, lr_warmup_steps: 10, lr_decay_steps: 10, lambda_warmup_steps: 20 });
    await t.runSteps(40);
    const rows = t.takeRows();
    // The row logged after s steps carries the values the s-th step (index s − 1) trained with.
    const at = (step: number) => rows.find((r) => r.step === step)!;
    expect(at(1).lr).toBeCloseTo(1e-3 * 0.1, 10); // index 0: warm-up (0+1)/10
    expect(at(4).lr).toBeCloseTo(1e-3 * 0.4, 10); // index 3: (3+1)/10
    expect(at(20).lr).toBeCloseTo(1e-3, 10);
    expect(at(35).lr).toBeCloseTo(1e-3 * 0.6, 10); // index 34: decay (40 − 34)/10
    expect(at(40).lr).toBeCloseTo(1e-3 * 0.1, 10); // the last step trains at 1/10, not 0
    expect(at(9).lambda_effective).toBeCloseTo(2 * 0.45, 6); // index 8: λ warm-up (8+1)/20
    expect(at(9).lambda).toBe(2);
    expect(at(30).lambda_effective).toBeCloseTo(2, 6);
    t.dispose();
  });

  it('the logged learning rate is the one the step moved the weights by', async () => {
    // Adam's first update of a parameter is lr · g / (|g| + ε): about lr for every entry whose
    // gradient is not tiny. So the largest move of b_dec over step 1 is that step's learning rate.
    const t = make({ architecture: 'relu', sparsity_mode: 'manual', steps: 40, log_every: 1, lr_warmup_steps: 10, lr_decay_steps: 10, grad_clip_norm: 0 });
    const before = t.params.b_dec.dataSync().slice();
    await t.runSteps(1);
    const after = t.params.b_dec.dataSync();
    const moved = Math.max(...after.map((v, i) => Math.abs(v - before[i])));
    const [row] = t.takeRows();
    expect(row.step).toBe(1);
    expect(moved).toBeCloseTo(1e-3 * 0.1, 7); // warm-up's first step: (0+1)/10
    expect(row.lr).toBeCloseTo(moved, 7); // not the next step's 2e-4
    t.dispose();
  });
});

describe('gradient clipping', () => {
  it('scales every gradient by maxNorm / global norm when above it, and leaves small ones alone', () => {
    const a = values(6, 1, 3), b = values(4, 2, 3);
    const norm = Math.hypot(...a, ...b);
    const out = clipByGlobalNorm({ a: tf.tensor1d(a), b: tf.tensor1d(b) }, 1);
    expectClose(out.a.dataSync(), a.map((v) => v / norm), 1e-6);
    expectClose(out.b.dataSync(), b.map((v) => v / norm), 1e-6);
    const small = clipByGlobalNorm({ a: tf.tensor1d(a) }, 100);
    expectClose(small.a.dataSync(), a, 1e-6);
  });

  it('changes training when the clip binds, not when it is off', async () => {
    const run = async (clip: number) => {
      const t = make({ architecture: 'relu', sparsity_mode: 'manual', grad_clip_norm: clip, steps: 5 });
      await t.runSteps(5);
      const w = Array.from(t.params.W_enc.dataSync());
      t.dispose();
      return w;
    };
    const off = await run(0);
    const tight = await run(1e-6);
    expect(off.some((v, i) => Math.abs(v - tight[i]) > 1e-6)).toBe(true);
  });
});

describe('target-L0 controller', () => {
  it('PI on log λ: ki·e + kp·Δe with e = log(measured / target), bounded by ±0.15 per update, with anti-windup', () => {
    const c = new LambdaController();
    expect(Math.log(c.update(1, 0.8, 0.05))).toBeCloseTo(0.15, 6); // 0.1·ln 16 = 0.28, bounded
    const d = new LambdaController();
    const t = 0.05;
    expect(Math.log(d.update(1, t * Math.exp(0.1), t))).toBeCloseTo(0.01, 6); // ki·e, no Δe yet
    expect(Math.log(d.update(1, t * Math.exp(0.1), t))).toBeCloseTo(0.01, 6); // Δe = 0
    // Above the target but closing in (the smoothed rate 0.2·Δe = −0.002 arrives within 50
    // updates): the integral pauses and the proportional term backs λ off.
    expect(Math.log(d.update(1, t * Math.exp(0.09), t))).toBeCloseTo(0.5 * -0.01, 6);
    // The smoothed rate (0.8·rate + 0.2·Δe) no longer reaches the target in time: the integral acts again.
    expect(Math.log(d.update(1, t * Math.exp(0.095), t))).toBeCloseTo(0.1 * 0.095 + 0.5 * 0.005, 6);
    // Below the target λ falls.
    expect(d.update(1, 0.01, t)).toBeLessThan(1);
    const e = new LambdaController();
    expect(e.update(3, t, t)).toBe(3);
    // One update spanning 20 steps moves λ as far as two 10-step updates (log_every does not change the speed).
    const ten = new LambdaController(), twenty = new LambdaController();
    const twice = ten.update(ten.update(1, t * Math.exp(0.3), t, 10), t * Math.exp(0.3), t, 10);
    expect(Math.log(twenty.update(1, t * Math.exp(0.3), t, 20))).toBeCloseTo(Math.log(twice), 6);
  });

  it('steers a relu SAE to a 5% L0 fraction from a λ far too small', async () => {
    const t = make({ architecture: 'relu', d_sae: 64, l1_coefficient: 0.1, steps: 1500, log_every: 10 });
    await t.runSteps(1500);
    const rows = t.takeRows();
    const last = rows.slice(-10);
    const meanFrac = last.reduce((a, r) => a + r.sparsity_l0, 0) / last.length;
    expect(Math.abs(meanFrac - 0.05)).toBeLessThan(0.01);
    expect(rows[rows.length - 1].lambda).toBeGreaterThan(1); // λ had to grow by more than 10×
    t.dispose();
  }, 60_000);

  it('k follows the target for k variants, live too', async () => {
    const t = make({ architecture: 'topk', d_sae: 64, target_l0: 0.125, steps: 20 });
    expect(t.liveParams.k).toBe(8);
    t.update({ targetL0: 0.25 });
    await t.runSteps(5);
    expect(t.liveParams.k).toBe(16);
    const rows = t.takeRows();
    expect(rows[0].l0).toBeCloseTo(16, 5);
    t.dispose();
  });
});

describe('input normalisation', () => {
  const raw = Float32Array.from(values(5 * 2 * 4, 9, 3).map((v, i) => v + (i % 8 < 4 ? 2 : -1)));

  it('per_token: each layer vector gets mean 0 and (unbiased) std 1, as SAELens layer_norm', () => {
    const out = applyNormalization({ mode: 'per_token' }, raw, 5, 4, 2);
    for (let v = 0; v < 10; v++) {
      const x = Array.from(raw.slice(v * 4, v * 4 + 4));
      const mean = x.reduce((a, b) => a + b, 0) / 4;
      const std = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / 3);
      expectClose(out.slice(v * 4, v * 4 + 4), x.map((y) => (y - mean) / (std + 1e-5)), 1e-5);
    }
  });

  it('dataset_norm: one scale per layer so that E||x||² = d_in on the training rows', () => {
    const n = fitNormalization('dataset_norm', raw, 5, 4, 2);
    if (n.mode !== 'dataset_norm') throw new Error('mode');
    const out = applyNormalization(n, raw, 5, 4, 2);
    for (let l = 0; l < 2; l++) {
      let sq = 0;
      for (let r = 0; r < 5; r++) for (let j = 0; j < 4; j++) sq += out[(r * 2 + l) * 4 + j] ** 2;
      expect(sq / 5).toBeCloseTo(4, 4);
    }
    expect(n.scale[0]).not.toBeCloseTo(n.scale[1], 2);
  });

  it('folding the dataset_norm scale into the weights gives the same latents on raw inputs and x̂ in raw units', () => {
    const d = 3, s = 0.37, dSae = 4;
    const W_enc = values(d * dSae, 1), W_dec = values(dSae * d, 2), b_dec = values(d, 3), b_enc = values(dSae, 4);
    const x = values(2 * d, 5, 4);
    const t = { W_enc: { shape: [d, dSae], data: Float32Array.from(W_enc) }, W_dec: { shape: [dSae, d], data: Float32Array.from(W_dec) }, b_dec: { shape: [d], data: Float32Array.from(b_dec) } };
    expect(foldDatasetNorm(t, s)).toBe(true);
    const enc = (xs: number[], w: ArrayLike<number>, bd: ArrayLike<number>) => matmul(xs.map((v, i) => v - bd[i % d]), Array.from(w), 2, d, dSae).map((v, i) => Math.max(0, v + b_enc[i % dSae]));
    const zNorm = enc(x.map((v) => v * s), W_enc, b_dec);
    const zRaw = enc(x, t.W_enc.data, t.b_dec.data);
    expectClose(zRaw, zNorm, 1e-5);
    const dec = (f: number[], w: ArrayLike<number>, bd: ArrayLike<number>) => matmul(f, Array.from(w), 2, dSae, d).map((v, i) => v + bd[i % d]);
    expectClose(dec(zRaw, t.W_dec.data, t.b_dec.data), dec(zNorm, W_dec, b_dec).map((v) => v / s), 1e-5);
  });

  it('the trainer trains on normalised rows and reports metrics in that space', async () => {
    const scaled: TrainingData = { ...data, train: data.train.map((v) => v * 50), val: data.val.map((v) => v * 50) };
    const t = make({ architecture: 'topk', k: 4, normalize: 'dataset_norm', steps: 5 }, scaled);
    let sq = 0;
    for (let i = 0; i < t.data.train.length; i++) sq += t.data.train[i] ** 2;
    expect(sq / t.data.trainRows).toBeCloseTo(16, 2);
    t.dispose();
  });
});

describe('guidance', () => {
  it('guidedLatents: the value of f; where f is 0 the raising part of the gradient passes straight through to the pre-activation', () => {
    const z = values(12, 21, 2), w = values(12, 22);
    const zt = tf.tensor2d(z, [3, 4]);
    const fOf = (zz: tf.Tensor) => tf.relu(zz) as tf.Tensor2D;
    const parts = (zz: tf.Tensor) => ({ f: fOf(zz), pre: zz as tf.Tensor2D } as unknown as Parameters<typeof guidedLatents>[0]);
    expectClose(guidedLatents(parts(zt)).dataSync(), z.map((v) => Math.max(0, v)), 1e-7);
    const dz = tf.grad((zz: tf.Tensor) => tf.sum(tf.mul(guidedLatents(parts(zz)), tf.tensor2d(w, [3, 4]))))(zt).dataSync();
    // Where z > 0 through f; where z ≤ 0 straight through, but only the part that raises z (w < 0).
    expectClose(dz, w.map((v, i) => (z[i] > 0 ? v : Math.min(v, 0))), 1e-6);
    expect(z.some((v, i) => v <= 0 && w[i] < 0) && z.some((v, i) => v <= 0 && w[i] > 0)).toBe(true);
    // Without guidance the usual f has no gradient where it is 0.
    const df = tf.grad((zz: tf.Tensor) => tf.sum(tf.mul(fOf(zz), tf.tensor2d(w, [3, 4]))))(zt).dataSync();
    expectClose(df, w.map((v, i) => (z[i] > 0 ? v : 0)), 1e-6);
    expect(z.some((v) => v < 0) && z.some((v) => v > 0)).toBe(true);
  });

  // Labels: rows whose projection on planted feature 0 is large (the feature is "on").
  const d = 16;
  const feature = sample.groundTruth!.dictionary.slice(0, d);
  const labels = new Float32Array(sample.rows);
  for (let r = 0; r < sample.rows; r++) {
    let dot = 0;
    for (let j = 0; j < d; j++) dot += sample.data[r * d + j] * feature[j];
    labels[r] = dot > 0.8 ? 1 : 0;
  }

  it('a contrastive target makes its latent separate the labelled rows (validation AUROC), and is logged', async () => {
    const cfg = { architecture: 'relu', sparsity_mode: 'manual', l1_coefficient: 0.3, steps: 300, log_every: 10, val_every: 100 };
    const guided = make({ ...cfg, guidance: [{ id: 'cap', latent: 5, method: 'contrastive', beta: 1, margin: 2, labels: { kind: 'file', name: 'l.csv' } }] });
    guided.setGuidance(guided.cfg.guidance.map((target) => ({ target, labels })));
    await guided.runSteps(300);
    const rows = guided.takeRows();
    expect(rows[0]).toHaveProperty('guidance_cap_loss');
    expect(rows.filter((r) => Number.isFinite(r.guidance_cap_auroc)).length).toBeGreaterThanOrEqual(3);
    const last = rows[rows.length - 1];
    expect(last.guidance_cap_pos).toBeGreaterThan(last.guidance_cap_neg + 0.5);
    const e = await guided.evaluate();
    expect(e.metrics.guidance![0].auroc).toBeGreaterThan(0.9);
    guided.dispose();
    // Without the guidance loss the same latent does not separate the rows (the target is no accident).
    const plain = make(cfg);
    await plain.runSteps(300);
    plain.setGuidance([{ target: { id: 'cap', latent: 5, method: 'contrastive', beta: 0, margin: 2, labels: { kind: 'file', name: 'l.csv' } }, labels }]);
    await plain.runSteps(1);
    const p = await plain.evaluate();
    expect(p.metrics.guidance![0].auroc).toBeLessThan(0.75);
    plain.dispose();
  }, 60_000);

  it('AuxK enters the loss once latents are dead (the cpu trainer skips it only while none is)', async () => {
    // d_sae 64, k 2, batch 32: many latents miss a step; with a 32-token window they are dead after one.
    const aux = async (window: number) => {
      const t = make({ architecture: 'topk', k: 2, d_sae: 64, batch_size: 32, steps: 6, log_every: 1, dead_tokens_window: window });
      await t.runSteps(6);
      const rows = t.takeRows();
      t.dispose();
      return rows.map((r) => r.aux_loss);
    };
    const dead = await aux(32);
    expect(dead[0]).toBe(0); // nothing has had time to die at the first step
    expect(Math.min(...dead.slice(1))).toBeGreaterThan(0);
    expect(await aux(1_000_000)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('mse guidance: total = recon + sparsity + aux + β·mean (f_j − y)², checked on the logged parts', async () => {
    const t = make({ architecture: 'relu', sparsity_mode: 'manual', steps: 10, log_every: 1, guidance: [{ latent: 2, method: 'mse', beta: 3, labels: { kind: 'file', name: 'x' } }] });
    t.setGuidance(t.cfg.guidance.map((target) => ({ target, labels })));
    await t.runSteps(3);
    for (const r of t.takeRows()) {
      expect(r.guidance_loss).toBeCloseTo(r.guidance_g0_loss, 6);
      expect(r.total_loss).toBeCloseTo(r.recon_loss + r.sparsity_loss + r.aux_loss + r.guidance_loss, 4);
      expect(r.guidance_g0_loss).toBeGreaterThan(0);
    }
    t.dispose();
  });

  it('targets added while training take effect at the next step and leave no tensors behind', async () => {
    const t = make({ architecture: 'topk', k: 4, steps: 100, log_every: 5 });
    await t.runSteps(10);
    expect(t.takeRows()[0]).not.toHaveProperty('guidance_g0_loss');
    const before = tf.memory().numTensors;
    t.setGuidance([{ target: { id: 'g0', latent: 1, method: 'contrastive', beta: 0.5, margin: 1, labels: { kind: 'file', name: 'x' } }, labels }]);
    await t.runSteps(5);
    const rows = t.takeRows();
    expect(rows[rows.length - 1]).toHaveProperty('guidance_g0_loss');
    expect(t.takeEvents().some((e) => e.guidance?.length === 1 && e.step === 10)).toBe(true);
    t.setGuidance([]);
    await t.runSteps(5);
    expect(t.takeRows()[0]).not.toHaveProperty('guidance_g0_loss');
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
  });
});

describe('resampling, checkpoints, early stopping', () => {
  it('resamples dead latents of an L1 SAE towards badly reconstructed inputs and restarts their moments', async () => {
    // A huge λ and a fast learning rate kill most latents quickly; a short window lets them count as dead.
    const t = make({ architecture: 'relu', sparsity_mode: 'manual', l1_coefficient: 50, lr: 0.05, steps: 100, dead_tokens_window: 256, resample_dead_every: 40 });
    await t.runSteps(39);
    const tensors = tf.memory().numTensors;
    await t.runSteps(1);
    // The resampling step leaves no tensor behind (the step before it set up every lasting one).
    expect(tf.memory().numTensors).toBe(tensors);
    expect(t.resampled).toEqual([{ step: 40, latents: expect.any(Number) }]);
    const n = t.resampled[0].latents;
    expect(n).toBeGreaterThan(5);
    expect(t.takeEvents().some((e) => e.note === `resampled ${n} dead latent(s)`)).toBe(true);
    // Each resampled decoder row is exactly the unit direction of some training row minus b_dec.
    const w = t.params.W_dec.dataSync(), bDec = t.params.b_dec.dataSync(), d = 16;
    let matching = 0;
    for (let i = 0; i < 64; i++) {
      const row = Array.from(w.slice(i * d, i * d + d));
      let best = 0;
      for (let r = 0; r < t.data.trainRows; r++) {
        const x = Array.from(t.data.train.slice(r * d, r * d + d)).map((v, j) => v - bDec[j]);
        best = Math.max(best, row.reduce((a, v, j) => a + v * x[j], 0) / (Math.hypot(...row) * Math.hypot(...x)));
      }
      if (best > 0.99999) matching += 1;
    }
    expect(matching).toBeGreaterThanOrEqual(n);
    t.dispose();
  }, 30_000);

  it('says so when resampling is asked of a variant that has none', () => {
    const t = make({ architecture: 'jumprelu', resample_dead_every: 10 });
    expect(t.takeEvents()[0].note).toMatch(/resample_dead_every is ignored: jumprelu has no dead-latent resampling/);
    t.dispose();
  });

  it('Adam.resetLatents zeroes the moments of those latents only (along every d_sae axis)', () => {
    const params = { W: tf.variable(tf.ones([3, 5])), b: tf.variable(tf.ones([5])) };
    const adam = new Adam(params, 0.9, 0.999);
    adam.apply(params, { W: tf.ones([3, 5]), b: tf.ones([5]) }, 0.1);
    const W0 = params.W.dataSync().slice(), b0 = params.b.dataSync().slice();
    adam.resetLatents([1, 3], 5);
    // With zero gradients, only remaining momentum moves a parameter.
    adam.apply(params, { W: tf.zeros([3, 5]), b: tf.zeros([5]) }, 0.1);
    const W1 = params.W.dataSync(), b1 = params.b.dataSync();
    for (let i = 0; i < 15; i++) {
      const reset = i % 5 === 1 || i % 5 === 3;
      if (reset) expect(W1[i]).toBe(W0[i]);
      else expect(Math.abs(W1[i] - W0[i])).toBeGreaterThan(1e-3);
    }
    expect(b1[1]).toBe(b0[1]);
    expect(Math.abs(b1[0] - b0[0])).toBeGreaterThan(1e-3);
  });

  it('keeps a checkpoint of the weights every N steps', async () => {
    const t = make({ architecture: 'jumprelu', steps: 50, checkpoint_every: 20 });
    await t.runSteps(20);
    const theta = Array.from(t.params.threshold.dataSync());
    await t.runSteps(25);
    const cps = t.takeCheckpoints();
    expect(cps.map((c) => c.step)).toEqual([20, 40]);
    expectClose(cps[0].tensors.threshold.data, theta, 0);
    expect(cps[0].tensors.W_enc.shape).toEqual([16, 64]);
    t.dispose();
  });

  it('EarlyStopper stops after `patience` validations without improvement', () => {
    const e = new EarlyStopper(2);
    expect([5, 4, 4.5, 3, 3.1, 3.2, 2].map((l) => e.update(l))).toEqual(['improved', 'improved', 'wait', 'improved', 'wait', 'stop', 'improved']);
    expect(new EarlyStopper(0).update(1)).toBe('improved');
  });

  it('early stopping ends the run and restores the weights of the best validation', async () => {
    // A learning rate far too high makes the validation loss bounce, so it stops improving soon.
    const t = make({ architecture: 'relu', sparsity_mode: 'manual', lr: 0.3, grad_clip_norm: 0, steps: 2000, log_every: 5, val_every: 5, early_stopping_patience: 3 });
    await t.runSteps(2000);
    expect(t.stoppedEarlyAt).not.toBeNull();
    expect(t.stepCount).toBeLessThan(2000);
    const rows = t.takeRows();
    const best = rows.find((r) => r.step === t.stoppedEarlyAt)!;
    const minVal = Math.min(...rows.filter((r) => Number.isFinite(r.val_loss)).map((r) => r.val_loss));
    expect(best.val_loss).toBe(minVal);
    // The restored weights give that best validation loss again.
    const again = make({ architecture: 'relu', sparsity_mode: 'manual', steps: 1, log_every: 1, val_every: 1, early_stopping_patience: 1, lr: 1e-12 });
    for (const [name, v] of Object.entries(t.params)) again.params[name].assign(v);
    await again.runSteps(1);
    expect(again.takeRows()[0].val_loss).toBeCloseTo(minVal, 2);
    expect((await t.evaluate()).metrics.early_stopped_at).toBe(t.stoppedEarlyAt);
    t.dispose();
    again.dispose();
  }, 60_000);
});
