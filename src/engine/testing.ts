// Helpers for the engine's tests: the cpu backend, and plain-array utilities that the references
// are written with (independent of the engine's own code).
import * as tf from '@tensorflow/tfjs';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
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

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * Math.max(1, Math.abs(expected[i])))) throw new Error(`index ${i}: ${actual[i]} vs expected ${expected[i]} (tol ${tol})`);
  }
}
