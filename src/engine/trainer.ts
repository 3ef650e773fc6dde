// The training loop: seeded batches from the train split, the variant's loss, Adam, the variant's
// constraint, dead-latent tracking, live parameter updates at step boundaries, and metrics read
// back from the device only every `log_every` steps (one batched read).
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam';
import { applyLive, initialLive, type LiveParams, type SaeConfig } from './config';
import { centeredSumOfSquares, featureRecovery, fve, nmse, nmsePerToken, type ReconstructionSums } from './metrics';
import { createRng } from './rng';
import { variantFor } from './variants/registry';
import type { DataStats, LossParts, Params, Variant } from './variants/types';
import { BatchSampler } from '../data/dataset';
import type { EvalMetrics, LiveEvent, MetricRow } from '../worker/protocol';

/** The rows the trainer learns from and evaluates on, row-major [rows, dIn]. */
export interface TrainingData {
  train: Float32Array;
  trainRows: number;
  val: Float32Array;
  valRows: number;
  dIn: number;
  /** Planted features of a synthetic dataset [nFeatures, dIn], for feature recovery. */
  groundTruth?: { nFeatures: number; dictionary: Float32Array };
}

/** Raised when a loss turns non-finite; the caller pauses and tells the user. */
export class DivergenceError extends Error {
  constructor(readonly step: number, detail: string) {
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

// Indices into the stats vector read back on log steps.
const S_TOTAL = 0, S_RECON = 1, S_SPARSITY = 2, S_AUX = 3, S_L0 = 4, S_ERR = 5, S_XSQ = 6, S_CENTERED = 7, S_DEAD = 8, S_THETA = 9;

export function computeDataStats(data: Float32Array, rows: number, dIn: number): DataStats {
  const mean = new Float64Array(dIn);
  let normSum = 0;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let j = 0; j < dIn; j++) { const v = data[r * dIn + j]; mean[j] += v; sq += v * v; }
    normSum += Math.sqrt(sq);
  }
  return { dIn, mean: Float32Array.from(mean, (m) => m / rows), meanNorm: normSum / rows };
}

export class Trainer {
  readonly cfg: SaeConfig;
  readonly variant: Variant<SaeConfig>;
  readonly params: Params;
  private live: LiveParams;
  private pendingLive: Partial<LiveParams> = {};
  private readonly adam: Adam;
  private readonly sampler: BatchSampler;
  /** Training tokens seen since each latent last fired [d_sae]. */
  private readonly tokensSinceFired: tf.Variable;
  private step = 0;
  private rows: MetricRow[] = [];
  private events: LiveEvent[] = [];
  private readonly startTime = now();
  private lastLogTime = now();
  private lastLogStep = 0;
  private activeSeconds = 0;

  constructor(cfg: SaeConfig, readonly data: TrainingData, readonly backend: string) {
    if (data.trainRows < 1) throw new Error('the training split is empty; load a file with more rows.');
    this.cfg = cfg;
    this.variant = variantFor(cfg);
    this.live = initialLive(cfg);
    const stats = computeDataStats(data.train, data.trainRows, data.dIn);
    this.params = this.variant.init(cfg, stats, createRng(cfg.seed));
    this.adam = new Adam(this.params, cfg.adam_beta1, cfg.adam_beta2);
    this.sampler = new BatchSampler(data.train, data.trainRows, data.dIn, cfg.batch_size, cfg.seed + 1);
    this.tokensSinceFired = tf.tidy(() => tf.variable(tf.zeros([cfg.d_sae]), false)); // [d_sae]
  }

  get stepCount(): number { return this.step; }
  get totalSteps(): number { return this.cfg.steps; }
  get done(): boolean { return this.step >= this.cfg.steps; }
  get liveParams(): LiveParams { return { ...this.live }; }
  /** Seconds spent inside `runSteps` (excludes pauses). */
  get trainingSeconds(): number { return this.activeSeconds; }

  /** Queue live changes; they take effect at the start of the next step and are logged then. */
  update(changes: Partial<LiveParams>): void {
    Object.assign(this.pendingLive, changes);
  }

  /** The config with the live values folded in (for the run config and cfg.json). */
  currentConfig(): SaeConfig {
    return applyLive(this.cfg, this.live);
  }

  /** Metric rows logged since the last call. */
  takeRows(): MetricRow[] { const r = this.rows; this.rows = []; return r; }
  /** Live-parameter events applied since the last call. */
  takeEvents(): LiveEvent[] { const e = this.events; this.events = []; return e; }

  /** Run up to `n` steps (fewer if the run ends). Throws DivergenceError on a non-finite loss. */
  async runSteps(n: number): Promise<void> {
    const t0 = now();
    try {
      for (let i = 0; i < n && !this.done; i++) {
        this.applyPendingLive();
        const logNow = (this.step + 1) % this.cfg.log_every === 0 || this.step + 1 === this.cfg.steps;
        const stats = this.trainStep(this.sampler.next(), logNow);
        this.step += 1;
        if (stats) await this.logStep(stats);
      }
    } finally {
      this.activeSeconds += (now() - t0) / 1000;
    }
  }

  private applyPendingLive(): void {
    const changes: Partial<LiveParams> = {};
    for (const [key, value] of Object.entries(this.pendingLive) as [keyof LiveParams, number][]) {
      if (typeof value === 'number' && Number.isFinite(value) && value !== this.live[key]) changes[key] = value;
    }
    this.pendingLive = {};
    if (Object.keys(changes).length === 0) return;
    if (changes.k !== undefined) changes.k = Math.max(1, Math.min(this.cfg.d_sae, Math.round(changes.k)));
    const prev = this.live;
    this.live = { ...prev, ...changes };
    this.variant.applyLive?.(this.params, prev, this.live);
    this.events.push({ step: this.step, changes });
  }

  /** One optimiser step on a batch [B * d_in]; on log steps returns the stats vector to read. */
  private trainStep(batch: Float32Array, log: boolean): tf.Tensor1D | undefined {
    const { cfg, variant, params, live } = this;
    const B = batch.length / this.data.dIn;
    return tf.tidy((): tf.Tensor1D | undefined => {
      const x = tf.tensor2d(batch, [B, this.data.dIn]);
      const deadMask = tf.greaterEqual(this.tokensSinceFired, cfg.dead_tokens_window).toFloat() as tf.Tensor1D;
      let parts: LossParts | undefined;
      const { grads } = tf.variableGrads(() => {
        parts = variant.loss(params, x, live, { deadMask });
        // Keep the parts past variableGrads' own scope; disposed below.
        for (const t of [parts.recon, parts.sparsity, parts.aux, parts.f, parts.xHat]) tf.keep(t);
        return parts.total;
      }, Object.values(params));
      const p = parts as LossParts;
      const byName: Record<string, tf.Tensor> = {};
      for (const [name, v] of Object.entries(params)) byName[name] = grads[v.name];
      this.adam.apply(params, byName, live.lr);
      variant.constrain?.(params);

      const active = tf.greater(p.f, variant.learnsThreshold ? 0 : live.threshold).toFloat();
      const firedInBatch = tf.greater(tf.max(active, 0), 0);
      this.tokensSinceFired.assign(tf.where(firedInBatch, tf.zerosLike(this.tokensSinceFired), tf.add(this.tokensSinceFired, B)));

      let stats: tf.Tensor1D | undefined;
      if (log) {
        const err = tf.sum(tf.squaredDifference(x, p.xHat));
        const centered = tf.sum(tf.square(tf.sub(x, tf.mean(x, 0))));
        const theta = variant.learnsThreshold ? tf.mean(params.threshold) : tf.scalar(live.threshold);
        stats = tf.stack([
          tf.add(p.recon, tf.add(p.sparsity, p.aux)), p.recon, p.sparsity, p.aux,
          tf.div(tf.sum(active), B), err, tf.sum(tf.square(x)), centered,
          tf.sum(deadMask), theta,
        ]) as tf.Tensor1D;
      }
      for (const t of [p.recon, p.sparsity, p.aux, p.f, p.xHat]) t.dispose();
      return stats;
    });
  }

  private async logStep(statsTensor: tf.Tensor1D): Promise<void> {
    const s = await statsTensor.data();
    statsTensor.dispose();
    const t = now();
    const tokens = (this.step - this.lastLogStep) * this.cfg.batch_size;
    const tokensPerS = tokens / Math.max(1e-9, (t - this.lastLogTime) / 1000);
    this.lastLogTime = t;
    this.lastLogStep = this.step;
    const row: MetricRow = {
      step: this.step,
      total_loss: s[S_TOTAL],
      recon_loss: s[S_RECON],
      sparsity_loss: s[S_SPARSITY],
      sparsity_l0: s[S_L0] / this.cfg.d_sae,
      aux_loss: s[S_AUX],
      l0: s[S_L0],
      nmse: s[S_ERR] / s[S_XSQ],
      fve: 1 - s[S_ERR] / s[S_CENTERED],
      dead_fraction: s[S_DEAD] / this.cfg.d_sae,
      lr: this.live.lr,
      lambda: this.live.lambda,
      k: this.live.k,
      bandwidth: this.live.bandwidth,
      threshold: this.live.threshold,
      threshold_mean: s[S_THETA],
      tokens_per_s: tokensPerS,
      elapsed_s: (t - this.startTime) / 1000,
    };
    this.rows.push(row);
    if (!Number.isFinite(row.total_loss)) {
      throw new DivergenceError(this.step, `the total loss is ${row.total_loss}`);
    }
  }

  /** Metrics on the validation split (or, with no validation rows, on the train split). */
  async evaluate(): Promise<EvalDetails> {
    const useVal = this.data.valRows > 0;
    const data = useVal ? this.data.val : this.data.train;
    const rows = useVal ? this.data.valRows : this.data.trainRows;
    const d = this.data.dIn;
    const dSae = this.cfg.d_sae;
    const sums: ReconstructionSums = { rows, errSq: 0, xSq: 0, centeredSq: centeredSumOfSquares(data, rows, d), relErrSum: 0 };
    const fired = new Float64Array(dSae);
    let activeTotal = 0;
    const chunk = Math.max(1, Math.min(this.cfg.batch_size, 4096));
    for (let start = 0; start < rows; start += chunk) {
      const n = Math.min(chunk, rows - start);
      const out = tf.tidy(() => {
        const x = tf.tensor2d(data.subarray(start * d, (start + n) * d), [n, d]);
        const f = this.variant.encode(this.params, x, this.live);
        const xHat = this.variant.decode(this.params, f);
        const rowErr = tf.sum(tf.squaredDifference(x, xHat), 1);
        const rowSq = tf.sum(tf.square(x), 1);
        const active = tf.greater(f, 0).toFloat();
        return [rowErr, rowSq, tf.sum(active, 0)] as const;
      });
      const [rowErr, rowSq, firedCount] = await Promise.all(out.map((t) => t.data()));
      out.forEach((t) => t.dispose());
      for (let i = 0; i < n; i++) {
        sums.errSq += rowErr[i];
        sums.xSq += rowSq[i];
        sums.relErrSum += rowSq[i] > 0 ? rowErr[i] / rowSq[i] : 0;
      }
      for (let j = 0; j < dSae; j++) { fired[j] += firedCount[j]; activeTotal += firedCount[j]; }
    }
    let dead = 0;
    for (let j = 0; j < dSae; j++) if (fired[j] === 0) dead += 1;
    const l0 = activeTotal / rows;
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
    const gt = this.data.groundTruth;
    if (gt) {
      const wDec = (await this.params.W_dec.data()) as Float32Array;
      metrics.feature_recovery = featureRecovery(gt.dictionary, gt.nFeatures, wDec, dSae, d);
    }
    return { metrics, firingFraction: Float32Array.from(fired, (c) => c / rows) };
  }

  /** The variant's export tensors read back to plain arrays, SAELens names and shapes. */
  async exportTensors(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [name, t] of Object.entries(this.variant.exportTensors(this.params))) {
      out[name] = { shape: t.shape.slice(), data: Float32Array.from(await t.data()) };
    }
    return out;
  }

  /**
   * Replace the parameters with saved tensors (SAELens names). Every exported tensor must be
   * present with the shape this config implies; anything else is a clear error.
   */
  loadTensors(tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
    const expected = this.variant.exportTensors(this.params);
    for (const [name, target] of Object.entries(expected)) {
      const src = tensors[name];
      if (!src) throw new Error(`the saved SAE has no tensor "${name}", which a ${this.cfg.architecture} SAE needs.`);
      if (src.shape.join(',') !== target.shape.join(',')) {
        throw new Error(`tensor "${name}" has shape [${src.shape}] but this ${this.cfg.architecture} SAE needs [${target.shape}].`);
      }
      tf.tidy(() => (this.params[name] as tf.Variable).assign(tf.tensor(src.data, src.shape)));
    }
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

  dispose(): void {
    for (const v of Object.values(this.params)) v.dispose();
    this.adam.dispose();
    this.tokensSinceFired.dispose();
  }
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
