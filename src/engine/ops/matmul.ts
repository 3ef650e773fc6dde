// a·b with a hand-written backward pass. tfjs's own MatMul gradient calls matMul with transpose
// flags, which the wasm and cpu kernels run 10–20× slower than on an explicitly transposed copy
// (docs/benchmark.md), and that path dominated the step time. So the transposes are explicit: made by
// transpose2d (ops/layout.ts), or, for a right operand on the engine's own product kernel, while it
// packs that operand (no copy at all).
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { transpose2d } from './layout';
import { PRODUCT_EPILOGUE, runKernel, WASM_KERNELS, wasmKernelHere } from './wasm/registered';

/**
 * Products of at least this many multiply-adds run on the engine's own wasm kernel (wasm/registered.ts)
 * rather than XNNPACK's, which repacks a changed operand at every call and runs at about half the
 * speed there (docs/benchmark.md, "Sparse steps"); the tiniest stay with tfjs. The thin ones of a
 * small step — b_dec·W_enc [1, 64]·[64, 2048] and its outer-product gradient — took 0.9–1.5 ms in
 * XNNPACK (most of it packing) against 0.1–0.3 ms here.
 */
const OWN_PRODUCT_MIN_MACS = 1 << 16;

/** Whether the engine's own product kernel (wasm/registered.ts) runs here. */
const ownProductKernel = (): boolean => wasmKernelHere(WASM_KERNELS.denseProduct);

/** a [m, k] · b [k, n] (no autodiff: the callers below write the backward). */
function product(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [m, k] = a.shape as [number, number], n = (b.shape as [number, number])[1];
  if (m * k * n >= OWN_PRODUCT_MIN_MACS && ownProductKernel()) return fusedProduct(a as tf.Tensor2D, b as tf.Tensor2D);
  return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
}

/**
 * dy [m, n] · bᵀ for b [k, n]. The engine's kernel packs bᵀ straight from b (pack_panels_t), so no
 * transposed copy is made; elsewhere b is transposed first (see the file's head).
 */
function productTransposedRight(dy: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const [m, n] = dy.shape, k = b.shape[0];
  if (m * k * n >= OWN_PRODUCT_MIN_MACS && ownProductKernel()) return fusedProduct(dy, b, { transposeRight: true });
  return tf.tidy(() => tf.matMul(dy, transpose2d(b) as tf.Tensor2D));
}

/**
 * aᵀ·dy for a [m, k], dy [m, n] (∂b of a·b), or (dyᵀ·a)ᵀ when transposing dy and the result [n, k]
 * moves fewer values than transposing a (the decoder's f [B, d_sae] against dy [B, d_in]).
 */
export function gradRight(a: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor {
  const [m, k] = a.shape;
  const n = dy.shape[1];
  return m * n + n * k < m * k ? transpose2d(product(transpose2d(dy), a)) : product(transpose2d(a), dy);
}

/**
 * ∂a = dy·bᵀ for b [k, n], dy [m, n]. Where b must be transposed first, as (b·dyᵀ)ᵀ when transposing
 * dy and the result [k, m] moves fewer values than transposing b.
 */
export function gradLeft(dy: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor {
  const [k, n] = b.shape;
  const m = dy.shape[0];
  const packsTranspose = m * k * n >= OWN_PRODUCT_MIN_MACS && ownProductKernel(); // no copy of bᵀ to save
  return !packsTranspose && m * n + k * m < k * n ? transpose2d(product(b, transpose2d(dy))) : productTransposedRight(dy, b);
}

/** a [m, k] · b [k, n] → [m, n]; ∂a = dy·bᵀ, ∂b = aᵀ·dy, each with a materialised transpose. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((aIn: tf.Tensor2D, bIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([aIn, bIn]);
    return {
      value: product(aIn, bIn),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [gradLeft(dy, bs), gradRight(as, dy)];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(a, b) as tf.Tensor2D;
}

/**
 * a [m, k] · b [k, n] → [m, n] where a is data that takes no gradient: only ∂b = aᵀ·dy is
 * computed. With matMul above, the backward would also form ∂a = dy·bᵀ, an [m, k] product as
 * costly as the forward, which autodiff then throws away.
 */
export function matMulDataLeft(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((bIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([a]);
    return {
      value: product(a, bIn),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [gradRight(saved[0] as tf.Tensor2D, dy)],
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(b) as tf.Tensor2D;
}

/**
 * a [m, k] · b [k, n] → [m, n] where b takes no gradient (a constant such as a stop-gradient copy
 * of W_dec): only ∂a = dy·bᵀ is computed, not the [k, n] weight gradient autodiff would discard.
 */
export function matMulDataRight(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((aIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([b]);
    return {
      value: product(aIn, b),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [gradLeft(dy, saved[0] as tf.Tensor2D)],
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(a) as tf.Tensor2D;
}

/** What fusedProduct does besides a · b. */
export interface ProductOptions {
  /** Added to every row [n]. */
  bias?: tf.Tensor1D;
  /** b is given as bᵀ [n, k]: the product is a · bᵀ. */
  transposeRight?: boolean;
  /** max(·, 0) of each output: a ReLU after the product. */
  relu?: boolean;
  /** [m, n]: each output where mask > 0, else 0 (a ReLU's backward from its output f). */
  maskPositive?: tf.Tensor2D;
}

/**
 * a [m, k] · b [k, n] (+ bias [n], then a ReLU or a mask), outside autodiff (the written-out steps
 * make their own backward). On wasm one call of the engine's product kernel, about 1.8× XNNPACK's
 * speed at the encoder's shape, with the bias, the transposed operand and the ReLU or mask done as it
 * packs and stores (wasm/assembly/kernels.ts): no [m, n] pass for them. Elsewhere tfjs's ops, the
 * same values: the mask keeps NaN where it is positive and zeroes where the mask is NaN, as
 * relu_grad does.
 */
export function fusedProduct(a: tf.Tensor2D, b: tf.Tensor2D, opts: ProductOptions = {}): tf.Tensor2D {
  const { bias, transposeRight = false, relu = false, maskPositive } = opts;
  if (relu && maskPositive) throw new Error('fusedProduct: a ReLU and a mask together are not one of its epilogues');
  if (ownProductKernel()) {
    const inputs = { a, b, ...(bias ? { bias } : {}), ...(maskPositive ? { mask: maskPositive } : {}) };
    const attrs = { transposeRight: transposeRight ? 1 : 0, epilogue: relu ? PRODUCT_EPILOGUE.relu : maskPositive ? PRODUCT_EPILOGUE.mask : PRODUCT_EPILOGUE.none };
    return runKernel(WASM_KERNELS.denseProduct, inputs, attrs) as tf.Tensor2D;
  }
  return tf.tidy(() => {
    let y = tf.matMul(a, transposeRight ? transpose2d(b) as tf.Tensor2D : b) as tf.Tensor2D;
    if (bias) y = tf.add(y, bias);
    if (relu) y = tf.relu(y);
    if (maskPositive) y = tf.where(tf.greater(maskPositive, 0), y, tf.zerosLike(y));
    return y;
  });
}

/** a [m, k] · b [k, n] + bias [n], outside autodiff: fusedProduct with a bias. */
export function productPlusBias(a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  return fusedProduct(a, b, bias ? { bias } : {});
}
