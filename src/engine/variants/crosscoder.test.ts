import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialLive, resolveConfig, type SaeConfig } from '../config';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, expectParamGradsMatchFiniteDifferences, layeredAtomData, trainFullBatch, useCpu, values } from '../testing';
import { variantFor } from './registry';
import type { Params, StepContext } from './types';

beforeAll(useCpu);

const B = 4, L = 3, D = 3, S = 5, LAMBDA = 0.3;
const X = values(B * L * D, 21, 2); // [B, L·D], layer-major
const W_ENC = values(L * D * S, 22, 0.6); // [L, D, S]
const B_ENC = values(S, 23, 0.3);
const W_DEC = values(S * L * D, 24, 0.8); // [S, L, D]
const B_DEC = values(L * D, 25, 0.3); // [L, D]
const MEAN = values(L * D, 26);

const wEnc = (l: number, j: number, i: number) => W_ENC[(l * D + j) * S + i];
const wDec = (i: number, l: number, j: number) => W_DEC[(i * L + l) * D + j];
const x = (b: number, l: number, j: number) => X[(b * L + l) * D + j];

function setup(extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'crosscoder', d_sae: S, l1_coefficient: LAMBDA, layer_start: 0, layer_end: L - 1, ...extra }, D, L) as SaeConfig;
  const variant = variantFor(cfg);
  const p: Params = variant.init(cfg, { dIn: D, nLayers: L, mean: Float32Array.from(MEAN), meanNorm: 1 }, createRng(0));
  return { cfg, variant, p, live: initialLive(cfg) };
}
function setFixed(p: Params) {
  p.W_enc.assign(tf.tensor3d(W_ENC, [L, D, S]));
  p.b_enc.assign(tf.tensor1d(B_ENC));
  p.W_dec.assign(tf.tensor3d(W_DEC, [S, L, D]));
  p.b_dec.assign(tf.tensor2d(B_DEC, [L, D]));
}
const ctx: StepContext = { deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 };

/** The crosscoder with plain loops over layers. */
function reference() {
  const f: number[] = [], xHat: number[] = [];
  let recon = 0, penalty = 0;
  const norm = Array.from({ length: S }, (_, i) => Array.from({ length: L }, (_, l) => Math.hypot(...Array.from({ length: D }, (_, j) => wDec(i, l, j)))));
  for (let b = 0; b < B; b++) {
    const fb = Array.from({ length: S }, (_, i) => {
      let z = B_ENC[i];
      for (let l = 0; l < L; l++) for (let j = 0; j < D; j++) z += (x(b, l, j) - B_DEC[l * D + j]) * wEnc(l, j, i);
      return Math.max(0, z);
    });
    f.push(...fb);
    for (let l = 0; l < L; l++) {
      for (let j = 0; j < D; j++) {
        let v = B_DEC[l * D + j];
        for (let i = 0; i < S; i++) v += fb[i] * wDec(i, l, j);
        xHat.push(v);
        recon += (x(b, l, j) - v) ** 2;
      }
    }
    for (let i = 0; i < S; i++) for (let l = 0; l < L; l++) penalty += fb[i] * norm[i][l];
  }
  const share = Array.from({ length: L }, (_, l) => norm.reduce((s, n) => s + n[l] / n.reduce((a, v) => a + v, 0), 0) / S);
  return { f, xHat, recon: recon / B, penalty: penalty / B, share };
}

describe('crosscoder variant', () => {
  it('forward, recon, λ·decoder-norm penalty and decoder_norm_share match plain loops over layers', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const ref = reference();
    expect(ref.f.filter((v) => v > 0).length).toBeGreaterThan(B); // active and inactive latents both occur
    expect(ref.f.filter((v) => v === 0).length).toBeGreaterThan(B);
    const xt = tf.tensor2d(X, [B, L * D]);
    expectClose(variant.encode(p, xt, live).dataSync(), ref.f, 1e-5);
    const parts = variant.loss(p, xt, live, ctx);
    expectClose(parts.f.dataSync(), ref.f, 1e-5);
    expect(parts.xHat.shape).toEqual([B, L * D]);
    expectClose(parts.xHat.dataSync(), ref.xHat, 1e-5);
    expectClose(variant.decode(p, parts.f).dataSync(), ref.xHat, 1e-5);
    expect(parts.recon.dataSync()[0]).toBeCloseTo(ref.recon, 4);
    expect(parts.sparsity.dataSync()[0]).toBeCloseTo(LAMBDA * ref.penalty, 5);
    expect(parts.aux.dataSync()[0]).toBe(0);
    expect(parts.total.dataSync()[0]).toBeCloseTo(ref.recon + LAMBDA * ref.penalty, 4);
    const share = parts.diagnostics!.decoder_norm_share;
    expect(share.shape).toEqual([L]);
    expectClose(share.dataSync(), ref.share, 1e-5);
  });

  it('λ is read from live, and the inference threshold zeroes small activations', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const ref = reference();
    const xt = tf.tensor2d(X, [B, L * D]);
    expect(variant.loss(p, xt, { ...live, lambda: 2 }, ctx).sparsity.dataSync()[0]).toBeCloseTo(2 * ref.penalty, 5);
    expectClose(variant.encode(p, xt, { ...live, threshold: 0.4 }).dataSync(), ref.f.map((v) => (v > 0.4 ? v : 0)), 1e-5);
  });

  it('gradients of the total loss match central finite differences on every parameter', () => {
    const { variant, p, live } = setup();
    setFixed(p);
    const xt = tf.tensor2d(X, [B, L * D]);
    expectParamGradsMatchFiniteDifferences(p, () => variant.loss(p, xt, live, ctx).total);
  });

  it('initialises each latent’s decoder with layer blocks of norm 1/L (Σ_l = 1), W_enc = W_decᵀ, b_dec = mean', () => {
    const { p } = setup();
    expect(p.W_enc.shape).toEqual([L, D, S]);
    expect(p.W_dec.shape).toEqual([S, L, D]);
    const wd = p.W_dec.dataSync(), we = p.W_enc.dataSync();
    for (let i = 0; i < S; i++) {
      for (let l = 0; l < L; l++) {
        const block = Array.from({ length: D }, (_, j) => wd[(i * L + l) * D + j]);
        expect(Math.hypot(...block)).toBeCloseTo(1 / L, 6);
        for (let j = 0; j < D; j++) expect(we[(l * D + j) * S + i]).toBe(block[j]);
      }
    }
    expectClose(p.b_dec.dataSync(), MEAN, 1e-7);
    expectClose(p.b_enc.dataSync(), new Array(S).fill(0), 0);
  });

  it('exports [L, d_in, d_sae] / [d_sae, L, d_in] / [L, d_in] tensors under architecture "crosscoder"', () => {
    const { variant, p, cfg, live } = setup();
    const out = variant.exportTensors(p);
    const shapes = Object.fromEntries(Object.entries(out).map(([n, t]) => [n, t.shape]));
    expect(shapes).toEqual({ W_enc: [L, D, S], b_enc: [S], W_dec: [S, L, D], b_dec: [L, D] });
    expect(Object.keys(out).every((n) => out[n] === p[n])).toBe(true); // stored in export shape: a copy reloads them
    expect(variant.saelensConfig(cfg, live)).toEqual({ architecture: 'crosscoder', n_layers: L });
    expect(variant.constrain).toBeUndefined();
  });

  it('resampleDead re-points dead latents at the given directions and leaves the others alone', async () => {
    const { variant, p } = setup();
    setFixed(p);
    const dirs = values(2 * L * D, 27);
    await variant.resampleDead!(p, [1, 3], Float32Array.from(dirs));
    const wd = p.W_dec.dataSync(), we = p.W_enc.dataSync(), be = p.b_enc.dataSync();
    // Mean encoder-column norm of the live latents 0, 2, 4 (before resampling: they are unchanged).
    const colNorm = (i: number) => Math.hypot(...Array.from({ length: L * D }, (_, r) => W_ENC[r * S + i]));
    const scale = (0.2 * (colNorm(0) + colNorm(2) + colNorm(4))) / 3;
    [1, 3].forEach((i, n) => {
      const dir = dirs.slice(n * L * D, (n + 1) * L * D);
      const nrm = Math.hypot(...dir);
      for (let r = 0; r < L * D; r++) {
        expect(wd[i * L * D + r]).toBeCloseTo(dir[r] / nrm, 6);
        expect(we[r * S + i]).toBeCloseTo((dir[r] / nrm) * scale, 6);
      }
      expect(be[i]).toBe(0);
    });
    for (const i of [0, 2, 4]) {
      for (let r = 0; r < L * D; r++) {
        expect(wd[i * L * D + r]).toBeCloseTo(W_DEC[i * L * D + r], 7);
        expect(we[r * S + i]).toBeCloseTo(W_ENC[r * S + i], 7);
      }
      expect(be[i]).toBeCloseTo(B_ENC[i], 7);
    }
    const before = tf.memory().numTensors;
    await variant.resampleDead!(p, [0], Float32Array.from(dirs.slice(0, L * D)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('leaks no tensors across repeated loss / encode / decode', () => {
    const { variant, p, live } = setup();
    const xt = tf.tensor2d(X, [B, L * D]);
    const run = () => tf.tidy(() => {
      const { grads } = tf.variableGrads(() => variant.loss(p, xt, live, ctx).total, Object.values(p));
      Object.values(grads).forEach((g) => g.dispose());
      variant.loss(p, xt, live, ctx);
      variant.decode(p, variant.encode(p, xt, live));
    });
    expectNoLeaks(run);
  });

  it('trains: the loss falls on layered synthetic data, and the penalty keeps L0 low', () => {
    const n = 128, d = 8, dSae = 24;
    const data = layeredAtomData(n, L, d);
    const cfg = resolveConfig({ architecture: 'crosscoder', d_sae: dSae, l1_coefficient: 0.05, layer_start: 0, layer_end: L - 1 }, d, L) as SaeConfig;
    const variant = variantFor(cfg);
    const { losses, end: l0 } = trainFullBatch(variant, cfg, data, n, d, L, 300, 1e-2,
      (p, x, live) => tf.tidy(() => tf.sum(tf.greater(variant.encode(p, x, live), 0).toFloat()).dataSync()[0] / n));
    expect(losses[1]).toBeLessThan(0.5 * losses[0]);
    expect(l0!).toBeLessThan(dSae / 2);
  });
});
