// Every variant on the webgpu backend in Node (Dawn over the machine's Vulkan driver:
// src/cli/nodeWebgpu.ts; Mesa's software Vulkan here and in CI, a GPU on a server) against wasm:
// - the loss's gradients through autodiff, where the fused WGSL kernels replace tfjs's ops
//   (JumpReLU's and the Heaviside's, TopK's and BatchTopK's selections), equal cpu's;
// - a short run through the Trainer itself (its sparse or dense step, Adam's kernel, the decoder
//   normalisation, logging, validation) follows wasm's step for step, and leaks no tensor;
// - resampling dead latents and rolling a run back to its device snapshot, the two paths that
//   used to read parameters synchronously (which a GPU backend in Node cannot).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ARCHITECTURES, MULTI_LAYER, resolveConfig, type Architecture } from './config';
import { nodeWebGPUUnavailable, relativeDifference, useCpu, useWasm, useWebGPU } from './testing';
import { Trainer, type TrainingData } from './trainer';
import { createRng } from './rng';
import { variantFor } from './variants/registry';
import { autodiffStep } from './variants/autodiffStep';
import { initialLive } from './config';
import { makeLayeredDataset, makeSyntheticDataset } from '../data/synthetic';
import { selectLayers, splitDataset } from '../data/dataset';

const unavailable = await nodeWebGPUUnavailable();

const single = makeSyntheticDataset({ rows: 1024, dIn: 12, nFeatures: 32, activePerRow: 3, seed: 5 });
/** Four "layers" of the same tokens, each a different rotation of the planted code. */
const multi = makeLayeredDataset(single, 4);

function configFor(architecture: Architecture, extra: Record<string, unknown> = {}) {
  const nLayers = MULTI_LAYER.includes(architecture) ? multi.nLayers : 1;
  return resolveConfig({ architecture, d_sae: 48, batch_size: 64, steps: 1000, log_every: 5, dead_tokens_window: 128, val_every: 10, ...extra }, single.dIn, nLayers);
}

function dataFor(cfg: ReturnType<typeof resolveConfig>): TrainingData {
  const ds = MULTI_LAYER.includes(cfg.architecture) ? selectLayers(multi, cfg.layer_start, cfg.layer_end) : single;
  return { ...splitDataset(ds, 0.2, 0), groundTruth: ds.groundTruth };
}

const LOGGED = ['total_loss', 'recon_loss', 'l0', 'nmse', 'dead_fraction'] as const;

/**
 * RandomK's random draw leaves some latents' ∂b_enc at ~1e-9, left over from cancelling sums
 * (measured at step 0: −1.7e-9 on wasm and webgpu, −8.2e-10 on cpu, for a largest entry of 0.03).
 * Adam divides by √v + ε with ε = 1e-8, so such a gradient moves its b_enc by 8–15 % of the
 * learning rate depending on its last bits: after 30 steps b_enc differs by ~1.4e-2 relative
 * between backends, from noise that is the same size on each. Its losses still agree within 1e-3.
 */
const PARAMETER_TOLERANCE: Partial<Record<Architecture, number>> = { randomk: 3e-2 };

/** 30 steps on the current backend: the logged rows, the evaluation and the trained parameters. */
async function shortRun(architecture: Architecture, backend: 'wasm' | 'webgpu') {
  const cfg = configFor(architecture);
  const t = new Trainer(cfg, dataFor(cfg), backend);
  await t.runSteps(30);
  const rows = t.takeRows();
  const evaluation = await t.evaluate();
  const params = Object.fromEntries(await Promise.all(Object.entries(t.params).map(async ([k, v]) => [k, await v.data()] as const)));
  t.dispose();
  return { rows, metrics: evaluation.metrics, params };
}

describe.skipIf(unavailable !== null)('every variant on webgpu in Node equals wasm', () => {
  beforeAll(async () => {
    // Both backends start once here, so that no test pays for a start.
    await useWasm();
    await useWebGPU();
  });

  // The loss's gradients through autodiff at the trainer's widths: cpu's tfjs ops against webgpu,
  // where the fused kernels replace them. 1e-4 of the largest entry: float32 sums in another
  // order differ by ~1e-6 relative; a wrong sign, a missing factor or a lost mask is O(1).
  it.each(ARCHITECTURES.map((a) => [a]))('%s: the loss and its gradients equal cpu\'s', async (architecture) => {
    const cfg = configFor(architecture);
    const variant = variantFor(cfg);
    const nLayers = MULTI_LAYER.includes(architecture) ? multi.nLayers : 1;
    const width = nLayers * single.dIn;
    const ds = MULTI_LAYER.includes(architecture) ? multi : single;
    const rows = ds.data.subarray(0, 64 * width);
    const mean = new Float32Array(width);
    const run = async (backend: 'cpu' | 'webgpu') => {
      await (backend === 'cpu' ? useCpu() : useWebGPU());
      const before = tf.memory().numTensors;
      const p = variant.init(cfg, { dIn: single.dIn, nLayers, mean, meanNorm: 1 }, createRng(7));
      const x = tf.tensor2d(rows, [64, width]);
      const deadMask = tf.tensor1d(Float32Array.from({ length: cfg.d_sae }, (_, i) => (i % 5 === 0 ? 1 : 0)));
      const step = autodiffStep(variant, p, x, initialLive(cfg), { deadMask, step: 3, seed: cfg.seed });
      const out = {
        total: (await step.total.data())[0],
        grads: Object.fromEntries(await Promise.all(Object.entries(step.grads).map(async ([k, g]) => [k, await g.data()] as const))),
      };
      step.dispose();
      tf.dispose([x, deadMask, ...Object.values(p)]);
      variant.dispose?.();
      expect(tf.memory().numTensors, `${backend} leaks`).toBe(before);
      return out;
    };
    const cpu = await run('cpu');
    const gpu = await run('webgpu');
    expect(Math.abs(gpu.total - cpu.total) / Math.max(1, Math.abs(cpu.total))).toBeLessThan(1e-4);
    expect(Object.keys(gpu.grads).sort()).toEqual(Object.keys(cpu.grads).sort());
    for (const name of Object.keys(cpu.grads)) expect(relativeDifference(gpu.grads[name], cpu.grads[name]), `∂${name}`).toBeLessThan(1e-4);
  });

  // 30 steps compound the float32 differences of each step; TopK-like selections may also swap
  // two near-equal latents. 1e-3 relative still fails on any wrong gradient (the loss curves
  // part by tens of percent within a few steps) and on a stale or skipped update.
  it.each(ARCHITECTURES.map((a) => [a]))('%s: 30 trainer steps follow wasm and leak nothing', async (architecture) => {
    await useWasm();
    const wasm = await shortRun(architecture, 'wasm');
    await useWebGPU();
    const before = tf.memory().numTensors;
    const gpu = await shortRun(architecture, 'webgpu');
    expect(tf.memory().numTensors).toBe(before);
    expect(gpu.rows.map((r) => r.step)).toEqual(wasm.rows.map((r) => r.step));
    for (let i = 0; i < wasm.rows.length; i++) {
      for (const key of LOGGED) {
        const a = gpu.rows[i][key], b = wasm.rows[i][key];
        expect(Math.abs(a - b), `${key} at step ${wasm.rows[i].step}: webgpu ${a}, wasm ${b}`).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(b)));
      }
    }
    for (const key of ['nmse', 'fve', 'l0'] as const) {
      expect(Math.abs(gpu.metrics[key] - wasm.metrics[key]), key).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(wasm.metrics[key])));
    }
    for (const name of Object.keys(wasm.params)) expect(relativeDifference(gpu.params[name], wasm.params[name]), name).toBeLessThan(PARAMETER_TOLERANCE[architecture] ?? 1e-3);
  });

  it('resamples dead latents and rolls back to a device snapshot without a synchronous read', async () => {
    await useWebGPU();
    const before = tf.memory().numTensors;
    // An L1 penalty this strong kills latents within the first window; resampling re-points them.
    const cfg = configFor('relu', { sparsity_mode: 'manual', l1_coefficient: 50, lr: 0.05, dead_tokens_window: 256, resample_dead_every: 40 });
    const t = new Trainer(cfg, dataFor(cfg), 'webgpu');
    await t.runSteps(45);
    expect(t.resampled).toEqual([{ step: 40, latents: expect.any(Number) }]);
    expect(t.resampled[0].latents).toBeGreaterThan(0);
    t.dispose();

    // BatchTopK keeps θ_g outside its parameters: a rollback hands the snapshot's copy back as is.
    const b = new Trainer(configFor('batchtopk'), dataFor(configFor('batchtopk')), 'webgpu');
    await b.runSteps(10);
    const snapshot = b.snapshot();
    const theta = (await (b.variant as unknown as { threshold: { value: tf.Scalar } }).threshold.value.data())[0];
    expect(theta).toBeGreaterThan(0);
    await b.runSteps(10);
    b.restore(snapshot);
    expect((await (b.variant as unknown as { threshold: { value: tf.Scalar } }).threshold.value.data())[0]).toBe(theta);
    expect(b.stepCount).toBe(10);
    for (const s of Object.values(snapshot.tensors)) s.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
