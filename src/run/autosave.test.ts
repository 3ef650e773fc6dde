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
import type { MetricRow } from '../engine/types';
import { MetricLog } from '../engine/metricLog';
import { clearAutosave, fingerprint, fingerprintMismatch, readAutosave, summarise, writeAutosave, type Autosave } from './autosave';

beforeAll(useCpu);

const sample = makeSyntheticDataset({ rows: 512, dIn: 8, nFeatures: 20, activePerRow: 2, seed: 9 });
const data = { ...splitDataset(sample, 0.1, 0), groundTruth: sample.groundTruth };
const cfg = resolveConfig({ architecture: 'topk', d_sae: 24, batch_size: 32, log_every: 5, steps: 40, seed: 3 }, 8);
const comparable = (rows: MetricRow[]) => rows.map(({ tokens_per_s: _t, elapsed_s: _e, ...rest }) => rest);

async function autosaveOf(t: Trainer, runId: string, logLength: number): Promise<Autosave> {
  return { runId, savedAt: Date.now(), config: t.cfg, dataset: fingerprint(sample), fromImported: false, lmEvalEvery: 0, nextLmEval: 0, state: await t.saveState(), logLength };
}

describe('autosave', () => {
  it('a run autosaved at step 15 and resumed from IndexedDB ends as the run that never stopped', async () => {
    const whole = new Trainer(cfg, data, 'cpu');
    await whole.runSteps(40);
    const wholeRows = comparable(whole.takeRows());
    const wholeW = Float32Array.from(await whole.params.W_dec.data());
    whole.dispose();

    // Saved every 5 steps, each save adding the rows logged since the last as a piece.
    const first = new Trainer(cfg, data, 'cpu');
    const log = new MetricLog();
    for (let save = 0; save < 3; save++) {
      await first.runSteps(5);
      const from = log.length;
      log.append(first.takeRows());
      await writeAutosave(await autosaveOf(first, 'run-a', log.length), { from, data: log.toData(from) });
    }
    first.dispose();

    const saved = await readAutosave();
    expect(saved).not.toBeNull();
    expect(summarise(saved!)).toMatchObject({ runId: 'run-a', step: 15, totalSteps: 40, architecture: 'topk', dSae: 24 });
    expect(fingerprintMismatch(saved!.dataset, fingerprint(sample))).toBeNull();
    const resumed = new Trainer(resolveConfig(saved!.config as never, 8), data, 'cpu');
    resumed.restore(saved!.state);
    await resumed.runSteps(25);
    expect(saved!.logPieces).toBe(3);
    expect(saved!.log.toRows()).toEqual(log.toRows());
    expect(comparable([...saved!.log.toRows(), ...resumed.takeRows()])).toEqual(wholeRows);
    // Without the log (what the resume banner reads).
    expect((await readAutosave(false))!.log.length).toBe(0);
    expect(Array.from(await resumed.params.W_dec.data())).toEqual(Array.from(wholeW));
    resumed.dispose();
  });

  it('keeps one slot: a new run replaces it and clearing empties it', async () => {
    const t = new Trainer(cfg, data, 'cpu');
    await t.runSteps(5);
    await writeAutosave(await autosaveOf(t, 'run-b', 1), { from: 0, data: MetricLog.fromRows(t.takeRows()).toData() });
    expect((await readAutosave())!.runId).toBe('run-b');
    await clearAutosave();
    expect(await readAutosave()).toBeNull();
    t.dispose();
  });

  it('a rollback between saves: the next piece replaces the rows taken back, the record gives the length', async () => {
    const row = (step: number) => ({ step, total_loss: 1 / (step + 1) }) as unknown as MetricRow;
    const log = MetricLog.fromRows(Array.from({ length: 10 }, (_, i) => row(i * 10)));
    const t = new Trainer(cfg, data, 'cpu');
    await writeAutosave(await autosaveOf(t, 'run-c', 10), { from: 0, data: log.toData(0) });
    log.append(Array.from({ length: 10 }, (_, i) => row(100 + i * 10)));
    await writeAutosave(await autosaveOf(t, 'run-c', 20), { from: 10, data: log.toData(10) });
    // Rolled back to step 110 (12 rows), then 3 new rows; saved from row 12 (= min(saved 20, length 12)).
    log.truncateToStep(110);
    log.append([row(120), row(130), row(140)].map((r) => ({ ...r, total_loss: 42 })));
    await writeAutosave(await autosaveOf(t, 'run-c', 15), { from: 12, data: log.toData(12) });
    const saved = (await readAutosave())!;
    expect(saved.log.toRows()).toEqual(log.toRows());
    expect(saved.log.toRows().slice(12).map((r) => r.total_loss)).toEqual([42, 42, 42]);
    // A save that then compacts the log into one piece.
    await writeAutosave(await autosaveOf(t, 'run-c', 15), { from: 0, data: log.toData(0) });
    const compacted = (await readAutosave())!;
    expect(compacted.logPieces).toBe(1);
    expect(compacted.log.toRows()).toEqual(log.toRows());
    t.dispose();
    await clearAutosave();
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
