// Sums over the rows of a [B, d] tensor. tfjs-backend-wasm reduces over a 2-D tensor's outer axis
// by transposing it and then summing at ~120 M values/s: 17 ms for a [1024, 2048] batch, four of
// them (bias gradient, L1 weights, firing counts) were 40 % of a ReLU SAE step. Elsewhere the sum
// is ones[1, B] · x at matmul speed; on wasm that product still costs 4.6 ms for [1024, 2048],
// almost all of it XNNPACK packing x (a fresh right operand), so there it is a kernel in JavaScript
// on the wasm heap that adds four rows at a time into float64 sums: 0.9 ms. Autodiff makes the
// same outer-axis sums for every bias add, so the bias add gets this backward too. Where the width is
// whole SIMD vectors the engine's column_sums kernel does it (float64 sums too, 4 columns a vector,
// on the kernel threads: 0.57 ms against 2.4 ms at [1024, 2048], 5.8 against 30 ms at [1024, 24,576]).
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { heapKernel } from './heapKernel';
import { runKernel, WASM_KERNELS, wasmKernelHere } from './wasm/registered';

/** out[j] = Σ_r src[r·n + j] for a row-major [rows, n] src, summed in float64. */
export function columnSums(src: ArrayLike<number>, out: { [j: number]: number }, rows: number, n: number): void {
  const acc = new Float64Array(n);
  let r = 0;
  // Four rows per pass: a quarter of the accumulator loads and stores.
  for (; r + 4 <= rows; r += 4) {
    const b0 = r * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
    for (let j = 0; j < n; j++) acc[j] += (src[b0 + j] + src[b1 + j]) + (src[b2 + j] + src[b3 + j]);
  }
  for (; r < rows; r++) {
    const b = r * n;
    for (let j = 0; j < n; j++) acc[j] += src[b + j];
  }
  for (let j = 0; j < n; j++) out[j] = acc[j];
}

const sumRowsInHeap = heapKernel('SaeSumRows', ([, n]) => [n], (src, dst, [rows, n]) => columnSums(src, dst, rows, n));

/**
 * Σ_b x[b, :] for x [B, d] → [d], with no gradient path: the backward passes below and the
 * trainer's firing counts use it.
 */
export function sumRows(x: tf.Tensor2D): tf.Tensor1D {
  if (x.dtype === 'float32' && x.shape[1] % 4 === 0 && wasmKernelHere(WASM_KERNELS.columnSums)) return runKernel(WASM_KERNELS.columnSums, { x }) as tf.Tensor1D;
  return (sumRowsInHeap(x) ?? tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, x.shape[0]]), x), [x.shape[1]]))) as tf.Tensor1D;
}

/**
 * #{b : x[b, j] > thr} for each column j of x [B, d] → [d], as floats, with no gradient path: the
 * trainer's firing counts. On wasm one pass of the engine's count_above kernel over x; elsewhere
 * (and for widths not a multiple of 4) Σ_b step(x − thr), the same counts (ops/compare.ts).
 */
export function columnCountsAbove(x: tf.Tensor2D, thr: number): tf.Tensor1D {
  if (x.dtype === 'float32' && x.shape[1] % 4 === 0 && wasmKernelHere(WASM_KERNELS.countAbove)) return runKernel(WASM_KERNELS.countAbove, { x }, { threshold: thr }) as tf.Tensor1D;
  return tf.tidy(() => sumRows((thr === 0 ? tf.step(x) : tf.step(tf.sub(x, thr))) as tf.Tensor2D));
}

/**
 * x [B, d] ± b [d], b added to (or taken from) every row. On wasm the engine's add_row kernel:
 * tfjs-wasm broadcasts b one value at a time (0.2–0.3 ms for [1024, 64], against 0.03 here).
 */
export function plusRow(x: tf.Tensor2D, b: tf.Tensor1D, subtract = false): tf.Tensor2D {
  if (x.dtype === 'float32' && b.dtype === 'float32' && b.shape[0] === x.shape[1] && wasmKernelHere(WASM_KERNELS.addRow)) {
    return runKernel(WASM_KERNELS.addRow, { x, v: b }, { subtract: subtract ? 1 : 0 }) as tf.Tensor2D;
  }
  return (subtract ? tf.sub(x, b) : tf.add(x, b)) as tf.Tensor2D;
}

/**
 * Inputs AddN may take at once. WebGPU binds one storage buffer per input plus one for the output,
 * and a device offers 8 per shader stage unless it asks for more (tfjs-backend-webgpu does not):
 * AddN over more inputs fails to compile there (a variant with 8 parameters, summed for clipping).
 */
export const ADD_N_MAX_INPUTS = 7;

/** Σ xs elementwise (tf.addN), in groups of at most ADD_N_MAX_INPUTS. */
export function addMany<T extends tf.Tensor>(xs: readonly T[]): T {
  if (xs.length <= ADD_N_MAX_INPUTS) return tf.addN(xs as T[]);
  return tf.tidy(() => {
    const groups: T[] = [];
    for (let i = 0; i < xs.length; i += ADD_N_MAX_INPUTS) groups.push(tf.addN(xs.slice(i, i + ADD_N_MAX_INPUTS) as T[]));
    return addMany(groups);
  });
}

/**
 * Σ x² over all of every x, a scalar with no gradient path: the squared norm of a step's gradients
 * for clipping, or of a residual. On wasm one kernel call reads each x once, in float64
 * (sum_squares); elsewhere tfjs's Square and Sum per tensor.
 */
export function sumOfSquares(...xs: tf.Tensor[]): tf.Scalar {
  if (xs.every((x) => x.dtype === 'float32') && wasmKernelHere(WASM_KERNELS.sumOfSquares)) {
    return runKernel(WASM_KERNELS.sumOfSquares, Object.fromEntries(xs.map((x, i) => [`x${i}`, x]))) as tf.Scalar;
  }
  return tf.tidy(() => addMany(xs.map((x) => tf.sum(tf.square(x)))) as tf.Scalar);
}

/** x [B, d] + b [d] (broadcast over rows); ∂x = dy, ∂b = Σ_b dy. */
export function addRowVector(x: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad(((xIn: tf.Tensor2D, bIn: tf.Tensor1D) => ({
    value: plusRow(xIn, bIn),
    gradFunc: (dy: tf.Tensor2D) => [dy, sumRows(dy)],
  })) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(x, b) as tf.Tensor2D;
}

/** x [B, d] − b [d] (broadcast over rows); ∂x = dy, ∂b = −Σ_b dy. */
export function subRowVector(x: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad(((xIn: tf.Tensor2D, bIn: tf.Tensor1D) => ({
    value: plusRow(xIn, bIn, true),
    gradFunc: (dy: tf.Tensor2D) => [dy, tf.neg(sumRows(dy))],
  })) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(x, b) as tf.Tensor2D;
}

/** x [B, d] ⊙ v [d] (broadcast over rows); ∂x = dy ⊙ v, ∂v = Σ_b dy ⊙ x. */
export function mulRowVector(x: tf.Tensor2D, v: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad(((xIn: tf.Tensor2D, vIn: tf.Tensor1D, save: tf.GradSaveFunc) => {
    save([xIn, vIn]);
    return {
      value: tf.mul(xIn, vIn) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xs, vs] = saved as [tf.Tensor2D, tf.Tensor1D];
        return [tf.mul(dy, vs), sumRows(tf.mul(dy, xs) as tf.Tensor2D)];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(x, v) as tf.Tensor2D;
}

/**
 * (1/B) Σ_b Σ_i |f_bi| · n_i for f [B, d] and weights n [d] (the decoder-norm-weighted L1), with
 * its gradients written out: ∂f = sign(f) · n / B (−n/B at f = 0, as tfjs's |·|), ∂n = Σ_b |f_b,:| / B. Autodiff of the plain
 * formula would build the [B, d] product and reduce it over the batch twice.
 */
export function weightedAbsSum(f: tf.Tensor2D, n: tf.Tensor1D, nonNegative = false): tf.Scalar {
  const op = tf.customGrad(((fIn: tf.Tensor2D, nIn: tf.Tensor1D, save: tf.GradSaveFunc) => {
    const B = fIn.shape[0];
    // With f ≥ 0 known (ReLU outputs), |f| = f: no [B, d] |f| to make.
    const colSums = sumRows(nonNegative ? fIn : tf.abs(fIn));
    save([fIn, nIn, colSums]);
    return {
      value: tf.div(tf.sum(tf.mul(colSums, nIn)), B) as tf.Scalar,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [fs, ns, cs] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        const scale = tf.div(dy, B);
        // step(f, −1) (1 above 0, else −1) is the sign tfjs's own |·| gradient uses, in one
        // elementwise op that tfjs-wasm runs ~10× faster than Sign.
        return [tf.mul(tf.step(fs, -1), tf.mul(ns, scale)), tf.mul(cs, scale)];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Scalar>);
  return op(f, n) as tf.Scalar;
}

