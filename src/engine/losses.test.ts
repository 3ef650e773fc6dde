import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { auxKLoss, reconstructionLoss, weightedL1 } from './losses';
import { matmul, useCpu, values } from './testing';

beforeAll(useCpu);

describe('reconstructionLoss and weightedL1', () => {
  it('match hand computations', () => {
    // rows: (1,2) vs (0,0) → 5; (3,-1) vs (1,1) → 8; mean 6.5
    expect(reconstructionLoss(tf.tensor2d([1, 2, 3, -1], [2, 2]), tf.tensor2d([0, 0, 1, 1], [2, 2])).dataSync()[0]).toBeCloseTo(6.5, 6);
    // f = [[1, 2], [0, 3]], ‖W_dec rows‖ = [5, 1] → rows 1·5 + 2·1 = 7, 3·1 = 3; mean 5
    expect(weightedL1(tf.tensor2d([1, 2, 0, 3], [2, 2]), tf.tensor2d([3, 4, 0, 1], [2, 2])).dataSync()[0]).toBeCloseTo(5, 6);
  });

  it('reconstructionLoss: its written-out gradients are 2 (x̂ − x) dy / B for x̂ and the negative for x, by hand and as autodiff gives them', () => {
    // rows (1,2) vs (0,0) and (3,−1) vs (1,1), B = 2, dy = 3: ∂x̂ = 3 · (x̂ − x) = [−3, −6, −6, 6].
    const x = tf.tensor2d([1, 2, 3, -1], [2, 2]), xHat = tf.tensor2d([0, 0, 1, 1], [2, 2]);
    const [gx, gxHat] = tf.grads((a: tf.Tensor, b: tf.Tensor) => reconstructionLoss(a as tf.Tensor2D, b as tf.Tensor2D))([x, xHat], tf.scalar(3));
    expect(Array.from(gxHat.dataSync())).toEqual([-3, -6, -6, 6]);
    expect(Array.from(gx.dataSync())).toEqual([3, 6, 6, -6]);
    const X = tf.tensor2d(values(12 * 5, 1), [12, 5]), Y = tf.tensor2d(values(12 * 5, 2), [12, 5]);
    const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) => reconstructionLoss(a as tf.Tensor2D, b as tf.Tensor2D))([X, Y]);
    const autodiff = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.sum(tf.squaredDifference(a, b), 1)))([X, Y]);
    for (let i = 0; i < 2; i++) {
      const o = ours[i].dataSync(), a = autodiff[i].dataSync();
      for (let j = 0; j < o.length; j++) expect(o[j]).toBeCloseTo(a[j], 6);
    }
  });
});

describe('auxKLoss', () => {
  const B = 3, S = 6, D = 2;
  const z = [0.9, 0.5, -0.2, 0.7, 0.3, 0.1, /**/ -0.5, 0.2, 0.8, -0.1, 0.6, 0.4, /**/ 0.3, -0.3, -0.4, 0.2, -0.6, 0.5];
  const dead = [0, 1, 1, 0, 1, 1]; // latents 1, 2, 4, 5 dead (4 dead)
  const residual = values(B * D, 9);
  const wDec = values(S * D, 10);

  function reference(kAux: number) {
    const acts = new Array(B * S).fill(0);
    for (let b = 0; b < B; b++) {
      const cand = [1, 2, 4, 5].map((j) => ({ j, v: z[b * S + j] })).sort((a, c) => c.v - a.v).slice(0, kAux);
      for (const { j, v } of cand) if (v > 0) acts[b * S + j] = v;
    }
    const recon = matmul(acts, wDec, B, S, D);
    let err = 0;
    for (let i = 0; i < B * D; i++) err += (recon[i] - residual[i]) ** 2;
    return (err / B) * Math.min(4 / kAux, 1);
  }

  const run = (kAux: number, deadMask = dead) =>
    auxKLoss(tf.tensor2d(z, [B, S]), tf.tensor1d(deadMask), tf.tensor2d(residual, [B, D]), tf.tensor2d(wDec, [S, D]), kAux).dataSync()[0];

  it('uses the top kAux positive pre-activations of dead latents, decoded without b_dec, scaled by min(n_dead/kAux, 1)', () => {
    expect(run(2)).toBeCloseTo(reference(2), 5);
    expect(run(8)).toBeCloseTo(reference(8), 5); // more slots than dead latents: scale 4/8
    expect(reference(2)).not.toBeCloseTo(reference(8), 3);
  });

  it('is zero with no dead latents', () => {
    expect(run(2, [0, 0, 0, 0, 0, 0])).toBe(0);
  });

  it('sends gradient to z and W_dec but not to the residual', () => {
    const [dz, dres, dw] = tf.grads((zz: tf.Tensor, rr: tf.Tensor, ww: tf.Tensor) =>
      auxKLoss(zz as tf.Tensor2D, tf.tensor1d(dead), rr as tf.Tensor2D, ww as tf.Tensor2D, 2))([tf.tensor2d(z, [B, S]), tf.tensor2d(residual, [B, D]), tf.tensor2d(wDec, [S, D])]);
    expect(Array.from(dres.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(dw.dataSync()).some((v) => v !== 0)).toBe(true);
    const g = Array.from(dz.dataSync());
    // Live latents (0 and 3) and unchosen entries get no gradient.
    for (let b = 0; b < B; b++) { expect(g[b * S]).toBe(0); expect(g[b * S + 3]).toBe(0); }
    expect(g.some((v) => v !== 0)).toBe(true);
  });
});
