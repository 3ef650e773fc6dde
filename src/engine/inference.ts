// Running a trainer's SAE forward: reconstructions, latents of raw rows, and reconstructions to splice into a language model.
import * as tf from '@tensorflow/tfjs';
import type { LiveParams, SaeConfig } from './config';
import { applyNormalization, normalizerOf, type Normalization } from './normalize';
import type { TrainerRows } from './trainerData';
import type { Params, Reconstruction, Variant } from './variants/types';

/** An SAE: its config, variant and parameters (a Trainer is one). */
export interface Sae {
  readonly cfg: SaeConfig;
  readonly variant: Variant<SaeConfig>;
  readonly params: Params;
}

/** An SAE with the data it was trained on, whose input normalisation raw rows go through (a Trainer is one). */
export interface TrainedSae extends Sae {
  readonly normalization: Normalization;
  readonly data: TrainerRows;
}

/** The inference pass of normalised rows x: the variant's own, or encode then decode. */
export function reconstruct(sae: Sae, x: tf.Tensor2D, live: LiveParams): Reconstruction {
  if (sae.variant.reconstruct) return sae.variant.reconstruct(sae.params, x, live);
  const f = sae.variant.encode(sae.params, x, live);
  return { f, xHat: sae.variant.decode(sae.params, f), target: x };
}

/** See Trainer.spliceReconstruction. */
export function spliceReconstruction(sae: TrainedSae, live: LiveParams, xRaw: tf.Tensor2D): { xHat: tf.Tensor2D; replace: tf.Tensor2D } {
  return tf.tidy(() => {
    const { x, undo } = normalizerOf(sae.normalization, xRaw, sae.data.dIn, sae.data.nLayers);
    if (sae.variant.spliceReconstruct) {
      const r = sae.variant.spliceReconstruct(sae.params, x, live);
      return { xHat: undo(r.xHat), replace: r.replace };
    }
    const r = reconstruct(sae, x, live);
    return { xHat: undo(tf.reshape(r.xHat, xRaw.shape) as tf.Tensor2D), replace: tf.ones([xRaw.shape[0], sae.data.nLayers]) as tf.Tensor2D };
  });
}

/** See Trainer.latentsOfRows. */
export async function latentsOfRows(sae: TrainedSae, live: LiveParams, raw: Float32Array, n: number): Promise<Float32Array> {
  const width = sae.data.dIn * sae.data.nLayers;
  if (raw.length !== n * width) throw new Error(`latentsOfRows: ${raw.length} values for ${n} rows of width ${width}`);
  const x = applyNormalization(sae.normalization, raw, n, sae.data.dIn, sae.data.nLayers);
  const f = tf.tidy(() => {
    const r = reconstruct(sae, tf.tensor2d(x, [n, width]), live);
    const perRow = r.f.shape[0] / n;
    return perRow === 1 ? r.f : tf.max(tf.reshape(r.f, [n, perRow, sae.cfg.d_sae]), 1);
  });
  const values = (await f.data()) as Float32Array;
  f.dispose();
  return values;
}
