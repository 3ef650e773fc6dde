// ReLU restricted to a selection of entries: f = z · keep, keep = select(z, ...) · 1[z > 0]. The
// selection (a batch top-k, k random latents, a gate) is computed inside the forward pass, so it is
// a constant of the backward pass: ∂f/∂z = keep, and any extra inputs the selection reads get no
// gradient. One op instead of mask + relu + mul keeps the backward pass to a single multiply.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { isPositive } from './compare';

/**
 * z [B, n] → f [B, n]. `select` returns a 0/1 mask [B, n] from z and `inputs` (each any shape);
 * `inputs` are passed through the op so that they may depend on trainable variables.
 */
export function maskedRelu(
  z: tf.Tensor2D,
  select: (z: tf.Tensor2D, ...inputs: tf.Tensor[]) => tf.Tensor,
  ...inputs: tf.Tensor[]
): tf.Tensor2D {
  const op = tf.customGrad(((...args: tf.Tensor[]) => {
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    const zz = args[0] as tf.Tensor2D;
    const rest = args.slice(1, 1 + inputs.length);
    const keep = tf.tidy(() => tf.mul(select(zz, ...rest), isPositive(zz)));
    save([keep]);
    return {
      value: tf.mul(zz, keep) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0]), ...rest.map((t) => tf.zerosLike(t))],
    };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z, ...inputs) as tf.Tensor2D;
}
