// The wasm TopK selection (assembly/kernels.ts topk_rows, behind sparse.ts topkEntries) against a
// plain-JS reference: per row, the eligible latents sorted by value (descending) then index
// (ascending), the first k of them, given in increasing latent order with values max(z, 0) and
// padded with (0, 0). Compared exactly, on random data and on data full of ties.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topkEntries } from '../sparse';
import { useWasm, values } from '../../testing';
import { heapOffset, wasmKernels } from './kernelModule';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

beforeAll(useWasm);
afterAll(() => tf.setBackend('cpu'));

/**
 * The selection's order of two values, larger first: NaN after every number, and −0 and +0 equal
 * (as float comparisons have them), so that they tie and the lower index wins.
 */
function order(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number(Number.isNaN(a)) - Number(Number.isNaN(b));
  return a === b ? 0 : a > b ? -1 : 1;
}

function reference(z: Float32Array, rows: number, n: number, k: number, eligible?: Float32Array): { indices: number[]; values: number[] } {
  const indices: number[] = [], vals: number[] = [];
  const candidates = Array.from({ length: n }, (_, j) => j).filter((j) => !eligible || eligible[j] !== 0);
  for (let r = 0; r < rows; r++) {
    const row = z.subarray(r * n, (r + 1) * n);
    const chosen = [...candidates].sort((i, j) => order(row[i], row[j]) || i - j).slice(0, k).sort((i, j) => i - j);
    for (const j of chosen) { indices.push(j); vals.push(Math.max(row[j], 0)); }
    for (let t = chosen.length; t < k; t++) { indices.push(0); vals.push(0); }
  }
  return { indices, values: vals };
}

/** topkEntries on wasm as plain arrays (Float32Array values keep −0 apart from +0). */
function run(z: Float32Array, rows: number, n: number, k: number, eligible?: Float32Array): { indices: number[]; values: number[] } {
  return tf.tidy(() => {
    const e = topkEntries(tf.tensor2d(z, [rows, n]), k, eligible ? tf.tensor1d(eligible) : undefined);
    expect(e.indices.dtype).toBe('int32');
    expect(e.indices.shape).toEqual([rows, k]);
    expect(e.values.shape).toEqual([rows, k]);
    return { indices: Array.from(e.indices.dataSync()), values: Array.from(e.values.dataSync()) };
  });
}

function expectSelection(z: Float32Array, rows: number, n: number, k: number, eligible?: Float32Array): void {
  const got = run(z, rows, n, k, eligible), want = reference(z, rows, n, k, eligible);
  for (let r = 0; r < rows; r++) {
    const at = (a: number[]) => a.slice(r * k, (r + 1) * k);
    expect(at(got.indices), `row ${r} indices (n ${n}, k ${k})`).toEqual(at(want.indices));
    expect(at(got.values), `row ${r} values (n ${n}, k ${k})`).toEqual(at(want.values));
  }
}

/** Values in [−1, 1), rounded to multiples of 1 / `levels` (0: not rounded), as float32. */
function data(size: number, seed: number, levels = 0): Float32Array {
  const v = values(size, seed);
  return Float32Array.from(levels > 0 ? v.map((x) => Math.round(x * levels) / levels) : v);
}

/** Eligibility with about `fraction` of the latents eligible. */
function mask(n: number, seed: number, fraction: number): Float32Array {
  return Float32Array.from(values(n, seed), (x) => (x * 0.5 + 0.5 < fraction ? 1 : 0));
}

describe('topk_rows on wasm', () => {
  it('equals the reference on random data, for k from 1 to n and n not a multiple of 4 or 16', () => {
    for (const n of [1, 3, 5, 16, 37, 130, 257, 1001]) {
      const ks = [...new Set([1, 2, 3, Math.ceil(n / 20), Math.ceil(n / 4), Math.ceil(n / 2), n - 1, n])].filter((k) => k >= 1 && k <= n);
      for (const k of ks) expectSelection(data(6 * n, n + k), 6, n, k);
    }
  });

  it('equals the reference at the sizes training uses (k = 5% of n, and k ≪ n)', () => {
    expectSelection(data(8 * 2048, 1), 8, 2048, 102);
    expectSelection(data(4 * 24576, 2), 4, 24576, 1229);
    expectSelection(data(4 * 24576, 3), 4, 24576, 32);
  });

  it('breaks ties by the lower index: few distinct values, all-equal rows and rows of zeros', () => {
    for (const [n, k] of [[37, 5], [130, 12], [1000, 50], [2048, 102], [3001, 300], [64, 64]]) {
      const rows = 7;
      for (const levels of [1, 2, 5]) {
        const z = data(rows * n, n * levels + k, levels);
        z.fill(0, 0, n); // a row of zeros
        z.fill(0.5, 2 * n, 3 * n); // a row of one value
        z.fill(-0.25, 4 * n, 5 * n); // a row of one negative value
        expectSelection(z, rows, n, k);
      }
    }
  });

  it('takes −0 and +0 as equal (the lower index wins), and gives +0 as their value', () => {
    const n = 45, k = 20, rows = 4;
    const z = new Float32Array(rows * n);
    for (let i = 0; i < z.length; i++) z[i] = i % 3 === 0 ? -0 : i % 3 === 1 ? 0 : (i % 7) - 5; // zeros of both signs, and a few other values
    for (let j = 0; j < n; j++) z[3 * n + j] = j % 2 ? 0 : -0; // a row of zeros only
    expectSelection(z, rows, n, k);
    const got = run(z, rows, n, k);
    expect(got.values.every((v) => !Object.is(v, -0))).toBe(true);
  });

  it('ranks NaN below every number (taken only to fill a row), and ±∞ as numbers', () => {
    const n = 203, rows = 8;
    for (const k of [1, 10, 60, 150]) {
      const z = data(rows * n, 500 + k);
      for (let j = 0; j < n; j++) {
        if (j % 17 === 3) z[j] = NaN; // row 0: a few NaNs
        if (j % 4 !== 0) z[n + j] = NaN; // row 1: NaN but for every 4th value
        z[2 * n + j] = NaN; // row 2: only NaN
        z[3 * n + j] = j % 3 === 0 ? Infinity : j % 3 === 1 ? -Infinity : NaN; // row 3: no finite value
        z[4 * n + j] = Infinity; // row 4: only +∞
        z[5 * n + j] = j % 5 === 0 ? -Infinity : z[5 * n + j]; // row 5: some −∞
        if (j % 9 === 0) z[6 * n + j] = j % 2 ? Infinity : -Infinity; // row 6: both infinities among numbers
      }
      expectSelection(z, rows, n, k);
      expectSelection(z, rows, n, k, mask(n, k, 0.5));
    }
  });

  it('selects among the eligible latents only, padding where fewer than k are eligible', () => {
    for (const [n, k] of [[37, 5], [130, 12], [1000, 50], [2048, 102], [3001, 64]]) {
      for (const fraction of [0, 0.01, 0.03, 0.05, 0.2, 0.5, 1]) {
        const eligible = mask(n, n + k, fraction);
        expectSelection(data(5 * n, n - k), 5, n, k, eligible);
        expectSelection(data(5 * n, n - k, 3), 5, n, k, eligible); // with ties
      }
      // Exactly k eligible, and one more than k.
      for (const extra of [0, 1]) {
        const eligible = new Float32Array(n);
        for (let t = 0; t < k + extra; t++) eligible[Math.floor((t * n) / (k + extra))] = 1;
        expectSelection(data(5 * n, 2 * n + extra), 5, n, k, eligible);
      }
    }
  });

  it('picks the same sets as tf.topk, whose order at ties is value, then lower index', () => {
    for (const [n, k, levels] of [[2048, 102, 0], [2048, 102, 4], [500, 64, 2]]) {
      const rows = 6;
      const z = data(rows * n, n + k + levels, levels);
      const got = run(z, rows, n, k);
      const want = tf.tidy(() => Array.from(tf.topk(tf.tensor2d(z, [rows, n]), k, true).indices.dataSync()));
      for (let r = 0; r < rows; r++) {
        const sorted = (a: number[]) => a.slice(r * k, (r + 1) * k).sort((i, j) => i - j);
        expect(sorted(got.indices), `row ${r}`).toEqual(sorted(want));
      }
    }
  });

  it('keeps each thread to its own scratch', () => {
    // The call runs on one thread here; the kernel called directly as thread 1 of 2 must give the
    // same entries and leave thread 0's scratch untouched.
    const rows = 3, n = 300, k = 30;
    const z = data(rows * n, 77, 6);
    const backend = tf.backend() as unknown as BackendWasm;
    const kernels = wasmKernels(backend)!;
    const words = kernels.exports.topk_scratch_words(n);
    const zt = tf.tensor2d(z, [rows, n]);
    const scratch = tf.fill([2 * words], 12345, 'int32');
    const indices = tf.zeros([rows, k], 'int32'), vals = tf.zeros([rows, k]);
    const at = (t: tf.Tensor) => heapOffset(backend, t);
    kernels.exports.topk_rows(at(zt), n, k, 0, at(indices), at(vals), at(scratch), 0, rows, 1);
    const want = reference(z, rows, n, k);
    expect(Array.from(indices.dataSync())).toEqual(want.indices);
    expect(Array.from(vals.dataSync())).toEqual(want.values);
    expect(Array.from(scratch.dataSync().subarray(0, words)).every((v) => v === 12345)).toBe(true);
    tf.dispose([zt, scratch, indices, vals]);
  });
});
