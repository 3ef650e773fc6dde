// Saving and restoring a run: a run stopped, saved as plain arrays and restored into a fresh
// Trainer continues exactly as the run that never stopped (same weights, same logged losses, to the
// bit on one backend); a diverged run rolls back to its last finite state. Covers the controller,
// resampling, early stopping, guidance and BatchTopK's running threshold.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput } from './config';
import { useCpu } from './testing';
import { DivergenceError, Trainer, type ResolvedGuidance } from './trainer';
import { makeSyntheticDataset } from '../data/synthetic';
import { splitDataset } from '../data/dataset';
import type { MetricRow } from './types';

beforeAll(useCpu);

const sample = makeSyntheticDataset({ rows: 1024, dIn: 12, nFeatures: 30, activePerRow: 3, seed: 5 });
const split = splitDataset(sample, 0.1, 0);
const data = { ...split, groundTruth: sample.groundTruth };
const labels = Float32Array.from({ length: sample.rows }, (_, i) => (i % 3 === 0 ? 1 : 0));

function make(input: ConfigInput, guided = false): Trainer {
  const t = new Trainer(resolveConfig({ d_sae: 32, batch_size: 64, log_every: 5, steps: 60, val_every: 10, ...input }, 12), data, 'cpu');
  if (guided) t.setGuidance([{ target: { id: 'g0', latent: 3, method: 'contrastive', beta: 1, margin: 1, labels: { kind: 'file', name: 'l.csv' } }, labels }] as ResolvedGuidance[]);
  return t;
}

async function params(t: Trainer): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(t.params)) out[name] = Float32Array.from(await v.data());
  return out;
}

/** The logged values that do not depend on wall-clock time. */
const comparable = (rows: MetricRow[]) => rows.map(({ tokens_per_s: _t, elapsed_s: _e, ...rest }) => rest);

const CASES: [string, ConfigInput, boolean][] = [
  ['topk, target L0 (k follows the target)', { architecture: 'topk', sparsity_mode: 'target_l0' }, false],
  ['relu, λ controller and dead-latent resampling', { architecture: 'relu', sparsity_mode: 'target_l0', target_l0: 0.1, resample_dead_every: 20, dead_tokens_window: 64 }, false],
  ['jumprelu with a guidance target', { architecture: 'jumprelu' }, true],
  ['batchtopk (running global threshold)', { architecture: 'batchtopk', sparsity_mode: 'manual', k: 4 }, false],
  ['gated with early stopping', { architecture: 'gated', early_stopping_patience: 50 }, false],
];

describe('Trainer state', () => {
  it.each(CASES)('%s: stop at step 25, save, restore into a new trainer → the same run as never stopping', async (_name, input, guided) => {
    const whole = make(input, guided);
    await whole.runSteps(25);
    const early = comparable(whole.takeRows());
    await whole.runSteps(35);
    const wholeRows = comparable(whole.takeRows());
    const wholeParams = await params(whole);

    const first = make(input, guided);
    await first.runSteps(25);
    expect(comparable(first.takeRows())).toEqual(early);
    const saved = await first.saveState();
    first.dispose();
    // The state survives structured cloning (IndexedDB, postMessage).
    const cloned = structuredClone(saved);
    const resumed = make(input, guided);
    await resumed.runSteps(3); // moved on: restore must put everything back
    resumed.takeRows();
    const before = tf.memory().numTensors;
    resumed.restore(cloned, guided ? { guidance: [{ target: saved.meta.guidance[0], labels }] } : {});
    expect(tf.memory().numTensors).toBe(before);
    expect(resumed.stepCount).toBe(25);
    // Every field of the state is back (saving again gives the same state).
    const again = await resumed.saveState();
    expect(again.meta).toEqual(saved.meta);
    for (const [name, t] of Object.entries(saved.tensors)) expect(Array.from(again.tensors[name].data), name).toEqual(Array.from(t.data));
    await resumed.runSteps(35);
    expect(comparable(resumed.takeRows())).toEqual(wholeRows);
    const got = await params(resumed);
    for (const name of Object.keys(wholeParams)) expect(Array.from(got[name]), name).toEqual(Array.from(wholeParams[name]));
    expect(resumed.liveParams).toEqual(whole.liveParams);
    whole.dispose();
    resumed.dispose();
  });

  it('refuses a state of another config, naming the tensor, and changes nothing', async () => {
    const a = make({ architecture: 'topk' });
    await a.runSteps(5);
    const saved = await a.saveState();
    const b = make({ architecture: 'topk', d_sae: 48 });
    const w = await params(b);
    expect(() => b.restore(saved)).toThrow(/saved tensor param\/\w+ has shape \[.*\] but this run needs \[.*\]/);
    expect(b.stepCount).toBe(0);
    expect(await params(b)).toEqual(w);
    expect(() => make({ architecture: 'relu' }).restore(saved)).toThrow('the saved state is of a topk run, not relu.');
    a.dispose();
    b.dispose();
  });

  it('a diverging run throws, rolls back to its last finite state, and keeps the live values', async () => {
    const t = make({ architecture: 'relu', steps: 200 });
    t.goodSnapshotSeconds = 0; // a copy at every finite log step
    await t.runSteps(20);
    t.takeRows();
    const at20 = await params(t);
    t.update({ lr: 1e30 });
    let error: unknown;
    try { await t.runSteps(50); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(DivergenceError);
    const step = t.rollback();
    expect(step).toBe(20);
    expect(t.stepCount).toBe(20);
    expect(await params(t)).toEqual(at20);
    expect(t.liveParams.lr).toBe(1e30);
    // With a sane rate again the run goes on from step 20 with finite losses.
    t.update({ lr: 1e-3 });
    await t.runSteps(10);
    const rows = t.takeRows();
    expect(rows.map((r) => r.step)).toEqual([25, 30]);
    expect(rows.every((r) => Number.isFinite(r.total_loss))).toBe(true);
    t.dispose();
  });

  it('a learning rate of 10 blows the loss up while it is still finite: caught, rolled back to a state before the blow-up', async () => {
    const t = make({ architecture: 'relu', steps: 400 });
    t.goodSnapshotSeconds = 0;
    await t.runSteps(20);
    const healthy = t.takeRows();
    const first = healthy[0].recon_loss;
    t.update({ lr: 10 });
    let error: unknown;
    try { await t.runSteps(300); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(DivergenceError);
    const detail = (error as DivergenceError).detail;
    expect(detail).toMatch(/^the reconstruction loss grew to [\d.e+]+, over 100× its first logged value [\d.e+-]+$/);
    const grown = Number(detail.match(/grew to ([\d.e+]+)/)![1]);
    expect(Number.isFinite(grown)).toBe(true);
    expect(grown).toBeGreaterThan(100 * first);
    const rows = t.takeRows();
    const step = t.rollback()!;
    expect(step).toBeGreaterThanOrEqual(20);
    expect(step).toBeLessThan((error as DivergenceError).step);
    // The state rolled back to was kept while the loss was still within 2× of the first.
    const at = rows.find((r) => r.step === step);
    if (at) expect(at.recon_loss).toBeLessThanOrEqual(2 * first);
    // A healthy run at a normal rate never trips it (the first 20 steps above, and 300 more here).
    t.update({ lr: 1e-3 });
    await t.runSteps(300);
    expect(t.takeRows().every((r) => r.recon_loss <= 2 * first)).toBe(true);
    t.dispose();
  });

  it('a NaN weight with a still-finite loss is caught as divergence', async () => {
    const t = make({ architecture: 'topk' });
    await t.runSteps(5);
    // Poison one decoder weight of a latent; TopK may not even use it on this batch.
    tf.tidy(() => t.params.W_dec.assign(tf.where(tf.oneHot([7], t.params.W_dec.size).reshape(t.params.W_dec.shape).cast('bool'), tf.fill(t.params.W_dec.shape, NaN), t.params.W_dec)));
    await expect(t.runSteps(5)).rejects.toThrow(/NaN|infinite/);
    t.dispose();
  });
});
