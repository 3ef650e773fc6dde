// The memory estimate on wasm, where the k-sparse variants take their sparse step from the first
// step on and the trainer keeps its copies of the state as arrays (trainerState.ts readStateNow):
// the estimate's tensors against tf.profile's peak over steps that include a rollback copy and an
// autosave read. The heap itself (what the wasm estimate adds to its tensors) grows once per
// process, so it is measured at GPT-2 width by scripts/measure-memory.ts (docs/benchmark.md, "Memory").
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput } from './config';
import { estimateTrainingMemory } from './memoryBudget';
import { useWasm, values } from './testing';
import { Trainer } from './trainer';

beforeAll(useWasm);

const D_IN = 256;

/** Peak tensor bytes of a few steps as the worker runs them, the estimate's tensors, and how many steps were sparse. */
async function measure(input: ConfigInput): Promise<{ estimate: number; measured: number; sparseSteps: number; sparseEstimated: boolean }> {
  const rows = 2048;
  // A one-token dead window: latents that missed a step are dead, so TopK's AuxK runs.
  const cfg = resolveConfig({ log_every: 1, steps: 100, dead_tokens_window: 1, ...input }, D_IN);
  const before = tf.memory().numBytes;
  const t = new Trainer(cfg, { train: Float32Array.from(values(rows * D_IN, 3)), trainRows: rows, val: Float32Array.from(values(64 * D_IN, 4)), valRows: 64, dIn: D_IN }, 'wasm');
  t.goodSnapshotSeconds = 0; // a rollback copy at every (log) step
  await t.runSteps(2);
  const profile = await tf.profile(async () => { await t.runSteps(1); await t.saveState(); await t.runSteps(2); });
  const sparseSteps = t.sparseSteps;
  t.dispose();
  const est = estimateTrainingMemory(cfg, D_IN, { backend: 'wasm' });
  return { estimate: est.bytes - est.parts.allocator, measured: profile.peakBytes - before, sparseSteps, sparseEstimated: est.sparseStep };
}

describe('estimateTrainingMemory on wasm', () => {
  const cases: [string, ConfigInput, boolean][] = [
    ['topk (sparse step)', { architecture: 'topk', d_sae: 8192, batch_size: 1024, k: 32 }, true],
    ['batchtopk (sparse step)', { architecture: 'batchtopk', d_sae: 8192, batch_size: 1024, k: 32 }, true],
    ['matryoshka (sparse step)', { architecture: 'matryoshka', d_sae: 8192, batch_size: 1024, k: 32 }, true],
    ['topk, sparse off', { architecture: 'topk', d_sae: 8192, batch_size: 512, k: 32, sparse: 'off' }, false],
    ['relu (dense at first)', { architecture: 'relu', d_sae: 8192, batch_size: 512 }, false],
    ['jumprelu (dense at first)', { architecture: 'jumprelu', d_sae: 8192, batch_size: 512 }, false],
  ];
  it.each(cases)('%s: the estimate’s tensors are within 15 percent of the peak tf.profile measures', async (_name, input, sparse) => {
    const { estimate, measured, sparseSteps, sparseEstimated } = await measure(input);
    expect(sparseEstimated).toBe(sparse);
    if (sparse) expect(sparseSteps).toBe(5);
    expect(Math.abs(estimate - measured) / measured).toBeLessThan(0.15);
  });

  it('keeps no copy of the state in wasm memory: the rollback copy and the autosave are arrays', async () => {
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 2048, batch_size: 256, k: 16, log_every: 1, steps: 100 }, D_IN);
    const t = new Trainer(cfg, { train: Float32Array.from(values(512 * D_IN, 5)), trainRows: 512, val: Float32Array.from(values(64 * D_IN, 6)), valRows: 64, dIn: D_IN }, 'wasm');
    t.goodSnapshotSeconds = 0;
    await t.runSteps(2);
    const held = tf.memory().numBytes;
    await t.runSteps(1); // takes a rollback copy first
    const saved = await t.saveState();
    expect(tf.memory().numBytes).toBe(held);
    expect(t.lastGoodStep).toBe(2);
    expect(saved.tensors['param/W_enc'].data.length).toBe(D_IN * 2048);
    t.dispose();
  });
});
