// The sparse steps (sparseLinear.ts: TopK, JumpReLU, BatchTopK, Matryoshka, ReLU, Gated) against the
// dense step through tfjs's autodiff on the same backend: losses, every gradient and, through the
// trainer's step (trainStep.ts), the parameters after 20 steps — for TopK with dead latents, so
// AuxK's sparse path is exercised too.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam } from '../adam';
import { initialLive, resolveConfig, type SaeConfig } from '../config';
import { kernelsRun } from '../ops/webgpu/kernelsRun';
import { BATCH_TOPK_ENTRIES, SPARSE_KERNELS, THRESHOLD_ENTRIES } from '../ops/sparse';
import { createRng } from '../rng';
import { expectNoLeaks, relativeDifference, useWasm, values } from '../testing';
import { trainStep, type StepState } from '../trainStep';
import { variantFor } from './registry';
import { autodiffStep } from './autodiffStep';
import type { SparseStep, StepContext } from './types';

beforeAll(useWasm);
afterAll(() => tf.setBackend('cpu'));

const D = 32, S = 256, B = 48;
/** Rows with a few strong directions, so that the top k of a row is well separated from the rest. */
const ROWS = Float32Array.from(values(B * 4 * D, 11, 1.5));

function setup(extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'topk', d_sae: S, k: 8, aux_k: 16, aux_k_coefficient: 1 / 32, batch_size: B, ...extra }, D);
  const variant = variantFor(cfg);
  const mean = new Float32Array(D);
  for (let i = 0; i < ROWS.length; i++) mean[i % D] += ROWS[i] / (ROWS.length / D);
  const p = variant.init(cfg, { dIn: D, nLayers: 1, mean, meanNorm: 1 }, createRng(3));
  // Move b_enc well below zero, so that many pre-activations are negative and some rows keep fewer
  // than k positive entries.
  const shift = cfg.architecture === 'jumprelu' ? 0 : -2;
  (p.b_enc ?? p.b_gate).assign(tf.tensor1d(values(S, 5, 0.8).map((v) => v + shift)));
  if (cfg.architecture === 'gated') {
    // Magnitudes off the gate (r_mag, b_mag ≠ 0; a third of b_mag far below 0, so that some open
    // gates have π_mag ≤ 0). From the initialisation's r_mag = b_mag = 0 with W_enc = W_decᵀ, a latent
    // that first fires alone in its row has ∂π_mag exactly 0, and Adam turns the rounding noise either
    // step computes there into an r_mag step of up to lr (sparseLinear.ts gatedSparseStep): two
    // 20-step runs would part there even if both were dense but rounded differently.
    p.r_mag.assign(tf.tensor1d(values(S, 13, 0.4)));
    p.b_mag.assign(tf.tensor1d(values(S, 14, 0.5).map((v, j) => v - (j % 3 === 0 ? 4 : 0))));
  }
  return { cfg, variant, p, live: initialLive(cfg) };
}

function relativeError(actual: tf.Tensor, expected: tf.Tensor): number {
  return relativeDifference(actual.dataSync(), expected.dataSync());
}

function disposeSparseStep(s: SparseStep): void {
  tf.dispose([s.parts.total, s.parts.recon, s.parts.aux, s.parts.sparsity, s.parts.xHat, s.parts.entries.indices, s.parts.entries.values, ...Object.values(s.parts.diagnostics ?? {}), ...Object.values(s.grads)]);
}

function deadMask(every: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: S }, (_, j) => (every > 0 && j % every === 0 ? 1 : 0)));
}

describe('sparse TopK step on wasm', () => {
  it('runs the sparse kernels, and equals the dense loss and every gradient, with AuxK on dead latents', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(ROWS.subarray(0, B * D), [B, D]);
    for (const every of [3, 0]) { // a third of the latents dead; then none (AuxK exactly 0)
      const ctx: StepContext = { deadMask: deadMask(every), step: 0, seed: 0 };
      const dense = autodiffStep(variant, p, x, live, ctx);
      const parts = dense.parts;
      const names = kernelsRun(() => {
        const sparse = variant.sparseStep!(p, x, live, ctx)!;
        expect(relativeError(sparse.parts.recon, parts.recon)).toBeLessThan(1e-5);
        expect(relativeError(sparse.parts.total, dense.total)).toBeLessThan(1e-5);
        if (every === 3) expect(sparse.parts.aux.dataSync()[0]).toBeGreaterThan(1e-4);
        else expect(sparse.parts.aux.dataSync()[0]).toBe(0);
        expect(relativeError(sparse.parts.aux, parts.aux)).toBeLessThan(1e-5);
        for (const name of Object.keys(p)) {
          const err = relativeError(sparse.grads[name], dense.grads[name]);
          expect(err, `∂${name}`).toBeLessThan(1e-5);
        }
        // The entries hold exactly the dense f's nonzero values, row by row.
        const f = parts.f.dataSync(), idx = sparse.parts.entries.indices.dataSync(), val = sparse.parts.entries.values.dataSync();
        const k = live.k;
        let shortRows = 0;
        for (let b = 0; b < B; b++) {
          const fromDense = new Map<number, number>();
          for (let j = 0; j < S; j++) if (f[b * S + j] !== 0) fromDense.set(j, f[b * S + j]);
          const fromEntries = new Map<number, number>();
          for (let t = 0; t < k; t++) if (val[b * k + t] !== 0) fromEntries.set(idx[b * k + t], val[b * k + t]);
          expect([...fromEntries.keys()].sort((u, v) => u - v)).toEqual([...fromDense.keys()].sort((u, v) => u - v));
          for (const [j, v] of fromDense) expect(Math.abs(fromEntries.get(j)! - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v)));
          if (fromDense.size < k) shortRows++;
        }
        expect(shortRows, 'rows with fewer than k positive pre-activations').toBeGreaterThan(0);
        disposeSparseStep(sparse);
      });
      for (const k of Object.values(SPARSE_KERNELS)) if (k !== SPARSE_KERNELS.topkEntries || every === 3) expect(names).toContain(k);
      dense.dispose();
      ctx.deadMask.dispose();
    }
    x.dispose();
    Object.values(p).forEach((v) => v.dispose());
  });

  /**
   * Trains `steps` steps through the trainer's step, on ROWS' 4 batches in turn from batch `offset`
   * on, and returns the parameters' values.
   */
  function train(extra: Record<string, unknown>, steps: number, deadEvery = 0, offset = 0): Record<string, Float32Array> {
    const { cfg, variant, p, live } = setup({ ...extra, dead_tokens_window: 1 });
    const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
    // A latent counts as dead once it has gone a window of tokens without firing; the window of 1
    // and a head start of "tokens since fired" make the chosen latents dead at the first step.
    const since = tf.variable(tf.tensor1d(Array.from({ length: S }, (_, j) => (deadEvery && j % deadEvery === 0 ? 10 : 0))), false);
    const state: StepState = { cfg: cfg as SaeConfig, variant, params: p, adam, tokensSinceFired: since, firedSinceLog: tf.variable(tf.zeros([S]), false), guidance: [], step: 0, live };
    const rowIds = new Uint32Array(B).map((_, i) => i);
    for (let step = 0; step < steps; step++) {
      state.step = step;
      const start = ((step + offset) % 4) * B * D;
      const { stats } = trainStep(state, ROWS.subarray(start, start + B * D), D, rowIds, undefined, step === steps - 1);
      if (stats) tf.dispose(Object.values(stats));
    }
    const out = Object.fromEntries(Object.entries(p).map(([name, v]) => [name, v.dataSync().slice() as Float32Array]));
    Object.values(p).forEach((v) => v.dispose());
    adam.dispose();
    since.dispose();
    state.firedSinceLog.dispose();
    return out;
  }

  /**
   * Trains 20 steps with the sparse steps allowed (sparse: 'auto') and 20 with the dense step only
   * (sparse: 'off'), from the same start, and expects every parameter to agree within 1e-5 relative.
   * Returns the kernels the sparse run dispatched, for the caller's count of sparse steps.
   */
  function expectTrainsLikeDense(extra: Record<string, unknown>, label: string, deadEvery = 0, offset = 0): string[] {
    let sparse: Record<string, Float32Array> = {}, dense: Record<string, Float32Array> = {};
    const kernels = kernelsRun(() => { sparse = train(extra, 20, deadEvery, offset); });
    expect(kernelsRun(() => { dense = train({ ...extra, sparse: 'off' }, 20, deadEvery, offset); })).not.toContain(SPARSE_KERNELS.decode);
    for (const name of Object.keys(dense)) expect(relativeDifference(sparse[name], dense[name]), `${name} after 20 steps${label}`).toBeLessThan(1e-5);
    return kernels;
  }

  it('trains 20 steps to the same parameters as the dense step (sparse: off), AuxK included', () => {
    for (const deadEvery of [0, 5]) {
      expect(expectTrainsLikeDense({}, ` (dead every ${deadEvery})`, deadEvery)).toContain(SPARSE_KERNELS.decode);
    }
  });

  it('leaves no tensors behind', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(ROWS.subarray(0, B * D), [B, D]);
    const ctx: StepContext = { deadMask: deadMask(3), step: 0, seed: 0 };
    expectNoLeaks(() => tf.tidy(() => { variant.sparseStep!(p, x, live, ctx); }));
    tf.dispose([x, ctx.deadMask, ...Object.values(p)]);
  });

  it('JumpReLU: equals the dense loss and every gradient (θ included), active set and window both in play', () => {
    const { variant, p, live } = setup({ architecture: 'jumprelu', init_threshold: 0.9, bandwidth: 0.3, l0_coefficient: 0.5 });
    // Per-latent thresholds, so that θ's gradient differs across latents.
    p.threshold.assign(tf.tensor1d(values(S, 8, 0.3).map((v) => 0.9 + v)));
    const x = tf.tensor2d(ROWS.subarray(0, B * D), [B, D]);
    const ctx: StepContext = { deadMask: deadMask(0), step: 0, seed: 0, activeFraction: 0.01 };
    const dense = autodiffStep(variant, p, x, live, ctx);
    const parts = dense.parts;
    const sparse = variant.sparseStep!(p, x, live, ctx)!;
    expect(sparse, 'the sparse step applies at an active fraction of 1%').not.toBeNull();
    const active = tf.sum(tf.step(parts.f)).dataSync()[0] / (B * S);
    expect(active).toBeGreaterThan(0.005);
    expect(active).toBeLessThan(0.2);
    expect(relativeError(sparse.parts.recon, parts.recon)).toBeLessThan(1e-5);
    expect(relativeError(sparse.parts.sparsity, parts.sparsity)).toBeLessThan(1e-6);
    for (const name of Object.keys(p)) expect(relativeError(sparse.grads[name], dense.grads[name]), `∂${name}`).toBeLessThan(1e-5);
    // θ's gradient has both terms: the window's reconstruction term and the L0 term.
    expect(tf.max(tf.abs(dense.grads.threshold)).dataSync()[0]).toBeGreaterThan(1e-3);
    // Above the switch-over fraction, and before any fraction is known, the step stays dense.
    expect(variant.sparseStep!(p, x, live, { ...ctx, activeFraction: 0.5 })).toBeNull();
    expect(variant.sparseStep!(p, x, live, { ...ctx, activeFraction: undefined })).toBeNull();
    disposeSparseStep(sparse);
    dense.dispose();
    tf.dispose([ctx.deadMask, x, ...Object.values(p)]);
  });

  it('JumpReLU: trains 20 steps to the same parameters as the dense step', () => {
    const extra = { architecture: 'jumprelu', init_threshold: 1.6, bandwidth: 0.3, l0_coefficient: 0.5 };
    // The first step is dense (no active fraction known yet), the 19 others sparse.
    expect(expectTrainsLikeDense(extra, '').filter((k) => k === THRESHOLD_ENTRIES)).toHaveLength(19);
  });

  it.each(['batchtopk', 'matryoshka'])('%s: equals the dense loss and every gradient, and moves θ_g the same', (architecture) => {
    for (const every of [3, 0]) {
      const dense = setup({ architecture });
      const sparse = setup({ architecture });
      const x = tf.tensor2d(ROWS.subarray(0, B * D), [B, D]);
      const ctx: StepContext = { deadMask: deadMask(every), step: 0, seed: 0 };
      const d = autodiffStep(dense.variant, dense.p, x, dense.live, ctx);
      const parts = d.parts;
      dense.variant.afterStep!(dense.p, parts, dense.live);
      const s = sparse.variant.sparseStep!(sparse.p, x, sparse.live, ctx)!;
      expect(s).not.toBeNull();
      s.afterStep!();
      expect(relativeError(s.parts.recon, parts.recon)).toBeLessThan(1e-5);
      expect(relativeError(s.parts.aux, parts.aux)).toBeLessThan(1e-5);
      if (every === 3) expect(s.parts.aux.dataSync()[0]).toBeGreaterThan(1e-4);
      for (const name of Object.keys(dense.p)) expect(relativeError(s.grads[name], d.grads[name]), `∂${name}`).toBeLessThan(1e-5);
      // Rows keep different numbers of latents; the batch keeps k·B in all (no ties in these data).
      const counts = Array.from({ length: B }, (_, b) => Array.from(parts.f.dataSync().subarray(b * S, (b + 1) * S)).filter((v) => v > 0).length);
      expect(new Set(counts).size).toBeGreaterThan(1);
      expect(tf.sum(tf.step(s.parts.entries.values)).dataSync()[0]).toBe(counts.reduce((a, b) => a + b, 0));
      const thetas = [dense, sparse].map((v) => (v.variant as unknown as { threshold: { value: tf.Scalar } }).threshold.value.dataSync()[0]);
      expect(thetas[0]).toBeGreaterThan(0);
      // θ_g is the smallest kept value, small against the pre-activations it is a difference of: the
      // two encoders' rounding shows in it at the scale of the largest |f|.
      const fScale = tf.max(parts.f).dataSync()[0];
      expect(Math.abs(thetas[1] - thetas[0])).toBeLessThan(1e-5 * fScale);
      disposeSparseStep(s);
      d.dispose();
      tf.dispose([ctx.deadMask, x, ...Object.values(dense.p), ...Object.values(sparse.p)]);
      dense.variant.dispose?.();
      sparse.variant.dispose?.();
    }
  });

  it.each(['batchtopk', 'matryoshka'])('%s: trains 20 steps to the same parameters as the dense step', (architecture) => {
    for (const deadEvery of [0, 5]) {
      expect(expectTrainsLikeDense({ architecture }, ` (dead every ${deadEvery})`, deadEvery).filter((k) => k === BATCH_TOPK_ENTRIES)).toHaveLength(20);
    }
  });

  it('ReLU: equals the dense loss and every gradient (the L1 term on f and on the decoder norms)', () => {
    const { variant, p, live } = setup({ architecture: 'relu', l1_coefficient: 0.3 });
    // Decoder rows off unit norm, so the penalty's pull on the norms is not a multiple of W_dec alone.
    p.W_dec.assign(tf.mul(p.W_dec, tf.reshape(tf.tensor1d(values(S, 12, 0.5).map((v) => 1 + v)), [S, 1])));
    const x = tf.tensor2d(ROWS.subarray(0, B * D), [B, D]);
    const ctx: StepContext = { deadMask: deadMask(0), step: 0, seed: 0, activeFraction: 0.05 };
    const dense = autodiffStep(variant, p, x, live, ctx);
    const parts = dense.parts;
    const sparse = variant.sparseStep!(p, x, live, ctx)!;
    expect(sparse).not.toBeNull();
    expect(relativeError(sparse.parts.recon, parts.recon)).toBeLessThan(1e-5);
    expect(relativeError(sparse.parts.sparsity, parts.sparsity)).toBeLessThan(1e-5);
    expect(sparse.parts.sparsity.dataSync()[0]).toBeGreaterThan(0.01);
    for (const name of Object.keys(p)) expect(relativeError(sparse.grads[name], dense.grads[name]), `∂${name}`).toBeLessThan(1e-5);
    expect(variant.sparseStep!(p, x, live, { ...ctx, activeFraction: 0.5 })).toBeNull();
    disposeSparseStep(sparse);
    dense.dispose();
    tf.dispose([ctx.deadMask, x, ...Object.values(p)]);
  });

  it('ReLU: trains 20 steps to the same parameters as the dense step', () => {
    expect(expectTrainsLikeDense({ architecture: 'relu', l1_coefficient: 0.3 }, '').filter((k) => k === BATCH_TOPK_ENTRIES)).toHaveLength(19);
  });

  it('Gated: equals the dense loss and every gradient (gate, magnitude and the gate\'s own reconstruction)', () => {
    const { variant, p, live } = setup({ architecture: 'gated', l1_coefficient: 0.3 });
    // Decoder rows off unit norm (and, from setup, magnitudes off the gate), so every term differs.
    p.W_dec.assign(tf.mul(p.W_dec, tf.reshape(tf.tensor1d(values(S, 12, 0.5).map((v) => 1 + v)), [S, 1])));
    const x = tf.tensor2d(ROWS.subarray(0, B * D), [B, D]);
    const ctx: StepContext = { deadMask: deadMask(0), step: 0, seed: 0, activeFraction: 0.05 };
    const dense = autodiffStep(variant, p, x, live, ctx);
    const parts = dense.parts;
    const sparse = variant.sparseStep!(p, x, live, ctx)!;
    expect(sparse, 'the sparse step applies at an active fraction of 5%').not.toBeNull();
    for (const k of ['recon', 'sparsity', 'aux', 'total'] as const) expect(relativeError(sparse.parts[k], k === 'total' ? dense.total : parts[k]), k).toBeLessThan(1e-5);
    // Some open gates have π_mag ≤ 0: f is zero there though the gate is open.
    const gateOpen = tf.sum(tf.step(tf.add(tf.matMul(tf.sub(x, p.b_dec), p.W_enc), p.b_gate))).dataSync()[0];
    expect(tf.sum(tf.step(parts.f)).dataSync()[0]).toBeLessThan(gateOpen);
    for (const name of Object.keys(p)) expect(relativeError(sparse.grads[name], dense.grads[name]), `∂${name}`).toBeLessThan(1e-5);
    // Above the switch-over fraction, and before any fraction is known, the step stays dense.
    expect(variant.sparseStep!(p, x, live, { ...ctx, activeFraction: 0.5 })).toBeNull();
    expect(variant.sparseStep!(p, x, live, { ...ctx, activeFraction: undefined })).toBeNull();
    disposeSparseStep(sparse);
    dense.dispose();
    tf.dispose([ctx.deadMask, x, ...Object.values(p)]);
  });

  // From each of three batches on: the runs see the batches in a different order.
  it.each([0, 1, 2])('Gated: trains 20 steps to the same parameters as the dense step, from batch %i on', (offset) => {
    const kernels = expectTrainsLikeDense({ architecture: 'gated', l1_coefficient: 0.3 }, ` (from batch ${offset} on)`, 0, offset);
    // The first step is dense (no active fraction known yet), the 19 others sparse.
    expect(kernels.filter((k) => k === BATCH_TOPK_ENTRIES)).toHaveLength(19);
  });

  it('is not taken with sparse: off', () => {
    const { cfg } = setup({ sparse: 'off' });
    expect(cfg.sparse).toBe('off');
    expect(() => resolveConfig({ architecture: 'topk', sparse: 'always' }, D)).toThrow(/sparse/);
  });
});
