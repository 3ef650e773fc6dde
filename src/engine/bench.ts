// One benchmark measurement: full training steps (forward, loss, backward, Adam, constraint) of a
// variant at a fixed size on random data, on whatever tfjs backend is active. Used by the Node
// bench and by the worker for the in-browser bench, so both measure the same thing.
import * as tf from '@tensorflow/tfjs';
import { resolveConfig, type Architecture } from './config';
import { createRng } from './rng';
import { Trainer } from './trainer';

export interface BenchSpec {
  architecture: Architecture;
  dIn: number;
  dSae: number;
  batch: number;
  /** Timed steps (after warm-up). */
  steps: number;
  warmup?: number;
}

export interface BenchResult {
  backend: string;
  architecture: Architecture;
  tokensPerS: number;
  msPerStep: number;
  numTensorsBefore: number;
  numTensorsAfter: number;
}

export async function benchTrainingSteps(spec: BenchSpec): Promise<BenchResult> {
  const rows = spec.batch * 4;
  const rng = createRng(1);
  const data = new Float32Array(rows * spec.dIn);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  // log_every larger than the run: no readback inside the timed loop except the final step's.
  const total = (spec.warmup ?? 2) + spec.steps;
  const cfg = resolveConfig({ architecture: spec.architecture, d_sae: spec.dSae, batch_size: spec.batch, steps: total, log_every: total, val_fraction: 0 }, spec.dIn);
  const trainer = new Trainer(cfg, { train: data, trainRows: rows, val: new Float32Array(0), valRows: 0, dIn: spec.dIn }, tf.getBackend());
  try {
    await trainer.runSteps(spec.warmup ?? 2);
    await syncBackend(trainer);
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    await trainer.runSteps(spec.steps);
    await syncBackend(trainer);
    const ms = performance.now() - t0;
    const after = tf.memory().numTensors;
    return {
      backend: tf.getBackend(),
      architecture: spec.architecture,
      tokensPerS: (spec.steps * spec.batch) / (ms / 1000),
      msPerStep: ms / spec.steps,
      numTensorsBefore: before,
      numTensorsAfter: after,
    };
  } finally {
    trainer.dispose();
  }
}

/** Wait for queued GPU work: read one value of a parameter. */
async function syncBackend(trainer: Trainer): Promise<void> {
  const probe = tf.slice(trainer.params.b_dec, [0], [1]);
  await probe.data();
  probe.dispose();
}
