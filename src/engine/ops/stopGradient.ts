// Identity whose gradient is zero (tfjs has no stop_gradient). Used where a loss must treat a
// tensor as a constant, e.g. the AuxK residual.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';

export function stopGradient<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad(((xIn: tf.Tensor) => ({
    value: xIn.clone(),
    gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)],
  })) as unknown as CustomGradientFunc<tf.Tensor>);
  return op(x) as T;
}
