// The ReLU SAE's dense step with its backward written out (denseLinear.ts) against tfjs's autodiff
// through relu.ts's loss on the same backend: the loss parts, every gradient, and the parameters
// after 20 steps of the trainer's step (trainStep.ts), on wasm (the fused products) and cpu (tfjs
// ops), at widths that fill the product kernel's tiles and widths that do not.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam } from '../adam';
import { initialLive, resolveConfig, type SaeConfig } from '../config';
import { kernelsRun } from '../ops/webgpu/kernelsRun';
import { createRng } from '../rng';
import { expectNoLeaks, relativeDifference, useCpu, useWasm, values } from '../testing';
import { trainStep, type StepState } from '../trainStep';
import { WASM_KERNELS } from '../ops/wasm/registered';
import { variantFor } from './registry';
import { autodiffStep } from './autodiffStep';
import type { StepContext, Variant } from './types';

const B = 48;

function setup(D: number, S: number) {
  const cfg = resolveConfig({ architecture: 'relu', d_sae: S, l1_coefficient: 0.3, batch_size: B, sparse: 'off' }, D);
  const variant = variantFor(cfg);
  const rows = Float32Array.from(values(4 * B * D, 11, 1.5));
  const mean = new Float32Array(D);
  for (let i = 0; i < rows.length; i++) mean[i % D] += rows[i] / (4 * B);
  const p = variant.init(cfg, { dIn: D, nLayers: 1, mean, meanNorm: 1 }, createRng(3));
  // About a third of the pre-activations positive, and decoder rows off unit norm, so that the L1
  // term's pull on the norms is not a multiple of W_dec alone.
  p.b_enc.assign(tf.tensor1d(values(S, 5, 0.8).map((v) => v - 0.6)));
  p.W_dec.assign(tf.mul(p.W_dec, tf.reshape(tf.tensor1d(values(S, 12, 0.5).map((v) => 1 + v)), [S, 1])));
  return { cfg, variant, p, rows, live: initialLive(cfg) };
}

const SHAPES: [number, number][] = [[32, 256], [30, 250]];

describe.each(['wasm', 'cpu'])('the written ReLU dense step on %s', (backend) => {
  beforeAll(backend === 'wasm' ? useWasm : useCpu);
  afterAll(useCpu);

  it.each(SHAPES)('d_in %i, d_sae %i: equals autodiff’s loss parts and every gradient', (D, S) => {
    const { variant, p, rows, live } = setup(D, S);
    const x = tf.tensor2d(rows.subarray(0, B * D), [B, D]);
    const ctx: StepContext = { deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 };
    const ref = autodiffStep(variant, p, x, live, ctx);
    const names = kernelsRun(() => {
      const step = variant.denseStep!(p, x, live, ctx)!;
      expect(step).not.toBeNull();
      expect(relativeDifference(step.parts.recon.dataSync(), ref.parts.recon.dataSync())).toBeLessThan(1e-5);
      expect(relativeDifference(step.parts.sparsity.dataSync(), ref.parts.sparsity.dataSync())).toBeLessThan(1e-5);
      expect(relativeDifference(step.parts.total.dataSync(), ref.total.dataSync())).toBeLessThan(1e-5);
      expect(relativeDifference(step.parts.f.dataSync(), ref.parts.f.dataSync())).toBeLessThan(1e-5);
      expect(relativeDifference(step.parts.xHat.dataSync(), ref.parts.xHat.dataSync())).toBeLessThan(1e-5);
      expect(ref.parts.sparsity.dataSync()[0]).toBeGreaterThan(0.01);
      for (const name of Object.keys(p)) {
        expect(relativeDifference(step.grads[name].dataSync(), ref.grads[name].dataSync()), `∂${name}`).toBeLessThan(1e-5);
        expect(Math.max(...Array.from(ref.grads[name].dataSync(), Math.abs)), `∂${name} is not zero`).toBeGreaterThan(1e-3);
      }
      // Some latents fire and some do not, so the mask matters.
      const f = ref.parts.f.dataSync();
      const active = f.filter((v) => v > 0).length / f.length;
      expect(active).toBeGreaterThan(0.1);
      expect(active).toBeLessThan(0.9);
      tf.dispose([step.parts.total, step.parts.recon, step.parts.sparsity, step.parts.aux, step.parts.f, step.parts.xHat, ...Object.values(step.grads)]);
    });
    if (backend === 'wasm') {
      // The ReLU and its backward are done inside the products: no pass of their own.
      expect(names).toContain(WASM_KERNELS.denseProduct);
      if (S % 4 === 0) expect(names).toContain(WASM_KERNELS.columnSums);
      for (const k of ['Relu', WASM_KERNELS.reluGrad, 'Step']) expect(names).not.toContain(k);
    }
    ref.dispose();
    tf.dispose([x, ctx.deadMask, ...Object.values(p)]);
  });

  /** 20 steps of the trainer's step with `variant`, on the 4 batches in turn; the parameters after. */
  function train(D: number, S: number, withoutWrittenStep: boolean): Record<string, Float32Array> {
    const { cfg, variant, p, rows, live } = setup(D, S);
    const used: Variant = withoutWrittenStep ? { ...variant, denseStep: undefined } : variant;
    const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
    const state: StepState = { cfg: cfg as SaeConfig, variant: used, params: p, adam, tokensSinceFired: tf.variable(tf.zeros([S]), false), firedSinceLog: tf.variable(tf.zeros([S]), false), guidance: [], step: 0, live };
    const rowIds = new Uint32Array(B).map((_, i) => i);
    for (let step = 0; step < 20; step++) {
      state.step = step;
      const { stats } = trainStep(state, rows.subarray((step % 4) * B * D, ((step % 4) + 1) * B * D), D, rowIds, undefined, step === 19);
      if (stats) tf.dispose(Object.values(stats));
    }
    const out = Object.fromEntries(Object.entries(p).map(([name, v]) => [name, v.dataSync().slice() as Float32Array]));
    tf.dispose([...Object.values(p), state.tokensSinceFired, state.firedSinceLog]);
    adam.dispose();
    return out;
  }

  it.each(SHAPES)('d_in %i, d_sae %i: trains 20 steps to autodiff’s parameters', (D, S) => {
    const written = train(D, S, false), autodiff = train(D, S, true);
    for (const name of Object.keys(autodiff)) expect(relativeDifference(written[name], autodiff[name]), `${name} after 20 steps`).toBeLessThan(1e-5);
  });

  it('leaves no tensors behind', () => {
    const { variant, p, rows, live } = setup(32, 256);
    const x = tf.tensor2d(rows.subarray(0, B * 32), [B, 32]);
    const ctx: StepContext = { deadMask: tf.zeros([256]) as tf.Tensor1D, step: 0, seed: 0 };
    expectNoLeaks(() => tf.tidy(() => { variant.denseStep!(p, x, live, ctx); }));
    tf.dispose([x, ctx.deadMask, ...Object.values(p)]);
  });
});
