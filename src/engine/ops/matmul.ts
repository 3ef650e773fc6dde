// a·b with a hand-written backward pass that materialises the transposes. tfjs's own MatMul
// gradient calls matMul with transpose flags, which the wasm and cpu kernels run 10–20× slower
// than on an explicitly transposed copy (docs/benchmark.md), and that path dominated the step time.
// The copies are made by transpose2d (ops/transpose.ts), several times faster than tf.transpose on wasm.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { transpose2d } from './layout';
import { WASM_KERNELS } from './wasm/registered';

/**
 * Products of at least this many multiply-adds run on the engine's own wasm kernel (wasm/registered.ts)
 * rather than XNNPACK's, which repacks a changed operand at every call and runs at about half the
 * speed there (docs/benchmark.md, "Sparse steps"); the tiniest stay with tfjs. The thin ones of a
 * small step — b_dec·W_enc [1, 64]·[64, 2048] and its outer-product gradient — took 0.9–1.5 ms in
 * XNNPACK (most of it packing) against 0.1–0.3 ms here.
 */
const OWN_PRODUCT_MIN_MACS = 1 << 16;

/** a [m, k] · b [k, n] (no autodiff: the callers below write the backward). */
function product(a: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [m, k] = a.shape as [number, number], n = (b.shape as [number, number])[1];
  if (m * k * n >= OWN_PRODUCT_MIN_MACS && tf.getBackend() === 'wasm' && tf.getKernel(WASM_KERNELS.denseProduct, 'wasm')) {
    return tf.engine().runKernel(WASM_KERNELS.denseProduct, { a, b } as unknown as tf.NamedTensorMap) as tf.Tensor2D;
  }
  return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
}

/**
 * ∂b = aᵀ·dy for a [m, k], dy [m, n], or (dyᵀ·a)ᵀ when transposing dy and the result [n, k] moves
 * fewer values than transposing a (the decoder's f [B, d_sae] against dy [B, d_in]).
 */
function gradRight(a: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor {
  const [m, k] = a.shape;
  const n = dy.shape[1];
  return m * n + n * k < m * k ? transpose2d(product(transpose2d(dy), a)) : product(transpose2d(a), dy);
}

/** ∂a = dy·bᵀ for b [k, n], dy [m, n], or (b·dyᵀ)ᵀ on the same count. */
function gradLeft(dy: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor {
  const [k, n] = b.shape;
  const m = dy.shape[0];
  return m * n + k * m < k * n ? transpose2d(product(b, transpose2d(dy))) : product(dy, transpose2d(b));
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

/**
 * a [m, k] · b [k, n] + bias [n], outside autodiff (the sparse steps write their own backward). On
 * wasm the engine's product kernel (wasm/registered.ts), about 1.8× XNNPACK's speed at the encoder's
 * shape; elsewhere tfjs's matMul.
 */
export function productPlusBias(a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  if (tf.getBackend() === 'wasm' && tf.getKernel(WASM_KERNELS.denseProduct, 'wasm')) {
    return tf.engine().runKernel(WASM_KERNELS.denseProduct, (bias ? { a, b, bias } : { a, b }) as unknown as tf.NamedTensorMap) as tf.Tensor2D;
  }
  return tf.tidy(() => (bias ? tf.add(tf.matMul(a, b), bias) : tf.matMul(a, b)) as tf.Tensor2D);
}
