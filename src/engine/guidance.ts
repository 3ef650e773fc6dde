// Guidance loss (docs/training.md): push one latent j to track a per-row label y.
// Everything stays on the device: the contrastive branch's "does the batch hold both classes?"
// test is arithmetic on counts, not a host-side `if`, so a training step never waits on a readback.
import * as tf from '@tensorflow/tfjs';

export type GuidanceMethod = 'mse' | 'contrastive';

/** f [B, d_sae] → f[:, latent] as [B]. A slice (gradient = pad) routes ∂L/∂f into column j only. */
function latentColumn(f: tf.Tensor2D, latent: number): tf.Tensor1D {
  const [rows, dSae] = f.shape;
  if (!Number.isInteger(latent) || latent < 0 || latent >= dSae) {
    throw new RangeError(`guidance latent ${latent} is outside the SAE's latents 0..${dSae - 1}; pick an index below d_sae = ${dSae}.`);
  }
  return tf.reshape(tf.slice(f, [0, latent], [rows, 1]), [rows]);
}

interface ClassMeans {
  meanPos: tf.Scalar;
  meanNeg: tf.Scalar;
  /** 1 when the batch holds at least one positive and one negative row, else 0. */
  haveBoth: tf.Scalar;
}

/** Means of fj over positive (y > 0.5) and negative rows; 0 for an empty class (divide by max(n, 1)). */
function classMeans(fj: tf.Tensor1D, labels: tf.Tensor1D): ClassMeans {
  const pos = tf.cast(tf.greater(labels, 0.5), 'float32');
  const neg = tf.sub(1, pos);
  const nPos = tf.sum(pos);
  const nNeg = tf.sum(neg);
  const meanPos = tf.div(tf.sum(tf.mul(fj, pos)), tf.maximum(nPos, 1)) as tf.Scalar;
  const meanNeg = tf.div(tf.sum(tf.mul(fj, neg)), tf.maximum(nNeg, 1)) as tf.Scalar;
  const haveBoth = tf.mul(tf.cast(tf.greater(nPos, 0), 'float32'), tf.cast(tf.greater(nNeg, 0), 'float32')) as tf.Scalar;
  return { meanPos, meanNeg, haveBoth };
}

/**
 * L_guidance for latent j. f [B, d_sae] latents, labels [B] (1 = feature present, 0 = absent; mse
 * accepts any real target).
 * - mse: mean_b (f_bj − y_b)².
 * - contrastive: ReLU(margin − (mean f_j|y=1 − mean f_j|y=0)); exactly 0, with zero gradient, when
 *   the batch lacks either class (one class alone has no contrast to measure).
 */
export function guidanceLoss(f: tf.Tensor2D, latent: number, labels: tf.Tensor1D, method: GuidanceMethod, margin: number): tf.Scalar {
  return tf.tidy(() => {
    const fj = latentColumn(f, latent);
    const y = tf.cast(labels, 'float32');
    if (method === 'mse') return tf.mean(tf.squaredDifference(fj, y)) as tf.Scalar;
    const { meanPos, meanNeg, haveBoth } = classMeans(fj, y);
    // Multiplying by haveBoth (not branching) zeroes value and gradient without a readback; the
    // means are finite even for an empty class, so 0 · hinge is a true 0, never 0 · NaN.
    return tf.mul(haveBoth, tf.relu(tf.sub(margin, tf.sub(meanPos, meanNeg)))) as tf.Scalar;
  });
}

/** Mean of f_j on positive and on negative rows (0 when a class is empty), for the live chart. */
export function guidanceStats(f: tf.Tensor2D, latent: number, labels: tf.Tensor1D): { meanPos: tf.Scalar; meanNeg: tf.Scalar } {
  return tf.tidy(() => {
    const { meanPos, meanNeg } = classMeans(latentColumn(f, latent), tf.cast(labels, 'float32'));
    return { meanPos, meanNeg };
  });
}
