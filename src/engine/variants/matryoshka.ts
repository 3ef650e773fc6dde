// Matryoshka BatchTopK SAE (Bussmann et al. 2025, "Learning multi-level features with Matryoshka
// SAEs"): latents are chosen by BatchTopK over the whole dictionary, and every nested prefix
// m_1 < … < m_n = d_sae of the dictionary must reconstruct x on its own, so early latents learn
// general features and later ones refine them:
//   x̂_m = f[:, :m] W_dec[:m] + b_dec,   recon = mean over prefixes m of mean_b ||x − x̂_m||²
//   loss = recon + α · AuxK (on the full reconstruction's residual)
// (SAELens sums the prefix losses; the mean keeps recon on the scale of a single reconstruction.)
// Inference, θ_g and export are BatchTopK's: saved as SAELens "jumprelu"; the prefixes stay in the
// run config.
import * as tf from '@tensorflow/tfjs';
import { declaredSaeLensConfig } from './declaration';
import { matryoshkaDeclaration, type MatryoshkaConfig } from './matryoshka.decl';
import { batchTopkRelu } from '../ops/batchTopk';
import { matryoshkaSparseStep } from './sparseLinear';
import { nestedDecode } from '../ops/nestedDecode';
import type { LossParts, Variant } from './types';
import { auxKTerm } from '../losses';
import { batchTopkBase, batchTopkPlan, batchTopkSelection, GlobalThreshold } from './batchtopk';
import { preActivations } from './linear';

export function makeMatryoshkaVariant(cfg: MatryoshkaConfig): Variant<MatryoshkaConfig> & { threshold: GlobalThreshold } {
  const threshold = new GlobalThreshold();
  const prefixes = cfg.matryoshka_prefixes;
  const n = prefixes.length;
  return {
    ...batchTopkBase(cfg, threshold),
    architecture: matryoshkaDeclaration.architecture,
    label: 'Matryoshka BatchTopK',
    threshold,
    saelensConfig: declaredSaeLensConfig(matryoshkaDeclaration),
    loss(p, x, live, ctx): LossParts {
      const [B, dIn] = x.shape;
      const z = preActivations(p, x, ctx.inputNeedsGradient);
      const f = batchTopkRelu(z, live.k);
      // [n, B, d_in]: the reconstruction of every prefix, cumulatively (one full decode in cost).
      const xHats = tf.add(nestedDecode(f, p.W_dec as tf.Tensor2D, prefixes), p.b_dec) as tf.Tensor3D;
      const recon = tf.mean(tf.sum(tf.squaredDifference(xHats, x), 2)) as tf.Scalar;
      const xHat = tf.reshape(tf.slice(xHats, [n - 1, 0, 0], [1, B, dIn]), [B, dIn]) as tf.Tensor2D;
      const aux = auxKTerm(p, z, x, xHat, ctx, cfg.aux_k, cfg.aux_k_coefficient);
      return { total: tf.add(recon, aux), recon, sparsity: tf.scalar(0), aux, f, pre: z, xHat, diagnostics: { topk_threshold: tf.clone(threshold.value) } };
    },
    sparseStepPlan: (p, x, live) => batchTopkPlan(p, x, live.k),
    sparseStep(p, x, live, ctx) {
      const select = batchTopkSelection(p, live.k, ctx);
      if (!select) return null;
      const step = matryoshkaSparseStep(p, x, ctx, select, prefixes, cfg.aux_k, cfg.aux_k_coefficient);
      const { values } = step.parts.entries;
      return { ...step, parts: { ...step.parts, diagnostics: { topk_threshold: tf.clone(threshold.value) } }, afterStep: () => threshold.update(values, cfg.threshold_lr) };
    },
  };
}
