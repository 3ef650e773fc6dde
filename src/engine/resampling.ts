// Dead-latent resampling: which latents are dead, the training rows they restart from, and the restart itself.
import * as tf from '@tensorflow/tfjs';
import type { Adam } from './adam';
import type { LiveParams } from './config';
import { reconstruct, type TrainedSae } from './inference';
import type { Rng } from './rng';

/** The latents to resample and their new directions [dead.length, width]. */
export interface Resampling {
  dead: number[];
  /** Non-zero where the latent is dead [d_sae]. */
  deadMask: tf.TypedArray;
  directions: Float32Array;
}

/**
 * Which latents are dead now and where each restarts: the direction (x − b_dec) of a training row
 * drawn with probability ∝ its squared reconstruction error. Null when none is dead. Only reads
 * (and draws from `rng`); `applyResampling` makes the change, all at once.
 */
export async function planResampling(sae: TrainedSae, live: LiveParams, tokensSinceFired: tf.Variable, rng: Rng): Promise<Resampling | null> {
  const deadMaskT = tf.tidy(() => tf.greaterEqual(tokensSinceFired, sae.cfg.dead_tokens_window));
  const deadMask = await deadMaskT.data();
  deadMaskT.dispose();
  const dead: number[] = [];
  deadMask.forEach((v, i) => { if (v) dead.push(i); });
  if (dead.length === 0) return null;
  const { data } = sae;
  const width = data.dIn * data.nLayers;
  const n = Math.min(data.trainRows, 4096);
  const rowIds = Array.from({ length: n }, () => rng.int(data.trainRows));
  const xs = new Float32Array(n * width);
  rowIds.forEach((r, i) => xs.set(data.train.subarray(r * width, (r + 1) * width), i * width));
  const errT = tf.tidy(() => {
    const x = tf.tensor2d(xs, [n, width]);
    const r = reconstruct(sae, x, live);
    return tf.sum(tf.squaredDifference(r.target, r.xHat), 1);
  });
  const err = await errT.data();
  errT.dispose();
  const bDec = await sae.params.b_dec.data();
  const weights = Array.from(err, (e) => e * e);
  const total = weights.reduce((a, b) => a + b, 0);
  const directions = new Float32Array(dead.length * width);
  dead.forEach((_, i) => {
    let u = rng.next() * total, pick = 0;
    while (pick < n - 1 && u >= weights[pick]) { u -= weights[pick]; pick += 1; }
    for (let j = 0; j < width; j++) directions[i * width + j] = xs[pick * width + j] - (bDec.length === width ? bDec[j] : 0);
  });
  return { dead, deadMask, directions };
}

/** Re-initialise the planned latents along their directions; their optimiser moments and dead counters restart. */
export async function applyResampling(sae: TrainedSae, plan: Resampling, adam: Adam, tokensSinceFired: tf.Variable): Promise<void> {
  await sae.variant.resampleDead?.(sae.params, plan.dead, plan.directions);
  adam.resetLatents(plan.dead, sae.cfg.d_sae);
  tf.tidy(() => {
    const mask = tf.tensor1d(Float32Array.from(plan.deadMask, (v) => (v ? 0 : 1)));
    tokensSinceFired.assign(tf.mul(tokensSinceFired, mask));
  });
}
