// Measuring a trainer's SAE on held-out rows: the periodic validation pass, early stopping, and the evaluation at the end.
import * as tf from '@tensorflow/tfjs';
import type { LiveParams } from './config';
import { reconstruct, type TrainedSae } from './inference';
import { auroc, featureRecovery, fve, nmse, nmsePerToken, type ReconstructionSums } from './metrics';
import { isPositive } from './ops/compare';
import { labelsOfRows, latentPerInputRow, type ResolvedGuidance } from './trainerGuidance';
import type { EvalMetrics, GuidanceEval } from './types';

/** Per-latent results of an evaluation pass, kept for the export. */
export interface EvalDetails {
  metrics: EvalMetrics;
  /** Fraction of validation rows on which each latent fired [d_sae]. */
  firingFraction: Float32Array;
}

/** Validation passes use at most this many rows (AUROC and early stopping). */
const MAX_VALIDATION_ROWS = 8192;

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

/**
 * The validation pass at training step `step` over the first `rows` validation rows: the mean
 * training loss (for early stopping) and, per guidance target, its latent's activation on each row
 * (what its AUROC scores). Null when there are no validation rows.
 */
export async function validationPass(sae: TrainedSae, live: LiveParams, step: number, guidance: ResolvedGuidance[]): Promise<{ loss: number; scores: Float32Array[]; rows: number } | null> {
  const { data, cfg } = sae;
  if (data.valRows === 0) return null;
  const n = Math.min(data.valRows, MAX_VALIDATION_ROWS);
  const width = data.dIn * data.nLayers;
  let lossSum = 0;
  const cols = guidance.map(() => new Float32Array(n));
  const chunk = Math.max(1, Math.min(cfg.batch_size, 4096));
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const out = tf.tidy(() => {
      const x = tf.tensor2d(data.val.subarray(start * width, (start + m) * width), [m, width]);
      const parts = sae.variant.loss(sae.params, x, live, { deadMask: tf.zeros([cfg.d_sae]) as tf.Tensor1D, step, seed: cfg.seed });
      // Guidance AUROC scores rows by their inference latents (no inference pass without targets).
      const f = guidance.length ? reconstruct(sae, x, live).f : null;
      return [tf.mul(parts.total, m), ...guidance.map((g) => latentPerInputRow(f!, g.target.latent, m))];
    });
    const values = await Promise.all(out.map((t) => t.data()));
    out.forEach((t) => t.dispose());
    lossSum += values[0][0];
    cols.forEach((c, i) => c.set(values[i + 1], start));
  }
  return { loss: lossSum / n, scores: cols, rows: n };
}

/** Where the run stands, for the evaluation's training-only fields. */
export interface EvalRun {
  steps: number;
  tokensPerS: number;
  backend: string;
  earlyStoppedAt: number | null;
}

/** Metrics on the validation split (or, with no validation rows, on the train split). */
export async function evaluateSae(sae: TrainedSae, live: LiveParams, guidance: ResolvedGuidance[], run: EvalRun): Promise<EvalDetails> {
  const useVal = sae.data.valRows > 0;
  const data = useVal ? sae.data.val : sae.data.train;
  const rows = useVal ? sae.data.valRows : sae.data.trainRows;
  const ids = useVal ? sae.data.valIds : sae.data.trainIds;
  const width = sae.data.dIn * sae.data.nLayers;
  const dSae = sae.cfg.d_sae;
  const sums: ReconstructionSums = { rows, errSq: 0, xSq: 0, centeredSq: 0, relErrSum: 0 };
  let targetWidth = 0;
  let colSum = new Float64Array(0);
  const fired = new Float64Array(dSae);
  let activeTotal = 0;
  let fRowsTotal = 0;
  const guidanceCols = guidance.map(() => new Float32Array(rows));
  const chunk = Math.max(1, Math.min(sae.cfg.batch_size, 4096));
  for (let start = 0; start < rows; start += chunk) {
    const n = Math.min(chunk, rows - start);
    const out = tf.tidy(() => {
      const x = tf.tensor2d(data.subarray(start * width, (start + n) * width), [n, width]);
      const r = reconstruct(sae, x, live);
      return [
        tf.sum(tf.squaredDifference(r.target, r.xHat), 1),
        tf.sum(tf.square(r.target), 1),
        tf.sum(r.target, 0),
        tf.sum(isPositive(r.f), 0),
        tf.scalar(r.f.shape[0]),
        ...guidance.map((g) => latentPerInputRow(r.f, g.target.latent, n)),
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
    steps: run.steps,
    tokens_per_s: run.tokensPerS,
    backend: run.backend,
  };
  if (guidance.length) {
    metrics.guidance = guidance.map((g, i): GuidanceEval => {
      const labels = labelsOfRows(g, ids, rows);
      let pos = 0, neg = 0, nPos = 0, nNeg = 0;
      guidanceCols[i].forEach((v, r) => { if (labels[r] > 0.5) { pos += v; nPos++; } else { neg += v; nNeg++; } });
      return { id: g.target.id, latent: g.target.latent, auroc: auroc(guidanceCols[i], labels), mean_pos: nPos ? pos / nPos : 0, mean_neg: nNeg ? neg / nNeg : 0 };
    });
  }
  if (run.earlyStoppedAt !== null) metrics.early_stopped_at = run.earlyStoppedAt;
  const gt = sae.data.groundTruth;
  if (gt && sae.variant.decoderRowsInInputSpace !== false && sae.params.W_dec?.shape.length === 2 && sae.params.W_dec.shape[1] === sae.data.dIn) {
    const wDec = (await sae.params.W_dec.data()) as Float32Array;
    metrics.feature_recovery = featureRecovery(gt.dictionary, gt.nFeatures, wDec, dSae, sae.data.dIn);
  }
  return { metrics, firingFraction: Float32Array.from(fired, (c) => c / fRowsTotal) };
}
