// The L0 penalty of JumpReLU (docs/variants.md): the Heaviside step H(z − θ) counted per row and
// averaged over the batch, with a straight-through gradient for θ only, so that sparsity pressure
// moves thresholds, not pre-activations:
//   L0 = (1/B) Σ_b Σ_j H(z_bj − θ_j);  ∂/∂z = 0;  ∂/∂θ_j = −(1/ε) · (1/B) Σ_b K((z_bj − θ_j)/ε) · dy.
// The loss only ever needs this mean, so the op is the mean itself: no [B, d_sae] mask is kept for
// the forward pass and no [B, d_sae] upstream gradient is built for the backward one.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { rectangleKernel } from './kernel';
import { useFusedKernels } from './webgpu/program';
import { heavisideCountWebGPU, heavisideWindowWebGPU } from './webgpu/jumpRelu';
import { isAbove } from './compare';
import { sumRows } from './reduce';

/**
 * z [B, d_sae], θ [d_sae] → the mean number of z_bj > θ_j per row (a scalar). On the webgpu backend
 * the count and the window sum of ∂θ are fused column sums (webgpu/jumpRelu.ts) instead of the
 * composition's compare, cast and sums.
 */
export function heavisideMeanL0(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Scalar {
  const fused = useFusedKernels();
  const rows = z.shape[0];
  const op = tf.customGrad(((zIn: tf.Tensor, thetaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([zIn, thetaIn]);
    const value = fused
      ? tf.sum(heavisideCountWebGPU(zIn as tf.Tensor2D, thetaIn as tf.Tensor1D, 1 / rows))
      : tf.div(tf.sum(isAbove(zIn, thetaIn)), rows);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [zs, ts] = saved as [tf.Tensor2D, tf.Tensor1D];
      const scale = -1 / (bandwidth * rows);
      const window = fused ? heavisideWindowWebGPU(zs, ts, bandwidth, scale) : tf.mul(sumRows(rectangleKernel(zs, ts, bandwidth) as tf.Tensor2D), scale);
      return [tf.zerosLike(zs), tf.mul(window, dy)];
    };
    return { value: value as tf.Scalar, gradFunc };
  }) as unknown as CustomGradientFunc<tf.Scalar>);
  return op(z, theta) as tf.Scalar;
}
