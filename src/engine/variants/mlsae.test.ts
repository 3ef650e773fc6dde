import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialLive, resolveConfig, type SaeConfig } from '../config';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, expectParamGradsMatchFiniteDifferences, layeredAtomData, trainFullBatch, useCpu, values } from '../testing';
import { variantFor } from './registry';
import type { Params, StepContext } from './types';

beforeAll(useCpu);

const B = 4, L = 3, D = 3, S = 5, K = 2, AUX_K = 2, AUX_COEF = 0.5;
const X = values(B * L * D, 11, 2); // [B, L·D], layer-major
const W_ENC = values(D * S, 12);
const B_ENC = values(S, 13, 0.2);
const W_DEC = values(S * D, 14);
const B_DEC = values(D, 15, 0.3);
const MEAN = values(L * D, 16); // stats.mean [L·D]

function setup(extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'mlsae', d_sae: S, k: K, aux_k: AUX_K, aux_k_coefficient: AUX_COEF, layer_start: 0, layer_end: L - 1, ...extra }, D, L) as SaeConfig;
  const variant = variantFor(cfg);
  const p: Params = variant.init(cfg, { dIn: D, nLayers: L, mean: Float32Array.from(MEAN), meanNorm: 1 }, createRng(0));
  return { cfg, variant, p, live: initialLive(cfg) };
}
function setFixed(p: Params) {
  p.W_enc.assign(tf.tensor2d(W_ENC, [D, S]));
  p.b_enc.assign(tf.tensor1d(B_ENC));
  p.W_dec.assign(tf.tensor2d(W_DEC, [S, D]));
  p.b_dec.assign(tf.tensor1d(B_DEC));
}
const ctx = (dead: number[] = [0, 0, 0, 0, 0]): StepContext => ({ deadMask: tf.tensor1d(dead), step: 0, seed: 0 });

/** TopK SAE on one vector, plain arrays. */
function topkRow(x: number[], k: number) {
  const z = Array.from({ length: S }, (_, i) => {
    let s = B_ENC[i];
    for (let j = 0; j < D; j++) s += (x[j] - B_DEC[j]) * W_ENC[j * S + i];
    return s;
  });
  const kth = [...z].sort((a, b) => b - a)[k - 1];
  const f = z.map((v) => (v >= kth && v > 0 ? v : 0));
  const xHat = Array.from({ length: D }, (_, j) => f.reduce((s, fi, i) => s + fi * W_DEC[i * D + j], B_DEC[j]));
  return { z, f, xHat };
}

/** The reference MLSAE: the TopK reference on each of the B·L layer rows. */
function reference(k: number, dead: number[]) {
  const f: number[] = [], xHat: number[] = [], l0 = new Array(L).fill(0);
  let recon = 0, aux = 0;
  for (let b = 0; b < B; b++) {
    for (let l = 0; l < L; l++) {
      const x = X.slice((b * L + l) * D, (b * L + l + 1) * D);
      const r = topkRow(x, k);
      f.push(...r.f);
      xHat.push(...r.xHat);
      l0[l] += r.f.filter((v) => v > 0).length / B;
      const e = x.map((v, j) => v - r.xHat[j]);
      recon += e.reduce((s, v) => s + v * v, 0);
      // AuxK: the top AUX_K positive pre-activations among dead latents reconstruct the residual.
      const cand = r.z.map((z, i) => ({ z, i })).filter((c) => dead[c.i] === 1).sort((a, b2) => b2.z - a.z).slice(0, AUX_K).filter((c) => c.z > 0);
      const eHat = Array.from({ length: D }, (_, j) => cand.reduce((s, c) => s + c.z * W_DEC[c.i * D + j], 0));
      aux += eHat.reduce((s, v, j) => s + (v - e[j]) ** 2, 0);
    }
  }
  const nDead = dead.reduce((a, v) => a + v, 0);
  return { f, xHat, recon: recon / (B * L), aux: (AUX_COEF * Math.min(nDead / AUX_K, 1) * aux) / (B * L), l0 };
}

describe('mlsae variant', () => {
  it('is the plain TopK reference applied to every layer row: f, x̂, recon, sparsity 0, l0_per_layer', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const x = tf.tensor2d(X, [B, L * D]);
    const ref = reference(K, [0, 0, 0, 0, 0]);
    expect(ref.f.filter((v) => v > 0).length).toBeGreaterThan(B * L); // several latents active per row
    const f = variant.encode(p, x, live);
    expect(f.shape).toEqual([B * L, S]);
    expectClose(f.dataSync(), ref.f, 1e-5);
    const parts = variant.loss(p, x, live, ctx());
    expect(parts.f.shape).toEqual([B * L, S]);
    expectClose(parts.f.dataSync(), ref.f, 1e-5);
    expect(parts.xHat.shape).toEqual([B, L * D]);
    expectClose(parts.xHat.dataSync(), ref.xHat, 1e-5);
    expect(parts.recon.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    expect(parts.sparsity.dataSync()[0]).toBe(0);
    expect(parts.aux.dataSync()[0]).toBe(0);
    expect(parts.total.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    const l0 = parts.diagnostics!.l0_per_layer;
    expect(l0.shape).toEqual([L]);
    expectClose(l0.dataSync(), ref.l0, 1e-6);
  });

  it('matches the registry topk variant run on the [B·L, d_in] rows (no duplicated math)', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const topk = variantFor(resolveConfig({ architecture: 'topk', d_sae: S, k: K, aux_k: AUX_K, aux_k_coefficient: AUX_COEF }, D) as SaeConfig);
    const dead = [1, 0, 1, 1, 0];
    const a = variant.loss(p, tf.tensor2d(X, [B, L * D]), live, ctx(dead));
    const b = topk.loss(p, tf.tensor2d(X, [B * L, D]), live, ctx(dead));
    expectClose(a.f.dataSync(), b.f.dataSync(), 0);
    expectClose(a.xHat.dataSync(), b.xHat.dataSync(), 0);
    expect(a.total.dataSync()[0]).toBe(b.total.dataSync()[0]);
  });

  it('AuxK on dead latents matches the plain reference, and k comes from live', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const dead = [1, 0, 1, 1, 0];
    const ref = reference(3, dead);
    const parts = variant.loss(p, tf.tensor2d(X, [B, L * D]), { ...live, k: 3 }, ctx(dead));
    expectClose(parts.f.dataSync(), ref.f, 1e-5);
    expect(ref.aux).toBeGreaterThan(1e-3);
    expect(parts.aux.dataSync()[0]).toBeCloseTo(ref.aux, 5);
    expect(parts.total.dataSync()[0]).toBeCloseTo(ref.recon + ref.aux, 5);
  });

  // No dead latents here: AuxK's residual is a stop-gradient target, which finite differences
  // would differentiate through.
  it('gradients of the total loss match central finite differences', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const x = tf.tensor2d(X, [B, L * D]);
    const c = ctx();
    expectParamGradsMatchFiniteDifferences(p, () => variant.loss(p, x, live, c).total);
  });

  it('reconstruct gives x̂ [B, L·d_in] against x itself; encode/decode work on layer rows', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const x = tf.tensor2d(X, [B, L * D]);
    const r = variant.reconstruct!(p, x, live);
    const ref = reference(K, [0, 0, 0, 0, 0]);
    expect(r.xHat.shape).toEqual([B, L * D]);
    expectClose(r.xHat.dataSync(), ref.xHat, 1e-5);
    expectClose(r.target.dataSync(), X, 1e-7);
    expectClose(r.f.dataSync(), ref.f, 1e-5);
    expectClose(variant.decode(p, r.f).dataSync(), ref.xHat, 1e-5);
    // The inference threshold applies per layer row.
    const thr = variant.encode(p, x, { ...live, threshold: 0.5 }).dataSync();
    expectClose(thr, ref.f.map((v) => (v > 0.5 ? v : 0)), 1e-5);
  });

  it('initialises b_dec at the mean over layers and exports a plain SAELens topk SAE', () => {
    const { variant, p, cfg, live } = setup();
    const meanOverLayers = Array.from({ length: D }, (_, j) => (MEAN[j] + MEAN[D + j] + MEAN[2 * D + j]) / L);
    expectClose(p.b_dec.dataSync(), meanOverLayers, 1e-6);
    const w = p.W_dec.dataSync();
    for (let i = 0; i < S; i++) expect(Math.hypot(w[i * D], w[i * D + 1], w[i * D + 2])).toBeCloseTo(1, 5);
    const shapes = Object.fromEntries(Object.entries(variant.exportTensors(p)).map(([n, t]) => [n, t.shape]));
    expect(shapes).toEqual({ W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D] });
    expect(variant.saelensConfig(cfg, { ...live, k: 4 })).toEqual({ architecture: 'topk', k: 4, rescale_acts_by_decoder_norm: false });
    expect(variant.paramNames).toEqual(['W_enc', 'b_enc', 'W_dec', 'b_dec']);
  });

  it('leaks no tensors across repeated loss / encode / reconstruct', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, L * D]);
    const c = ctx([1, 0, 0, 1, 0]);
    const run = () => tf.tidy(() => {
      const { grads } = tf.variableGrads(() => variant.loss(p, x, live, c).total, Object.values(p));
      Object.values(grads).forEach((g) => g.dispose());
      variant.loss(p, x, live, c);
      variant.encode(p, x, live);
      variant.reconstruct!(p, x, live);
      variant.constrain!(p);
    });
    expectNoLeaks(run);
  });

  it('trains: the loss falls on layered synthetic data', () => {
    const n = 128, nL = 3, d = 8;
    const cfg = resolveConfig({ architecture: 'mlsae', d_sae: 24, k: 2, layer_start: 0, layer_end: nL - 1 }, d, nL) as SaeConfig;
    const { losses: [first, last] } = trainFullBatch(variantFor(cfg), cfg, layeredAtomData(n, nL, d), n, d, nL, 200, 1e-2);
    expect(last).toBeLessThan(0.5 * first);
  });
});
