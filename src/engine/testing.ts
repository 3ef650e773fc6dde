// Helpers for the engine's tests: the cpu and wasm backends, and plain-array utilities that the references
// are written with (independent of the engine's own code).
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam';
import { initialLive, type LiveParams, type SaeConfig } from './config';
import { createRng } from './rng';
import { shareWasmIdentity } from './ops/wasm/identity';
import { entryColumnSums, entryCountsAbove } from './ops/sparse';
import type { LossParts, Params, StepContext, Variant } from './variants/types';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** The wasm backend (one thread) with its .wasm files from node_modules; loaded only when asked for. */
export async function useWasm(): Promise<void> {
  const { useNodeWasmFiles } = await import('../cli/nodeBackend');
  useNodeWasmFiles();
  await tf.setBackend('wasm');
  await tf.ready();
  shareWasmIdentity();
}

/** Deterministic pseudo-random values in [-1, 1) (a tiny LCG, independent of src/engine/rng). */
export function values(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 4294967296) * 2 - 1) * scale;
  });
}

/** Plain row-major matmul a [m, k] · b [k, n]. */
export function matmul(a: number[], b: number[], m: number, k: number, n: number): number[] {
  const out = new Array(m * n).fill(0);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * k + p] * b[p * n + j];
  return out;
}

/** Largest absolute difference relative to the largest absolute value of the reference. */
export function relativeDifference(a: ArrayLike<number>, e: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < e.length; i++) { diff = Math.max(diff, Math.abs(a[i] - e[i])); scale = Math.max(scale, Math.abs(e[i])); }
  return scale === 0 ? diff : diff / scale;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * Math.max(1, Math.abs(expected[i])))) throw new Error(`index ${i}: ${actual[i]} vs expected ${expected[i]} (tol ${tol})`);
  }
}

/** Run once to warm up, then `repeats` more times: the live tensor count must not change. */
export function expectNoLeaks(run: () => void, repeats = 3): void {
  run();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) run();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`tensor leak: ${before} tensors before, ${after} after ${repeats} more runs`);
}

/** Mean row of row-major [n, width] data. */
export function meanRow(rows: Float32Array, n: number, width: number): Float32Array {
  const mean = new Float32Array(width);
  for (let r = 0; r < n; r++) for (let j = 0; j < width; j++) mean[j] += rows[r * width + j] / n;
  return mean;
}

/**
 * A minimal training loop for a variant's own tests, independent of the Trainer: random contiguous
 * mini-batches of `batch` rows, Adam at the config's learning rate, constrain and afterStep, no
 * dead latents. `measure` names scalars of a step (from its loss parts, input and total); they are
 * read back only on the first and last 20 steps (a readback per step would dominate the time) and
 * averaged there. `atEnd` may read the trained parameters before they are freed.
 */
export function trainMinibatches<C extends SaeConfig, M extends string, E = undefined>(
  variant: Variant<C>, cfg: C, rows: Float32Array, dIn: number, steps: number, batch: number,
  measure: (parts: LossParts, x: tf.Tensor2D, total: tf.Scalar) => Record<M, tf.Scalar>,
  atEnd?: (p: Params, live: LiveParams) => E,
): { first: Record<M, number>; last: Record<M, number>; end: E | undefined; mean: Float32Array } {
  const n = rows.length / dIn;
  const mean = meanRow(rows, n, dIn);
  const p = variant.init(cfg, { dIn, nLayers: 1, mean, meanNorm: 1 }, createRng(cfg.seed));
  const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
  const live = initialLive(cfg);
  const deadMask = tf.zeros([cfg.d_sae]) as tf.Tensor1D;
  const rng = createRng(1);
  const log: Record<M, number>[] = [];
  for (let step = 0; step < steps; step++) {
    const start = rng.int(n - batch);
    const read = step < 20 || step >= steps - 20;
    tf.tidy(() => {
      const x = tf.tensor2d(rows.subarray(start * dIn, (start + batch) * dIn), [batch, dIn]);
      let parts: LossParts | undefined;
      const { value, grads } = tf.variableGrads(() => {
        parts = variant.loss(p, x, live, { deadMask, step, seed: cfg.seed });
        for (const t of [parts.recon, parts.f, parts.xHat]) tf.keep(t);
        return parts.total;
      }, Object.values(p));
      adam.apply(p, Object.fromEntries(Object.entries(p).map(([name, v]) => [name, grads[v.name]])), live.lr);
      variant.constrain?.(p);
      variant.afterStep?.(p, parts!, live);
      if (read) {
        const scalars = measure(parts!, x, value);
        log.push(Object.fromEntries(Object.entries(scalars).map(([k, t]) => [k, (t as tf.Scalar).dataSync()[0]])) as Record<M, number>);
      }
      for (const t of [parts!.recon, parts!.f, parts!.xHat]) t.dispose();
    });
  }
  const end = atEnd?.(p, live);
  Object.values(p).forEach((v) => v.dispose());
  adam.dispose();
  deadMask.dispose();
  variant.dispose?.();
  const avg = (xs: Record<M, number>[]) => Object.fromEntries(Object.keys(xs[0]).map((k) => [k, xs.reduce((s, r) => s + r[k as M], 0) / xs.length])) as Record<M, number>;
  const half = Math.min(20, Math.ceil(log.length / 2));
  return { first: avg(log.slice(0, half)), last: avg(log.slice(-half)), end, mean };
}

/**
 * Full-batch training of a variant on [n, nLayers·dIn] rows with Adam at a fixed learning rate
 * (for the multi-layer variants' small tests). Returns the total loss of the first and the last
 * step; `atEnd` may read the trained parameters before they are freed.
 */
export function trainFullBatch<E = undefined>(
  variant: Variant<SaeConfig>, cfg: SaeConfig, data: Float32Array, n: number, dIn: number, nLayers: number, steps: number, lr: number,
  atEnd?: (p: Params, x: tf.Tensor2D, live: LiveParams) => E,
): { losses: [number, number]; end: E | undefined } {
  const width = nLayers * dIn;
  const p = variant.init(cfg, { dIn, nLayers, mean: meanRow(data, n, width), meanNorm: 1 }, createRng(0));
  const adam = new Adam(p, 0.9, 0.999);
  const live = initialLive(cfg);
  const x = tf.tensor2d(data, [n, width]);
  const ctx: StepContext = { deadMask: tf.zeros([cfg.d_sae]) as tf.Tensor1D, step: 0, seed: 0 };
  const losses: number[] = [];
  let end: E | undefined;
  for (let s = 0; s < steps; s++) {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx).total, Object.values(p));
      adam.apply(p, Object.fromEntries(Object.entries(p).map(([k, v]) => [k, grads[v.name]])), lr);
      variant.constrain?.(p);
      if (s === 0 || s === steps - 1) losses.push(value.dataSync()[0]);
    });
  }
  end = atEnd?.(p, x, live);
  adam.dispose();
  Object.values(p).forEach((v) => v.dispose());
  variant.dispose?.();
  x.dispose();
  ctx.deadMask.dispose();
  return { losses: [losses[0], losses[1]], end };
}

/**
 * Rows [n, nLayers·d] whose layers share a few sparse features: each row is the sum of 2 of 12
 * random atoms (each atom a different direction per layer) with magnitudes in [1, 2).
 */
export function layeredAtomData(n: number, nLayers: number, d: number, seed = 1): Float32Array {
  const rng = createRng(seed);
  const nFeat = 12, width = nLayers * d;
  const atoms = Array.from({ length: nFeat * width }, () => rng.normal() / Math.sqrt(d));
  const out = new Float32Array(n * width);
  for (let r = 0; r < n; r++) {
    for (let a = 0; a < 2; a++) {
      const feat = rng.int(nFeat), c = 1 + rng.next();
      for (let i = 0; i < width; i++) out[r * width + i] += c * atoms[feat * width + i];
    }
  }
  return out;
}

/**
 * Autodiff gradients of `loss` w.r.t. every parameter against central finite differences (step h),
 * entry by entry; fails when |g − fd| ≥ tol + tol·|fd|.
 */
export function expectParamGradsMatchFiniteDifferences(p: Params, loss: () => tf.Scalar, h = 1e-3, tol = 5e-3): void {
  const { grads } = tf.variableGrads(loss, Object.values(p));
  const value = () => tf.tidy(() => loss().dataSync()[0]);
  for (const [name, v] of Object.entries(p)) {
    const g = grads[v.name].dataSync();
    const base = Array.from(v.dataSync());
    for (let i = 0; i < base.length; i++) {
      const at = (d: number) => { const w = [...base]; w[i] += d; v.assign(tf.tensor(w, v.shape)); return value(); };
      const fd = (at(h) - at(-h)) / (2 * h);
      v.assign(tf.tensor(base, v.shape));
      if (!(Math.abs(g[i] - fd) < tol + tol * Math.abs(fd))) throw new Error(`${name}[${i}]: autodiff ${g[i]} vs finite difference ${fd}`);
    }
  }
  Object.values(grads).forEach((t) => t.dispose());
}

/**
 * entryColumnSums and entryCountsAbove (threshold 0) on the current backend over rows × width
 * entries spread over `latents` by a multiplicative hash, with values from `values(…, seed)`,
 * against float64 sums and plain counts: the largest |sum difference|, and both count lists.
 */
export function entrySumsAgainstLoops(rows: number, width: number, latents: number, seed: number): { worstSum: number; counts: number[]; wantCounts: number[] } {
  const idx = Int32Array.from({ length: rows * width }, (_, i) => (i * 2654435761) % latents >>> 0);
  const val = Float32Array.from(values(rows * width, seed));
  const e = { indices: tf.tensor2d(idx, [rows, width], 'int32'), values: tf.tensor2d(val, [rows, width]) };
  const sums = new Float64Array(latents), wantCounts = new Array<number>(latents).fill(0);
  for (let i = 0; i < idx.length; i++) { sums[idx[i]] += val[i]; if (val[i] > 0) wantCounts[idx[i]]++; }
  const [gotSums, gotCounts] = tf.tidy(() => [entryColumnSums(e, latents).dataSync(), entryCountsAbove(e, latents, 0).dataSync()]);
  tf.dispose([e.indices, e.values]);
  let worstSum = 0;
  for (let j = 0; j < latents; j++) worstSum = Math.max(worstSum, Math.abs(gotSums[j] - sums[j]));
  return { worstSum, counts: Array.from(gotCounts), wantCounts };
}

/**
 * The webgpu backend in Node (Dawn on the machine's Vulkan: src/cli/nodeWebgpu.ts) for the engine's
 * WebGPU tests: null once it is registered, or why it cannot start — the tests then skip, saying
 * so. Under CI a missing adapter fails instead: CI installs a software Vulkan (.ci/run), and a
 * suite that silently skipped there would check nothing.
 */
export async function nodeWebGPUUnavailable(): Promise<string | null> {
  const { registerNodeWebGPU } = await import('../cli/nodeWebgpu');
  try {
    await registerNodeWebGPU();
    return null;
  } catch (e) {
    if (process.env.CI) throw e;
    const why = e instanceof Error ? e.message : String(e);
    console.warn(`WebGPU tests skipped: ${why}`);
    return why;
  }
}

/** The webgpu backend (registered by nodeWebGPUUnavailable) as the current one. */
export async function useWebGPU(): Promise<void> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not start');
  await tf.ready();
}
