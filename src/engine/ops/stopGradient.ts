// Identity whose gradient is zero (tfjs has no stop_gradient), and its generalisation: evaluate a
// function of tensors as a constant. Ops run inside a customGrad forward are not recorded on the
// tape, so comparison ops (which have no gradient) can build masks there without breaking backprop.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';

/** fn(...inputs) treated as a constant: its gradient w.r.t. every input is zero. */
export function constant<T extends tf.Tensor>(fn: (...inputs: tf.Tensor[]) => T, ...inputs: tf.Tensor[]): T {
  const op = tf.customGrad(((...args: tf.Tensor[]) => {
    const xs = args.slice(0, inputs.length);
    return { value: fn(...xs), gradFunc: () => xs.map((x) => tf.zerosLike(x)) };
  }) as unknown as CustomGradientFunc<T>);
  return op(...inputs) as T;
}

export function stopGradient<T extends tf.Tensor>(x: T): T {
  return constant((v) => v.clone() as T, x);
}
