// One benchmark measurement: full training steps (forward, loss, backward, Adam, constraint) of a
// variant at a given size on random data, on whatever tfjs backend is active. Used by the Node
// bench and by the worker for the in-browser bench (`npm run bench`, scripts/bench.ts), so both
// measure the same thing: a real Trainer's step with no readback inside the timed loop.
//
// Optionally (spec.profile) a few more steps are run under tf.profile and their kernels aggregated
// by kernel name, so the bench can show where each backend's time goes, and what share of it is
// outside the matrix products.
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { resolveConfig, type Architecture, type SaeConfig } from './config';
import { createRng } from './rng';
import { Trainer } from './trainer';
import { wasmKernels } from './ops/wasm/kernelModule';
import { WASM_KERNELS } from './ops/wasm/registered';
import { SPARSE_KERNELS } from './ops/sparseKernels';

/** Steps profiled after the timed ones (spec.profile): one step of a small size is 15–50 ms, and its shares move by several points from one step to the next. */
const PROFILED_STEPS = 5;

/**
 * The kernels that are matrix products: dense ones (the engine's own, with its fused bias, ReLU or
 * mask; tfjs's) and the sparse steps' decode, row dots and outer products. The rest of a step —
 * selections, element-wise work, reductions, transposes, Adam, the constraint — is the time
 * outside them.
 */
export const PRODUCT_KERNELS: ReadonlySet<string> = new Set([WASM_KERNELS.denseProduct, 'BatchMatMul', '_FusedMatMul', SPARSE_KERNELS.decode, SPARSE_KERNELS.rowDots, SPARSE_KERNELS.outerRows, SPARSE_KERNELS.outerCols]);

export interface BenchSpec {
  architecture: Architecture;
  dIn: number;
  dSae: number;
  batch: number;
  /**
   * Timed steps (after warm-up). With `targetMs` this is the most that are timed: timing stops once
   * at least `minSteps` steps are done and `targetMs` milliseconds have passed.
   */
  steps: number;
  /** Untimed steps first (shader compilation, the trainer's first snapshot, allocator warm-up). Default 2. */
  warmup?: number;
  /** Adaptive timing: stop after this long (once `minSteps` are done). */
  targetMs?: number;
  /** Adaptive timing: the fewest timed steps (default 2). */
  minSteps?: number;
  /** Also profile a few steps (tf.profile, PROFILED_STEPS), after the timed ones. */
  profile?: boolean;
  /**
   * A run's resolved config, to time its exact step (k, normalisation, multi-layer options …)
   * instead of the variant's defaults; its architecture, d_sae and batch_size must be the spec's.
   * Guidance, checkpoints, resampling and validation are left out: they are not part of a step.
   */
  config?: SaeConfig;
  /** Layers per row (multi-layer variants; default 1): the random rows are nLayers·dIn wide. */
  nLayers?: number;
  /**
   * Give up when a timed step has not finished within this long (StepTooSlowError). A step of a
   * GPU backend is abandoned while its queued work drains; a CPU backend blocks the thread until
   * its step ends, so it is judged when the step returns.
   */
  maxStepMs?: number;
  /** The same for the first warm-up step, which also compiles shaders (default: no limit). */
  maxFirstStepMs?: number;
}

/** A step took longer than BenchSpec.maxStepMs (or maxFirstStepMs for the first warm-up step). */
export class StepTooSlowError extends Error {
  constructor(
    /** How long the step ran before it ended (finished) or was given up (a lower bound). */
    readonly ms: number,
    readonly limitMs: number,
    readonly finished: boolean,
    /** The first warm-up step (its time includes shader compilation). */
    readonly firstStep: boolean,
  ) {
    const s = (ms: number) => (ms / 1000).toPrecision(2);
    super(finished
      ? `too slow: ${s(ms)} s/${firstStep ? 'first step' : 'step'} (limit ${s(limitMs)} s)`
      : `too slow: > ${s(limitMs)} s/${firstStep ? 'first step' : 'step'}`);
    this.name = 'StepTooSlowError';
  }
}

/** Kernels with the same name, summed over a profiled step (averaged over the profiled steps). */
export interface KernelStat {
  name: string;
  count: number;
  /** Sum of kernelTimeMs; absent when the backend gave no timings (all zero or missing). */
  totalMs?: number;
  /** Bytes the kernels' outputs added (summed). */
  bytesAdded: number;
  /** Output elements written (summed), a proxy for work when there are no timings. */
  outputElements: number;
}

export interface StepProfile {
  /** Steps profiled; the figures below are per step (medians or means over them). */
  steps: number;
  /** Wall time of a profiled step, median (profiling itself slows some backends: webgl syncs per kernel). */
  wallMs: number;
  /** Sum of all kernels' times per step (mean), when timed. */
  kernelMs?: number;
  /**
   * The fraction of each profiled step's kernel time outside the matrix products (PRODUCT_KERNELS),
   * when timed: the median step's, and the least and most.
   */
  outsideProducts?: { median: number; min: number; max: number };
  timed: boolean;
  kernelCount: number;
  peakBytes: number;
  kernels: KernelStat[];
  error?: string;
}

/** What the active backend is, as far as it says. */
export interface BackendInfo {
  backend: string;
  /** wasm: SIMD and threads as detected by tfjs, and the threads its pool uses. */
  simd?: boolean;
  threads?: boolean;
  threadsCount?: number;
  /** wasm: the threads the engine's own kernels run on (ops/wasm/kernelModule.ts), and whether they multiply with a fused multiply-add. */
  kernelThreads?: number;
  kernelFma?: boolean;
  /** Browser: the page/worker is cross-origin isolated (SharedArrayBuffer, wasm threads). */
  crossOriginIsolated?: boolean;
  /** webgpu: adapter vendor/architecture (in Node, Dawn's description too: scripts/bench/node.ts), and whether kernels can be timed (timestamp-query). */
  adapter?: string;
  /** webgpu in Node: the adapter is a software (fallback) one, such as lavapipe: figures for correctness, not speed. */
  fallbackAdapter?: boolean;
  /** webgl: the unmasked renderer (SwiftShader on a machine without a GPU). */
  renderer?: string;
  /** Kernel timings are available to tf.profile. */
  kernelTimer?: boolean;
}

export interface BenchResult {
  backend: string;
  architecture: Architecture;
  dIn: number;
  dSae: number;
  batch: number;
  /** Timed steps. */
  steps: number;
  warmup: number;
  /** From the median step. */
  tokensPerS: number;
  /** Median of the timed steps. */
  msPerStep: number;
  meanMsPerStep: number;
  /** Wall time of each timed step. */
  stepMs: number[];
  /** Wall time of each warm-up step (the first includes compilation and the first snapshot). */
  warmupMs: number[];
  numTensorsBefore: number;
  numTensorsAfter: number;
  info: BackendInfo;
  /** Timed steps that took the sparse products (ops/sparse.ts). */
  sparseSteps?: number;
  /** Fraction of latents active in the last step (where it is read: wasm, cpu). */
  activeFraction?: number;
  profile?: StepProfile;
}

/** A bench config: the run's defaults except no validation split and no log step in the timed loop. */
function benchConfig(spec: BenchSpec, total: number): SaeConfig {
  // log_every larger than the run: no readback inside the timed loop.
  const timing = { steps: total, log_every: total + 1, val_fraction: 0 };
  if (!spec.config) return resolveConfig({ architecture: spec.architecture, d_sae: spec.dSae, batch_size: spec.batch, ...timing }, spec.dIn);
  const c = spec.config;
  if (c.architecture !== spec.architecture || c.d_sae !== spec.dSae || c.batch_size !== spec.batch) {
    throw new Error(`bench spec ${spec.architecture} d_sae ${spec.dSae} batch ${spec.batch} does not match its config (${c.architecture} d_sae ${c.d_sae} batch ${c.batch_size})`);
  }
  return { ...c, ...timing, guidance: [], checkpoint_every: 0, resample_dead_every: 0, early_stopping_patience: 0 };
}

export async function benchTrainingSteps(spec: BenchSpec): Promise<BenchResult> {
  const rows = spec.batch * 4;
  const nLayers = spec.nLayers ?? 1;
  const rng = createRng(1);
  const data = new Float32Array(rows * spec.dIn * nLayers);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  const warmup = spec.warmup ?? 2;
  const total = warmup + spec.steps + (spec.profile ? PROFILED_STEPS : 0) + 1;
  const cfg = benchConfig(spec, total);
  const trainer = new Trainer(cfg, { train: data, trainRows: rows, val: new Float32Array(0), valRows: 0, dIn: spec.dIn, nLayers }, tf.getBackend());
  try {
    const warmupMs: number[] = [];
    for (let i = 0; i < warmup; i++) warmupMs.push(await syncedStep(trainer, i === 0 ? spec.maxFirstStepMs : spec.maxStepMs, i === 0));
    const before = tf.memory().numTensors;
    const sparseBefore = trainer.sparseSteps;
    // Each timed step is synced on its own, so the clock sees finished work (GPU backends queue it
    // otherwise); ms/step is the median, which a busy machine disturbs less than the mean.
    const stepMs: number[] = [];
    const t0 = performance.now();
    const minSteps = Math.min(spec.minSteps ?? 2, spec.steps);
    while (stepMs.length < spec.steps && (spec.targetMs === undefined || stepMs.length < minSteps || performance.now() - t0 < spec.targetMs)) {
      stepMs.push(await syncedStep(trainer, spec.maxStepMs, false));
    }
    const after = tf.memory().numTensors;
    const sparseSteps = trainer.sparseSteps - sparseBefore;
    const activeFraction = trainer.lastActiveFraction;
    const ms = median(stepMs);
    const profile = spec.profile ? await profileSteps(trainer, PROFILED_STEPS) : undefined;
    return {
      backend: tf.getBackend(),
      architecture: spec.architecture,
      dIn: spec.dIn,
      dSae: spec.dSae,
      batch: spec.batch,
      steps: stepMs.length,
      warmup,
      tokensPerS: spec.batch / (ms / 1000),
      msPerStep: ms,
      meanMsPerStep: stepMs.reduce((a, b) => a + b, 0) / stepMs.length,
      stepMs,
      warmupMs,
      numTensorsBefore: before,
      numTensorsAfter: after,
      info: await backendInfo(),
      sparseSteps,
      ...(activeFraction === undefined ? {} : { activeFraction }),
      ...(profile ? { profile } : {}),
    };
  } finally {
    trainer.dispose();
  }
}

/**
 * `steps` training steps, each under its own tf.profile; kernels aggregated by name (largest time,
 * else output size, first) and averaged per step, and each step's share outside the products.
 */
async function profileSteps(trainer: Trainer, steps: number): Promise<StepProfile> {
  const t0 = performance.now();
  try {
    const byName = new Map<string, { count: number; ms: number; timedCount: number; bytesAdded: number; outputElements: number }>();
    const wallMs: number[] = [], outside: number[] = [];
    let kernelCount = 0, peakBytes = 0;
    const backendName = tf.getBackend();
    for (let step = 0; step < steps; step++) {
      const start = performance.now();
      const info = await tf.profile(async () => {
        await trainer.runSteps(1);
        await syncBackend(trainer);
      });
      wallMs.push(performance.now() - start);
      peakBytes = Math.max(peakBytes, info.peakBytes);
      // tf.profile also lists scopes that run kernels inside them (customGrad forwards, "unnamed
      // scope"), whose time is their kernels' again: only registered kernels are counted.
      const kernelsOnly = info.kernels.filter((k) => tf.getKernel(k.name, backendName) !== undefined);
      kernelCount += kernelsOnly.length;
      let productMs = 0, allMs = 0;
      for (const k of kernelsOnly) {
        const s = byName.get(k.name) ?? { count: 0, ms: 0, timedCount: 0, bytesAdded: 0, outputElements: 0 };
        s.count += 1;
        const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : NaN; // {error} when the backend could not time it
        if (Number.isFinite(ms) && ms > 0) {
          s.ms += ms; s.timedCount += 1;
          allMs += ms;
          if (PRODUCT_KERNELS.has(k.name)) productMs += ms;
        }
        s.bytesAdded += k.bytesAdded;
        s.outputElements += k.outputShapes.reduce((acc, shape) => acc + (shape ?? []).reduce((a, b) => a * b, 1), 0);
        byName.set(k.name, s);
      }
      if (allMs > 0) outside.push(1 - productMs / allMs);
    }
    const timed = [...byName.values()].some((s) => s.timedCount > 0);
    const kernels: KernelStat[] = [...byName.entries()].map(([name, s]) => ({
      name, count: s.count / steps, bytesAdded: s.bytesAdded / steps, outputElements: s.outputElements / steps, ...(timed ? { totalMs: s.ms / steps } : {}),
    }));
    kernels.sort((a, b) => (timed ? (b.totalMs ?? 0) - (a.totalMs ?? 0) : b.outputElements - a.outputElements));
    return {
      steps,
      wallMs: median(wallMs),
      timed,
      kernelCount: kernelCount / steps,
      peakBytes,
      kernels,
      ...(timed ? { kernelMs: kernels.reduce((a, k) => a + (k.totalMs ?? 0), 0) } : {}),
      ...(outside.length ? { outsideProducts: { median: median(outside), min: Math.min(...outside), max: Math.max(...outside) } } : {}),
    };
  } catch (e) {
    return { steps, wallMs: performance.now() - t0, timed: false, kernelCount: 0, peakBytes: 0, kernels: [], error: e instanceof Error ? e.message : String(e) };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What the active backend reports about itself (never throws). */
export async function backendInfo(): Promise<BackendInfo> {
  const name = tf.getBackend();
  const info: BackendInfo = { backend: name };
  const g = globalThis as { crossOriginIsolated?: boolean; window?: unknown; WorkerGlobalScope?: unknown };
  if (typeof g.crossOriginIsolated === 'boolean') info.crossOriginIsolated = g.crossOriginIsolated;
  try {
    const backend = tf.backend() as unknown as Record<string, unknown>;
    info.kernelTimer = typeof backend.timerAvailable === 'function' ? Boolean((backend.timerAvailable as () => boolean).call(backend)) : undefined;
    if (name === 'wasm') {
      info.simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
      try { info.threadsCount = getThreadsCount(); } catch { /* not initialised */ }
      // In Node the package's flag is always false; the CLI starts the threaded build itself.
      info.threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) || (info.threadsCount ?? 1) > 1;
      const kernels = wasmKernels();
      if (kernels) { await kernels.startThreads(); info.kernelThreads = kernels.threads; info.kernelFma = kernels.fma; }
    } else if (name === 'webgpu') {
      const a = backend.adapterInfo as { vendor?: string; architecture?: string } | undefined;
      info.adapter = [a?.vendor, a?.architecture].filter(Boolean).join(' ') || 'unknown adapter';
      info.kernelTimer = Boolean(backend.supportTimestampQuery);
    } else if (name === 'webgl') {
      const gl = (backend.gpgpu as { gl?: WebGLRenderingContext } | undefined)?.gl;
      const ext = gl?.getExtension('WEBGL_debug_renderer_info');
      info.renderer = gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : undefined;
      info.kernelTimer = tf.env().getNumber('WEBGL_DISJOINT_QUERY_TIMER_EXTENSION_RELIABLE') > 0;
    }
  } catch { /* best effort */ }
  return info;
}

/**
 * Wait for queued GPU work: read a parameter the step wrote (b_dec, d_in values). Read directly,
 * with no tensor made for it, so that a step given up by syncedStep leaves no tensor behind.
 */
async function syncBackend(trainer: Trainer): Promise<void> {
  await trainer.params.b_dec.data();
}

/** One training step and the wait for its work, in ms; StepTooSlowError past `limitMs`. */
function syncedStep(trainer: Trainer, limitMs: number | undefined, firstStep: boolean): Promise<number> {
  return timeWithin(async () => { await trainer.runSteps(1); await syncBackend(trainer); }, limitMs, firstStep);
}

/**
 * How long `work` takes, in ms; StepTooSlowError once it has run `limitMs` (no limit: wait). Work
 * still running then is abandoned (a GPU backend's queued work drains on its own; the caller frees
 * the tensors, so its late read may fail, which nobody waits for).
 */
export async function timeWithin(work: () => Promise<void>, limitMs: number | undefined, firstStep: boolean): Promise<number> {
  const t = performance.now();
  const step = work();
  if (limitMs === undefined) {
    await step;
    return performance.now() - t;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), Math.max(0, limitMs - (performance.now() - t))); });
  try {
    if ((await Promise.race([step.then(() => 'done' as const), late])) === 'late') {
      step.catch(() => {});
      // The timer's clock may run a fraction of a millisecond ahead of performance.now().
      throw new StepTooSlowError(Math.max(performance.now() - t, limitMs), limitMs, false, firstStep);
    }
  } finally {
    clearTimeout(timer);
  }
  const ms = performance.now() - t;
  if (ms > limitMs) throw new StepTooSlowError(ms, limitMs, true, firstStep);
  return ms;
}
