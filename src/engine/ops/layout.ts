// Copies that change a matrix's layout, made in the wasm heap on the wasm backend, where tfjs's own
// kernels for them are slow. Every other backend keeps tf.transpose / tf.concat / tf.slice.
// - transpose2d, for the backward pass's materialised transposes (ops/matmul.ts). tfjs-wasm's
//   Transpose walks the output one strided element at a time: 18.6 ms for a [1024, 2048] matrix in
//   Node here, ~13 ms in Chromium, where two of them (W_dec and f, 2M values each) cost 27 ms of a
//   235 ms medium ReLU step. Blocks of 8 × 8 in JavaScript took 3–6 ms; the engine's own kernel
//   (wasm/assembly/kernels.ts transpose: 4 × 4 blocks in SIMD registers, on the helper threads too)
//   about 2 ms.
// - concatRows, whose gradient splits the upstream gradient by rows: tfjs-wasm's SplitV copies the
//   whole input out of the heap once per part (10 ms for the encoder's [513, 4096] gradient at the
//   medium size); a block of whole rows is contiguous, so here it is one copy within the heap.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { heapKernel } from './heapKernel';
import { runKernel, WASM_KERNELS, wasmKernelHere } from './wasm/registered';

/** xᵀ for a 2-D x; its gradient is the transpose of the upstream gradient. */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((xIn: tf.Tensor2D) => ({
    value: forward(xIn),
    gradFunc: (dy: tf.Tensor2D) => forward(dy),
  })) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(x) as tf.Tensor2D;
}

function forward(x: tf.Tensor2D): tf.Tensor2D {
  if (x.dtype === 'float32' && wasmKernelHere(WASM_KERNELS.transpose)) return runKernel(WASM_KERNELS.transpose, { x }) as tf.Tensor2D;
  return tf.transpose(x) as tf.Tensor2D;
}

// Both views are on the same heap: one contiguous copy within it.
const sliceRowsInHeap = heapKernel<{ begin: number; rows: number }>('SaeSliceRows', ([, n], { rows }) => [rows, n],
  (src, dst, [, n], { begin, rows }) => dst.set(src.subarray(begin * n, (begin + rows) * n)));

/** Rows [begin, begin + rows) of a 2-D x (no gradient: used inside gradient functions). */
function sliceRows(x: tf.Tensor2D, begin: number, rows: number): tf.Tensor2D {
  return ((rows > 0 ? sliceRowsInHeap(x, { begin, rows }) : null) ?? tf.slice(x, [begin, 0], [rows, x.shape[1]])) as tf.Tensor2D;
}

/** [a; b]: a [k1, n] over b [k2, n] → [k1 + k2, n]; the gradient is the upstream gradient's two row blocks. */
export function concatRows(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const k1 = a.shape[0], k2 = b.shape[0];
  const op = tf.customGrad(((aIn: tf.Tensor2D, bIn: tf.Tensor2D) => ({
    value: tf.concat([aIn, bIn], 0),
    gradFunc: (dy: tf.Tensor2D) => [sliceRows(dy, 0, k1), sliceRows(dy, k1, k2)],
  })) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(a, b) as tf.Tensor2D;
}
