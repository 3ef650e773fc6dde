// One optimiser step of the trainer: the loss with guidance terms, gradient clipping, Adam, firing counts, and the log-step stats.
import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam';
import type { LiveParams, SaeConfig } from './config';
import { guidanceLoss, guidanceStats } from './guidance';
import { sumRows } from './ops/reduce';
import { guidedLatents, labelsPerLatentRow, type ResolvedGuidance } from './trainerGuidance';
import type { LossParts, Params, Variant } from './variants/types';
import { entryColumnSums } from './variants/sparseLinear';

/** What a step reads and updates: the SAE, its optimiser, and the trainer's firing counters. */
export interface StepState {
  cfg: SaeConfig;
  variant: Variant<SaeConfig>;
  params: Params;
  adam: Adam;
  /** Training tokens seen since each latent last fired [d_sae]. */
  tokensSinceFired: tf.Variable;
  /** Firing counts since the last logged step [d_sae]. */
  firedSinceLog: tf.Variable;
  guidance: ResolvedGuidance[];
  /** Index of this step (0-based). */
  step: number;
  /** The live parameters this step trains with, schedules applied (liveParams.ts scheduledLive). */
  live: LiveParams;
  /** The fraction of latents active in the last step (StepContext.activeFraction); set by trainStep. */
  activeFraction?: number;
}

/** Scale all gradients by min(1, maxNorm / global norm), on the device. */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): Record<string, tf.Tensor> {
  const list = Object.values(grads);
  if (list.length === 0) return grads;
  const sq = list.map((g) => tf.sum(tf.square(g)));
  const norm = tf.sqrt(tf.addN(sq));
  const scale = tf.minimum(tf.div(maxNorm, tf.maximum(norm, 1e-12)), 1);
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) out[name] = tf.mul(g, scale);
  return out;
}

/**
 * One optimiser step on a batch [B · width]; on log steps also the named stats to read (the caller
 * disposes them). `batchRows` index `rowIds` (dataset row of each training row), or are dataset
 * rows themselves. `fRows` is the number of latent rows the step counted.
 */
export function trainStep(s: StepState, batch: Float32Array, width: number, batchRows: Uint32Array, rowIds: Uint32Array | undefined, log: boolean): { stats: Record<string, tf.Tensor> | undefined; fRows: number; sparse: boolean } {
  const { cfg, variant, params, live, guidance } = s;
  const B = batch.length / width;
  const labelArrays = guidance.map((g) => Float32Array.from(batchRows, (r) => g.labels[rowIds ? rowIds[r] : r]));
  /*
   * Whether no latent is dead, for the variants with AuxK (StepContext.knownNoneDead), where the
   * read costs no wait on a device (wasm and cpu compute synchronously); undefined on GPU backends,
   * where it would stall the queued steps. With none dead, AuxK's loss and gradients are exactly 0
   * (its scale is Σ dead / k_aux) and the TopK variants skip its three [B, d_sae]-sized products:
   * a third of a small TopK step on wasm.
   */
  const knownNoneDead = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu'
    ? (): boolean => tf.tidy(() => tf.max(s.tokensSinceFired).dataSync()[0] < cfg.dead_tokens_window)
    : undefined;
  return tf.tidy(() => {
    const x = tf.tensor2d(batch, [B, width]);
    const deadMask = tf.greaterEqual(s.tokensSinceFired, cfg.dead_tokens_window).toFloat() as tf.Tensor1D;
    const labels = labelArrays.map((a) => tf.tensor1d(a));
    const ctx = { deadMask, step: s.step, seed: cfg.seed, knownNoneDead, activeFraction: s.activeFraction };
    // The sparse products where the variant and the backend have them (cfg.sparse 'auto'); guidance
    // losses are taken on the dense f, so a guided run stays dense.
    const sparse = cfg.sparse !== 'off' && guidance.length === 0 ? variant.sparseStep?.(params, x, live, ctx) ?? null : null;
    let parts: LossParts | undefined;
    let guidanceTerms: tf.Scalar[] = [];
    let kept: tf.Tensor[] = [];
    let byName: Record<string, tf.Tensor> = {};
    if (sparse) {
      byName = sparse.grads;
    } else {
      const { grads } = tf.variableGrads(() => {
        const p = variant.loss(params, x, live, ctx);
        parts = p;
        const fRows = p.f.shape[0];
        const guided = guidance.length ? guidedLatents(p) : p.f;
        guidanceTerms = guidance.map((g, i) => {
          const y = labelsPerLatentRow(labels[i], fRows);
          return tf.mul(guidanceLoss(guided, g.target.latent, y, g.target.method, g.target.margin), g.target.beta) as tf.Scalar;
        });
        // Keep the parts past variableGrads' own scope (kept tensors escape every tidy, so they are
        // disposed by hand below).
        kept = [p.recon, p.sparsity, p.aux, p.f, p.xHat, ...(p.target ? [p.target] : []), ...(p.pre ? [p.pre] : []), ...Object.values(p.diagnostics ?? {}), ...guidanceTerms];
        for (const t of kept) tf.keep(t);
        return guidanceTerms.reduce((acc: tf.Scalar, t) => tf.add(acc, t), p.total);
      }, Object.values(params).filter((v) => v.trainable));
      for (const [name, v] of Object.entries(params)) if (grads[v.name]) byName[name] = grads[v.name];
    }
    const p = sparse ? sparse.parts : (parts as LossParts);
    if (cfg.grad_clip_norm > 0) byName = clipByGlobalNorm(byName, cfg.grad_clip_norm);
    s.adam.apply(params, byName, live.lr);
    variant.constrain?.(params);
    if (sparse) sparse.afterStep?.();
    else variant.afterStep?.(params, parts as LossParts, live);

    // step(f − θ) is 1 where f > θ: the same 0/1 floats as greater(…).toFloat() in one op (tfjs-wasm's
    // Greater + Cast on [B, d_sae] cost ~12 ms a step).
    const thr = variant.learnsThreshold ? 0 : live.threshold;
    const firing = (f: tf.Tensor) => (thr === 0 ? tf.step(f) : tf.step(tf.sub(f, thr)));
    let fRows: number, active: tf.Tensor, firedCounts: tf.Tensor1D;
    if (sparse) {
      const { entries } = sparse.parts;
      fRows = entries.indices.shape[0];
      active = firing(entries.values);
      firedCounts = entryColumnSums({ indices: entries.indices, values: active as tf.Tensor2D }, s.tokensSinceFired.shape[0]);
    } else {
      const f = (parts as LossParts).f;
      fRows = f.shape[0];
      active = firing(f);
      firedCounts = sumRows(active as tf.Tensor2D); // [d_sae]; a matmul, not an outer-axis Sum (ops/reduce.ts)
    }
    // Read where it costs no wait (as knownNoneDead), for the variants that choose their step by it.
    if (knownNoneDead && variant.sparseStep) s.activeFraction = tf.sum(active).dataSync()[0] / (fRows * s.tokensSinceFired.shape[0]);
    s.tokensSinceFired.assign(tf.where(tf.greater(firedCounts, 0), tf.zerosLike(s.tokensSinceFired), tf.add(s.tokensSinceFired, fRows)));
    s.firedSinceLog.assign(tf.add(s.firedSinceLog, firedCounts));

    if (!log) { kept.forEach((t) => t.dispose()); return { stats: undefined, fRows, sparse: sparse !== null }; }
    const target = (sparse ? undefined : (parts as LossParts).target) ?? x;
    // A plain object (not a Map): tidy keeps only the tensors it can find in what it returns.
    const stats: Record<string, tf.Tensor> = {};
    // Clones: the originals are disposed with the other kept tensors.
    const put = (name: string, t: tf.Tensor) => { stats[name] = tf.clone(t); };
    const guidanceTotal = guidanceTerms.reduce((acc: tf.Scalar, t) => tf.add(acc, t), tf.scalar(0));
    put('total_loss', tf.add(tf.add(p.recon, tf.add(p.sparsity, p.aux)), guidanceTotal));
    put('recon_loss', p.recon);
    put('sparsity_loss', p.sparsity);
    put('aux_loss', p.aux);
    put('guidance_loss', guidanceTotal);
    put('l0', tf.div(tf.sum(active), fRows));
    put('err', tf.sum(tf.squaredDifference(target, p.xHat)));
    put('xsq', tf.sum(tf.square(target)));
    put('centered', tf.sum(tf.square(tf.sub(target, tf.mean(target, 0)))));
    put('dead', tf.sum(deadMask));
    put('threshold_mean', variant.learnsThreshold ? tf.mean(params.threshold) : tf.scalar(live.threshold));
    // A loss can stay finite for a step while a weight already overflowed: count them too.
    put('nonfinite_params', tf.addN(Object.values(params).map((v) => tf.sum(tf.logicalNot(tf.isFinite(v)).toFloat()))));
    guidance.forEach((g, i) => {
      const y = labelsPerLatentRow(labels[i], fRows);
      const st = guidanceStats((parts as LossParts).f, g.target.latent, y);
      put(`guidance_${g.target.id}_loss`, guidanceTerms[i]);
      put(`guidance_${g.target.id}_pos`, st.meanPos);
      put(`guidance_${g.target.id}_neg`, st.meanNeg);
    });
    for (const [name, t] of Object.entries(p.diagnostics ?? {})) put(name, t);
    kept.forEach((t) => t.dispose());
    return { stats, fRows, sparse: sparse !== null };
  });
}
