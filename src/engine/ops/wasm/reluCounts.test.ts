// The one-pass ReLU backward and firing counts on wasm (relu_grad, count_above and
// entry_column_sums in assembly/kernels.ts, through ops/relu.ts, ops/reduce.ts and ops/sparse.ts)
// against plain JS, and against the tfjs ops they replace.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { columnCountsAbove } from '../reduce';
import { entryColumnSums, entryCountsAbove } from '../sparse';
import { relu } from '../relu';
import { entrySumsAgainstLoops, useWasm, values } from '../../testing';
import { WASM_KERNELS } from './registered';
import { kernelsRun } from '../webgpu/kernelsRun';

beforeAll(useWasm);

/** Values with exact zeros and ties at the thresholds tested (0 and 0.25). */
function data(rows: number, n: number, seed: number): Float32Array {
  return Float32Array.from(values(rows * n, seed), (v, i) => (i % 7 === 0 ? 0 : i % 11 === 0 ? 0.25 : v));
}

describe('relu backward on wasm', () => {
  it.each([[64, 2048], [33, 100], [5, 7]])('[%i, %i]: dy where z > 0, else 0, as tfjs’s own gradient', (rows, n) => {
    const zv = data(rows, n, 1), dyv = Float32Array.from(values(rows * n, 2));
    const z = tf.tensor2d(zv, [rows, n]), dy = tf.tensor2d(dyv, [rows, n]);
    const names = kernelsRun(() => tf.dispose(tf.grad((t: tf.Tensor) => relu(t as tf.Tensor2D))(z, dy)));
    expect(names).toContain(WASM_KERNELS.reluGrad);
    const ours = tf.grad((t: tf.Tensor) => relu(t as tf.Tensor2D))(z, dy).dataSync();
    const theirs = tf.grad((t: tf.Tensor) => tf.relu(t))(z, dy).dataSync();
    for (let i = 0; i < zv.length; i++) {
      expect(ours[i]).toBe(zv[i] > 0 ? dyv[i] : 0);
      expect(ours[i] === theirs[i] || (ours[i] === 0 && theirs[i] === 0)).toBe(true);
    }
    expect(relu(z).dataSync()).toEqual(tf.relu(z).dataSync());
    tf.dispose([z, dy]);
  });
});

describe('columnCountsAbove on wasm', () => {
  it.each([[1024, 2048, 0], [37, 100, 0.25], [3, 12, -0.5], [1, 4, 0]])('[%i, %i] above %f: the count of each column, as Σ step(x − thr)', (rows, n, thr) => {
    const xv = data(rows, n, 3);
    const x = tf.tensor2d(xv, [rows, n]);
    const names = kernelsRun(() => tf.dispose(columnCountsAbove(x, thr)));
    expect(names).toEqual([WASM_KERNELS.countAbove]);
    const got = columnCountsAbove(x, thr).dataSync();
    for (let j = 0; j < n; j++) {
      let c = 0;
      for (let r = 0; r < rows; r++) if (xv[r * n + j] > thr) c++;
      expect(got[j]).toBe(c);
    }
    const viaStep = tf.sum(thr === 0 ? tf.step(x) : tf.step(tf.sub(x, thr)), 0).dataSync();
    expect(Array.from(got)).toEqual(Array.from(viaStep));
    x.dispose();
  });

  it('falls back to the tfjs ops for widths not a multiple of 4', () => {
    const x = tf.tensor2d(data(9, 10, 4), [9, 10]);
    expect(kernelsRun(() => tf.dispose(columnCountsAbove(x, 0)))).not.toContain(WASM_KERNELS.countAbove);
    x.dispose();
  });
});

describe('entry column sums and firing counts on wasm', () => {
  // Rows of entries as the selections make them: latents repeated across rows, padding (0, 0), and
  // values at the threshold.
  const rows = 37, k = 9, n = 20;
  const idx = Array.from({ length: rows * k }, (_, i) => (i % k === k - 1 && i % 3 === 0 ? 0 : (i * 7 + Math.floor(i / k)) % n));
  const val = values(rows * k, 5).map((v, i) => (idx[i] === 0 && i % k === k - 1 ? 0 : i % 10 === 0 ? 0.25 : v));
  const entries = () => ({ indices: tf.tensor2d(idx, [rows, k], 'int32'), values: tf.tensor2d(val, [rows, k]) });

  it('sums each latent’s values in entry order, as float32 running sums', () => {
    const e = entries();
    expect(kernelsRun(() => tf.dispose(entryColumnSums(e, n)))).toEqual([WASM_KERNELS.entryColumnSums]);
    const want = new Float32Array(n);
    for (let i = 0; i < idx.length; i++) want[idx[i]] = Math.fround(want[idx[i]] + Math.fround(val[i]));
    expect(Array.from(entryColumnSums(e, n).dataSync())).toEqual(Array.from(want));
    tf.dispose([e.indices, e.values]);
  });

  it('splits many entries across the threads, each summing its share: the same sums and counts', () => {
    const { worstSum, counts, wantCounts } = entrySumsAgainstLoops(1024, 256, 4096, 9); // 262,144 entries: both threads
    expect(worstSum).toBeLessThan(1e-4); // float32 running sums of ~64 values of |v| < 1
    expect(counts).toEqual(wantCounts);
  });

  it.each([0, 0.25, -0.5])('counts the values above %f per latent, padding included where 0 is above it', (thr) => {
    const e = entries();
    const want = new Array<number>(n).fill(0);
    for (let i = 0; i < idx.length; i++) if (Math.fround(val[i]) > thr) want[idx[i]]++;
    expect(Array.from(entryCountsAbove(e, n, thr).dataSync())).toEqual(want);
    tf.dispose([e.indices, e.values]);
  });
});
