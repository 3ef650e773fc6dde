// Multi-layer SAE (Lawson et al. 2024, "Residual stream analysis with multi-layer SAEs"): one TopK
// SAE shared by all layers, each layer's vector being a row of its own.
//   x [B, L·d_in] → rows [B·L, d_in] (row b·L + l = layer l of input b)
//   f = ReLU(TopK_k((x_l − b_dec) W_enc + b_enc)),  x̂_l = f W_dec + b_dec
//   loss = mean over the B·L rows of ||x_l − x̂_l||² + α · AuxK   (exactly the topk loss on those rows)
// It IS a TopK SAE applied per layer, so the export is a plain SAELens `topk` SAE.
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { mlsaeDeclaration, type MlsaeConfig } from './mlsae.decl';
import { makeTopkVariant } from './topk';
import type { DataStats, Variant } from './types';
import { initLinearSae } from './linear';
import { isAbove } from '../ops/compare';

/** The mean over layers of a layer-major mean row [L·d_in] → [d_in]. */
export function meanOverLayers(stats: DataStats): Float32Array {
  const { dIn, nLayers } = stats;
  const out = new Float32Array(dIn);
  for (let l = 0; l < nLayers; l++) for (let j = 0; j < dIn; j++) out[j] += stats.mean[l * dIn + j] / nLayers;
  return out;
}

/** x [B, L·d_in] → [B·L, d_in]; d_in is W_enc's first dimension. */
function layerRows(x: tf.Tensor2D, dIn: number): tf.Tensor2D {
  return tf.reshape(x, [-1, dIn]);
}

export function makeMlsaeVariant(auxK: number, auxKCoefficient: number): Variant<MlsaeConfig> {
  const topk = makeTopkVariant(auxK, auxKCoefficient);
  const dInOf = (p: Record<string, tf.Variable>) => p.W_enc.shape[0];
  return {
    architecture: mlsaeDeclaration.architecture,
    label: 'MLSAE (one TopK SAE over all layers)',
    paramNames: topk.paramNames,
    init: (cfg, stats, rng) => initLinearSae(stats.dIn, cfg.d_sae, { ...stats, mean: meanOverLayers(stats) }, rng),
    /** f [B·L, d_sae]: row b·L + l holds the latents of layer l of input b. */
    encode: (p, x, live) => tf.tidy(() => topk.encode(p, layerRows(x, dInOf(p)), live)),
    /** f [B·L, d_sae] → x̂ [B·L, d_in], one reconstructed vector per layer row. */
    decode: topk.decode,
    loss(p, x, live, ctx) {
      const [B, width] = x.shape;
      const L = width / dInOf(p);
      const parts = topk.loss(p, layerRows(x, dInOf(p)), live, ctx);
      const active = isAbove(parts.f, live.threshold);
      const l0PerLayer = tf.mean(tf.reshape(tf.sum(active, 1), [B, L]), 0) as tf.Tensor1D; // [L]
      return { ...parts, xHat: tf.reshape(parts.xHat, [B, width]), diagnostics: { l0_per_layer: l0PerLayer } };
    },
    reconstruct: (p, x, live) => tf.tidy(() => {
      const f = topk.encode(p, layerRows(x, dInOf(p)), live);
      return { f, xHat: tf.reshape(topk.decode(p, f), x.shape) as tf.Tensor2D, target: x.clone() };
    }),
    constrain: topk.constrain,
    exportTensors: topk.exportTensors,
    saelensConfig: declaredSaeLensConfig(mlsaeDeclaration),
  };
}
