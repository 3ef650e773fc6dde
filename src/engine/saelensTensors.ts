// An SAE's tensors under SAELens names and shapes: read back for export and checkpoints, or loaded from a saved SAE.
import * as tf from '@tensorflow/tfjs';
import type { Sae } from './inference';

/** Tensors read back to plain arrays, by name. */
export type HostTensors = Record<string, { shape: number[]; data: Float32Array }>;

/** Weights at a step, read back to plain arrays (SAELens names). */
export interface Checkpoint {
  step: number;
  tensors: HostTensors;
}

/** The variant's export tensors read back to plain arrays, SAELens names and shapes. */
export async function exportSaeTensors(sae: Sae): Promise<HostTensors> {
  const out: HostTensors = {};
  const paramSet = new Set<tf.Tensor>(Object.values(sae.params));
  for (const [name, t] of Object.entries(sae.variant.exportTensors(sae.params))) {
    out[name] = { shape: t.shape.slice(), data: Float32Array.from(await t.data()) };
    if (!paramSet.has(t)) t.dispose();
  }
  return out;
}

/**
 * Replace the parameters (and the variant's own state) with saved tensors (SAELens names). Every
 * exported tensor must be present with the shape this config implies; anything else is a clear error.
 */
export function loadSaeTensors(sae: Sae, tensors: HostTensors): void {
  const expected = sae.variant.exportTensors(sae.params);
  const paramSet = new Set<tf.Tensor>(Object.values(sae.params));
  try {
    for (const [name, target] of Object.entries(expected)) {
      const src = tensors[name];
      if (!src) throw new Error(`the saved SAE has no tensor "${name}", which a ${sae.cfg.architecture} SAE needs.`);
      if (src.shape.join(',') !== target.shape.join(',')) {
        throw new Error(`tensor "${name}" has shape [${src.shape}] but this ${sae.cfg.architecture} SAE needs [${target.shape}].`);
      }
      const param = sae.params[name];
      if (param) tf.tidy(() => param.assign(tf.tensor(src.data, param.shape)));
    }
  } finally {
    for (const t of Object.values(expected)) if (!paramSet.has(t)) t.dispose();
  }
  sae.variant.loadState?.(tensors);
}

/** The mean of loaded JumpReLU thresholds (where the threshold slider starts), or null when the SAE learns none. */
export function loadedThresholdMean(sae: Sae, tensors: HostTensors): number | null {
  if (!sae.variant.learnsThreshold || !tensors.threshold) return null;
  const th = tensors.threshold.data;
  return th.reduce((a, b) => a + b, 0) / th.length;
}
