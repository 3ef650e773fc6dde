// The engine's product kernel with what it does besides a · b (ops/matmul.ts fusedProduct: a bias,
// a right operand given transposed and packed as such, a ReLU or a positivity mask as it stores),
// and its column sums (ops/reduce.ts sumRows), on wasm against plain loops in float64 — and on cpu,
// where the same calls are tfjs compositions, against the same loops.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fusedProduct } from '../matmul';
import { sumRows } from '../reduce';
import { useCpu, useWasm, values } from '../../testing';
import { WASM_KERNELS } from './registered';
import { kernelsRun } from '../webgpu/kernelsRun';

/** Plain a [m, k] · b [k, n] (+ bias) in float64. */
function reference(a: number[], b: number[], m: number, k: number, n: number, bias?: number[]): number[] {
  const out = new Array<number>(m * n).fill(0);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = bias ? bias[j] : 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
    out[i * n + j] = s;
  }
  return out;
}

/** bᵀ [n, k] of b [k, n]. */
function transposed(b: number[], k: number, n: number): number[] {
  return Array.from({ length: k * n }, (_, i) => b[(i % k) * n + Math.floor(i / k)]);
}

/** Within 2e-6 of the float64 value relative to the size of the terms summed (not to a result near 0). */
function expectProductClose(got: ArrayLike<number>, want: number[], k: number): void {
  expect(got.length).toBe(want.length);
  const scale = Math.sqrt(k); // |terms| ≤ 1: a sum of k of them has rounding ~ √k · 2⁻²⁴
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 2e-6 * scale)) throw new Error(`index ${i}: ${got[i]} vs ${want[i]}`);
  }
}

// m not a multiple of 3 (the kernel's row tiles), n not of 12 (its panels), k odd and not of 4
// (pack_panels_t's blocks), and a small step's real shapes.
const SHAPES: [number, number, number][] = [[7, 5, 13], [10, 16, 24], [31, 33, 50], [64, 64, 2048], [1024, 64, 36]];

describe.each(['wasm', 'cpu'])('fusedProduct on %s', (backend) => {
  beforeAll(backend === 'wasm' ? useWasm : useCpu);
  afterAll(useCpu);

  it.each(SHAPES)('a [%i, %i] · b [·, %i] + bias, b as given and transposed', (m, k, n) => {
    const av = values(m * k, 1), bv = values(k * n, 2), bias = values(n, 3);
    const want = reference(av, bv, m, k, n, bias);
    const a = tf.tensor2d(av, [m, k]), b = tf.tensor2d(bv, [k, n]), bt = tf.tensor2d(transposed(bv, k, n), [n, k]), bb = tf.tensor1d(bias);
    const names = kernelsRun(() => tf.dispose([fusedProduct(a, b, { bias: bb }), fusedProduct(a, bt, { bias: bb, transposeRight: true })]));
    if (backend === 'wasm') expect(names).toEqual([WASM_KERNELS.denseProduct, WASM_KERNELS.denseProduct]);
    expectProductClose(fusedProduct(a, b, { bias: bb }).dataSync(), want, k);
    expectProductClose(fusedProduct(a, bt, { bias: bb, transposeRight: true }).dataSync(), want, k);
    expectProductClose(fusedProduct(a, b).dataSync(), reference(av, bv, m, k, n), k);
    tf.dispose([a, b, bt, bb]);
  });

  it.each(SHAPES)('a [%i, %i] · b [·, %i]: the ReLU and the mask are those of the plain product, value for value', (m, k, n) => {
    const a = tf.tensor2d(values(m * k, 4), [m, k]), b = tf.tensor2d(values(k * n, 5), [k, n]);
    // A mask with exact zeros, negatives, NaN and positives.
    const maskValues = values(m * n, 6).map((v, i) => (i % 5 === 0 ? 0 : i % 13 === 0 ? NaN : v));
    const mask = tf.tensor2d(maskValues, [m, n]);
    const plain = Array.from(fusedProduct(a, b).dataSync());
    const relu = fusedProduct(a, b, { relu: true }).dataSync();
    const masked = fusedProduct(a, b, { maskPositive: mask }).dataSync();
    const wrong: string[] = [];
    for (let i = 0; i < plain.length && wrong.length < 3; i++) {
      if (!Object.is(relu[i], Math.max(plain[i], 0)) && !(relu[i] === 0 && plain[i] <= 0)) wrong.push(`relu[${i}] ${relu[i]} of ${plain[i]}`);
      if (masked[i] !== (maskValues[i] > 0 ? plain[i] : 0)) wrong.push(`masked[${i}] ${masked[i]} of ${plain[i]} at mask ${maskValues[i]}`);
    }
    expect(wrong).toEqual([]);
    expect(relu.some((v) => v > 0) && relu.some((v) => v === 0)).toBe(true);
    tf.dispose([a, b, mask]);
  });

  it('keeps NaN through the ReLU and where the mask is positive', () => {
    const a = tf.tensor2d([NaN, 1, 1, 1, -1, 1], [3, 2]), b = tf.tensor2d([1, 1, 1, 1], [2, 2]);
    expect(Array.from(fusedProduct(a, b, { relu: true }).dataSync())).toEqual([NaN, NaN, 2, 2, 0, 0]);
    const mask = tf.tensor2d([1, 0, 1, NaN, -1, 1], [3, 2]);
    expect(Array.from(fusedProduct(a, b, { maskPositive: mask }).dataSync())).toEqual([NaN, 0, 2, 0, 0, 0]);
    tf.dispose([a, b, mask]);
  });
});

describe('sumRows on wasm (column_sums)', () => {
  beforeAll(useWasm);
  afterAll(useCpu);

  it.each([[1024, 2048], [37, 100], [3, 12], [1, 4], [513, 4096]])('[%i, %i]: Σ over the rows, as float64 sums rounded once', (rows, n) => {
    // Large and small values mixed, so that float32 running sums would differ from the float64 ones.
    const xv = values(rows * n, 7).map((v, i) => (i % 3 === 0 ? v * 1000 : v * 1e-3));
    const x = tf.tensor2d(xv, [rows, n]);
    expect(kernelsRun(() => tf.dispose(sumRows(x)))).toEqual([WASM_KERNELS.columnSums]);
    const got = sumRows(x).dataSync();
    const f32 = Float32Array.from(xv);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += f32[r * n + j];
      expect(got[j]).toBe(Math.fround(s));
    }
    x.dispose();
  });

  it('widths not a multiple of 4 take the JavaScript kernel, with the same sums', () => {
    const xv = values(9 * 10, 8);
    const x = tf.tensor2d(xv, [9, 10]);
    expect(kernelsRun(() => tf.dispose(sumRows(x)))).not.toContain(WASM_KERNELS.columnSums);
    const got = sumRows(x).dataSync();
    for (let j = 0; j < 10; j++) {
      let s = 0;
      for (let r = 0; r < 9; r++) s += Math.fround(xv[r * 10 + j]);
      expect(got[j]).toBeCloseTo(s, 6);
    }
    x.dispose();
  });
});
