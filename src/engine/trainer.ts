// The training loop: seeded batches from the train split, the variant's loss plus guidance losses,
// gradient clipping, Adam with learning-rate warm-up and decay, the variant's constraint,
// dead/dense tracking, the target-L0 controller, dead-latent resampling, validation with early
// stopping, checkpoints, and live parameter updates at step boundaries. Metrics are read back from
// the device only every `log_every` steps, in one batched read.
import * as tf from '@tensorflow/tfjs';
import { sumRows } from './ops/reduce';
import { Adam } from './adam';
import { applyLive, initialLive, SPARSITY_KIND, type GuidanceTarget, type LiveParams, type SaeConfig } from './config';
import { guidanceLoss, guidanceStats } from './guidance';
import { auroc, DENSE_FRACTION, featureRecovery, fve, L0_TARGET_TOLERANCE, nmse, nmsePerToken, type ReconstructionSums } from './metrics';
import { applyNormalization, fitNormalization, normalizerOf, type Normalization } from './normalize';
import type { CustomGradientFunc } from './ops/customOp';
import { constant, stopGradient } from './ops/stopGradient';
import { createRng, type Rng, type RngState } from './rng';
import { variantFor } from './variants/registry';
import type { DataStats, LossParts, Params, Reconstruction, Variant } from './variants/types';
import { BatchSampler, type SamplerState } from './batchSampler';
import type { EvalMetrics, GuidanceEval, LiveEvent, MetricRow } from './types';
import { isPositive } from './ops/compare';

/** The rows the trainer learns from and evaluates on, row-major [rows, nLayers·dIn]. */
export interface TrainingData {
  train: Float32Array;
  trainRows: number;
  val: Float32Array;
  valRows: number;
  /** Width of one activation vector. */
  dIn: number;
  /** Layers per row (default 1). */
  nLayers?: number;
  /** Dataset row index of each train / validation row, to look up guidance labels. */
  trainIds?: Uint32Array;
  valIds?: Uint32Array;
  /** Planted features of a synthetic dataset [nFeatures, dIn], for feature recovery. */
  groundTruth?: { nFeatures: number; dictionary: Float32Array };
  /** Rows of the whole dataset (labels are indexed by dataset row). */
  totalRows?: number;
  /**
   * Batches streamed from a file larger than memory. `train` is then a sample of training rows
   * (for the normalisation fit, the initialisation and resampling), not the whole training set.
   */
  stream?: BatchStream;
}

/** Batches of raw rows from outside memory; `lastRows` are the dataset row ids of the last batch. */
export interface BatchStream {
  next(): Promise<Float32Array>;
  readonly lastRows: Uint32Array;
  readonly trainRows: number;
}

/** A guidance target with its labels, one per dataset row (indexed by trainIds / valIds). */
export interface ResolvedGuidance {
  target: GuidanceTarget;
  labels: Float32Array;
}

/** Raised when a loss turns non-finite; the caller pauses and tells the user. */
export class DivergenceError extends Error {
  constructor(readonly step: number, readonly detail: string) {
    super(`training diverged at step ${step}: ${detail}. Lower the learning rate (try half) or the sparsity coefficient, then train again.`);
    this.name = 'DivergenceError';
  }
}

/** Per-latent results of an evaluation pass, kept for the export. */
export interface EvalDetails {
  metrics: EvalMetrics;
  /** Fraction of validation rows on which each latent fired [d_sae]. */
  firingFraction: Float32Array;
}

/** Weights at a step, read back to plain arrays (SAELens names). */
export interface Checkpoint {
  step: number;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

/** A run's state beside its tensors: with them, enough to continue exactly where it was. */
export interface TrainerMeta {
  version: 1;
  architecture: string;
  step: number;
  live: LiveParams;
  pendingLive: Partial<LiveParams>;
  guidance: GuidanceTarget[];
  l0Ema: number | null;
  controller: { lastError: number | null; rate: number };
  fRowsSinceLog: number;
  lastLogStep: number;
  lastValStep: number;
  activeSeconds: number;
  earlyStopper: { best: number; bad: number };
  earlyStoppedAt: number | null;
  bestVal: { loss: number; step: number } | null;
  resampled: { step: number; latents: number }[];
  rng: RngState;
  /** Null for streamed data (its batch order is not part of the state). */
  sampler: SamplerState | null;
  adamStep: number;
  /** The first logged reconstruction loss: the scale a blow-up is measured against (null before it). */
  reconReference?: number | null;
}

/**
 * A copy of a run's state. Tensors are named `param/<name>`, `adam/m/<name>`, `adam/v/<name>`,
 * `best/<name>` (early stopping's best weights), `variant/<name>` (state a variant keeps outside its
 * parameters) and `tokensSinceFired` / `firedSinceLog`. On the device (`snapshot`, for rolling back
 * a diverged run) or as plain arrays (`saveState`, for the autosave).
 */
export interface TrainerSnapshot {
  meta: TrainerMeta;
  tensors: Record<string, tf.Tensor>;
}

export interface SavedTrainerState {
  meta: TrainerMeta;
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
}

/** Seconds between the on-device copies a diverged run rolls back to. */
const GOOD_SNAPSHOT_SECONDS = 2;
/**
 * A reconstruction loss this many times its first logged value is a blow-up (a learning rate far
 * too high sends it to 1e10 while it is still finite). Any SAE that outputs b_dec alone scores about
 * the first value, so no healthy run — whatever its λ or k — comes near this.
 */
export const BLOWUP_FACTOR = 100;
/** A state is kept to roll back to only while its reconstruction loss is within this factor of the first. */
const GOOD_FACTOR = 2;

/** Validation passes use at most this many rows (AUROC and early stopping). */
const MAX_VALIDATION_ROWS = 8192;

export function computeDataStats(data: Float32Array, rows: number, dIn: number, nLayers = 1): DataStats {
  const width = dIn * nLayers;
  const mean = new Float64Array(width);
  let normSum = 0;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let j = 0; j < width; j++) { const v = data[r * width + j]; mean[j] += v; sq += v * v; }
    normSum += Math.sqrt(sq / nLayers);
  }
  return { dIn, nLayers, mean: Float32Array.from(mean, (m) => m / rows), meanNorm: normSum / rows };
}

/** Learning-rate multiplier at a step: linear warm-up from 0, then linear decay to 0 at the end. */
export function lrFactor(step: number, steps: number, warmup: number, decay: number): number {
  let f = 1;
  if (warmup > 0 && step < warmup) f = Math.min(f, (step + 1) / warmup);
  if (decay > 0 && step >= steps - decay) f = Math.min(f, (steps - step) / decay);
  return f;
}

/**
 * The target-L0 controller: a PI controller on log λ with the log-ratio of measured to target L0
 * fraction as its error e. Each update moves log λ by ki·e + kp·(e − e_prev) (the velocity form
 * of PI), bounded by ±maxStep. The integral term removes any steady offset whatever the variant's
 * λ-to-L0 curve; the proportional term damps overshoot. Anti-windup: while L0 is already heading
 * for the target fast enough to get there within `horizon` updates, the integral term pauses.
 * That matters for JumpReLU, whose L0 moves only as fast as Adam moves the thresholds (about lr per
 * step, whatever λ is): raising λ further then buys no speed, only an overshoot later.
 */
export class LambdaController {
  private lastError: number | null = null;
  /** Smoothed change of the error per update (batch noise would otherwise flip the pause on and off). */
  private rate = 0;
  /** Gains are per `STEPS_PER_UNIT` training steps; updates that span more steps scale them. */
  static readonly STEPS_PER_UNIT = 10;
  constructor(private readonly ki = 0.1, private readonly kp = 0.5, private readonly maxStep = 0.15, private readonly horizon = 50) {}
  get state(): { lastError: number | null; rate: number } { return { lastError: this.lastError, rate: this.rate }; }
  set state(s: { lastError: number | null; rate: number }) { this.lastError = s.lastError; this.rate = s.rate; }
  /**
   * The next λ, given the current λ, the measured and target L0 fractions, and the number of
   * training steps since the previous update (so the controller is as fast whatever log_every is).
   */
  update(lambda: number, measured: number, target: number, steps = LambdaController.STEPS_PER_UNIT): number {
    const units = Math.max(1e-3, steps / LambdaController.STEPS_PER_UNIT);
    const error = Math.log(Math.max(measured, 1e-6) / target);
    const change = this.lastError === null ? 0 : error - this.lastError;
    this.lastError = error;
    const keep = 0.8 ** units;
    this.rate = keep * this.rate + (1 - keep) * (change / units); // per unit
    const closing = error * this.rate < 0 && Math.abs(error) < this.horizon * Math.abs(this.rate);
    const bound = this.maxStep * units;
    const delta = Math.max(-bound, Math.min(bound, (closing ? 0 : this.ki * units * error) + this.kp * change));
    return Math.min(1e6, Math.max(1e-8, lambda * Math.exp(delta)));
  }
}

export class Trainer {
  readonly cfg: SaeConfig;
  readonly variant: Variant<SaeConfig>;
  readonly params: Params;
  readonly normalization: Normalization;
  /** The rows after input normalisation (what the SAE sees). */
  readonly data: Required<Pick<TrainingData, 'train' | 'val' | 'trainRows' | 'valRows' | 'dIn' | 'nLayers'>> & TrainingData;
  private live: LiveParams;
  private pendingLive: Partial<LiveParams> = {};
  private guidance: ResolvedGuidance[] = [];
  private pendingGuidance: ResolvedGuidance[] | null = null;
  private readonly adam: Adam;
  private readonly sampler: BatchSampler | null;
  private readonly rng: Rng;
  /** Training tokens seen since each latent last fired [d_sae]. */
  private readonly tokensSinceFired: tf.Variable;
  /** Firing counts since the last logged step [d_sae], for the dense fraction. */
  private readonly firedSinceLog: tf.Variable;
  private fRowsSinceLog = 0;
  /** L0 fraction smoothed over log steps, what the controller reads. */
  private l0Ema: number | null = null;
  private readonly controller = new LambdaController();
  private step = 0;
  private rows: MetricRow[] = [];
  private events: LiveEvent[] = [];
  private checkpoints: Checkpoint[] = [];
  private readonly startTime = now();
  private lastLogTime = now();
  private lastLogStep = 0;
  private lastValStep = 0;
  private activeSeconds = 0;
  private bestVal: { loss: number; step: number; params: Record<string, tf.Tensor> } | null = null;
  private earlyStopper: EarlyStopper;
  private earlyStoppedAt: number | null = null;
  /** Resampling events, for the log. */
  readonly resampled: { step: number; latents: number }[] = [];
  /** The last state whose logged losses and parameters were finite (what a divergence rolls back to). */
  private lastGood: TrainerSnapshot | null = null;
  private lastGoodTime = -Infinity;
  /** Seconds between those copies (tests set 0: a copy at every finite log step). */
  goodSnapshotSeconds = GOOD_SNAPSHOT_SECONDS;
  /** Set by a finite log step: take `lastGood` at the next step boundary (first at step 0). */
  private goodDue = true;
  /** See TrainerMeta.reconReference. */
  private reconReference: number | null = null;

  constructor(cfg: SaeConfig, data: TrainingData, readonly backend: string) {
    if (data.trainRows < 1) throw new Error('the training split is empty; load a file with more rows.');
    this.cfg = cfg;
    const nLayers = data.nLayers ?? 1;
    this.normalization = fitNormalization(cfg.normalize, data.train, data.trainRows, data.dIn, nLayers);
    this.data = {
      ...data,
      nLayers,
      // A streamed run normalises each batch as it arrives (the sample is normalised here).
      train: applyNormalization(this.normalization, data.train, data.trainRows, data.dIn, nLayers),
      val: applyNormalization(this.normalization, data.val, data.valRows, data.dIn, nLayers),
    };
    this.variant = variantFor(cfg);
    this.live = initialLive(cfg);
    this.rng = createRng(cfg.seed + 7919);
    const stats = computeDataStats(this.data.train, data.trainRows, data.dIn, nLayers);
    this.params = this.variant.init(cfg, stats, createRng(cfg.seed));
    this.adam = new Adam(this.params, cfg.adam_beta1, cfg.adam_beta2);
    this.sampler = data.stream ? null : new BatchSampler(this.data.train, data.trainRows, data.dIn * nLayers, cfg.batch_size, cfg.seed + 1);
    this.tokensSinceFired = tf.tidy(() => tf.variable(tf.zeros([cfg.d_sae]), false)); // [d_sae]
    this.firedSinceLog = tf.tidy(() => tf.variable(tf.zeros([cfg.d_sae]), false)); // [d_sae]
    this.earlyStopper = new EarlyStopper(cfg.early_stopping_patience);
    if (cfg.resample_dead_every > 0 && !this.variant.resampleDead) {
      this.events.push({ step: 0, changes: {}, note: `resample_dead_every is ignored: ${cfg.architecture} has no dead-latent resampling (it is for the L1 variants relu, gated and crosscoder; the TopK family uses AuxK)` });
    }
  }

  get stepCount(): number { return this.step; }
  get totalSteps(): number { return this.cfg.steps; }
  get done(): boolean { return this.step >= this.cfg.steps || this.earlyStoppedAt !== null; }
  get liveParams(): LiveParams { return { ...this.live }; }
  /** Seconds spent inside `runSteps` (excludes pauses). */
  get trainingSeconds(): number { return this.activeSeconds; }
  /** Step whose weights early stopping kept, or null. */
  get stoppedEarlyAt(): number | null { return this.earlyStoppedAt; }
  get guidanceTargets(): GuidanceTarget[] { return (this.pendingGuidance ?? this.guidance).map((g) => g.target); }

  /** Queue live changes; they take effect at the start of the next step and are logged then. */
  update(changes: Partial<LiveParams>): void {
    Object.assign(this.pendingLive, changes);
  }

  /** Replace the guidance targets (labels per dataset row); takes effect at the next step. */
  setGuidance(targets: ResolvedGuidance[]): void {
    const rows = this.data.totalRows ?? (this.data.trainIds ? Math.max(...this.data.trainIds, ...(this.data.valIds ?? [0])) + 1 : this.data.trainRows);
    for (const g of targets) {
      if (g.labels.length < rows) throw new Error(`guidance target ${g.target.id} has ${g.labels.length} labels but the data has ${rows} rows.`);
      if (g.target.latent >= this.cfg.d_sae) throw new Error(`guidance target ${g.target.id} points at latent ${g.target.latent}, but d_sae is ${this.cfg.d_sae}.`);
    }
    this.pendingGuidance = targets;
  }

  /** The config with the live values and current guidance folded in (run config, cfg.json). */
  currentConfig(): SaeConfig {
    return { ...applyLive(this.cfg, this.live), guidance: this.guidanceTargets };
  }

  /** Metric rows logged since the last call. */
  takeRows(): MetricRow[] { const r = this.rows; this.rows = []; return r; }
  /** Live-parameter events applied since the last call. */
  takeEvents(): LiveEvent[] { const e = this.events; this.events = []; return e; }
  /** Checkpoints taken since the last call. */
  takeCheckpoints(): Checkpoint[] { const c = this.checkpoints; this.checkpoints = []; return c; }

  /** Run up to `n` steps (fewer if the run ends). Throws DivergenceError on a non-finite loss. */
  async runSteps(n: number): Promise<void> {
    const t0 = now();
    try {
      for (let i = 0; i < n && !this.done; i++) {
        if (this.goodDue) this.keepGoodState();
        this.applyPending();
        const logNow = (this.step + 1) % this.cfg.log_every === 0 || this.step + 1 === this.cfg.steps;
        const stats = this.sampler
          ? this.trainStep(this.sampler.next(), this.sampler.lastRows, this.data.trainIds, logNow)
          : this.trainStep(await this.nextStreamed(), this.data.stream!.lastRows, undefined, logNow);
        this.step += 1;
        if (stats) await this.logStep(stats);
        await this.periodic();
      }
    } finally {
      this.activeSeconds += (now() - t0) / 1000;
    }
  }

  private applyPending(): void {
    if (this.pendingGuidance) {
      const before = JSON.stringify(this.guidance.map((g) => g.target));
      this.guidance = this.pendingGuidance;
      this.pendingGuidance = null;
      const after = JSON.stringify(this.guidance.map((g) => g.target));
      if (before !== after) this.events.push({ step: this.step, changes: {}, guidance: this.guidance.map((g) => g.target) });
    }
    const changes: Partial<LiveParams> = {};
    for (const [key, value] of Object.entries(this.pendingLive) as [keyof LiveParams, number][]) {
      if (typeof value === 'number' && Number.isFinite(value) && value !== this.live[key]) changes[key] = value;
    }
    this.pendingLive = {};
    if (Object.keys(changes).length === 0) return;
    if (changes.targetL0 !== undefined) {
      changes.targetL0 = Math.min(0.99, Math.max(1 / this.cfg.d_sae, changes.targetL0));
      // k variants follow the target directly.
      if (this.kFollowsTarget && changes.k === undefined) changes.k = Math.round(changes.targetL0 * this.cfg.d_sae);
    }
    if (changes.k !== undefined) changes.k = Math.max(1, Math.min(this.cfg.d_sae, Math.round(changes.k)));
    const prev = this.live;
    this.live = { ...prev, ...changes };
    this.variant.applyLive?.(this.params, prev, this.live);
    this.events.push({ step: this.step, changes });
  }

  private get isPenalty(): boolean { return SPARSITY_KIND[this.cfg.architecture] === 'penalty'; }
  private get kFollowsTarget(): boolean { return !this.isPenalty && this.cfg.sparsity_mode === 'target_l0'; }
  private get controllerOn(): boolean { return this.isPenalty && this.cfg.sparsity_mode === 'target_l0'; }

  /** λ and learning rate in effect at step index `step` (0-based; default the next to run), warm-ups and decay applied. */
  private stepLive(step = this.step): LiveParams {
    const { cfg, live } = this;
    const lambdaFactor = cfg.lambda_warmup_steps > 0 ? Math.min(1, (step + 1) / cfg.lambda_warmup_steps) : 1;
    return { ...live, lr: live.lr * lrFactor(step, cfg.steps, cfg.lr_warmup_steps, cfg.lr_decay_steps), lambda: live.lambda * lambdaFactor };
  }

  /** The next streamed batch, normalised like the in-memory rows. */
  private async nextStreamed(): Promise<Float32Array> {
    const raw = await this.data.stream!.next();
    const width = this.data.dIn * this.data.nLayers;
    return applyNormalization(this.normalization, raw, raw.length / width, this.data.dIn, this.data.nLayers);
  }

  /**
   * Whether no latent is dead, for the variants with AuxK (StepContext.knownNoneDead), where the
   * read costs no wait on a device (wasm and cpu compute synchronously); undefined on GPU backends,
   * where it would stall the queued steps. With none dead, AuxK's loss and gradients are exactly 0
   * (its scale is Σ dead / k_aux) and the TopK variants skip its three [B, d_sae]-sized products:
   * a third of a small TopK step on wasm.
   */
  private readonly knownNoneDead = (): boolean => tf.tidy(() => tf.max(this.tokensSinceFired).dataSync()[0] < this.cfg.dead_tokens_window);

  /**
   * One optimiser step on a batch [B · width]; on log steps returns the named stats to read.
   * `batchRows` index `rowIds` (dataset row of each training row), or are dataset rows themselves.
   */
  private trainStep(batch: Float32Array, batchRows: Uint32Array, rowIds: Uint32Array | undefined, log: boolean): Record<string, tf.Tensor> | undefined {
    const { cfg, variant, params } = this;
    const width = this.data.dIn * this.data.nLayers;
    const B = batch.length / width;
    const live = this.stepLive();
    const labelArrays = this.guidance.map((g) => Float32Array.from(batchRows, (r) => g.labels[rowIds ? rowIds[r] : r]));
    const knownNoneDead = tf.getBackend() === 'wasm' || tf.getBackend() === 'cpu' ? this.knownNoneDead : undefined;
    const out = tf.tidy(() => {
      const x = tf.tensor2d(batch, [B, width]);
      const deadMask = tf.greaterEqual(this.tokensSinceFired, cfg.dead_tokens_window).toFloat() as tf.Tensor1D;
      const labels = labelArrays.map((a) => tf.tensor1d(a));
      let parts: LossParts | undefined;
      let guidanceTerms: tf.Scalar[] = [];
      let kept: tf.Tensor[] = [];
      const { grads } = tf.variableGrads(() => {
        const p = variant.loss(params, x, live, { deadMask, step: this.step, seed: cfg.seed, knownNoneDead });
        parts = p;
        const fRows = p.f.shape[0];
        const guided = this.guidance.length ? guidedLatents(p) : p.f;
        guidanceTerms = this.guidance.map((g, i) => {
          const y = labelsPerLatentRow(labels[i], fRows);
          return tf.mul(guidanceLoss(guided, g.target.latent, y, g.target.method, g.target.margin), g.target.beta) as tf.Scalar;
        });
        // Keep the parts past variableGrads' own scope (kept tensors escape every tidy, so they are
        // disposed by hand below).
        kept = [p.recon, p.sparsity, p.aux, p.f, p.xHat, ...(p.target ? [p.target] : []), ...(p.pre ? [p.pre] : []), ...Object.values(p.diagnostics ?? {}), ...guidanceTerms];
        for (const t of kept) tf.keep(t);
        return guidanceTerms.reduce((acc: tf.Scalar, t) => tf.add(acc, t), p.total);
      }, Object.values(params).filter((v) => v.trainable));
      const p = parts as LossParts;
      let byName: Record<string, tf.Tensor> = {};
      for (const [name, v] of Object.entries(params)) if (grads[v.name]) byName[name] = grads[v.name];
      if (cfg.grad_clip_norm > 0) byName = clipByGlobalNorm(byName, cfg.grad_clip_norm);
      this.adam.apply(params, byName, live.lr);
      variant.constrain?.(params);
      variant.afterStep?.(params, p, live);

      const fRows = p.f.shape[0];
      // step(f − θ) is 1 where f > θ: the same 0/1 floats as greater(…).toFloat() in one op (tfjs-wasm's
      // Greater + Cast on [B, d_sae] cost ~12 ms a step).
      const thr = variant.learnsThreshold ? 0 : live.threshold;
      const active = thr === 0 ? tf.step(p.f) : tf.step(tf.sub(p.f, thr));
      const firedCounts = sumRows(active as tf.Tensor2D); // [d_sae]; a matmul, not an outer-axis Sum (ops/reduce.ts)
      this.tokensSinceFired.assign(tf.where(tf.greater(firedCounts, 0), tf.zerosLike(this.tokensSinceFired), tf.add(this.tokensSinceFired, fRows)));
      this.firedSinceLog.assign(tf.add(this.firedSinceLog, firedCounts));

      if (!log) { kept.forEach((t) => t.dispose()); return { stats: undefined, fRows }; }
      const target = p.target ?? x;
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
      this.guidance.forEach((g, i) => {
        const y = labelsPerLatentRow(labels[i], fRows);
        const s = guidanceStats(p.f, g.target.latent, y);
        put(`guidance_${g.target.id}_loss`, guidanceTerms[i]);
        put(`guidance_${g.target.id}_pos`, s.meanPos);
        put(`guidance_${g.target.id}_neg`, s.meanNeg);
      });
      for (const [name, t] of Object.entries(p.diagnostics ?? {})) put(name, t);
      kept.forEach((t) => t.dispose());
      return { stats, fRows };
    });
    this.fRowsSinceLog += out.fRows;
    return out.stats;
  }

  private async logStep(stats: Record<string, tf.Tensor>): Promise<void> {
    const names = Object.keys(stats);
    const tensors = Object.values(stats);
    const denseT = tf.tidy(() => tf.mean(tf.greater(this.firedSinceLog, DENSE_FRACTION * Math.max(1, this.fRowsSinceLog)).toFloat()));
    const flat = tf.tidy(() => tf.concat([...tensors.map((t) => tf.reshape(t, [-1])), tf.reshape(denseT, [1])]));
    const sizes = tensors.map((t) => t.size);
    tensors.forEach((t) => t.dispose());
    denseT.dispose();
    const all = await flat.data();
    flat.dispose();
    tf.tidy(() => this.firedSinceLog.assign(tf.zerosLike(this.firedSinceLog)));
    this.fRowsSinceLog = 0;
    const s: Record<string, number> = {};
    let offset = 0;
    names.forEach((name, i) => {
      if (sizes[i] === 1) s[name] = all[offset];
      else for (let j = 0; j < sizes[i]; j++) s[`${name}_${j}`] = all[offset + j];
      offset += sizes[i];
    });
    const dense = all[offset];
    const t = now();
    const tokens = (this.step - this.lastLogStep) * this.cfg.batch_size;
    const tokensPerS = tokens / Math.max(1e-9, (t - this.lastLogTime) / 1000);
    this.lastLogTime = t;
    this.lastLogStep = this.step;
    // The values of the step that just ran: the counter has already moved on to the next one.
    const stepLive = this.stepLive(this.step - 1);
    const { total_loss, recon_loss, sparsity_loss, aux_loss, guidance_loss, l0, err, xsq, centered, dead, threshold_mean, nonfinite_params, ...extra } = s;
    const row: MetricRow = {
      step: this.step,
      total_loss,
      recon_loss,
      sparsity_loss,
      sparsity_l0: l0 / this.cfg.d_sae,
      aux_loss,
      guidance_loss,
      l0,
      nmse: err / xsq,
      fve: 1 - err / centered,
      dead_fraction: dead / this.cfg.d_sae,
      dense_fraction: dense,
      lr: stepLive.lr,
      lambda: this.live.lambda,
      lambda_effective: stepLive.lambda,
      target_l0: this.live.targetL0,
      k: this.live.k,
      bandwidth: this.live.bandwidth,
      threshold: this.live.threshold,
      threshold_mean,
      tokens_per_s: tokensPerS,
      elapsed_s: (t - this.startTime) / 1000,
      ...extra,
    };
    this.rows.push(row);
    if (!Number.isFinite(row.total_loss)) {
      throw new DivergenceError(this.step, `the total loss is ${row.total_loss}`);
    }
    if (nonfinite_params > 0) {
      throw new DivergenceError(this.step, `${nonfinite_params.toLocaleString('en-US')} parameter value(s) are NaN or infinite`);
    }
    // The floor keeps data that is all but constant from tripping on noise.
    const reference = (this.reconReference ??= Math.max(row.recon_loss, 1e-6));
    if (row.recon_loss > BLOWUP_FACTOR * reference) {
      throw new DivergenceError(this.step, `the reconstruction loss grew to ${row.recon_loss.toPrecision(3)}, over ${BLOWUP_FACTOR}× its first logged value ${reference.toPrecision(3)}`);
    }
    if (row.recon_loss <= GOOD_FACTOR * reference && now() - this.lastGoodTime >= this.goodSnapshotSeconds * 1000) this.goodDue = true;
    if (this.controllerOn) {
      const frac = row.sparsity_l0;
      const keep = 0.7 ** (this.cfg.log_every / LambdaController.STEPS_PER_UNIT);
      this.l0Ema = this.l0Ema === null ? frac : keep * this.l0Ema + (1 - keep) * frac;
      this.live = { ...this.live, lambda: this.controller.update(this.live.lambda, this.l0Ema, this.live.targetL0, this.cfg.log_every) };
    }
  }

  /** Work due every N steps: validation (AUROC, early stopping), resampling, checkpoints. */
  private async periodic(): Promise<void> {
    const { cfg, step } = this;
    const last = step === cfg.steps;
    const wantsValidation = this.guidance.length > 0 || cfg.early_stopping_patience > 0;
    if (wantsValidation && (step - this.lastValStep >= cfg.val_every || last)) {
      this.lastValStep = step;
      await this.validate();
    }
    if (cfg.resample_dead_every > 0 && this.variant.resampleDead && step % cfg.resample_dead_every === 0 && !last) {
      await this.resampleDead();
    }
    if (cfg.checkpoint_every > 0 && step % cfg.checkpoint_every === 0) {
      this.checkpoints.push({ step, tensors: await this.exportTensors() });
    }
  }

  /** Validation loss (early stopping) and guidance AUROC, attached to the latest logged row. */
  private async validate(): Promise<void> {
    const { data } = this;
    if (data.valRows === 0) return;
    const n = Math.min(data.valRows, MAX_VALIDATION_ROWS);
    const width = data.dIn * data.nLayers;
    const live = this.live;
    let lossSum = 0;
    const cols = this.guidance.map(() => new Float32Array(n));
    const chunk = Math.max(1, Math.min(this.cfg.batch_size, 4096));
    for (let start = 0; start < n; start += chunk) {
      const m = Math.min(chunk, n - start);
      const out = tf.tidy(() => {
        const x = tf.tensor2d(data.val.subarray(start * width, (start + m) * width), [m, width]);
        const parts = this.variant.loss(this.params, x, live, { deadMask: tf.zeros([this.cfg.d_sae]) as tf.Tensor1D, step: this.step, seed: this.cfg.seed });
        // Guidance AUROC scores rows by their inference latents (no inference pass without targets).
        const f = this.guidance.length ? this.reconstruct(x, live).f : null;
        return [tf.mul(parts.total, m), ...this.guidance.map((g) => latentPerInputRow(f!, g.target.latent, m))];
      });
      const values = await Promise.all(out.map((t) => t.data()));
      out.forEach((t) => t.dispose());
      lossSum += values[0][0];
      cols.forEach((c, i) => c.set(values[i + 1], start));
    }
    const valLoss = lossSum / n;
    const row = this.rows[this.rows.length - 1];
    if (row && row.step === this.step) {
      row.val_loss = valLoss;
      this.guidance.forEach((g, i) => {
        const labels = labelsOfRows(g, data.valIds, n);
        row[`guidance_${g.target.id}_auroc`] = auroc(cols[i], labels);
      });
    }
    if (this.cfg.early_stopping_patience > 0) {
      // While the controller is still moving λ, validation losses of different steps weigh sparsity
      // differently and cannot be compared: early stopping starts counting once L0 is on target.
      const row = this.rows[this.rows.length - 1];
      const onTarget = !this.controllerOn || (row !== undefined && Math.abs(row.sparsity_l0 - this.live.targetL0) < L0_TARGET_TOLERANCE);
      if (onTarget) this.earlyStopping(valLoss);
      else this.earlyStopper = new EarlyStopper(this.cfg.early_stopping_patience);
    }
  }

  private earlyStopping(valLoss: number): void {
    const verdict = this.earlyStopper.update(valLoss);
    if (verdict === 'improved' || !this.bestVal) {
      if (this.bestVal) Object.values(this.bestVal.params).forEach((t) => t.dispose());
      const params: Record<string, tf.Tensor> = {};
      for (const [name, v] of Object.entries(this.params)) params[name] = tf.clone(v);
      this.bestVal = { loss: valLoss, step: this.step, params };
      return;
    }
    if (verdict === 'wait') return;
    for (const [name, t] of Object.entries(this.bestVal.params)) this.params[name].assign(t);
    this.earlyStoppedAt = this.bestVal.step;
    this.events.push({ step: this.step, changes: {}, note: `early stopping: the validation loss has not improved for ${this.cfg.early_stopping_patience} validations; kept the weights of step ${this.bestVal.step}` });
  }

  /**
   * Re-initialise latents that are dead now: each takes the direction (x − b_dec) of a training row
   * drawn with probability ∝ its squared reconstruction error, and its optimiser moments restart.
   */
  private async resampleDead(): Promise<void> {
    const deadArr = await tf.tidy(() => tf.greaterEqual(this.tokensSinceFired, this.cfg.dead_tokens_window)).data();
    const dead: number[] = [];
    deadArr.forEach((v, i) => { if (v) dead.push(i); });
    if (dead.length === 0) return;
    const { data } = this;
    const width = data.dIn * data.nLayers;
    const n = Math.min(data.trainRows, 4096);
    const rowIds = Array.from({ length: n }, () => this.rng.int(data.trainRows));
    const xs = new Float32Array(n * width);
    rowIds.forEach((r, i) => xs.set(data.train.subarray(r * width, (r + 1) * width), i * width));
    const errT = tf.tidy(() => {
      const x = tf.tensor2d(xs, [n, width]);
      const r = this.reconstruct(x, this.live);
      return tf.sum(tf.squaredDifference(r.target, r.xHat), 1);
    });
    const err = await errT.data();
    errT.dispose();
    const bDec = await this.params.b_dec.data();
    const weights = Array.from(err, (e) => e * e);
    const total = weights.reduce((a, b) => a + b, 0);
    const directions = new Float32Array(dead.length * width);
    dead.forEach((_, i) => {
      let u = this.rng.next() * total, pick = 0;
      while (pick < n - 1 && u >= weights[pick]) { u -= weights[pick]; pick += 1; }
      for (let j = 0; j < width; j++) directions[i * width + j] = xs[pick * width + j] - (bDec.length === width ? bDec[j] : 0);
    });
    this.variant.resampleDead?.(this.params, dead, directions);
    this.adam.resetLatents(dead, this.cfg.d_sae);
    tf.tidy(() => {
      const mask = tf.tensor1d(Float32Array.from(deadArr, (v) => (v ? 0 : 1)));
      this.tokensSinceFired.assign(tf.mul(this.tokensSinceFired, mask));
    });
    this.resampled.push({ step: this.step, latents: dead.length });
    this.events.push({ step: this.step, changes: {}, note: `resampled ${dead.length} dead latent(s)` });
  }

  private reconstruct(x: tf.Tensor2D, live: LiveParams): Reconstruction {
    if (this.variant.reconstruct) return this.variant.reconstruct(this.params, x, live);
    const f = this.variant.encode(this.params, x, live);
    return { f, xHat: this.variant.decode(this.params, f), target: x };
  }

  /**
   * Reconstructions of raw activation rows xRaw [n, nLayers·d_in] on the raw scale (the input
   * normalisation undone) and which layer of each row they replace [n, nLayers], for splicing
   * into the language model they came from.
   */
  spliceReconstruction(xRaw: tf.Tensor2D): { xHat: tf.Tensor2D; replace: tf.Tensor2D } {
    return tf.tidy(() => {
      const { x, undo } = normalizerOf(this.normalization, xRaw, this.data.dIn, this.data.nLayers);
      if (this.variant.spliceReconstruct) {
        const r = this.variant.spliceReconstruct(this.params, x, this.live);
        return { xHat: undo(r.xHat), replace: r.replace };
      }
      const r = this.reconstruct(x, this.live);
      return { xHat: undo(tf.reshape(r.xHat, xRaw.shape) as tf.Tensor2D), replace: tf.ones([xRaw.shape[0], this.data.nLayers]) as tf.Tensor2D };
    });
  }

  /**
   * Latent activations f [n, d_sae] of raw input rows [n, nLayers·d_in] (normalised as in training),
   * one row per input row: for MLSAE, whose layers are separate rows of f, the max over layers.
   */
  async latentsOfRows(raw: Float32Array, n: number): Promise<Float32Array> {
    const width = this.data.dIn * this.data.nLayers;
    if (raw.length !== n * width) throw new Error(`latentsOfRows: ${raw.length} values for ${n} rows of width ${width}`);
    const x = applyNormalization(this.normalization, raw, n, this.data.dIn, this.data.nLayers);
    const f = tf.tidy(() => {
      const r = this.reconstruct(tf.tensor2d(x, [n, width]), this.live);
      const perRow = r.f.shape[0] / n;
      return perRow === 1 ? r.f : tf.max(tf.reshape(r.f, [n, perRow, this.cfg.d_sae]), 1);
    });
    const values = (await f.data()) as Float32Array;
    f.dispose();
    return values;
  }

  /** Whether all layers are spliced in one pass (the variant chooses per row) or one at a time. */
  get splicesTogether(): boolean { return this.variant.spliceReconstruct !== undefined; }

  /** Metrics on the validation split (or, with no validation rows, on the train split). */
  async evaluate(): Promise<EvalDetails> {
    // Targets set after the last step still get their validation numbers.
    if (this.pendingGuidance) this.applyPending();
    const useVal = this.data.valRows > 0;
    const data = useVal ? this.data.val : this.data.train;
    const rows = useVal ? this.data.valRows : this.data.trainRows;
    const ids = useVal ? this.data.valIds : this.data.trainIds;
    const width = this.data.dIn * this.data.nLayers;
    const dSae = this.cfg.d_sae;
    const sums: ReconstructionSums = { rows, errSq: 0, xSq: 0, centeredSq: 0, relErrSum: 0 };
    let targetWidth = 0;
    let colSum = new Float64Array(0);
    const fired = new Float64Array(dSae);
    let activeTotal = 0;
    let fRowsTotal = 0;
    const guidanceCols = this.guidance.map(() => new Float32Array(rows));
    const chunk = Math.max(1, Math.min(this.cfg.batch_size, 4096));
    for (let start = 0; start < rows; start += chunk) {
      const n = Math.min(chunk, rows - start);
      const out = tf.tidy(() => {
        const x = tf.tensor2d(data.subarray(start * width, (start + n) * width), [n, width]);
        const r = this.reconstruct(x, this.live);
        return [
          tf.sum(tf.squaredDifference(r.target, r.xHat), 1),
          tf.sum(tf.square(r.target), 1),
          tf.sum(r.target, 0),
          tf.sum(isPositive(r.f), 0),
          tf.scalar(r.f.shape[0]),
          ...this.guidance.map((g) => latentPerInputRow(r.f, g.target.latent, n)),
        ];
      });
      const [rowErr, rowSq, targetSum, firedCount, fRows, ...cols] = await Promise.all(out.map((t) => t.data()));
      out.forEach((t) => t.dispose());
      if (colSum.length === 0) { targetWidth = targetSum.length; colSum = new Float64Array(targetWidth); }
      for (let j = 0; j < targetWidth; j++) colSum[j] += targetSum[j];
      for (let i = 0; i < n; i++) {
        sums.errSq += rowErr[i];
        sums.xSq += rowSq[i];
        sums.relErrSum += rowSq[i] > 0 ? rowErr[i] / rowSq[i] : 0;
      }
      for (let j = 0; j < dSae; j++) { fired[j] += firedCount[j]; activeTotal += firedCount[j]; }
      fRowsTotal += fRows[0];
      cols.forEach((c, i) => guidanceCols[i].set(c, start));
    }
    // Σ||t − t̄||² = Σ||t||² − n·||t̄||²
    let meanSq = 0;
    for (let j = 0; j < targetWidth; j++) meanSq += (colSum[j] / rows) ** 2;
    sums.centeredSq = sums.xSq - rows * meanSq;
    let dead = 0;
    for (let j = 0; j < dSae; j++) if (fired[j] === 0) dead += 1;
    const l0 = activeTotal / fRowsTotal;
    const metrics: EvalMetrics = {
      nmse: nmse(sums),
      fve: fve(sums),
      nmse_per_token: nmsePerToken(sums),
      l0,
      l0_fraction: l0 / dSae,
      dead_fraction: dead / dSae,
      steps: this.step,
      tokens_per_s: this.activeSeconds > 0 ? (this.step * this.cfg.batch_size) / this.activeSeconds : 0,
      backend: this.backend,
    };
    if (this.guidance.length) {
      metrics.guidance = this.guidance.map((g, i): GuidanceEval => {
        const labels = labelsOfRows(g, ids, rows);
        let pos = 0, neg = 0, nPos = 0, nNeg = 0;
        guidanceCols[i].forEach((v, r) => { if (labels[r] > 0.5) { pos += v; nPos++; } else { neg += v; nNeg++; } });
        return { id: g.target.id, latent: g.target.latent, auroc: auroc(guidanceCols[i], labels), mean_pos: nPos ? pos / nPos : 0, mean_neg: nNeg ? neg / nNeg : 0 };
      });
    }
    if (this.earlyStoppedAt !== null) metrics.early_stopped_at = this.earlyStoppedAt;
    const gt = this.data.groundTruth;
    if (gt && this.variant.decoderRowsInInputSpace !== false && this.params.W_dec?.shape.length === 2 && this.params.W_dec.shape[1] === this.data.dIn) {
      const wDec = (await this.params.W_dec.data()) as Float32Array;
      metrics.feature_recovery = featureRecovery(gt.dictionary, gt.nFeatures, wDec, dSae, this.data.dIn);
    }
    return { metrics, firingFraction: Float32Array.from(fired, (c) => c / fRowsTotal) };
  }

  /** The variant's export tensors read back to plain arrays, SAELens names and shapes. */
  async exportTensors(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    const paramSet = new Set<tf.Tensor>(Object.values(this.params));
    for (const [name, t] of Object.entries(this.variant.exportTensors(this.params))) {
      out[name] = { shape: t.shape.slice(), data: Float32Array.from(await t.data()) };
      if (!paramSet.has(t)) t.dispose();
    }
    return out;
  }

  /**
   * Replace the parameters with saved tensors (SAELens names). Every exported tensor must be
   * present with the shape this config implies; anything else is a clear error.
   */
  loadTensors(tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
    const expected = this.variant.exportTensors(this.params);
    const paramSet = new Set<tf.Tensor>(Object.values(this.params));
    try {
      for (const [name, target] of Object.entries(expected)) {
        const src = tensors[name];
        if (!src) throw new Error(`the saved SAE has no tensor "${name}", which a ${this.cfg.architecture} SAE needs.`);
        if (src.shape.join(',') !== target.shape.join(',')) {
          throw new Error(`tensor "${name}" has shape [${src.shape}] but this ${this.cfg.architecture} SAE needs [${target.shape}].`);
        }
        const param = this.params[name];
        if (param) tf.tidy(() => param.assign(tf.tensor(src.data, param.shape)));
      }
    } finally {
      for (const t of Object.values(expected)) if (!paramSet.has(t)) t.dispose();
    }
    this.variant.loadState?.(tensors);
    // A JumpReLU's threshold slider starts at the loaded thresholds' mean.
    if (this.variant.learnsThreshold && tensors.threshold) {
      const th = tensors.threshold.data;
      this.live = { ...this.live, threshold: th.reduce((a, b) => a + b, 0) / th.length };
    }
  }

  /** cfg.json fields of the variant (architecture name and its extras). */
  saelensConfig(): { architecture: string } & Record<string, unknown> {
    return this.variant.saelensConfig(this.cfg, this.live);
  }

  // ---- saving and restoring the state ------------------------------------------------------------

  private meta(): TrainerMeta {
    return {
      version: 1,
      architecture: this.cfg.architecture,
      step: this.step,
      live: { ...this.live },
      pendingLive: { ...this.pendingLive },
      guidance: this.guidanceTargets,
      l0Ema: this.l0Ema,
      controller: this.controller.state,
      fRowsSinceLog: this.fRowsSinceLog,
      lastLogStep: this.lastLogStep,
      lastValStep: this.lastValStep,
      activeSeconds: this.activeSeconds,
      earlyStopper: this.earlyStopper.state,
      earlyStoppedAt: this.earlyStoppedAt,
      bestVal: this.bestVal ? { loss: this.bestVal.loss, step: this.bestVal.step } : null,
      resampled: this.resampled.map((r) => ({ ...r })),
      rng: this.rng.state(),
      sampler: this.sampler?.state() ?? null,
      adamStep: this.adam.stepCount,
      reconReference: this.reconReference,
    };
  }

  /** The tensors of the state, by name (the live ones: callers copy them). */
  private stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const [name, v] of Object.entries(this.params)) out[`param/${name}`] = v;
    for (const [name, v] of Object.entries(this.adam.moments)) out[`adam/${name}`] = v;
    out.tokensSinceFired = this.tokensSinceFired;
    out.firedSinceLog = this.firedSinceLog;
    if (this.bestVal) for (const [name, t] of Object.entries(this.bestVal.params)) out[`best/${name}`] = t;
    return out;
  }

  /** A copy of the state on the device. Dispose it with `disposeSnapshot`. */
  snapshot(): TrainerSnapshot {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(this.stateTensors())) tensors[name] = tf.clone(t);
    // State a variant keeps outside Params (BatchTopK's θ_g) is exported fresh: not a param.
    const paramSet = new Set<tf.Tensor>(Object.values(this.params));
    for (const [name, t] of Object.entries(this.variant.exportTensors(this.params))) {
      if (paramSet.has(t)) continue;
      if (this.variant.loadState) tensors[`variant/${name}`] = t;
      else t.dispose(); // an export-only form (e.g. a transpose), rebuilt from the params
    }
    return { meta: this.meta(), tensors };
  }

  /** The state as plain arrays (for the autosave), read from the device in one pass. */
  async saveState(): Promise<SavedTrainerState> {
    const snap = this.snapshot();
    try {
      const tensors: SavedTrainerState['tensors'] = {};
      for (const [name, t] of Object.entries(snap.tensors)) tensors[name] = { shape: t.shape.slice(), data: Float32Array.from(await t.data()) };
      return { meta: snap.meta, tensors };
    } finally {
      disposeSnapshot(snap);
    }
  }

  /**
   * Continue from a saved state of a run with the same config and data. `guidance` gives the
   * targets' labels (resolved from `state.meta.guidance`); `keepLive` leaves the live parameters as
   * they are now (rolling back a diverged run keeps the values the user just set).
   */
  restore(state: TrainerSnapshot | SavedTrainerState, opts: { guidance?: ResolvedGuidance[]; keepLive?: boolean } = {}): void {
    const { meta, tensors } = state;
    if (meta.version !== 1) throw new Error(`saved state version ${String(meta.version)} is not supported.`);
    if (meta.architecture !== this.cfg.architecture) throw new Error(`the saved state is of a ${meta.architecture} run, not ${this.cfg.architecture}.`);
    const targets = this.stateTensors();
    const check = (name: string, shape: number[]) => {
      const src = tensors[name];
      if (!src) throw new Error(`the saved state has no tensor ${name}; it belongs to another kind of run.`);
      if (src.shape.join(',') !== shape.join(',')) throw new Error(`saved tensor ${name} has shape [${src.shape}] but this run needs [${shape}]; the config or the data differ.`);
    };
    // A tensor of the saved state: the snapshot's own (not to be disposed) or a new one from arrays.
    const toTensor = (name: string, shape: number[]) => {
      check(name, shape);
      const src = tensors[name];
      return src instanceof tf.Tensor ? src : tf.tensor(src.data, src.shape);
    };
    // Check every shape before anything changes.
    for (const [name, t] of Object.entries(targets)) if (!name.startsWith('best/')) check(name, t.shape);
    if (meta.bestVal) for (const [name, v] of Object.entries(this.params)) check(`best/${name}`, v.shape);
    tf.tidy(() => {
      for (const [name, t] of Object.entries(targets)) {
        if (!name.startsWith('best/')) (t as tf.Variable).assign(toTensor(name, t.shape));
      }
    });
    if (this.bestVal) Object.values(this.bestVal.params).forEach((t) => t.dispose());
    this.bestVal = null;
    if (meta.bestVal) {
      const params: Record<string, tf.Tensor> = {};
      for (const [name, v] of Object.entries(this.params)) {
        const src = toTensor(`best/${name}`, v.shape);
        params[name] = src instanceof tf.Tensor && tensors[`best/${name}`] === src ? tf.clone(src) : src;
      }
      this.bestVal = { ...meta.bestVal, params };
    }
    const variantState: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(tensors)) {
      if (!name.startsWith('variant/')) continue;
      variantState[name.slice('variant/'.length)] = t instanceof tf.Tensor ? { shape: t.shape.slice(), data: t.dataSync() as Float32Array } : t;
    }
    if (Object.keys(variantState).length) this.variant.loadState?.(variantState);
    this.step = meta.step;
    if (!opts.keepLive) {
      this.live = { ...meta.live };
      this.pendingLive = { ...meta.pendingLive };
    }
    if (opts.guidance) { this.guidance = opts.guidance; this.pendingGuidance = null; }
    this.l0Ema = meta.l0Ema;
    this.controller.state = meta.controller;
    this.fRowsSinceLog = meta.fRowsSinceLog;
    this.lastLogStep = meta.lastLogStep;
    this.lastLogTime = now();
    this.lastValStep = meta.lastValStep;
    this.activeSeconds = meta.activeSeconds;
    this.earlyStopper.state = meta.earlyStopper;
    this.earlyStoppedAt = meta.earlyStoppedAt;
    this.resampled.splice(0, this.resampled.length, ...meta.resampled);
    this.rng.restore(meta.rng);
    if (this.sampler && meta.sampler) this.sampler.restore(meta.sampler);
    this.adam.stepCount = meta.adamStep;
    this.reconReference = meta.reconReference ?? null;
    this.rows = [];
    this.checkpoints = [];
  }

  private keepGoodState(): void {
    this.goodDue = false;
    if (this.lastGood) disposeSnapshot(this.lastGood);
    this.lastGood = this.snapshot();
    this.lastGoodTime = now();
  }

  /** Step of the last state known to be finite, or null before the first finite log step. */
  get lastGoodStep(): number | null { return this.lastGood?.meta.step ?? null; }

  /**
   * Back to the last finite state (after a DivergenceError), keeping the live parameters as they
   * are. Returns its step, or null when there is none (the run diverged before its first good log).
   */
  rollback(): number | null {
    this.goodDue = false;
    if (!this.lastGood) return null;
    this.restore(this.lastGood, { keepLive: true });
    this.events.push({ step: this.step, changes: {}, note: `rolled back to step ${this.step}, the last healthy state` });
    return this.step;
  }

  dispose(): void {
    if (this.lastGood) disposeSnapshot(this.lastGood);
    this.lastGood = null;
    for (const v of Object.values(this.params)) v.dispose();
    this.adam.dispose();
    this.variant.dispose?.();
    this.tokensSinceFired.dispose();
    this.firedSinceLog.dispose();
    if (this.bestVal) Object.values(this.bestVal.params).forEach((t) => t.dispose());
  }
}

export function disposeSnapshot(s: TrainerSnapshot): void {
  for (const t of Object.values(s.tensors)) t.dispose();
}

/**
 * The latents guidance losses see: the value of f, but where a latent is not firing the part of its
 * gradient that would raise it goes straight through to the pre-activation. Through f alone a
 * latent that TopK or a threshold has switched off on a row gets no gradient there, so guidance
 * could only reshape rows where the latent already fires; the straight-through path lets it learn
 * to fire on its positive rows. Only the upward part passes: pushing an inactive latent further
 * below zero on negative rows changes nothing it outputs and would only drag its encoder direction
 * away from the bulk of the data. The values, and so the logged losses, are f's.
 */
export function guidedLatents(p: LossParts): tf.Tensor2D {
  const pre = p.pre;
  if (!pre) return p.f;
  const inactive = constant((f) => tf.equal(f, 0).toFloat(), p.f);
  return tf.add(p.f, tf.mul(inactive, upwardGradientOnly(tf.sub(pre, stopGradient(pre)) as tf.Tensor2D))) as tf.Tensor2D;
}

/** Identity whose backward pass keeps only gradients that raise the input (dy < 0 under descent). */
function upwardGradientOnly(x: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((input: tf.Tensor) => ({
    value: tf.clone(input),
    gradFunc: (dy: tf.Tensor) => [tf.minimum(dy, 0)],
  })) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(x) as tf.Tensor2D;
}

/**
 * Labels [B] of a batch spread over the latent rows: f has r = fRows / B rows per input row
 * (MLSAE: one per layer, row b·r + l), each labelled like its input row.
 */
function labelsPerLatentRow(labels: tf.Tensor1D, fRows: number): tf.Tensor1D {
  const B = labels.shape[0];
  if (fRows === B) return labels;
  return tf.reshape(tf.tile(tf.reshape(labels, [B, 1]), [1, fRows / B]), [fRows]) as tf.Tensor1D;
}

/** One latent's activation per input row [rows] (the max over its layer rows when f has several). */
function latentPerInputRow(f: tf.Tensor2D, latent: number, rows: number): tf.Tensor1D {
  return tf.max(tf.reshape(tf.slice(f, [0, latent], [-1, 1]), [rows, f.shape[0] / rows]), 1) as tf.Tensor1D;
}

/** A target's labels for the first n rows of a split whose rows are dataset rows `ids` (or 0..n−1). */
function labelsOfRows(g: ResolvedGuidance, ids: Uint32Array | undefined, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, r) => g.labels[ids ? ids[r] : r]);
}

/** Patience-based early stopping on a loss that should fall (config `early_stopping_patience`). */
export class EarlyStopper {
  private best = Infinity;
  private bad = 0;
  constructor(private readonly patience: number) {}
  get state(): { best: number; bad: number } { return { best: this.best, bad: this.bad }; }
  set state(s: { best: number; bad: number }) { this.best = s.best; this.bad = s.bad; }
  /** `improved` (a new best), `wait`, or `stop` once `patience` checks in a row did not improve. */
  update(loss: number): 'improved' | 'wait' | 'stop' {
    if (loss < this.best) { this.best = loss; this.bad = 0; return 'improved'; }
    this.bad += 1;
    return this.patience > 0 && this.bad >= this.patience ? 'stop' : 'wait';
  }
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

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
