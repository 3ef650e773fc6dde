// Nested (Matryoshka) decoding: the partial reconstructions of every prefix of the dictionary,
//   x̂_j = f[:, :m_j] W_dec[:m_j]   (no bias),
// built cumulatively so the forward pass costs one full decode. The backward pass is written out:
// the latents of block s = [m_{s−1}, m_s) appear in every x̂_j with j ≥ s, so with the suffix sums
// G_s = Σ_{j≥s} ∂L/∂x̂_j,  ∂f[:, block s] = G_s W_dec[block s]ᵀ  and  ∂W_dec[block s] = f[:, block s]ᵀ G_s.
// That is again one full decode's worth of matmuls, with materialised transposes (ops/matmul.ts says why),
// where autodiff of slices would pad every block's gradient back to [B, d_sae].
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from './customOp';
import { transpose2d } from './layout';

/**
 * f [B, d_sae], W_dec [d_sae, d_in], prefixes ascending and ending at d_sae →
 * [n_prefixes, B, d_in], entry j = f[:, :m_j] W_dec[:m_j].
 */
export function nestedDecode(f: tf.Tensor2D, wDec: tf.Tensor2D, prefixes: readonly number[]): tf.Tensor3D {
  const blocks = prefixes.map((m, j) => [j === 0 ? 0 : prefixes[j - 1], m] as const);
  const op = tf.customGrad(((fIn: tf.Tensor2D, wIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const B = fIn.shape[0];
    const dIn = wIn.shape[1];
    const fBlocks = blocks.map(([a, b]) => tf.slice(fIn, [0, a], [B, b - a]));
    const wBlocks = blocks.map(([a, b]) => tf.slice(wIn, [a, 0], [b - a, dIn]));
    save([...fBlocks, ...wBlocks]);
    const partial: tf.Tensor2D[] = [];
    for (let s = 0; s < blocks.length; s++) {
      const term = tf.matMul(fBlocks[s], wBlocks[s]) as tf.Tensor2D;
      partial.push(s === 0 ? term : (tf.add(partial[s - 1], term) as tf.Tensor2D));
    }
    return {
      value: tf.stack(partial) as tf.Tensor3D,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) => {
        const n = blocks.length;
        const fs = saved.slice(0, n) as tf.Tensor2D[];
        const ws = saved.slice(n) as tf.Tensor2D[];
        const dys = tf.unstack(dy) as tf.Tensor2D[];
        const g: tf.Tensor2D[] = new Array(n);
        for (let s = n - 1; s >= 0; s--) g[s] = s === n - 1 ? dys[s] : tf.add(g[s + 1], dys[s]);
        const df = tf.concat(g.map((gs, s) => tf.matMul(gs, transpose2d(ws[s]))), 1);
        const dw = tf.concat(g.map((gs, s) => tf.matMul(transpose2d(fs[s]), gs)), 0);
        return [df, dw];
      },
    };
  }) as unknown as CustomGradientFunc<tf.Tensor3D>);
  return op(f, wDec) as tf.Tensor3D;
}
