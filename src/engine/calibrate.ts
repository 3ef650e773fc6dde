// The "auto" backend choice: time a real training step of the run's config on every candidate
// backend and keep the fastest. A software WebGPU adapter or SwiftShader WebGL starts and passes
// the smoke test, yet runs far slower than wasm on the same CPU (docs/benchmark.md), while on a real GPU
// WebGPU wins by far: only a measurement at the run's own size can tell.
//
// Each candidate is started as selectBackend starts it (tryBackend: start, smoke test), then timed
// with the bench's step (benchTrainingSteps: a Trainer on random rows, one warm-up step, then at
// least two timed ones for about a second). A backend whose step does not finish within the limits
// is recorded as too slow rather than holding the run up for a minute. Once one backend is measured,
// each later one is first timed on a single product of the step's size: when that product alone
// shows it cannot win, it is not stepped at all (probeFirst). Every tensor is freed.
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './types';
import { tryBackend } from './backend';
import { StepTooSlowError, benchTrainingSteps, timeWithin } from './bench';
import type { Architecture, SaeConfig } from './config';

/** The size a calibration is for: results are kept per calibrationKey. */
export interface CalibrationSpec {
  architecture: Architecture;
  dIn: number;
  dSae: number;
  batch: number;
  /** Layers per row (multi-layer variants; default 1). */
  nLayers?: number;
  /** The run's resolved config, to time its exact step (k, normalisation …); default: the variant's defaults. */
  config?: SaeConfig;
}

export interface CalibrationOptions {
  /** Timing ends once this long has passed after warm-up and two steps are timed (default 1000 ms). */
  targetMs?: number;
  /** The most timed steps (default 10). */
  maxSteps?: number;
  /**
   * A timed step that takes longer than this makes the backend "too slow" (default 1500 ms, so
   * that the two timed steps end within 3 s of the warm-up).
   */
  maxStepMs?: number;
  /**
   * The same for the first step, which also compiles the shaders (default 4000 ms; measured on a
   * CPU-only machine, the software WebGPU adapter's first step at the sample size took longer).
   */
  maxFirstStepMs?: number;
  /**
   * Once a backend has been measured, each later candidate is first timed on one product of the
   * step's encoder size ([batch, d_in]·[d_in, d_sae], readback latency taken off). Every variant's
   * step makes at least PRODUCTS_PER_STEP products that size, so that many is a lower bound on its
   * step; a candidate whose bound is slower than the fastest step so far (with a margin for noise)
   * cannot win and is not stepped. A software GPU adapter is then judged in one product instead of
   * seconds of steps, and leaves no abandoned step's queued work to slow the run that follows
   * (default true).
   */
  probeFirst?: boolean;
  /** A backend that has not started within this long is given up (default: wait). */
  initTimeoutMs?: number;
  /**
   * Reasons not to measure a candidate, asked just before its turn with the results so far; a
   * returned string is recorded as the reason (e.g. cpu once wasm, the same CPU faster, is measured).
   */
  skip?: Partial<Record<BackendName, (soFar: readonly BackendMeasurement[]) => string | null>>;
  /** Called as each candidate's turn comes (the page says which backend is being measured). */
  onProgress?: (p: { backend: BackendName; index: number; total: number }) => void;
  /** Stops before the next candidate; calibrateBackends then rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface BackendMeasurement {
  backend: BackendName;
  /** measured: timed within the limits; too slow: a step overran a limit; failed / skipped: not timed. */
  status: 'measured' | 'too slow' | 'failed' | 'skipped';
  /** measured: batch / median step time; too slow: an upper bound (batch / the time the step ran). */
  tokensPerS?: number;
  /** measured: median timed step; too slow: a lower bound. */
  msPerStep?: number;
  /** Timed steps. */
  steps?: number;
  /** The first step, shader compilation included. */
  firstStepMs?: number;
  /** Why it was not measured (too slow, failed, skipped), in words. */
  reason?: string;
}

export interface Calibration {
  key: string;
  architecture: Architecture;
  dIn: number;
  dSae: number;
  batch: number;
  nLayers: number;
  /** One entry per candidate, in the order they were tried. */
  results: BackendMeasurement[];
  /** The measured backend with the most tokens/s, now the active one; null when none was measured. */
  fastest: BackendName | null;
  /** Wall time of the whole calibration. */
  ms: number;
}

/** Products of the encoder's size in every variant's step: encode, decode and the two weight gradients. */
export const PRODUCTS_PER_STEP = 4;
/** A probed candidate is stepped unless its lower bound exceeds the fastest step by this factor. */
const PROBE_MARGIN = 1.25;

/** What decides a backend's speed: variant, widths, d_sae and batch. */
export function calibrationKey(spec: Pick<CalibrationSpec, 'architecture' | 'dIn' | 'dSae' | 'batch' | 'nLayers'>): string {
  const layers = (spec.nLayers ?? 1) > 1 ? `×${spec.nLayers}` : '';
  return `${spec.architecture} d_in ${spec.dIn}${layers} d_sae ${spec.dSae} batch ${spec.batch}`;
}

/** The measured backend with the most tokens/s (null when none was measured). */
export function fastestMeasured(results: readonly BackendMeasurement[]): BackendName | null {
  let best: BackendMeasurement | null = null;
  for (const r of results) if (r.status === 'measured' && (best === null || r.tokensPerS! > best.tokensPerS!)) best = r;
  return best?.backend ?? null;
}

/**
 * A `skip` for cpu once wasm is measured: tfjs's cpu backend runs the same work as wasm on the same
 * CPU in plain JavaScript, several times slower, and its step cannot be interrupted, so at a large
 * size it would only hold the run up.
 */
export function skipCpuOnceWasmMeasured(soFar: readonly BackendMeasurement[]): string | null {
  return soFar.some((r) => r.backend === 'wasm' && r.status === 'measured') ? 'not measured: wasm runs on the same CPU, faster' : null;
}

/**
 * Measure each candidate backend at `spec`'s size and leave the fastest active. When none could be
 * measured the backend that was active before stays active (and `fastest` is null).
 */
export async function calibrateBackends(candidates: readonly BackendName[], spec: CalibrationSpec, opts: CalibrationOptions = {}): Promise<Calibration> {
  const t0 = performance.now();
  const before = tf.getBackend() as BackendName;
  const nLayers = spec.nLayers ?? 1;
  const results: BackendMeasurement[] = [];
  const registered = new Set(Object.keys(tf.engine().registryFactory));
  try {
    for (const [index, backend] of candidates.entries()) {
      if (opts.signal?.aborted) throw abortError();
      opts.onProgress?.({ backend, index, total: candidates.length });
      results.push(await measure(backend));
    }
  } catch (e) {
    await restore(before);
    throw e;
  }
  const fastest = fastestMeasured(results);
  await restore(fastest ?? before);
  return { key: calibrationKey(spec), architecture: spec.architecture, dIn: spec.dIn, dSae: spec.dSae, batch: spec.batch, nLayers, results, fastest, ms: performance.now() - t0 };

  async function measure(backend: BackendName): Promise<BackendMeasurement> {
    if (!registered.has(backend)) return { backend, status: 'failed', reason: 'not available in this environment' };
    const skipped = opts.skip?.[backend]?.(results);
    if (skipped) return { backend, status: 'skipped', reason: skipped };
    const notStarted = await tryBackend(backend, opts.initTimeoutMs);
    if (notStarted) return { backend, status: 'failed', reason: notStarted };
    const best = bestMeasured(results);
    if (best && opts.probeFirst !== false) {
      const probe = await probeProduct(backend, best);
      if (probe) return probe;
    }
    try {
      const r = await benchTrainingSteps({
        architecture: spec.architecture, dIn: spec.dIn, dSae: spec.dSae, batch: spec.batch, nLayers, config: spec.config,
        warmup: 1, steps: opts.maxSteps ?? 10, minSteps: 2, targetMs: opts.targetMs ?? 1000,
        maxStepMs: opts.maxStepMs ?? 1500, maxFirstStepMs: opts.maxFirstStepMs ?? 4000,
      });
      return { backend, status: 'measured', tokensPerS: r.tokensPerS, msPerStep: r.msPerStep, steps: r.steps, firstStepMs: r.warmupMs[0] };
    } catch (e) {
      if (e instanceof StepTooSlowError) return { backend, status: 'too slow', tokensPerS: spec.batch / (e.ms / 1000), msPerStep: e.ms, reason: e.message };
      return { backend, status: 'failed', reason: e instanceof Error ? e.message : String(e) };
    }
  }

  /** A 'too slow' result when one product shows `backend` cannot beat `best`; null when it might. */
  async function probeProduct(backend: BackendName, best: BackendMeasurement): Promise<BackendMeasurement | null> {
    const shape = `[${spec.batch}×${spec.dIn}]·[${spec.dIn}×${spec.dSae}]`;
    let productMs: number;
    try {
      productMs = await timeProduct(spec, opts.maxFirstStepMs ?? 4000, opts.maxStepMs ?? 1500);
    } catch (e) {
      if (!(e instanceof StepTooSlowError)) return { backend, status: 'failed', reason: e instanceof Error ? e.message : String(e) };
      const s = (e.ms / 1000).toPrecision(2);
      return { backend, status: 'too slow', tokensPerS: spec.batch / (e.ms / 1000), msPerStep: e.ms, reason: `too slow: one ${shape} product ${e.finished ? `took ${s} s` : `ran > ${s} s`}${e.firstStep ? ' (first, compiling)' : ''}` };
    }
    const boundMs = PRODUCTS_PER_STEP * productMs;
    if (boundMs <= best.msPerStep! * PROBE_MARGIN) return null;
    const ms = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
    return {
      backend, status: 'too slow', tokensPerS: spec.batch / (boundMs / 1000), msPerStep: boundMs,
      reason: `too slow: one ${shape} product takes ${ms(productMs)} ms, so its step (${PRODUCTS_PER_STEP} or more) ≥ ${ms(boundMs)} ms against ${best.backend}'s ${ms(best.msPerStep!)} ms`,
    };
  }
}

/** The measured result with the shortest step (null when none was measured). */
function bestMeasured(results: readonly BackendMeasurement[]): BackendMeasurement | null {
  const name = fastestMeasured(results);
  return results.find((r) => r.backend === name && r.status === 'measured') ?? null;
}

/**
 * One [batch, d_in]·[d_in, d_sae] product on the active backend, in ms, without the readback's
 * latency: a warm-up (compiles the program on GPU backends) under the first-step limit, then a
 * timed product (one element of it read back) minus a timed read of a one-element result. Every
 * tensor is freed.
 */
async function timeProduct(spec: CalibrationSpec, firstLimitMs: number, limitMs: number): Promise<number> {
  const a = tf.randomNormal([spec.batch, spec.dIn], 0, 1, 'float32', 1);
  const b = tf.randomNormal([spec.dIn, spec.dSae], 0, 1, 'float32', 2);
  const one = tf.ones([1]);
  const read = async (f: () => tf.Tensor) => {
    const t = tf.tidy(f);
    try { await t.data(); } finally { t.dispose(); }
  };
  // One element of the product read back: waits for the whole product, adds no pass over it.
  const product = () => read(() => tf.slice(tf.matMul(a, b), [0, 0], [1, 1]));
  const latency = () => read(() => tf.add(one, 1));
  try {
    await timeWithin(product, firstLimitMs, true);
    await timeWithin(latency, limitMs, false);
    const withRead = await timeWithin(product, limitMs, false);
    return Math.max(0, withRead - (await timeWithin(latency, limitMs, false)));
  } finally {
    tf.dispose([a, b, one]);
  }
}

/** Make `name` the active backend again (it worked before, so no smoke test). */
async function restore(name: string): Promise<void> {
  if (tf.getBackend() !== name) await tf.setBackend(name);
  await tf.ready();
}

function abortError(): Error {
  return Object.assign(new Error('the calibration was cancelled'), { name: 'AbortError' });
}
