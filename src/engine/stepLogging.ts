// Logging a training step: the log step's stats read back from the device in one batched read, then laid out as a metric row.
import * as tf from '@tensorflow/tfjs';
import type { LiveParams } from './config';
import { DENSE_FRACTION } from './metrics';
import type { MetricRow } from './types';

/**
 * The stats of a log step (`trainStep`) and the dense fraction of the firing counts since the last
 * log, read from the device in one read. Disposes the stats; a vector stat v becomes v_0, v_1, ….
 */
export async function readStats(stats: Record<string, tf.Tensor>, firedSinceLog: tf.Variable, fRowsSinceLog: number): Promise<{ values: Record<string, number>; dense: number }> {
  const names = Object.keys(stats);
  const tensors = Object.values(stats);
  const denseT = tf.tidy(() => tf.mean(tf.greater(firedSinceLog, DENSE_FRACTION * Math.max(1, fRowsSinceLog)).toFloat()));
  const flat = tf.tidy(() => tf.concat([...tensors.map((t) => tf.reshape(t, [-1])), tf.reshape(denseT, [1])]));
  const sizes = tensors.map((t) => t.size);
  tensors.forEach((t) => t.dispose());
  denseT.dispose();
  const all = await flat.data();
  flat.dispose();
  const values: Record<string, number> = {};
  let offset = 0;
  names.forEach((name, i) => {
    if (sizes[i] === 1) values[name] = all[offset];
    else for (let j = 0; j < sizes[i]; j++) values[`${name}_${j}`] = all[offset + j];
    offset += sizes[i];
  });
  return { values, dense: all[offset] };
}

/** Where a log step's row stands: the step just run, the live values it ran with, and the clock. */
export interface RowContext {
  /** Steps run so far (the step that just ran is step − 1). */
  step: number;
  dSae: number;
  /** The live parameters as set. */
  live: LiveParams;
  /** The values the step trained with, schedules applied. */
  stepLive: LiveParams;
  tokensPerS: number;
  elapsedS: number;
}

/** The metric row of a log step, and the count of non-finite parameter values (not a column). */
export function metricRow(values: Record<string, number>, dense: number, c: RowContext): { row: MetricRow; nonfiniteParams: number } {
  const { total_loss, recon_loss, sparsity_loss, aux_loss, guidance_loss, l0, err, xsq, centered, dead, threshold_mean, nonfinite_params, ...extra } = values;
  const row: MetricRow = {
    step: c.step,
    total_loss,
    recon_loss,
    sparsity_loss,
    sparsity_l0: l0 / c.dSae,
    aux_loss,
    guidance_loss,
    l0,
    nmse: err / xsq,
    fve: 1 - err / centered,
    dead_fraction: dead / c.dSae,
    dense_fraction: dense,
    lr: c.stepLive.lr,
    lambda: c.live.lambda,
    lambda_effective: c.stepLive.lambda,
    target_l0: c.live.targetL0,
    k: c.live.k,
    bandwidth: c.live.bandwidth,
    threshold: c.live.threshold,
    threshold_mean,
    tokens_per_s: c.tokensPerS,
    elapsed_s: c.elapsedS,
    ...extra,
  };
  return { row, nonfiniteParams: nonfinite_params };
}
