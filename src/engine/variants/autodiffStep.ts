// The reference every written-out step is checked against (sparseLinear.ts, denseLinear.ts): the
// variant's loss through tfjs's autodiff, with the loss parts the checks read kept past
// variableGrads' scope. Used by the unit tests and by the kernel page (src/bench/kernelCheckSparse.ts).
import * as tf from '@tensorflow/tfjs';
import type { LiveParams } from '../configBase';
import type { LossParts, Params, StepContext, Variant } from './types';

export interface AutodiffStep {
  total: tf.Scalar;
  parts: LossParts;
  /** ∂total by parameter name (as `p` names them). */
  grads: Record<string, tf.Tensor>;
  /** Frees the total, the kept parts and the gradients. */
  dispose: () => void;
}

/** The dense step of `variant` on rows x through tfjs's autodiff on variant.loss. */
export function autodiffStep(variant: Variant, p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext): AutodiffStep {
  let kept: LossParts | undefined;
  const { value, grads } = tf.variableGrads(() => {
    kept = variant.loss(p, x, live, ctx);
    for (const t of [kept.recon, kept.sparsity, kept.aux, kept.f, kept.xHat]) tf.keep(t);
    return kept.total;
  }, Object.values(p));
  const parts = kept!;
  const byName = Object.fromEntries(Object.entries(p).map(([name, v]) => [name, grads[v.name]]));
  return {
    total: value,
    parts,
    grads: byName,
    dispose: () => tf.dispose([value, parts.recon, parts.sparsity, parts.aux, parts.f, parts.xHat, ...Object.values(grads)]),
  };
}
