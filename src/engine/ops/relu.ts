// ReLU with its backward pass in one kernel on wasm. tfjs's gradient of Relu is dy · step(z): a
// Step, a Cast and a Multiply over [B, d_sae], about 4.5 ms a step at [1024, 2048] on two threads.
// Here the forward is tfjs's Relu and the backward the engine's relu_grad (dy where f > 0, from
// the output f, which equals z > 0); elsewhere dy · step(f), the same values.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { runKernel, WASM_KERNELS, wasmKernelHere } from './wasm/registered';

/** max(z, 0) [B, n], with the one-pass backward on wasm. */
export function relu(z: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((zz: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const f = tf.relu(zz) as tf.Tensor2D;
    save([f]);
    return { value: f, gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => reluBackward(dy, saved[0] as tf.Tensor2D) };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z) as tf.Tensor2D;
}

/** dy where f > 0, else 0. */
export function reluBackward(dy: tf.Tensor2D, f: tf.Tensor2D): tf.Tensor2D {
  if (wasmKernelHere(WASM_KERNELS.reluGrad)) return runKernel(WASM_KERNELS.reluGrad, { dy, y: f }) as tf.Tensor2D;
  return tf.mul(dy, tf.step(f)) as tf.Tensor2D;
}
