import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSyntheticDataset } from '../../data/synthetic';
import { initialLive, resolveConfig } from '../config';
import type { BatchTopKConfig } from './batchtopk.decl';
import type { MatryoshkaConfig } from './matryoshka.decl';
import { nestedDecode } from '../ops/nestedDecode';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, matmul, trainMinibatches, useCpu, values } from '../testing';
import { makeBatchTopkVariant } from './batchtopk';
import { makeMatryoshkaVariant } from './matryoshka';
import { variantFor } from './registry';
import type { Params, StepContext } from './types';

beforeAll(useCpu);

const D = 3, S = 6, B = 4, K = 2;
const PREFIXES = [2, 4, 6];
const X = values(B * D, 1, 2);
const INIT: Record<string, number[]> = {
  W_enc: values(D * S, 2),
  b_enc: values(S, 3, 0.2),
  W_dec: values(S * D, 4),
  b_dec: values(D, 5, 0.3),
};
const SHAPES: Record<string, number[]> = { W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D] };

function setup(extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'matryoshka', d_sae: S, k: K, matryoshka_prefixes: PREFIXES, threshold_lr: 0.25, ...extra }, D) as MatryoshkaConfig;
  const variant = makeMatryoshkaVariant(cfg);
  const p: Params = variant.init(cfg, { dIn: D, nLayers: 1, mean: new Float32Array(D), meanNorm: 1 }, createRng(0));
  for (const [name, v] of Object.entries(INIT)) p[name].assign(tf.tensor(v, SHAPES[name]));
  return { cfg, variant, p, live: initialLive(cfg) };
}
const ctx = (): StepContext => ({ deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 });
const read = (t: tf.Tensor) => Array.from(t.dataSync());

/** Plain-array prefix decode: f[:, :m] W_dec[:m] (no bias). */
function prefixDecode(f: number[], wDec: number[], m: number): number[] {
  const out = new Array(B * D).fill(0);
  for (let b = 0; b < B; b++) for (let i = 0; i < m; i++) for (let d = 0; d < D; d++) out[b * D + d] += f[b * S + i] * wDec[i * D + d];
  return out;
}
function reference(w: Record<string, number[]>, prefixes = PREFIXES) {
  const z = matmul(X.map((v, i) => v - w.b_dec[i % D]), w.W_enc, B, D, S).map((v, i) => v + w.b_enc[i % S]);
  const kth = [...z].sort((a, b) => b - a)[K * B - 1];
  const f = z.map((v) => (v >= kth && v > 0 ? v : 0));
  const xHats = prefixes.map((m) => prefixDecode(f, w.W_dec, m).map((v, i) => v + w.b_dec[i % D]));
  const errs = xHats.map((xh) => X.reduce((s, v, i) => s + (v - xh[i]) ** 2, 0) / B);
  return { z, f, xHats, errs, recon: errs.reduce((a, b) => a + b, 0) / prefixes.length };
}

describe('nestedDecode op', () => {
  const F = values(B * S, 21), W = values(S * D, 22), G = values(PREFIXES.length * B * D, 23);

  it('returns every prefix’s partial reconstruction f[:, :m] W_dec[:m]', () => {
    const out = read(nestedDecode(tf.tensor2d(F, [B, S]), tf.tensor2d(W, [S, D]), PREFIXES));
    expectClose(out, PREFIXES.flatMap((m) => prefixDecode(F, W, m)), 1e-6);
  });

  it('backward pass: ∂f[b,i] = Σ_{j: i < m_j} g_j[b]·W_dec,i and ∂W_dec,i = Σ_{j: i < m_j} Σ_b f[b,i] g_j[b]', () => {
    const g = tf.tensor3d(G, [PREFIXES.length, B, D]);
    const [df, dw] = tf.grads((f: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(nestedDecode(f as tf.Tensor2D, w as tf.Tensor2D, PREFIXES), g)))([tf.tensor2d(F, [B, S]), tf.tensor2d(W, [S, D])]);
    const dfRef = new Array(B * S).fill(0), dwRef = new Array(S * D).fill(0);
    PREFIXES.forEach((m, j) => {
      for (let b = 0; b < B; b++) for (let i = 0; i < m; i++) for (let d = 0; d < D; d++) {
        const gv = G[(j * B + b) * D + d];
        dfRef[b * S + i] += gv * W[i * D + d];
        dwRef[i * D + d] += F[b * S + i] * gv;
      }
    });
    expectClose(read(df), dfRef, 1e-5);
    expectClose(read(dw), dwRef, 1e-5);
  });

  it('works with a single prefix (the whole dictionary)', () => {
    expectClose(read(nestedDecode(tf.tensor2d(F, [B, S]), tf.tensor2d(W, [S, D]), [S])), matmul(F, W, B, S, D), 1e-6);
  });
});

describe('matryoshka variant', () => {
  it('recon is the plain-array mean over prefixes of mean_b ||x − x̂_m||²; f is the batch top-k; x̂ the full reconstruction', () => {
    const { variant, p, live } = setup();
    const ref = reference(INIT);
    // The prefixes really differ (a kept latent in every block).
    expect(new Set(ref.errs.map((e) => e.toFixed(4))).size).toBe(PREFIXES.length);
    const parts = variant.loss(p, tf.tensor2d(X, [B, D]), live, ctx());
    const f = read(parts.f);
    expectClose(f, ref.f, 1e-5);
    expect(f.filter((v) => v > 0).length).toBe(K * B);
    expectClose(read(parts.xHat), ref.xHats[PREFIXES.length - 1], 1e-5);
    expect(parts.recon.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    expect(parts.total.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    expect(parts.sparsity.dataSync()[0]).toBe(0);
    expect(parts.aux.dataSync()[0]).toBe(0);
  });

  it('with the single prefix [d_sae] it is BatchTopK', () => {
    const { variant, p, live } = setup({ matryoshka_prefixes: [S] });
    const x = tf.tensor2d(X, [B, D]);
    const bcfg = resolveConfig({ architecture: 'batchtopk', d_sae: S, k: K }, D) as BatchTopKConfig;
    const btk = makeBatchTopkVariant(bcfg);
    btk.init(bcfg, { dIn: D, nLayers: 1, mean: new Float32Array(D), meanNorm: 1 }, createRng(0));
    const a = variant.loss(p, x, live, ctx()), b = btk.loss(p, x, live, ctx());
    expect(a.recon.dataSync()[0]).toBeCloseTo(b.recon.dataSync()[0], 6);
    expect(a.recon.dataSync()[0]).toBeCloseTo(reference(INIT, [S]).recon, 5);
    btk.dispose!();
  });

  it('gradients match central finite differences of the plain-array loss', () => {
    const { variant, p, live } = setup();
    const { grads } = tf.variableGrads(() => variant.loss(p, tf.tensor2d(X, [B, D]), live, ctx()).total, Object.values(p));
    const base = reference(INIT);
    const h = 1e-4;
    let checked = 0;
    for (const name of Object.keys(INIT)) {
      const got = read(grads[p[name].name]);
      for (let i = 0; i < got.length; i++) {
        const plus = reference({ ...INIT, [name]: INIT[name].map((v, j) => (j === i ? v + h : v)) });
        const minus = reference({ ...INIT, [name]: INIT[name].map((v, j) => (j === i ? v - h : v)) });
        if (![plus, minus].every((r) => r.f.every((v, j) => v > 0 === base.f[j] > 0))) continue; // selection changed
        checked += 1;
        const fd = (plus.recon - minus.recon) / (2 * h);
        expect(Math.abs(got[i] - fd), `${name}[${i}]: autodiff ${got[i]} vs finite difference ${fd}`).toBeLessThan(1e-3 + 1e-3 * Math.abs(fd));
      }
    }
    expect(checked).toBeGreaterThan(30);
  });

  it('learns θ_g like BatchTopK, infers with it, and exports as SAELens jumprelu without the prefixes', () => {
    const { variant, p, cfg, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const ref = reference(INIT);
    tf.tidy(() => variant.afterStep!(p, variant.loss(p, x, live, ctx()), live));
    const theta = Math.min(...ref.f.filter((v) => v > 0));
    expect(variant.threshold.value.dataSync()[0]).toBeCloseTo(theta, 6);
    expectClose(read(variant.encode(p, x, live)), ref.z.map((v) => (v > theta ? v : 0)), 1e-5);
    const out = variant.exportTensors(p);
    expect(Object.fromEntries(Object.entries(out).map(([n, t]) => [n, t.shape]))).toEqual({ W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D], threshold: [S] });
    expectClose(read(out.threshold), new Array(S).fill(theta), 1e-6);
    out.threshold.dispose();
    expect(variant.saelensConfig(cfg, live)).toEqual({ architecture: 'jumprelu' });
    expect(variantFor(cfg).architecture).toBe('matryoshka');
  });

  it('leaks no tensors across loss(), afterStep() and encode() calls', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const c: StepContext = { deadMask: tf.tensor1d([0, 1, 0, 1, 1, 0]), step: 0, seed: 0 };
    const run = () => tf.tidy(() => {
      variant.afterStep!(p, variant.loss(p, x, live, c), live);
      variant.encode(p, x, live);
      tf.variableGrads(() => variant.loss(p, x, live, c).total, Object.values(p));
    });
    expectNoLeaks(run);
  });

  it('trains on the synthetic sample: the full and the nested reconstruction errors fall over 300 steps', () => {
    const data = makeSyntheticDataset({ rows: 8192, dIn: 64, nFeatures: 256, activePerRow: 5 });
    const cfg = resolveConfig({ architecture: 'matryoshka', d_sae: 256, k: 5, lr: 3e-3 }, 64) as MatryoshkaConfig;
    const variant = makeMatryoshkaVariant(cfg);
    const { first, last } = trainMinibatches(variant, cfg, data.data, 64, 300, 32, (parts, x) => ({
      recon: parts.recon,
      full: tf.div(tf.sum(tf.squaredDifference(x, parts.xHat)), x.shape[0]) as tf.Scalar,
    }));
    // Measured with prefixes [16, 32, 64, 128, 256]: full 14.6 → 6.7 (BatchTopK: 14.5 → 5.8); the
    // nested mean 20.0 → 17.7, held up by the small prefixes, which cannot model 256 planted features.
    expect(last.full).toBeLessThan(0.55 * first.full);
    expect(last.recon).toBeLessThan(0.95 * first.recon);
    expect(last.recon).toBeGreaterThan(last.full);
  });
});
