import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSyntheticDataset } from '../../data/synthetic';
import { initialLive, resolveConfig } from '../config';
import type { RandomKConfig } from './randomk.decl';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, matmul, trainMinibatches, useCpu, values } from '../testing';
import { INFERENCE_SEED, randomKMask, randomKRelu, stepSeed } from './randomk';
import { variantFor } from './registry';
import type { Params, StepContext, Variant } from './types';

beforeAll(useCpu);

const D = 3, S = 8, B = 4, K = 3;
const X = values(B * D, 1, 2);
const INIT: Record<string, number[]> = {
  W_enc: values(D * S, 2),
  b_enc: values(S, 3, 0.2),
  W_dec: values(S * D, 4),
  b_dec: values(D, 5, 0.3),
};
const SHAPES: Record<string, number[]> = { W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D] };

function setup() {
  const cfg = resolveConfig({ architecture: 'randomk', d_sae: S, k: K, seed: 7 }, D) as RandomKConfig;
  const variant = variantFor(cfg) as Variant<RandomKConfig>;
  const p: Params = variant.init(cfg, { dIn: D, nLayers: 1, mean: new Float32Array(D), meanNorm: 1 }, createRng(0));
  for (const [name, v] of Object.entries(INIT)) p[name].assign(tf.tensor(v, SHAPES[name]));
  return { cfg, variant, p, live: initialLive(cfg) };
}
const ctx = (step: number, seed = 7): StepContext => ({ deadMask: tf.zeros([S]) as tf.Tensor1D, step, seed });
const read = (t: tf.Tensor) => Array.from(t.dataSync());

const Z = matmul(X.map((v, i) => v - INIT.b_dec[i % D]), INIT.W_enc, B, D, S).map((v, i) => v + INIT.b_enc[i % S]);
/** The k positions each row drew (read from the mask the draw makes), as sets. */
const chosen = (mask: number[]) => Array.from({ length: B }, (_, r) => new Set(mask.slice(r * S, r * S + S).flatMap((v, j) => (v === 1 ? [j] : []))));
const key = (sets: Set<number>[]) => sets.map((s) => [...s].sort().join(',')).join('|');

describe('randomk variant', () => {
  it('each row keeps ReLU(z) on exactly its k drawn latents; recon matches the plain-array reference', () => {
    const { variant, p, live } = setup();
    expect(Z.filter((v) => v > 0).length).toBeGreaterThan(B); // some drawn latents are positive, some not
    const parts = variant.loss(p, tf.tensor2d(X, [B, D]), live, ctx(5));
    const sets = chosen(read(randomKMask([B, S], K, stepSeed(7, 5))));
    expect(sets.every((s) => s.size === K)).toBe(true);
    const expected = Z.map((v, i) => (sets[Math.floor(i / S)].has(i % S) ? Math.max(0, v) : 0));
    const f = read(parts.f);
    expectClose(f, expected, 1e-5);
    for (let r = 0; r < B; r++) {
      const nonzero = f.slice(r * S, r * S + S).flatMap((v, j) => (v !== 0 ? [j] : []));
      expect(nonzero.every((j) => sets[r].has(j))).toBe(true);
      expect(nonzero.length).toBe([...sets[r]].filter((j) => Z[r * S + j] > 0).length);
    }
    const xHat = matmul(expected, INIT.W_dec, B, S, D).map((v, i) => v + INIT.b_dec[i % D]);
    expectClose(read(parts.xHat), xHat, 1e-5);
    const recon = X.reduce((s, v, i) => s + (v - xHat[i]) ** 2, 0) / B;
    expect(parts.recon.dataSync()[0]).toBeCloseTo(recon, 5);
    expect(parts.total.dataSync()[0]).toBeCloseTo(recon, 5);
    expect(parts.sparsity.dataSync()[0]).toBe(0);
    expect(parts.aux.dataSync()[0]).toBe(0);
  });

  it('the same (seed, step) draws the same latents; another step or seed draws others', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const f = (c: StepContext) => read(variant.loss(p, x, live, c).f).join(',');
    expect(f(ctx(3))).toBe(f(ctx(3)));
    expect(f(ctx(4))).not.toBe(f(ctx(3)));
    expect(f(ctx(3, 8))).not.toBe(f(ctx(3)));
    const draws = new Set(Array.from({ length: 10 }, (_, step) => key(chosen(read(randomKMask([B, S], K, stepSeed(7, step)))))));
    expect(draws.size).toBe(10);
    expect(key(chosen(read(randomKMask([B, S], K, 123))))).toBe(key(chosen(read(randomKMask([B, S], K, 123)))));
  });

  it('draws uniformly: over many rows every latent is chosen with frequency ≈ k/d_sae', () => {
    const rows = 4000, n = 10, k = 3;
    const freq = tf.tidy(() => read(tf.mean(randomKMask([rows, n], k, 99), 0)));
    for (const v of freq) expect(Math.abs(v - k / n)).toBeLessThan(0.03);
    const perRow = tf.tidy(() => read(tf.sum(randomKMask([rows, n], k, 99), 1)));
    expect(perRow.every((v) => v === k)).toBe(true);
  });

  it('the gradient flows only through kept positive entries', () => {
    const g = values(B * S, 11, 2);
    const seed = stepSeed(7, 2);
    const dz = read(tf.grad((z: tf.Tensor) => tf.sum(tf.mul(randomKRelu(z as tf.Tensor2D, K, seed), tf.tensor2d(g, [B, S]))))(tf.tensor2d(Z, [B, S])));
    const sets = chosen(read(randomKMask([B, S], K, seed)));
    expectClose(dz, Z.map((v, i) => (v > 0 && sets[Math.floor(i / S)].has(i % S) ? g[i] : 0)), 1e-7);
  });

  it('encode uses a fixed draw (the same on every call) and the live inference threshold', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const a = read(variant.encode(p, x, live));
    expect(read(variant.encode(p, x, live))).toEqual(a);
    const sets = chosen(read(randomKMask([B, S], K, INFERENCE_SEED)));
    const expected = Z.map((v, i) => (sets[Math.floor(i / S)].has(i % S) ? Math.max(0, v) : 0));
    expectClose(a, expected, 1e-5);
    expectClose(read(variant.encode(p, x, { ...live, threshold: 0.3 })), expected.map((v) => (v > 0.3 ? v : 0)), 1e-5);
    const one = read(variant.encode(p, x, { ...live, k: 1 })); // k is live
    for (let r = 0; r < B; r++) expect(one.slice(r * S, r * S + S).filter((v) => v !== 0).length).toBeLessThanOrEqual(1);
  });

  it('exports TopK tensors under its own architecture name with k', () => {
    const { variant, p, cfg, live } = setup();
    const out = variant.exportTensors(p);
    expect(Object.fromEntries(Object.entries(out).map(([n, t]) => [n, t.shape]))).toEqual({ W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D] });
    expect(variant.saelensConfig(cfg, { ...live, k: 4 })).toEqual({ architecture: 'randomk', k: 4 });
  });

  it('leaks no tensors across loss() and encode() calls', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const c = ctx(1);
    const run = () => tf.tidy(() => {
      variant.loss(p, x, live, c);
      variant.encode(p, x, live);
      tf.variableGrads(() => variant.loss(p, x, live, c).total, Object.values(p));
    });
    expectNoLeaks(run);
  });

  it('trains stably on the synthetic sample, yet as a baseline barely beats predicting the mean row', () => {
    const data = makeSyntheticDataset({ rows: 8192, dIn: 64, nFeatures: 256, activePerRow: 5 });
    const cfg = resolveConfig({ architecture: 'randomk', d_sae: 256, k: 5, lr: 3e-3 }, 64) as RandomKConfig;
    // RandomK's total is its reconstruction loss (no penalty, no AuxK).
    const { last, mean } = trainMinibatches(variantFor(cfg) as Variant<RandomKConfig>, cfg, data.data, 64, 200, 32, (_parts, _x, total) => ({ recon: total }));
    // Mean over rows of ||x − mean row||²: the recon of an SAE that outputs b_dec alone.
    const n = data.data.length / 64;
    let variance = 0;
    for (let r = 0; r < n; r++) for (let j = 0; j < 64; j++) variance += (data.data[r * 64 + j] - mean[j]) ** 2 / n;
    expect(Number.isFinite(last.recon)).toBe(true);
    expect(last.recon).toBeLessThan(1.1 * variance);
    expect(last.recon).toBeGreaterThan(0.5 * variance);
    // The same loop learns when every latent is drawn (k = d_sae: a ReLU SAE without penalty).
    const all = resolveConfig({ ...cfg, k: 256 }, 64) as RandomKConfig;
    const dense = trainMinibatches(variantFor(all) as Variant<RandomKConfig>, all, data.data, 64, 100, 32, (_parts, _x, total) => ({ recon: total }));
    expect(dense.last.recon).toBeLessThan(0.3 * variance);
  });
});
