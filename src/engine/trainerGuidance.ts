// Guidance targets inside the trainer: their labels per batch and split row, and the latents their losses see.
import * as tf from '@tensorflow/tfjs';
import type { GuidanceTarget } from './config';
import type { CustomGradientFunc } from './ops/customOp';
import { constant, stopGradient } from './ops/stopGradient';
import type { TrainingData } from './trainerData';
import type { LossParts } from './variants/types';

/** A guidance target with its labels, one per dataset row (indexed by trainIds / valIds). */
export interface ResolvedGuidance {
  target: GuidanceTarget;
  labels: Float32Array;
}

/** Throws unless every target has a label for each dataset row and points at an existing latent. */
export function checkGuidance(targets: ResolvedGuidance[], data: TrainingData, dSae: number): void {
  const rows = data.totalRows ?? (data.trainIds ? Math.max(...data.trainIds, ...(data.valIds ?? [0])) + 1 : data.trainRows);
  for (const g of targets) {
    if (g.labels.length < rows) throw new Error(`guidance target ${g.target.id} has ${g.labels.length} labels but the data has ${rows} rows.`);
    if (g.target.latent >= dSae) throw new Error(`guidance target ${g.target.id} points at latent ${g.target.latent}, but d_sae is ${dSae}.`);
  }
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
export function labelsPerLatentRow(labels: tf.Tensor1D, fRows: number): tf.Tensor1D {
  const B = labels.shape[0];
  if (fRows === B) return labels;
  return tf.reshape(tf.tile(tf.reshape(labels, [B, 1]), [1, fRows / B]), [fRows]) as tf.Tensor1D;
}

/** One latent's activation per input row [rows] (the max over its layer rows when f has several). */
export function latentPerInputRow(f: tf.Tensor2D, latent: number, rows: number): tf.Tensor1D {
  return tf.max(tf.reshape(tf.slice(f, [0, latent], [-1, 1]), [rows, f.shape[0] / rows]), 1) as tf.Tensor1D;
}

/** A target's labels for the first n rows of a split whose rows are dataset rows `ids` (or 0..n−1). */
export function labelsOfRows(g: ResolvedGuidance, ids: Uint32Array | undefined, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, r) => g.labels[ids ? ids[r] : r]);
}
