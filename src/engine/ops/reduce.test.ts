// The row sums (a matmul with ones; on wasm a column-sum kernel) and the bias adds / weighted L1 built on them, against plain arrays
// (values) and against the plain tfjs composition's autodiff (gradients), on random inputs.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useCpu, useWasm } from '../testing';
import { createRng } from '../rng';
import { ADD_N_MAX_INPUTS, addMany, addRowVector, columnSums, mulRowVector, subRowVector, sumRows, weightedAbsSum } from './reduce';
import { kernelsRun } from './webgpu/kernelsRun';

beforeAll(useCpu);

const B = 7, D = 5;
function randn(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}
const x = randn(B * D, 1);
const b = randn(D, 2);
const w = randn(B * D, 3); // weights of a test objective Σ w ⊙ out, so gradients are not all ones

describe('row sums as a matmul', () => {
  it('sumRows equals Σ over rows (plain loops)', () => {
    const ref = Array.from({ length: D }, (_, j) => { let s = 0; for (let i = 0; i < B; i++) s += x[i * D + j]; return s; });
    expectClose(sumRows(tf.tensor2d(x, [B, D])).dataSync(), ref, 1e-5);
  });

  it('gradients equal those of tf.sum / tf.add / tf.sub', () => {
    const X = tf.tensor2d(x, [B, D]), Bv = tf.tensor1d(b), W = tf.tensor2d(w, [B, D]);
    const pairs: [string, (a: tf.Tensor2D, c: tf.Tensor1D) => tf.Scalar, (a: tf.Tensor2D, c: tf.Tensor1D) => tf.Scalar][] = [
      ['addRowVector', (a, c) => tf.sum(tf.mul(addRowVector(a, c), W)), (a, c) => tf.sum(tf.mul(tf.add(a, c), W))],
      ['subRowVector', (a, c) => tf.sum(tf.mul(subRowVector(a, c), W)), (a, c) => tf.sum(tf.mul(tf.sub(a, c), W))],
      ['mulRowVector', (a, c) => tf.sum(tf.mul(mulRowVector(a, c), W)), (a, c) => tf.sum(tf.mul(tf.mul(a, c), W))],
    ];
    for (const [name, ours, plain] of pairs) {
      const g1 = tf.grads((a: tf.Tensor, c: tf.Tensor) => ours(a as tf.Tensor2D, c as tf.Tensor1D))([X, Bv]);
      const g2 = tf.grads((a: tf.Tensor, c: tf.Tensor) => plain(a as tf.Tensor2D, c as tf.Tensor1D))([X, Bv]);
      expect(ours(X, Bv).dataSync()[0], name).toBeCloseTo(plain(X, Bv).dataSync()[0], 4);
      g1.forEach((g, i) => expectClose(g.dataSync(), g2[i].dataSync(), 1e-5));
      // Not trivially zero or ones.
      expect(Math.max(...g1[1].dataSync().map(Math.abs)), name).toBeGreaterThan(0.1);
    }
  });
});

describe('weightedAbsSum (decoder-norm-weighted L1)', () => {
  it('equals mean_b Σ_i |f_bi| n_i by hand, and its gradients equal autodiff of the plain formula away from f = 0', () => {
    const f = randn(B * D, 5), n = Float32Array.from(randn(D, 6), Math.abs);
    let ref = 0;
    for (let i = 0; i < B; i++) for (let j = 0; j < D; j++) ref += Math.abs(f[i * D + j]) * n[j];
    ref /= B;
    const F = tf.tensor2d(f, [B, D]), N = tf.tensor1d(n);
    expect(weightedAbsSum(F, N).dataSync()[0]).toBeCloseTo(ref, 5);
    const ours = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.mul(weightedAbsSum(a as tf.Tensor2D, c as tf.Tensor1D), 3))([F, N]);
    const plain = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.mul(tf.mean(tf.sum(tf.mul(tf.abs(a), c), 1)), 3))([F, N]);
    ours.forEach((g, i) => expectClose(g.dataSync(), plain[i].dataSync(), 1e-5));
    // By hand: ∂f = 3 sign(f) n / B.
    expectClose(ours[0].dataSync(), Array.from(f, (v, k) => (3 * (v > 0 ? 1 : -1) * n[k % D]) / B), 1e-5);
  });
});

describe('weightedAbsSum with nonNegative (f ≥ 0 known)', () => {
  it('gives the same value and gradients as the general form on f ≥ 0', () => {
    const f = Float32Array.from(randn(B * D, 7), (v) => Math.max(v, 0)), n = Float32Array.from(randn(D, 8), Math.abs);
    const F = tf.tensor2d(f, [B, D]), N = tf.tensor1d(n);
    expect(weightedAbsSum(F, N, true).dataSync()[0]).toBeCloseTo(weightedAbsSum(F, N).dataSync()[0], 5);
    const g1 = tf.grads((a: tf.Tensor, c: tf.Tensor) => weightedAbsSum(a as tf.Tensor2D, c as tf.Tensor1D, true))([F, N]);
    const g2 = tf.grads((a: tf.Tensor, c: tf.Tensor) => weightedAbsSum(a as tf.Tensor2D, c as tf.Tensor1D))([F, N]);
    g1.forEach((g, i) => expectClose(g.dataSync(), g2[i].dataSync(), 1e-6));
    // ∂n = Σ_b f_b / B by hand.
    expectClose(g1[1].dataSync(), Array.from({ length: D }, (_, j) => { let s = 0; for (let i = 0; i < B; i++) s += f[i * D + j]; return s / B; }), 1e-5);
  });
});

describe('sumRows on wasm: a column-sum kernel on the wasm heap', () => {
  beforeAll(useWasm);
  afterAll(useCpu);

  const plainSums = (v: Float32Array, rows: number, n: number) =>
    Array.from({ length: n }, (_, j) => { let s = 0; for (let r = 0; r < rows; r++) s += v[r * n + j]; return s; });

  it('columnSums equals plain loops for row counts that are and are not multiples of four', () => {
    for (const [rows, n] of [[1, 1], [1, 9], [3, 5], [4, 4], [5, 3], [7, 33], [1027, 17]]) {
      const v = randn(rows * n, rows + n);
      const out = new Float32Array(n);
      columnSums(v, out, rows, n);
      expectClose(out, plainSums(v, rows, n), 1e-5);
    }
  });

  it('runs its own kernel, equals the matmul with ones on cpu, and leaves no tensor', async () => {
    for (const [rows, n] of [[1, 6], [7, 5], [258, 129]]) {
      const v = randn(rows * n, 3 * rows + n);
      const X = tf.tensor2d(v, [rows, n]);
      const before = tf.memory().numTensors;
      let sums: tf.Tensor1D | null = null;
      expect(kernelsRun(() => { sums = sumRows(X); })).toEqual(['SaeSumRows']);
      expect(sums!.shape).toEqual([n]);
      expectClose(sums!.dataSync(), plainSums(v, rows, n), 1e-5);
      sums!.dispose();
      expect(tf.memory().numTensors).toBe(before);
      X.dispose();
    }
    await useCpu();
    const X = tf.tensor2d(randn(21, 9), [7, 3]);
    expect(kernelsRun(() => { sumRows(X).dispose(); })).toContain('BatchMatMul');
    X.dispose();
    await tf.setBackend('wasm');
  });
});

describe('addMany', () => {
  it('sums any number of tensors in groups AddN can take on WebGPU, equal to a plain sum', () => {
    for (const n of [1, ADD_N_MAX_INPUTS, ADD_N_MAX_INPUTS + 1, 3 * ADD_N_MAX_INPUTS + 2]) {
      const values = Array.from({ length: n }, (_, i) => [i + 1, -2 * i, 0.5 * i]);
      const want = [0, 1, 2].map((j) => values.reduce((s, v) => s + v[j], 0));
      const before = tf.memory().numTensors;
      const xs = values.map((v) => tf.tensor1d(v));
      const got = addMany(xs);
      expectClose(got.dataSync(), want, 1e-6);
      tf.dispose([got, ...xs]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('never hands AddN more than ADD_N_MAX_INPUTS inputs', () => {
    const xs = Array.from({ length: 20 }, () => tf.scalar(1));
    const calls: number[] = [];
    const engine = tf.engine() as unknown as { runKernel: (name: string, inputs: Record<string, unknown>, attrs?: unknown) => unknown };
    const original = engine.runKernel;
    engine.runKernel = function (this: unknown, name: string, inputs: Record<string, unknown>, attrs?: unknown) {
      if (name === 'AddN') calls.push(Object.keys(inputs).length);
      return original.call(this, name, inputs, attrs);
    };
    try {
      const total = addMany(xs);
      expect(total.dataSync()[0]).toBe(20);
      total.dispose();
    } finally {
      engine.runKernel = original;
    }
    expect(calls.length).toBeGreaterThan(1);
    expect(Math.max(...calls)).toBeLessThanOrEqual(ADD_N_MAX_INPUTS);
    tf.dispose(xs);
  });
});
