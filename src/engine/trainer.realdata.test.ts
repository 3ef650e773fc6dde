// Training on the real layer-3 activations of ../shared/data (present only beside the project).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { useNodeWasmFiles } from '../cli/nodeBackend';
import { datasetFromNpy } from '../data/dataset';
import { resolveConfig } from './config';
import { Trainer } from './trainer';

const SHARED = path.resolve(__dirname, '../../../shared/data/stories260k');
const present = existsSync(path.join(SHARED, 'valid/resid_l3.npy'));
if (!present) console.warn(`[trainer.realdata] skipped: ${SHARED} is absent (it exists only beside the project in CI)`);

const load = (rel: string) => {
  const b = readFileSync(path.join(SHARED, rel));
  return datasetFromNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer, rel);
};

describe.skipIf(!present)('real activations (stories260K layer 3)', () => {
  afterAll(async () => { await tf.setBackend('cpu'); });

  it('TopK (d_sae 512, k 16, 300 steps) reaches the FVE an independent NumPy SAE reaches (≈ 0.85)', async () => {
    useNodeWasmFiles();
    await tf.setBackend('wasm');
    const train = load('train/resid_l3.npy');
    const valid = load('valid/resid_l3.npy');
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 512, k: 16, batch_size: 1024, steps: 300, lr: 1e-3, log_every: 100 }, 64);
    const t = new Trainer(cfg, { train: train.data, trainRows: train.rows, val: valid.data, valRows: valid.rows, dIn: 64 }, 'wasm');
    await t.runSteps(300);
    const { metrics } = await t.evaluate();
    console.info(`[real data] topk 300 steps: validation FVE ${metrics.fve.toFixed(4)}, NMSE ${metrics.nmse.toFixed(4)}, L0 ${metrics.l0}, dead ${metrics.dead_fraction}`);
    expect(metrics.fve).toBeGreaterThan(0.8);
    expect(metrics.fve).toBeLessThan(0.95);
    expect(metrics.l0).toBeCloseTo(16, 6);
    t.dispose();
  }, 300_000);
});
