import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialLive, resolveConfig, type LiveParams, type SaeConfig } from '../config';
import { createRng } from '../rng';
import { expectClose, matmul, useCpu, values } from '../testing';
import { MIN_THRESHOLD } from './jumprelu';
import { variantFor } from './registry';
import type { Params } from './types';

beforeAll(useCpu);

const D = 3, S = 5, B = 4;
const X = values(B * D, 1, 2);
const W_ENC = values(D * S, 2);
const B_ENC = values(S, 3, 0.2);
const W_DEC = values(S * D, 4);
const B_DEC = values(D, 5, 0.3);
const THETA = [0.05, 0.3, 0.1, 0.6, 0.2];

function setup(input: Record<string, unknown>) {
  const cfg = resolveConfig({ d_sae: S, ...input }, D) as SaeConfig;
  const variant = variantFor(cfg);
  const p: Params = variant.init(cfg, { dIn: D, nLayers: 1, mean: new Float32Array(D), meanNorm: 1 }, createRng(0));
  p.W_enc.assign(tf.tensor2d(W_ENC, [D, S]));
  p.b_enc.assign(tf.tensor1d(B_ENC));
  p.W_dec.assign(tf.tensor2d(W_DEC, [S, D]));
  p.b_dec.assign(tf.tensor1d(B_DEC));
  if (p.threshold) p.threshold.assign(tf.tensor1d(THETA));
  return { cfg, variant, p, live: initialLive(cfg) };
}

/** Plain-array reference of the shared affine SAE with activation `act` (row, latent) → f. */
function reference(act: (z: number, j: number, row: number[]) => number) {
  const xc = X.map((v, i) => v - B_DEC[i % D]);
  const z = matmul(xc, W_ENC, B, D, S).map((v, i) => v + B_ENC[i % S]);
  const f = z.map((v, i) => act(v, i % S, z.slice(Math.floor(i / S) * S, Math.floor(i / S) * S + S)));
  const xHat = matmul(f, W_DEC, B, S, D).map((v, i) => v + B_DEC[i % D]);
  let recon = 0;
  for (let i = 0; i < X.length; i++) recon += (X[i] - xHat[i]) ** 2;
  recon /= B;
  const decNorm = Array.from({ length: S }, (_, j) => Math.hypot(...W_DEC.slice(j * D, j * D + D)));
  return { z, f, xHat, recon, decNorm };
}

const scalars = (parts: { total: tf.Scalar; recon: tf.Scalar; sparsity: tf.Scalar; aux: tf.Scalar }) =>
  ({ total: parts.total.dataSync()[0], recon: parts.recon.dataSync()[0], sparsity: parts.sparsity.dataSync()[0], aux: parts.aux.dataSync()[0] });

const noDead = { deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 };

describe('relu variant', () => {
  it('matches the plain-array forward pass and loss: recon + λ·mean_b Σ f_i‖W_dec,i‖', () => {
    const { variant, p, live } = setup({ architecture: 'relu', l1_coefficient: 0.7 });
    const ref = reference((z) => Math.max(0, z));
    const x = tf.tensor2d(X, [B, D]);
    expectClose(variant.encode(p, x, live).dataSync(), ref.f, 1e-5);
    const parts = variant.loss(p, x, live, noDead);
    expectClose(parts.xHat.dataSync(), ref.xHat, 1e-5);
    let l1 = 0;
    for (let i = 0; i < ref.f.length; i++) l1 += ref.f[i] * ref.decNorm[i % S];
    const s = scalars(parts);
    expect(s.recon).toBeCloseTo(ref.recon, 5);
    expect(s.sparsity).toBeCloseTo((0.7 * l1) / B, 5);
    expect(s.total).toBeCloseTo(ref.recon + (0.7 * l1) / B, 5);
  });

  it('autodiff gradients of the total loss match central finite differences on every parameter', () => {
    const { variant, p, live } = setup({ architecture: 'relu', l1_coefficient: 0.3 });
    const x = tf.tensor2d(X, [B, D]);
    const vars = Object.values(p);
    const { grads } = tf.variableGrads(() => variant.loss(p, x, live, noDead).total, vars);
    const loss = () => variant.loss(p, x, live, noDead).total.dataSync()[0];
    const h = 1e-2;
    for (const [name, v] of Object.entries(p)) {
      const g = grads[v.name].dataSync();
      const base = Array.from(v.dataSync());
      for (let i = 0; i < base.length; i++) {
        const plus = [...base]; plus[i] += h;
        v.assign(tf.tensor(plus, v.shape));
        const lp = loss();
        const minus = [...base]; minus[i] -= h;
        v.assign(tf.tensor(minus, v.shape));
        const lm = loss();
        v.assign(tf.tensor(base, v.shape));
        const fd = (lp - lm) / (2 * h);
        // ReLU kinks make a few coordinates non-smooth; a wrong sign or factor fails everywhere.
        expect(Math.abs(g[i] - fd), `${name}[${i}]: autodiff ${g[i]} vs finite difference ${fd}`).toBeLessThan(0.02 + 0.02 * Math.abs(fd));
      }
    }
  });

  it('inference threshold zeroes activations at or below θ', () => {
    const { variant, p, live } = setup({ architecture: 'relu' });
    const ref = reference((z) => (z > 0.25 ? z : 0));
    expectClose(variant.encode(p, tf.tensor2d(X, [B, D]), { ...live, threshold: 0.25 }).dataSync(), ref.f, 1e-5);
  });
});

describe('topk variant', () => {
  it('keeps the k largest pre-activations per row and has no sparsity term', () => {
    const { variant, p, live } = setup({ architecture: 'topk', k: 2 });
    const ref = reference((z, _j, row) => (z >= [...row].sort((a, b) => b - a)[1] && z > 0 ? z : 0));
    const x = tf.tensor2d(X, [B, D]);
    expectClose(variant.encode(p, x, live).dataSync(), ref.f, 1e-5);
    const s = scalars(variant.loss(p, x, live, noDead));
    expect(s.recon).toBeCloseTo(ref.recon, 5);
    expect(s.sparsity).toBe(0);
    expect(s.aux).toBe(0); // no dead latents
    expect(variant.saelensConfig(resolveConfig({ architecture: 'topk', d_sae: S, k: 2 }, D), live)).toEqual({ architecture: 'topk', k: 2, rescale_acts_by_decoder_norm: false });
  });

  // The trainer says "none dead" (knownNoneDead) on wasm and cpu; AuxK is then skipped, which must
  // change nothing: with no dead latent its loss and gradients are exactly 0.
  for (const architecture of ['topk', 'batchtopk', 'matryoshka']) {
    it(`${architecture}: skipping AuxK when nothing is dead gives the same loss and gradients, and AuxK still counts when something is`, () => {
      const { variant, p, live } = setup({ architecture, k: 2, ...(architecture === 'matryoshka' ? { matryoshka_prefixes: [2, S] } : {}) });
      const x = tf.tensor2d(X, [B, D]);
      const run = (ctx: typeof noDead & { knownNoneDead?: () => boolean }) => {
        let aux = NaN;
        const { value, grads } = tf.variableGrads(() => { const parts = variant.loss(p, x, live, ctx); aux = parts.aux.dataSync()[0]; return parts.total; }, Object.values(p));
        return { total: value.dataSync()[0], aux, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Array.from(g.dataSync())])) };
      };
      const computed = run(noDead), skipped = run({ ...noDead, knownNoneDead: () => true });
      expect(skipped.aux).toBe(0);
      expect(computed.aux).toBe(0);
      expect(skipped.total).toBe(computed.total);
      expect(skipped.grads).toEqual(computed.grads);
      // Two dead latents: AuxK is part of the loss (not skipped when the trainer says some are dead, or does not say).
      const dead = { deadMask: tf.tensor1d([0, 1, 0, 1, 0]), step: 0, seed: 0 };
      const withDead = run({ ...dead, knownNoneDead: () => false });
      expect(withDead.aux).toBeGreaterThan(0);
      expect(run(dead).aux).toBe(withDead.aux);
    });
  }
});

describe('jumprelu variant', () => {
  it('forward is z·H(z − θ) per latent, sparsity = λ·mean_b Σ H(z − θ)', () => {
    const { variant, p, live } = setup({ architecture: 'jumprelu', l0_coefficient: 0.4, bandwidth: 0.1 });
    const ref = reference((z, j) => (z > THETA[j] ? z : 0));
    const x = tf.tensor2d(X, [B, D]);
    expectClose(variant.encode(p, x, live).dataSync(), ref.f, 1e-5);
    const l0 = ref.z.filter((z, i) => z > THETA[i % S]).length / B;
    const s = scalars(variant.loss(p, x, live, noDead));
    expect(s.recon).toBeCloseTo(ref.recon, 5);
    expect(s.sparsity).toBeCloseTo(0.4 * l0, 5);
  });

  it('θ gradient = recon term through the JumpReLU STE + λ · the Heaviside STE', () => {
    const eps = 0.5; // wide enough that several (z, θ) pairs fall in the window
    const lambda = 0.4;
    const { variant, p, live } = setup({ architecture: 'jumprelu', l0_coefficient: lambda, bandwidth: eps });
    const x = tf.tensor2d(X, [B, D]);
    const { grads } = tf.variableGrads(() => variant.loss(p, x, live, noDead).total, Object.values(p));
    const got = grads[p.threshold.name].dataSync();
    const ref = reference((z, j) => (z > THETA[j] ? z : 0));
    // g = ∂recon/∂f = (2/B)·(x̂ − x)·W_decᵀ
    const diff = ref.xHat.map((v, i) => (2 / B) * (v - X[i]));
    const wDecT = Array.from({ length: D * S }, (_, i) => W_DEC[(i % S) * D + Math.floor(i / S)]);
    const g = matmul(diff, wDecT, B, D, S);
    const K = (u: number) => (u > -0.5 && u < 0.5 ? 1 : 0);
    const expected = THETA.map((th, j) => {
      let s = 0;
      for (let b = 0; b < B; b++) {
        const k = K((ref.z[b * S + j] - th) / eps);
        s += -(th / eps) * k * g[b * S + j] + lambda * (-(1 / eps) * k * (1 / B));
      }
      return s;
    });
    expect(expected.some((v) => Math.abs(v) > 1e-3)).toBe(true);
    expectClose(got, expected, 1e-4);
  });

  it('constrain keeps θ ≥ MIN_THRESHOLD and unit-norm decoder rows; the threshold slider sets every θ', () => {
    const { variant, p, live } = setup({ architecture: 'jumprelu' });
    p.threshold.assign(tf.tensor1d([-1, 0, 0.2, 0.3, 0.4]));
    variant.constrain!(p);
    expect(Array.from(p.threshold.dataSync())[0]).toBeCloseTo(MIN_THRESHOLD, 9);
    const w = p.W_dec.dataSync();
    for (let j = 0; j < S; j++) expect(Math.hypot(w[j * D], w[j * D + 1], w[j * D + 2])).toBeCloseTo(1, 5);
    const next: LiveParams = { ...live, threshold: 0.42 };
    variant.applyLive!(p, live, next);
    expectClose(p.threshold.dataSync(), [0.42, 0.42, 0.42, 0.42, 0.42], 1e-7);
  });

  it('exports SAELens names and shapes', () => {
    const { variant, p, cfg, live } = setup({ architecture: 'jumprelu' });
    const shapes = Object.fromEntries(Object.entries(variant.exportTensors(p)).map(([n, t]) => [n, t.shape]));
    expect(shapes).toEqual({ W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D], threshold: [S] });
    expect(variant.saelensConfig(cfg, live).architecture).toBe('jumprelu');
    const relu = setup({ architecture: 'relu' });
    expect(Object.keys(relu.variant.exportTensors(relu.p)).sort()).toEqual(['W_dec', 'W_enc', 'b_dec', 'b_enc']);
    expect(relu.variant.saelensConfig(relu.cfg, relu.live).architecture).toBe('standard');
  });
});
