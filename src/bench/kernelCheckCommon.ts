// What the kernel checks and timings of kernels.html share: report types, setup, inputs, comparison.
// The checks compare the ops as the engine calls them with the fused kernels on against the same
// ops with them off (the plain tfjs composition on the same backend), and some against plain JS
// (src/bench/kernelCheck.ts is the page).
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { setFusedKernelsEnabled } from '../engine/ops/webgpu/program';
import { createRng } from '../engine/rng';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Largest |got − want| over the compared values (0 when they agree exactly). */
  maxError: number;
  detail: string;
}

export interface CheckReport {
  backend: string;
  adapter: string;
  results: CheckResult[];
  error?: string;
}

export interface KernelBenchShape {
  batch: number;
  dSae: number;
  dIn: number;
  k: number;
  /** Samples per kernel and path (after a warm-up call); the median is reported. */
  iterations: number;
  /** A path stops sampling after two samples once it has spent this long (default 8 s). */
  budgetMs?: number;
  /** Only these rows (names as in KernelBenchRow.kernel); all when absent. */
  only?: string[];
}

export interface KernelBenchRow {
  kernel: string;
  fusedMs: number;
  compositionMs: number;
  speedup: number;
  /** How the row was measured, when it is not one call of the op. */
  note?: string;
}

export interface KernelBenchReport {
  backend: string;
  adapter: string;
  rows: KernelBenchRow[];
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Setup

/** The webgpu backend, or why there is none. */
export async function useWebGPU(): Promise<{ adapter: string; error?: string }> {
  if (!('gpu' in navigator) || !navigator.gpu) return { adapter: '', error: 'WebGPU is not available in this browser (navigator.gpu is missing)' };
  try {
    if (!(await tf.setBackend('webgpu'))) return { adapter: '', error: 'the tfjs webgpu backend failed to initialise' };
    await tf.ready();
  } catch (e) {
    return { adapter: '', error: `the tfjs webgpu backend failed to initialise: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (tf.getBackend() !== 'webgpu') return { adapter: '', error: `tfjs runs on ${tf.getBackend()}, not webgpu` };
  const info = (tf.backend() as WebGPUBackend).adapterInfo as unknown as Record<string, unknown> | undefined;
  const adapter = info ? ['vendor', 'architecture', 'description'].map((k) => info[k]).filter(Boolean).join(' / ') : '';
  return { adapter: adapter || 'unknown adapter' };
}

/** Run `f` with the fused kernels on or off (the composition), restoring the switch after. */
export function withFused<T>(on: boolean, f: () => T): T {
  const was = setFusedKernelsEnabled(on);
  try {
    return f();
  } finally {
    setFusedKernelsEnabled(was);
  }
}

/** Deterministic standard-normal values × scale (the engine's seeded generator). */
export function normals(n: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

export const read = async (t: tf.Tensor) => { const v = (await t.data()) as Float32Array; return v; };

/** withFused for an async `f`: the switch stays set until `f` settles. */
export async function withFusedAsync<T>(on: boolean, f: () => Promise<T>): Promise<T> {
  const was = setFusedKernelsEnabled(on);
  try {
    return await f();
  } finally {
    setFusedKernelsEnabled(was);
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison

/**
 * got vs want elementwise: passes when |got − want| ≤ atol + rtol·|want| everywhere (NaN never
 * passes). The detail names the first failing index.
 */
export function compare(name: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): CheckResult {
  if (got.length !== want.length) return { name, ok: false, maxError: Infinity, detail: `length ${got.length} ≠ ${want.length}` };
  let maxError = 0;
  let bad = -1;
  let badCount = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i]))) { if (bad < 0) bad = i; badCount++; }
    if (!(d <= maxError)) maxError = Number.isNaN(d) ? Infinity : d;
  }
  const detail = bad < 0
    ? `${got.length} values, max |Δ| ${maxError.toExponential(2)} (atol ${atol}, rtol ${rtol})`
    : `${badCount} of ${got.length} values differ; first at ${bad}: ${got[bad]} vs ${want[bad]} (atol ${atol}, rtol ${rtol})`;
  return { name, ok: bad < 0, maxError, detail };
}

export const fact = (name: string, ok: boolean, detail: string): CheckResult => ({ name, ok, maxError: 0, detail });

/** The JumpReLU / Heaviside window ε of the checks and the timings. */
export const BANDWIDTH = 0.05;
