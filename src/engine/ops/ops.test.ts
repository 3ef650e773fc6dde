import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, matmul, useCpu, values } from '../testing';
import { heavisideMeanL0 } from './heaviside';
import { jumpRelu } from './jumprelu';
import { matMul, matMulDataLeft, matMulDataRight } from './matmul';
import { constant, stopGradient } from './stopGradient';
import { topkRelu } from './topk';

beforeAll(useCpu);

const B = 4, S = 5, EPS = 0.1;
// Pre-activations chosen so that some lie inside the kernel window |z − θ| < ε/2 and some outside.
const Z = [0.32, 0.1, -0.4, 0.72, 0.26, 0.18, 0.5, 0.33, 0.05, 0.9, -0.2, 0.29, 0.6, 0.44, 0.31, 0.35, 0.02, 0.27, 0.66, 0.25];
const THETA = [0.3, 0.2, 0.3, 0.7, 0.25];
const UPSTREAM = values(B * S, 11, 2); // g = ∂L/∂f, not all ones
const K = (u: number) => (u > -0.5 && u < 0.5 ? 1 : 0);

/** Gradients of L = Σ op(z, θ) ⊙ g w.r.t. z and θ. */
function grads(op: (z: tf.Tensor2D, t: tf.Tensor1D) => tf.Tensor2D) {
  const g = tf.tensor2d(UPSTREAM, [B, S]);
  const [dz, dt] = tf.grads((z: tf.Tensor, t: tf.Tensor) => tf.sum(tf.mul(op(z as tf.Tensor2D, t as tf.Tensor1D), g)))([tf.tensor2d(Z, [B, S]), tf.tensor1d(THETA)]);
  return { dz: Array.from(dz.dataSync()), dt: Array.from(dt.dataSync()) };
}

describe('jumpRelu', () => {
  it('forward is z·H(z − θ)', () => {
    const f = jumpRelu(tf.tensor2d(Z, [B, S]), tf.tensor1d(THETA), EPS).dataSync();
    expectClose(f, Z.map((z, i) => (z > THETA[i % S] ? z : 0)), 1e-7);
  });
  it('gradients are the straight-through formulas: ∂f/∂z = H(z − θ), ∂f/∂θ = −(θ/ε)K((z − θ)/ε)·g summed over the batch', () => {
    const { dz, dt } = grads((z, t) => jumpRelu(z, t, EPS));
    expectClose(dz, Z.map((z, i) => (z > THETA[i % S] ? UPSTREAM[i] : 0)), 1e-6);
    const expected = THETA.map((th, j) => {
      let s = 0;
      for (let b = 0; b < B; b++) s += -(th / EPS) * K((Z[b * S + j] - th) / EPS) * UPSTREAM[b * S + j];
      return s;
    });
    expect(expected.some((v) => Math.abs(v) > 0.5)).toBe(true); // the window is really hit
    expectClose(dt, expected, 1e-5);
  });
  it('∂f/∂z matches central finite differences away from θ', () => {
    const { dz } = grads((z, t) => jumpRelu(z, t, EPS));
    const L = (zs: number[]) => Array.from(jumpRelu(tf.tensor2d(zs, [B, S]), tf.tensor1d(THETA), EPS).dataSync()).reduce((a, f, i) => a + f * UPSTREAM[i], 0);
    const h = 1e-3;
    for (let i = 0; i < Z.length; i++) {
      if (Math.abs(Z[i] - THETA[i % S]) < 2 * h) continue;
      const zp = [...Z]; zp[i] += h;
      const zm = [...Z]; zm[i] -= h;
      expect(dz[i]).toBeCloseTo((L(zp) - L(zm)) / (2 * h), 2);
    }
  });
});

describe('heavisideMeanL0', () => {
  it('is the mean count of z > θ per row; ∂/∂z = 0; ∂/∂θ = −(1/ε)(1/B)K((z − θ)/ε)·dy summed over the batch', () => {
    const z = tf.tensor2d(Z, [B, S]), theta = tf.tensor1d(THETA);
    const count = Z.filter((v, i) => v > THETA[i % S]).length;
    expect(heavisideMeanL0(z, theta, EPS).dataSync()[0]).toBeCloseTo(count / B, 6);
    // An upstream gradient that is not 1 (the loss scales L0 by λ).
    const dy = 0.7;
    const [dz, dt] = tf.grads((a: tf.Tensor, t: tf.Tensor) => tf.mul(heavisideMeanL0(a as tf.Tensor2D, t as tf.Tensor1D, EPS), dy))([z, theta]);
    expect(Array.from(dz.dataSync()).every((v) => v === 0)).toBe(true);
    const expected = THETA.map((th, j) => {
      let s = 0;
      for (let b = 0; b < B; b++) s += -(1 / EPS) * (1 / B) * K((Z[b * S + j] - th) / EPS) * dy;
      return s;
    });
    expect(expected.filter((v) => v !== 0).length).toBeGreaterThan(1); // the window is really hit
    expectClose(dt.dataSync(), expected, 1e-6);
  });
  it('equals the mean over rows of the summed step, the form it replaces, on random inputs', () => {
    const rows = 37, cols = 53;
    const zs = values(rows * cols, 5, 1), ts = values(cols, 9, 0.5);
    const z = tf.tensor2d(zs, [rows, cols]), theta = tf.tensor1d(ts);
    const plain = zs.filter((v, i) => v > ts[i % cols]).length / rows;
    expect(heavisideMeanL0(z, theta, 0.2).dataSync()[0]).toBeCloseTo(plain, 5);
  });
});

describe('topkRelu', () => {
  it('keeps each row’s k largest, applies ReLU, and routes gradients only through kept positive entries', () => {
    const z = [3, -1, 2, 0.5, 1, /**/ -3, -2, -1, 0.5, -4, /**/ 0.1, 0.4, 0.3, 0.2, 0.9, /**/ 5, 4, 3, 2, 1];
    const k = 2;
    const expected = z.map((v, i) => {
      const row = z.slice(Math.floor(i / S) * S, Math.floor(i / S) * S + S);
      const kth = [...row].sort((a, b) => b - a)[k - 1];
      return v >= kth && v > 0 ? v : 0;
    });
    const f = topkRelu(tf.tensor2d(z, [B, S]), k).dataSync();
    expectClose(f, expected, 1e-7);
    // Row 2 has a single positive value: only one survives the ReLU.
    expect(Array.from(f.slice(5, 10)).filter((v) => v > 0)).toEqual([0.5]);
    const g = tf.tensor2d(UPSTREAM, [B, S]);
    const dz = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(topkRelu(x as tf.Tensor2D, k), g)))(tf.tensor2d(z, [B, S])).dataSync();
    expectClose(dz, expected.map((v, i) => (v > 0 ? UPSTREAM[i] : 0)), 1e-6);
  });
});

describe('matMul with materialised transposes', () => {
  it('matches plain arrays forward and backward', () => {
    const a = values(6, 1), b = values(12, 2), g = values(8, 3);
    expectClose(matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [3, 4])).dataSync(), matmul(a, b, 2, 3, 4), 1e-6);
    const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D), tf.tensor2d(g, [2, 4]))))([tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [3, 4])]);
    // ∂a = g·bᵀ, ∂b = aᵀ·g, written as explicit sums
    const daRef = [], dbRef = [];
    for (let i = 0; i < 2; i++) for (let p = 0; p < 3; p++) { let s = 0; for (let j = 0; j < 4; j++) s += g[i * 4 + j] * b[p * 4 + j]; daRef.push(s); }
    for (let p = 0; p < 3; p++) for (let j = 0; j < 4; j++) { let s = 0; for (let i = 0; i < 2; i++) s += a[i * 3 + p] * g[i * 4 + j]; dbRef.push(s); }
    expectClose(da.dataSync(), daRef, 1e-5);
    expectClose(db.dataSync(), dbRef, 1e-5);
  });

  it('matMulDataLeft / matMulDataRight give the same value and the one gradient they keep, in both transpose orders', () => {
    // Shapes on both sides of the "transpose the smaller operand" choice: [2,3]·[3,4] and [5,2]·[2,7].
    for (const [m, k, n] of [[2, 3, 4], [5, 2, 7], [1, 6, 3]]) {
      const a = values(m * k, 4), b = values(k * n, 5), g = tf.tensor2d(values(m * n, 6), [m, n]);
      const A = tf.tensor2d(a, [m, k]), Bm = tf.tensor2d(b, [k, n]);
      expectClose(matMulDataLeft(A, Bm).dataSync(), matmul(a, b, m, k, n), 1e-6);
      expectClose(matMulDataRight(A, Bm).dataSync(), matmul(a, b, m, k, n), 1e-6);
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(matMul(x as tf.Tensor2D, y as tf.Tensor2D), g)))([A, Bm]);
      const dbOnly = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(matMulDataLeft(A, y as tf.Tensor2D), g)))(Bm);
      const daOnly = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(matMulDataRight(x as tf.Tensor2D, Bm), g)))(A);
      expectClose(dbOnly.dataSync(), db.dataSync(), 1e-5);
      expectClose(daOnly.dataSync(), da.dataSync(), 1e-5);
      expect(Math.max(...dbOnly.dataSync().map(Math.abs))).toBeGreaterThan(0.01);
    }
  });
});

describe('stopGradient / constant', () => {
  it('pass values through and block gradients', () => {
    const x = tf.tensor1d([1, 2, 3]);
    expectClose(stopGradient(x).dataSync(), [1, 2, 3], 0);
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.add(tf.mul(v, 2), tf.mul(stopGradient(v), 5))))(x).dataSync();
    expectClose(dx, [2, 2, 2], 0);
    const dm = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(v, constant((u) => tf.greater(u, 1.5).toFloat(), v))))(x).dataSync();
    expectClose(dm, [0, 1, 1], 0);
  });
});
