// One optimiser step of the trainer: the loss with guidance terms, gradient clipping, Adam, firing counts, and the log-step stats.
import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam';
import type { LiveParams, SaeConfig } from './config';
import { guidanceLoss, guidanceStats } from './guidance';
import { addMany, columnCountsAbove, sumOfSquares } from './ops/reduce';
import { guidedLatents, labelsPerLatentRow, type ResolvedGuidance } from './trainerGuidance';
import type { LossParts, Params, PlannedSelection, SelectionPlan, Variant } from './variants/types';
import { entryCountsAbove, readSelectionCounts, selectionNeedsWidths } from './ops/sparse';

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
  if (Object.keys(grads).length === 0) return grads;
  const scale = clipScale(grads, maxNorm);
  const out: Record<string, tf.Tensor> = {};
  for (const [name, g] of Object.entries(grads)) out[name] = tf.mul(g, scale);
  return out;
}

/** The factor clipping by the global norm multiplies every gradient by: min(maxNorm / ‖g‖, 1). */
export function clipScale(grads: Record<string, tf.Tensor>, maxNorm: number): tf.Scalar {
  // Its own tidy: the squares are gradient-sized, and the step's would hold them to its end.
  return tf.tidy(() => {
    const norm = tf.sqrt(sumOfSquares(...Object.values(grads)));
    return tf.minimum(tf.div(maxNorm, tf.maximum(norm, 1e-12)), 1) as tf.Scalar;
  });
}

/** What planSparseStep learnt before a step: its input rows x [B, width] and its selection's sizes. */
export interface PlannedStep {
  x: tf.Tensor2D;
  selection: PlannedSelection;
}

/**
 * Whether this step is planned first (planSparseStep): where the sparse selections need their
 * widths given (webgpu: ops/sparse.ts selectionNeedsWidths) and the variant plans its sparse step,
 * which this step could take (sparse not off, no guidance). Free and synchronous, so that on the
 * other backends the trainer awaits nothing.
 */
export function plansSparseStep(s: StepState): boolean {
  return s.cfg.sparse !== 'off' && s.guidance.length === 0 && s.variant.sparseStepPlan !== undefined && selectionNeedsWidths();
}

/**
 * The plan of a step (where plansSparseStep), on its rows: see planSelection. Undefined where the
 * variant has no plan for this step. Give it to trainStep, which disposes it.
 */
export async function planSparseStep(s: StepState, batch: Float32Array, width: number): Promise<PlannedStep | undefined> {
  const x = tf.tensor2d(batch, [batch.length / width, width]);
  let selection: PlannedSelection | undefined;
  try {
    selection = await planSelection(s.variant, s.params, x, s.live);
  } finally {
    if (!selection) x.dispose();
  }
  return selection && { x, selection };
}

/**
 * The variant's sparseStepPlan for rows x: it computes z and its selection's row counts on the
 * device, and the counts are read here asynchronously. That waits for the work queued before (the
 * previous step) without blocking the thread, as a synchronous read would; the step then knows its
 * entries' widths and this batch's active fraction (StepContext.plannedSelection). Undefined where
 * the variant has no plan; the caller disposes the selection's `pre` after the step.
 */
export async function planSelection(variant: Variant<SaeConfig>, params: Params, x: tf.Tensor2D, live: LiveParams): Promise<PlannedSelection | undefined> {
  const made: { plan: SelectionPlan | null } = { plan: null };
  tf.tidy(() => {
    const plan = variant.sparseStepPlan?.(params, x, live) ?? null;
    if (plan) made.plan = { pre: tf.keep(plan.pre), counts: tf.keep(plan.counts) };
  });
  const { plan } = made;
  if (!plan) return undefined;
  try {
    const { widths, totals } = await readSelectionCounts(plan.counts);
    return { pre: plan.pre, widths, activeFraction: totals[0] / plan.pre.size };
  } catch (e) {
    plan.pre.dispose();
    throw e;
  } finally {
    plan.counts.dispose();
  }
}

/**
 * One optimiser step on a batch [B · width]; on log steps also the named stats to read (the caller
 * disposes them). `batchRows` index `rowIds` (dataset row of each training row), or are dataset
 * rows themselves. `fRows` is the number of latent rows the step counted. `planned` is the step's
 * plan (planSparseStep), disposed here.
 */
export function trainStep(s: StepState, batch: Float32Array, width: number, batchRows: Uint32Array, rowIds: Uint32Array | undefined, log: boolean, planned?: PlannedStep): { stats: Record<string, tf.Tensor> | undefined; fRows: number; sparse: boolean } {
  try {
    return takeStep(s, batch, width, batchRows, rowIds, log, planned);
  } finally {
    if (planned) tf.dispose([planned.x, planned.selection.pre]);
  }
}

function takeStep(s: StepState, batch: Float32Array, width: number, batchRows: Uint32Array, rowIds: Uint32Array | undefined, log: boolean, planned: PlannedStep | undefined): { stats: Record<string, tf.Tensor> | undefined; fRows: number; sparse: boolean } {
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
    const x = planned?.x ?? tf.tensor2d(batch, [B, width]);
    const deadMask = tf.greaterEqual(s.tokensSinceFired, cfg.dead_tokens_window).toFloat() as tf.Tensor1D;
    const labels = labelArrays.map((a) => tf.tensor1d(a));
    const ctx = { deadMask, step: s.step, seed: cfg.seed, knownNoneDead, activeFraction: s.activeFraction, plannedSelection: planned?.selection };
    // The sparse products where the variant and the backend have them (cfg.sparse 'auto'); guidance
    // losses are taken on the dense f, so a guided run stays dense.
    const sparse = cfg.sparse !== 'off' && guidance.length === 0 ? variant.sparseStep?.(params, x, live, ctx) ?? null : null;
    let parts: LossParts | undefined;
    let guidanceTerms: tf.Scalar[] = [];
    let kept: tf.Tensor[] = [];
    let byName: Record<string, tf.Tensor> = {};
    // Else the variant's dense step with its backward written out, where it has one.
    const written = !sparse && guidance.length === 0 ? variant.denseStep?.(params, x, live, ctx) ?? null : null;
    if (sparse) {
      byName = sparse.grads;
    } else if (written) {
      parts = written.parts;
      byName = written.grads;
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
    // Clipping scales each gradient as Adam takes it, and each is freed once used: the step's peak
    // holds one spent gradient at a time, not all of them and a clipped set (memoryBudget.ts).
    s.adam.apply(params, byName, live.lr, { scale: cfg.grad_clip_norm > 0 ? clipScale(byName, cfg.grad_clip_norm) : undefined, consume: true });
    variant.constrain?.(params);
    if (sparse) sparse.afterStep?.();
    else variant.afterStep?.(params, parts as LossParts, live);

    // A latent fires where f > θ (the inference threshold; 0 for variants that learn theirs).
    const thr = variant.learnsThreshold ? 0 : live.threshold;
    let fRows: number, firedCounts: tf.Tensor1D;
    if (sparse) {
      const { entries } = sparse.parts;
      fRows = entries.indices.shape[0];
      firedCounts = entryCountsAbove(entries, s.tokensSinceFired.shape[0], thr); // one pass over the entries on wasm (ops/sparse.ts)
    } else {
      const f = (parts as LossParts).f as tf.Tensor2D;
      fRows = f.shape[0];
      firedCounts = columnCountsAbove(f, thr); // [d_sae]: Σ_b firing(f), in one pass on wasm (ops/reduce.ts)
    }
    // Read where it costs no wait (as knownNoneDead), for the variants that choose their step by it:
    // Σ of the firing counts (the count of active entries) rather than another pass over [B, d_sae].
    if (knownNoneDead && variant.sparseStep) s.activeFraction = tf.sum(firedCounts).dataSync()[0] / (fRows * s.tokensSinceFired.shape[0]);
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
    put('l0', tf.div(tf.sum(firedCounts), fRows));
    put('err', tf.sum(tf.squaredDifference(target, p.xHat)));
    put('xsq', tf.sum(tf.square(target)));
    put('centered', tf.sum(tf.square(tf.sub(target, tf.mean(target, 0)))));
    put('dead', tf.sum(deadMask));
    put('threshold_mean', variant.learnsThreshold ? tf.mean(params.threshold) : tf.scalar(live.threshold));
    // A loss can stay finite for a step while a weight already overflowed: count them too.
    put('nonfinite_params', addMany(Object.values(params).map((v) => tf.sum(tf.logicalNot(tf.isFinite(v)).toFloat()))));
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
