// The training loop: the Trainer, which holds a run's state and runs its steps; its pieces live beside it.
// They are trainStep, stepLogging, lambdaController, liveParams, resampling, trainerEvaluation,
// saelensTensors, divergence, trainerState, trainerGuidance, inference and trainerData (src/engine).
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam';
import { applyLive, initialLive, SPARSITY_KIND, type GuidanceTarget, type LiveParams, type SaeConfig } from './config';
import { auroc, L0_TARGET_TOLERANCE } from './metrics';
import { applyNormalization, fitNormalization, type Normalization } from './normalize';
import { createRng, type Rng } from './rng';
import { variantFor } from './variants/registry';
import type { Params, Variant } from './variants/types';
import { BatchSampler } from './batchSampler';
import type { LiveEvent, MetricRow } from './types';
import { checkDivergence, GOOD_COPY_SHARE, GOOD_SNAPSHOT_SECONDS, isHealthy } from './divergence';
import { latentsOfRows, spliceReconstruction } from './inference';
import { LambdaController } from './lambdaController';
import { applyResampling, planResampling } from './resampling';
import { exportSaeTensors, loadedThresholdMean, loadSaeTensors, type Checkpoint } from './saelensTensors';
import { metricRow, readStats } from './stepLogging';
import { computeDataStats, type TrainerRows, type TrainingData } from './trainerData';
import { EarlyStopper, evaluateSae, validationPass, type EvalDetails } from './trainerEvaluation';
import { checkGuidance, labelsOfRows, type ResolvedGuidance } from './trainerGuidance';
import { copyStateTensors, disposeSnapshot, isDeviceSnapshot, readSnapshot, readStateNow, readsWithoutWaiting, restoreTensors, restoreVariantState, savedBest, stateTensors, type SavedTrainerState, type TrainerMeta, type TrainerSnapshot } from './trainerState';
import { acceptedChanges, scheduledLive } from './liveParams';
import { plansSparseStep, planSparseStep, trainStep, type PlannedStep, type StepState } from './trainStep';

// What other files import from here; the pieces live in the modules named.
export { BLOWUP_FACTOR, DivergenceError } from './divergence';
export { LambdaController } from './lambdaController';
export type { Checkpoint } from './saelensTensors';
export { computeDataStats, type BatchStream, type TrainingData } from './trainerData';
export { EarlyStopper, type EvalDetails } from './trainerEvaluation';
export { guidedLatents, type ResolvedGuidance } from './trainerGuidance';
export { disposeSnapshot, type SavedTrainerState, type TrainerMeta, type TrainerSnapshot } from './trainerState';
export { lrFactor } from './liveParams';
export { clipByGlobalNorm } from './trainStep';

export class Trainer {
  readonly cfg: SaeConfig;
  readonly variant: Variant<SaeConfig>;
  readonly params: Params;
  readonly normalization: Normalization;
  /** The rows after input normalisation (what the SAE sees). */
  readonly data: TrainerRows;
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
  /** The last step's fraction of active latents, where it is read (StepContext.activeFraction). */
  private activeFraction: number | undefined;
  /** Steps taken with the sparse products (ops/sparse.ts). */
  sparseSteps = 0;

  /** The last step's fraction of active latents, where the step read it (wasm, cpu). */
  get lastActiveFraction(): number | undefined {
    return this.activeFraction;
  }
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
  private lastGood: TrainerSnapshot | SavedTrainerState | null = null;
  private lastGoodTime = -Infinity;
  /** How long taking the last of those copies took (ms), when it was read into arrays. */
  private lastGoodCopyMs = 0;
  /** Seconds between those copies (tests set 0: a copy at every finite log step). */
  goodSnapshotSeconds = GOOD_SNAPSHOT_SECONDS;
  /**
   * Keep that copy on the device rather than as arrays. By default (undefined) only where reads wait
   * for a device (webgpu, webgl); on wasm and cpu it is read into arrays (trainerState.ts readsWithoutWaiting).
   */
  goodStateOnDevice?: boolean;
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
    checkGuidance(targets, this.data, this.cfg.d_sae);
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
        const batch = this.sampler ? this.sampler.next() : await this.nextStreamed();
        const batchRows = this.sampler ? this.sampler.lastRows : this.data.stream!.lastRows;
        const state = this.stepState();
        // Where the sparse selections' widths must be known before the step (webgpu), they are read
        // here without blocking (trainStep.ts planSparseStep); elsewhere nothing is awaited.
        const planned = plansSparseStep(state) ? await planSparseStep(state, batch, this.data.dIn * this.data.nLayers) : undefined;
        const stats = this.trainStep(state, batch, batchRows, this.sampler ? this.data.trainIds : undefined, logNow, planned);
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
    const changes = acceptedChanges(this.pendingLive, this.live, this.cfg.d_sae, this.kFollowsTarget);
    this.pendingLive = {};
    if (Object.keys(changes).length === 0) return;
    const prev = this.live;
    this.live = { ...prev, ...changes };
    this.variant.applyLive?.(this.params, prev, this.live);
    this.events.push({ step: this.step, changes });
  }

  private get isPenalty(): boolean { return SPARSITY_KIND[this.cfg.architecture] === 'penalty'; }
  private get kFollowsTarget(): boolean { return !this.isPenalty && this.cfg.sparsity_mode === 'target_l0'; }
  private get controllerOn(): boolean { return this.isPenalty && this.cfg.sparsity_mode === 'target_l0'; }

  /** The next streamed batch, normalised like the in-memory rows. */
  private async nextStreamed(): Promise<Float32Array> {
    const raw = await this.data.stream!.next();
    const width = this.data.dIn * this.data.nLayers;
    return applyNormalization(this.normalization, raw, raw.length / width, this.data.dIn, this.data.nLayers);
  }

  /** What the next step reads and updates (trainStep.ts StepState). */
  private stepState(): StepState {
    const { cfg, variant, params, adam, tokensSinceFired, firedSinceLog, guidance, step } = this;
    const live = scheduledLive(cfg, this.live, step);
    return { cfg, variant, params, adam, tokensSinceFired, firedSinceLog, guidance, step, live, activeFraction: this.activeFraction };
  }

  /** One optimiser step (trainStep.ts), with its plan where it has one; on log steps returns the named stats to read. */
  private trainStep(state: StepState, batch: Float32Array, batchRows: Uint32Array, rowIds: Uint32Array | undefined, log: boolean, planned: PlannedStep | undefined): Record<string, tf.Tensor> | undefined {
    const out = trainStep(state, batch, this.data.dIn * this.data.nLayers, batchRows, rowIds, log, planned);
    this.activeFraction = state.activeFraction;
    if (out.sparse) this.sparseSteps += 1;
    this.fRowsSinceLog += out.fRows;
    return out.stats;
  }

  private async logStep(stats: Record<string, tf.Tensor>): Promise<void> {
    const { values, dense } = await readStats(stats, this.firedSinceLog, this.fRowsSinceLog);
    tf.tidy(() => this.firedSinceLog.assign(tf.zerosLike(this.firedSinceLog)));
    this.fRowsSinceLog = 0;
    const t = now();
    const tokens = (this.step - this.lastLogStep) * this.cfg.batch_size;
    const tokensPerS = tokens / Math.max(1e-9, (t - this.lastLogTime) / 1000);
    this.lastLogTime = t;
    this.lastLogStep = this.step;
    // The values of the step that just ran: the counter has already moved on to the next one.
    const stepLive = scheduledLive(this.cfg, this.live, this.step - 1);
    const { row, nonfiniteParams } = metricRow(values, dense, { step: this.step, dSae: this.cfg.d_sae, live: this.live, stepLive, tokensPerS, elapsedS: (t - this.startTime) / 1000 });
    this.rows.push(row);
    const reference = (this.reconReference = checkDivergence(this.step, row, nonfiniteParams, this.reconReference));
    if (isHealthy(row.recon_loss, reference) && now() - this.lastGoodTime >= this.goodStateIntervalMs()) this.goodDue = true;
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
    const guidance = this.guidance;
    const v = await validationPass(this, this.live, this.step, guidance);
    if (!v) return;
    const row = this.rows[this.rows.length - 1];
    if (row && row.step === this.step) {
      row.val_loss = v.loss;
      guidance.forEach((g, i) => {
        const labels = labelsOfRows(g, this.data.valIds, v.rows);
        row[`guidance_${g.target.id}_auroc`] = auroc(v.scores[i], labels);
      });
    }
    if (this.cfg.early_stopping_patience > 0) {
      // While the controller is still moving λ, validation losses of different steps weigh sparsity
      // differently and cannot be compared: early stopping starts counting once L0 is on target.
      const onTarget = !this.controllerOn || (row !== undefined && Math.abs(row.sparsity_l0 - this.live.targetL0) < L0_TARGET_TOLERANCE);
      if (onTarget) this.earlyStopping(v.loss);
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

  /** Re-initialise the latents that are dead now (resampling.ts); their optimiser moments restart. */
  private async resampleDead(): Promise<void> {
    const plan = await planResampling(this, this.live, this.tokensSinceFired, this.rng);
    if (!plan) return;
    await applyResampling(this, plan, this.adam, this.tokensSinceFired);
    this.resampled.push({ step: this.step, latents: plan.dead.length });
    this.events.push({ step: this.step, changes: {}, note: `resampled ${plan.dead.length} dead latent(s)` });
  }

  /**
   * Reconstructions of raw activation rows xRaw [n, nLayers·d_in] on the raw scale (the input
   * normalisation undone) and which layer of each row they replace [n, nLayers], for splicing
   * into the language model they came from.
   */
  spliceReconstruction(xRaw: tf.Tensor2D): { xHat: tf.Tensor2D; replace: tf.Tensor2D } {
    return spliceReconstruction(this, this.live, xRaw);
  }

  /**
   * Latent activations f [n, d_sae] of raw input rows [n, nLayers·d_in] (normalised as in training),
   * one row per input row: for MLSAE, whose layers are separate rows of f, the max over layers.
   */
  latentsOfRows(raw: Float32Array, n: number): Promise<Float32Array> {
    return latentsOfRows(this, this.live, raw, n);
  }

  /** Whether all layers are spliced in one pass (the variant chooses per row) or one at a time. */
  get splicesTogether(): boolean { return this.variant.spliceReconstruct !== undefined; }

  /** Metrics on the validation split (or, with no validation rows, on the train split). */
  async evaluate(): Promise<EvalDetails> {
    // Targets set after the last step still get their validation numbers.
    if (this.pendingGuidance) this.applyPending();
    const tokensPerS = this.activeSeconds > 0 ? (this.step * this.cfg.batch_size) / this.activeSeconds : 0;
    return evaluateSae(this, this.live, this.guidance, { steps: this.step, tokensPerS, backend: this.backend, earlyStoppedAt: this.earlyStoppedAt });
  }

  /** The variant's export tensors read back to plain arrays, SAELens names and shapes. */
  exportTensors(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    return exportSaeTensors(this);
  }

  /**
   * Replace the parameters with saved tensors (SAELens names). Every exported tensor must be
   * present with the shape this config implies; anything else is a clear error.
   */
  loadTensors(tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
    loadSaeTensors(this, tensors);
    // A JumpReLU's threshold slider starts at the loaded thresholds' mean.
    const threshold = loadedThresholdMean(this, tensors);
    if (threshold !== null) this.live = { ...this.live, threshold };
  }

  /** cfg.json fields of the variant (architecture name and its extras). */
  saelensConfig(): { architecture: string } & Record<string, unknown> {
    return this.variant.saelensConfig(this.cfg, this.live);
  }

  // ---- saving and restoring the state (trainerState.ts) --------------------------------------------

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
    const { params, adam, tokensSinceFired, firedSinceLog } = this;
    return stateTensors({ params, adam, tokensSinceFired, firedSinceLog, best: this.bestVal?.params ?? null });
  }

  /** A copy of the state on the device. Dispose it with `disposeSnapshot`. */
  snapshot(): TrainerSnapshot {
    const tensors = copyStateTensors(this.stateTensors(), this);
    return { meta: this.meta(), tensors };
  }

  /**
   * The state as plain arrays (for the autosave), read from the device in one pass; at once where
   * reads do not wait, so that no copy of it is held on the device while training goes on.
   */
  async saveState(): Promise<SavedTrainerState> {
    return readsWithoutWaiting(this.backend) ? readStateNow(this.meta(), this.stateTensors(), this) : readSnapshot(this.snapshot());
  }

  /**
   * Continue from a saved state of a run with the same config and data. `guidance` gives the
   * targets' labels (resolved from `state.meta.guidance`); `keepLive` leaves the live parameters as
   * they are now (rolling back a diverged run keeps the values the user just set).
   */
  restore(state: TrainerSnapshot | SavedTrainerState, opts: { guidance?: ResolvedGuidance[]; keepLive?: boolean } = {}): void {
    const { meta } = state;
    restoreTensors(state, this.stateTensors(), this.params, this.cfg.architecture);
    if (this.bestVal) Object.values(this.bestVal.params).forEach((t) => t.dispose());
    this.bestVal = null;
    if (meta.bestVal) this.bestVal = { ...meta.bestVal, params: savedBest(state, this.params) };
    restoreVariantState(state, this.variant);
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
    this.disposeGoodState();
    const began = now();
    const onDevice = this.goodStateOnDevice ?? !readsWithoutWaiting(this.backend);
    this.lastGood = onDevice ? this.snapshot() : readStateNow(this.meta(), this.stateTensors(), this);
    this.lastGoodTime = now();
    this.lastGoodCopyMs = onDevice ? 0 : this.lastGoodTime - began;
  }

  /**
   * Milliseconds between the copies to roll back to: GOOD_SNAPSHOT_SECONDS, or longer where reading
   * them into arrays takes a noticeable share of the time (GPT-2-width weights and moments take
   * ~0.2 s), so that copying costs at most GOOD_COPY_SHARE of training. 0 stays 0 (tests).
   */
  private goodStateIntervalMs(): number {
    return this.goodSnapshotSeconds > 0 ? Math.max(this.goodSnapshotSeconds * 1000, this.lastGoodCopyMs / GOOD_COPY_SHARE) : 0;
  }

  private disposeGoodState(): void {
    if (this.lastGood && isDeviceSnapshot(this.lastGood)) disposeSnapshot(this.lastGood);
    this.lastGood = null;
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
    this.disposeGoodState();
    for (const v of Object.values(this.params)) v.dispose();
    this.adam.dispose();
    this.variant.dispose?.();
    this.tokensSinceFired.dispose();
    this.firedSinceLog.dispose();
    if (this.bestVal) Object.values(this.bestVal.params).forEach((t) => t.dispose());
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
