// a·b with a hand-written backward pass that materialises the transposes. tfjs's own MatMul
// gradient calls matMul with transpose flags, which the wasm and cpu kernels run 10–20× slower
// than on an explicitly transposed copy (DESIGN.md §8), and that path dominated the step time.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';

/** a [m, k] · b [k, n] → [m, n]; ∂a = dy·bᵀ, ∂b = aᵀ·dy, each with a materialised transpose. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((aIn: tf.Tensor2D, bIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([aIn, bIn]);
    return {
      value: tf.matMul(aIn, bIn),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        return [tf.matMul(dy, tf.transpose(bs)), tf.matMul(tf.transpose(as), dy)];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(a, b) as tf.Tensor2D;
}
