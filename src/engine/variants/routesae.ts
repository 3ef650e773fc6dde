// Route SAE (Shi et al. 2025, "Route Sparse Autoencoder"; docs/variants.md): a router picks, per input,
// which layer a shared TopK SAE reads.
//   w = softmax(agg_l(x_l) · router)           agg = Σ_l or mean_l;  w [B, L]
//   hard: routed = w_l* · x_l*, l* = argmax_l w_l (the choice is a constant; the gradient reaches
//         the router through w_l*)        soft: routed = Σ_l w_l x_l
//   f = ReLU(TopK_k((routed − b_dec) W_enc + b_enc)),  x̂ = f W_dec + b_dec
//   loss = mean_b ||routed − x̂||² + α · AuxK   (the target depends on the router: that is how it learns)
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { routesaeDeclaration, type RouteSaeConfig } from './routesae.decl';
import { matMul } from '../ops/matmul';
import { constant } from '../ops/stopGradient';
import { initLinearSae } from './linear';
import { meanOverLayers } from './mlsae';
import { makeTopkVariant } from './topk';
import type { Params, Variant } from './types';

export interface Routing {
  /** The vector the SAE reconstructs [B, d_in]. */
  routed: tf.Tensor2D;
  /** Router softmax [B, L]. */
  weights: tf.Tensor2D;
  /** Per-layer share of each input: the one-hot choice (hard) or the weights (soft) [B, L]. */
  layerWeights: tf.Tensor2D;
}

/** Route input rows x [B, L·d_in] (layer-major) with the router [d_in, L]. */
export function route(p: Params, x: tf.Tensor2D, routing: RouteSaeConfig['routing'], aggregation: RouteSaeConfig['aggregation']): Routing {
  return tf.tidy(() => {
    const [dIn, L] = p.router.shape;
    const xl = tf.reshape(x, [-1, L, dIn]); // [B, L, d_in]
    const agg = (aggregation === 'sum' ? tf.sum(xl, 1) : tf.mean(xl, 1)) as tf.Tensor2D; // [B, d_in]
    const weights = tf.softmax(matMul(agg, p.router as tf.Tensor2D)) as tf.Tensor2D; // [B, L]
    const layerWeights = routing === 'hard'
      ? constant((w) => tf.oneHot(tf.argMax(w, 1), L).toFloat() as tf.Tensor2D, weights)
      : weights;
    const coeff = routing === 'hard' ? tf.mul(weights, layerWeights) : weights; // [B, L]
    const routed = tf.sum(tf.mul(xl, tf.expandDims(coeff, 2)), 1) as tf.Tensor2D; // [B, d_in]
    return { routed, weights, layerWeights };
  });
}

export function makeRouteSaeVariant(
  auxK: number, auxKCoefficient: number, routing: RouteSaeConfig['routing'], aggregation: RouteSaeConfig['aggregation'],
): Variant<RouteSaeConfig> {
  const topk = makeTopkVariant(auxK, auxKCoefficient);
  return {
    architecture: routesaeDeclaration.architecture,
    label: `RouteSAE (${routing} routing, shared TopK SAE)`,
    paramNames: [...topk.paramNames, 'router'],
    init(cfg, stats, rng) {
      const p = initLinearSae(stats.dIn, cfg.d_sae, { ...stats, mean: meanOverLayers(stats) }, rng);
      const r = Float32Array.from({ length: stats.dIn * stats.nLayers }, () => 0.01 * rng.normal());
      p.router = tf.tidy(() => tf.variable(tf.tensor2d(r, [stats.dIn, stats.nLayers]), true)); // [d_in, L]
      return p;
    },
    /** f [B, d_sae] of the routed vectors of input rows x [B, L·d_in]. */
    encode: (p, x, live) => tf.tidy(() => topk.encode(p, route(p, x, routing, aggregation).routed, live)),
    /** x̂ [B, d_in] of the routed vector. */
    decode: topk.decode,
    loss(p, x, live, ctx) {
      const { routed, layerWeights } = route(p, x, routing, aggregation);
      const parts = topk.loss(p, routed, live, { ...ctx, inputNeedsGradient: true }); // the router learns through x
      return { ...parts, target: routed, diagnostics: { route_share: tf.mean(layerWeights, 0) as tf.Tensor1D } };
    },
    reconstruct: (p, x, live) => tf.tidy(() => {
      const { routed } = route(p, x, routing, aggregation);
      const f = topk.encode(p, routed, live);
      return { f, xHat: topk.decode(p, f), target: routed };
    }),
    // x̂ approximates the routed vector r = Σ_l c_l x_l (hard: only c_l* = w_l* is non-zero), so
    // x_l* + (x̂ − r) / w_l* stands in for x_l* at the layer l* each row was routed to: with a
    // perfect reconstruction it is x_l* itself, and the error is scaled back to that layer.
    spliceReconstruct: (p, x, live) => tf.tidy(() => {
      const { routed, weights } = route(p, x, routing, aggregation);
      const [dIn, L] = p.router.shape;
      const chosen = tf.oneHot(tf.argMax(weights, 1), L).toFloat() as tf.Tensor2D; // [B, L]
      const wChosen = tf.sum(tf.mul(weights, chosen), 1, true); // [B, 1]
      const xl = tf.reshape(x, [-1, L, dIn]); // [B, L, d_in]
      const xChosen = tf.sum(tf.mul(xl, tf.expandDims(chosen, 2)), 1); // [B, d_in]
      const err = tf.sub(topk.decode(p, topk.encode(p, routed, live)), routed);
      const estimate = tf.add(xChosen, tf.div(err, wChosen)); // [B, d_in]
      const perLayer = tf.mul(tf.expandDims(chosen, 2), tf.expandDims(estimate, 1)); // [B, L, d_in]
      return { xHat: tf.reshape(perLayer, [-1, L * dIn]) as tf.Tensor2D, replace: chosen };
    }),
    constrain: topk.constrain,
    exportTensors: (p) => ({ ...topk.exportTensors(p), router: p.router }),
    saelensConfig: declaredSaeLensConfig(routesaeDeclaration),
  };
}
