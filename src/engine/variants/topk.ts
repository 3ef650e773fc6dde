// TopK SAE (Gao et al. 2024; SAELens "topk"): keep each row's k largest pre-activations, ReLU them.
//   f = ReLU(TopK_k((x − b_dec) W_enc + b_enc)),  x̂ = f W_dec + b_dec
//   loss = mean_b ||x − x̂||² + α · AuxK   (sparsity is fixed by k, so no penalty term)
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { topkDeclaration, type TopKConfig } from './topk.decl';
import { auxKTerm, reconstructionLoss } from '../losses';
import { topkRelu } from '../ops/topk';
import type { Variant } from './types';
import { kSparseStep, sparseStepApplies } from './sparseLinear';
import { topkEntries } from '../ops/sparse';
import { applyInferenceThreshold, initLinearSae, linearDecode, linearExport, normalizeDecoderRows, preActivations } from './linear';

/** TopK needs the config's aux settings inside `loss`; the registry binds them per run. */
export function makeTopkVariant(auxK: number, auxKCoefficient: number): Variant<TopKConfig> {
  return {
    architecture: topkDeclaration.architecture,
    label: 'TopK',
    paramNames: ['W_enc', 'b_enc', 'W_dec', 'b_dec'],
    init: (cfg, stats, rng) => initLinearSae(stats.dIn, cfg.d_sae, stats, rng),
    encode: (p, x, live) => tf.tidy(() => applyInferenceThreshold(topkRelu(preActivations(p, x), live.k), live.threshold)),
    decode: linearDecode,
    loss(p, x, live, ctx) {
      const z = preActivations(p, x, ctx.inputNeedsGradient);
      const f = topkRelu(z, live.k);
      const xHat = linearDecode(p, f);
      const recon = reconstructionLoss(x, xHat);
      const aux = auxKTerm(p, z, x, xHat, ctx, auxK, auxKCoefficient);
      return { total: tf.add(recon, aux), recon, sparsity: tf.scalar(0), aux, f, pre: z, xHat };
    },
    sparseStep: (p, x, live, ctx) => (sparseStepApplies(p) ? kSparseStep(p, x, ctx, (z) => topkEntries(z, live.k), auxK, auxKCoefficient) : null),
    constrain: normalizeDecoderRows,
    exportTensors: linearExport,
    saelensConfig: declaredSaeLensConfig(topkDeclaration),
  };
}
