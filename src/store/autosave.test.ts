// The autosave slot (fake-indexeddb stands in for the browser's IndexedDB): a run's state written
// mid-run, read back and restored into a fresh trainer continues exactly as the run that never
// stopped; one slot (a new write replaces it, clear empties it); the data fingerprint refuses
// other data and names both.
import 'fake-indexeddb/auto';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { useCpu } from '../engine/testing';
import { Trainer } from '../engine/trainer';
import { makeSyntheticDataset } from '../data/synthetic';
import { splitDataset } from '../data/dataset';
import type { MetricRow } from '../worker/protocol';
import { clearAutosave, fingerprint, fingerprintMismatch, readAutosave, summarise, writeAutosave, type Autosave } from './autosave';

beforeAll(useCpu);

const sample = makeSyntheticDataset({ rows: 512, dIn: 8, nFeatures: 20, activePerRow: 2, seed: 9 });
const data = { ...splitDataset(sample, 0.1, 0), groundTruth: sample.groundTruth };
const cfg = resolveConfig({ architecture: 'topk', d_sae: 24, batch_size: 32, log_every: 5, steps: 40, seed: 3 }, 8);
const comparable = (rows: MetricRow[]) => rows.map(({ tokens_per_s: _t, elapsed_s: _e, ...rest }) => rest);

async function autosaveOf(t: Trainer, runId: string, rows: MetricRow[]): Promise<Autosave> {
  return { runId, savedAt: Date.now(), config: t.cfg, dataset: fingerprint(sample), fromImported: false, lmEvalEvery: 0, nextLmEval: 0, state: await t.saveState(), rows };
}

describe('autosave', () => {
  it('a run autosaved at step 15 and resumed from IndexedDB ends as the run that never stopped', async () => {
    const whole = new Trainer(cfg, data, 'cpu');
    await whole.runSteps(40);
    const wholeRows = comparable(whole.takeRows());
    const wholeW = Float32Array.from(await whole.params.W_dec.data());
    whole.dispose();

    const first = new Trainer(cfg, data, 'cpu');
    await first.runSteps(15);
    const rows = first.takeRows();
    await writeAutosave(await autosaveOf(first, 'run-a', rows));
    first.dispose();

    const saved = await readAutosave();
    expect(saved).not.toBeNull();
    expect(summarise(saved!)).toMatchObject({ runId: 'run-a', step: 15, totalSteps: 40, architecture: 'topk', dSae: 24 });
    expect(fingerprintMismatch(saved!.dataset, fingerprint(sample))).toBeNull();
    const resumed = new Trainer(resolveConfig(saved!.config as never, 8), data, 'cpu');
    resumed.restore(saved!.state);
    await resumed.runSteps(25);
    expect(comparable([...saved!.rows, ...resumed.takeRows()])).toEqual(wholeRows);
    expect(Array.from(await resumed.params.W_dec.data())).toEqual(Array.from(wholeW));
    resumed.dispose();
  });

  it('keeps one slot: a new run replaces it and clearing empties it', async () => {
    const t = new Trainer(cfg, data, 'cpu');
    await t.runSteps(5);
    await writeAutosave(await autosaveOf(t, 'run-b', t.takeRows()));
    expect((await readAutosave())!.runId).toBe('run-b');
    await clearAutosave();
    expect(await readAutosave()).toBeNull();
    t.dispose();
  });

  it('refuses other data, naming what the run was trained on and what is loaded', () => {
    const saved = fingerprint(sample);
    const other = makeSyntheticDataset({ rows: 512, dIn: 8, nFeatures: 20, activePerRow: 2, seed: 10 });
    expect(fingerprintMismatch(saved, fingerprint(other))).toMatch(/trained on .* \(512 × 8\) but .* \(512 × 8\) is loaded; load .* again to resume/);
    expect(fingerprintMismatch(saved, fingerprint({ ...sample, rows: 100 }))).toMatch(/but .* \(100 × 8\) is loaded/);
    expect(fingerprintMismatch(saved, null)).toMatch(/^load .* \(512 × 8\) again to resume$/);
    // Streamed data has no checksum: shape alone decides.
    expect(fingerprintMismatch({ ...saved, checksum: Number.NaN }, fingerprint(other))).toBeNull();
  });
});
