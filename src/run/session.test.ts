// The run layer on the cpu backend: a RunSession trains to the end and evaluates; pauses with an
// autosave and resumes without losing or repeating a logged step; rolls a diverged run back (log
// and autosave cut to the healthy step) and goes on once the rate is sane; keeps the newest
// checkpoints and hands each to the host; holds the loop while the weights are read; stops early.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput } from '../engine/config';
import { useCpu } from '../engine/testing';
import { Trainer, type Checkpoint } from '../engine/trainer';
import type { EvalMetrics, LiveEvent, MetricRow } from '../engine/types';
import { splitDataset } from '../data/dataset';
import { makeSyntheticDataset } from '../data/synthetic';
import { Workspace } from '../data/workspace';
import type { Autosave, LogPiece } from './autosave';
import { RunSession, type SessionEvents, type SessionOptions, type SessionState } from './session';

beforeAll(useCpu);

const sample = makeSyntheticDataset({ rows: 1024, dIn: 12, nFeatures: 30, activePerRow: 3, seed: 5 });
const data = { ...splitDataset(sample, 0.1, 0), groundTruth: sample.groundTruth };
const workspace = new Workspace();
workspace.setDataset(sample);

function trainer(input: ConfigInput = {}): Trainer {
  return new Trainer(resolveConfig({ architecture: 'relu', d_sae: 32, batch_size: 64, log_every: 5, steps: 60, val_every: 10, ...input }, 12), data, 'cpu');
}

/** A host that records everything the session reports, with an autosave kept in memory. */
function host() {
  const seen = {
    rows: [] as MetricRow[], events: [] as LiveEvent[], states: [] as SessionState[], rolledBack: [] as number[],
    errors: [] as { message: string; cause: string }[], checkpoints: [] as Checkpoint[], evaluated: [] as EvalMetrics[],
    saves: [] as { autosave: Autosave; piece: LogPiece }[], cleared: 0,
  };
  const events: SessionEvents = {
    metrics: (rows, events) => { seen.rows.push(...rows); seen.events.push(...events); },
    status: (s) => { seen.states.push(s.state); },
    rolledBack: (step) => { seen.rolledBack.push(step); },
    error: (message, _hint, cause) => { seen.errors.push({ message, cause }); },
    checkpoint: (c) => { seen.checkpoints.push(c); },
    evaluated: (m) => { seen.evaluated.push(m); },
  };
  const autosave = {
    write: async (a: Autosave, piece: LogPiece) => { seen.saves.push({ autosave: a, piece }); },
    clear: async () => { seen.cleared += 1; },
    fingerprint: () => ({ name: sample.name, rows: sample.rows, dIn: 12, nLayers: 1, checksum: 0 }),
  };
  return { seen, events, autosave };
}

function session(t: Trainer, h: ReturnType<typeof host>, extra: Partial<SessionOptions> = {}): RunSession {
  return new RunSession({ id: 'r1', trainer: t, workspace, events: h.events, autosave: h.autosave, sliceMs: 0, yieldBetweenSlices: () => Promise.resolve(), ...extra });
}

const steps = (rows: { step: number }[]) => rows.map((r) => r.step);
const fiveToSixty = Array.from({ length: 12 }, (_, i) => 5 * (i + 1));

describe('RunSession', () => {
  it('trains to the end: every logged step reported once and kept in the log, then evaluated once; the autosave is cleared; the outcome is what the page keeps', async () => {
    const before = tf.memory().numTensors;
    const h = host();
    const t = trainer();
    const s = session(t, h);
    s.start();
    await s.settled();
    expect(s.state).toBe('done');
    expect(steps(h.seen.rows)).toEqual(fiveToSixty);
    expect(steps(s.log.toRows())).toEqual(fiveToSixty);
    expect(h.seen.evaluated).toHaveLength(1);
    expect(h.seen.evaluated[0].steps).toBe(60);
    expect(h.seen.states.at(-1)).toBe('done');
    expect(h.seen.cleared).toBe(1);
    // The kept run: the config it started with, its state, final metrics, whole log and data.
    const o = s.outcome()!;
    expect(o).toMatchObject({ runId: 'r1', state: 'done', splice: null, data: { name: sample.name, rows: 1024, dIn: 12, nLayers: 1 } });
    expect(o.config).toBe(t.cfg);
    expect(o.metrics).toBe(h.seen.evaluated[0]);
    expect(steps(o.rows)).toEqual(fiveToSixty);
    const files = await s.exportFiles();
    expect(Object.keys(files)).toEqual(expect.arrayContaining(['cfg.json', 'sae_weights.safetensors', 'log.csv']));
    expect(new TextDecoder().decode(files['log.csv']).trim().split('\n')).toHaveLength(1 + 12);
    await s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pauses after a step with an autosave, reports nothing more while paused, and resumes without losing or repeating a step', async () => {
    const h = host();
    const t = trainer();
    let paused: Promise<void> | null = null;
    const s = session(t, h, { yieldBetweenSlices: async () => { if (t.stepCount >= 22 && !paused) paused = s.pause(); } });
    s.start();
    await s.settled();
    await paused;
    expect(s.state).toBe('paused');
    expect(s.outcome()).toBeNull();
    const stepAtPause = t.stepCount;
    expect(stepAtPause).toBeGreaterThanOrEqual(22);
    expect(stepAtPause).toBeLessThan(60);
    // The pause saved the state at the paused step, with the whole log so far.
    const save = h.seen.saves.at(-1)!;
    expect(save.autosave.state.meta.step).toBe(stepAtPause);
    expect(save.autosave.logLength).toBe(s.log.length);
    const reported = h.seen.rows.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(h.seen.rows.length).toBe(reported);
    await s.resume();
    await s.settled();
    expect(s.state).toBe('done');
    expect(steps(h.seen.rows)).toEqual(fiveToSixty);
    expect(steps(s.log.toRows())).toEqual(fiveToSixty);
    await s.dispose();
  });

  it('a diverged run is rolled back (log and autosave cut to the healthy step), paused with the reason, and goes on once the rate is sane', async () => {
    const h = host();
    const t = trainer({ steps: 200 });
    t.goodSnapshotSeconds = 0; // a healthy copy at every finite logged step
    let blown = false;
    const s = session(t, h, { yieldBetweenSlices: async () => { if (t.stepCount >= 20 && !blown) { blown = true; t.update({ lr: 1e30 }); } } });
    s.start();
    await s.settled();
    expect(s.state).toBe('paused');
    expect(h.seen.rolledBack).toEqual([20]);
    expect(t.stepCount).toBe(20);
    expect(h.seen.errors.map((e) => e.cause)).toEqual(['diverged']);
    expect(h.seen.errors[0].message).toMatch(/^training diverged at step [\d,]+ \(.+\)\. Rolled back to step 20, the last healthy state, and paused\.$/);
    expect(steps(s.log.toRows())).toEqual([5, 10, 15, 20]);
    // The autosave written after the rollback holds the healthy state and a log cut to it.
    const save = h.seen.saves.at(-1)!;
    expect(save.autosave.state.meta.step).toBe(20);
    expect(save.autosave.logLength).toBe(4);
    expect(save.piece.from).toBeLessThanOrEqual(4);
    expect(h.seen.states.at(-1)).toBe('paused');
    t.update({ lr: 1e-3 });
    await s.resume();
    await s.settled();
    expect(s.state).toBe('done');
    const after = steps(s.log.toRows());
    expect(after.slice(0, 6)).toEqual([5, 10, 15, 20, 25, 30]);
    expect(after.every((v, i) => i === 0 || v > after[i - 1])).toBe(true);
    await s.dispose();
  });

  it('hands every checkpoint to the host and keeps only the newest in memory; a checkpoint export holds the log up to its step', async () => {
    const h = host();
    const s = session(trainer({ checkpoint_every: 10 }), h, { maxCheckpoints: 2 });
    s.start();
    await s.settled();
    expect(steps(h.seen.checkpoints)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(steps(s.checkpoints)).toEqual([50, 60]);
    expect(() => s.checkpointAt(10)).toThrow('no checkpoint at step 10 is kept (kept: 50, 60).');
    const csv = new TextDecoder().decode(s.checkpointFiles(s.checkpointAt(50))['log.csv']).trim().split('\n');
    expect(csv).toHaveLength(1 + 10);
    await s.dispose();
  });

  it('autosaves as time passes, each save adding the rows since the last as one piece', async () => {
    const h = host();
    const t = trainer();
    // A clock on which each step takes 4 s: a save is due after about every step once the last one is written.
    const s = session(t, h, { now: () => t.stepCount * 4000, yieldBetweenSlices: () => new Promise((r) => setTimeout(r, 1)) });
    s.start();
    await s.settled();
    expect(h.seen.saves.length).toBeGreaterThan(3);
    let rows = 0;
    for (const { piece, autosave } of h.seen.saves) {
      expect(piece.from).toBe(rows);
      rows = autosave.logLength;
      expect(piece.from + piece.data.length).toBe(rows);
    }
    await s.dispose();
  });

  it('holds the loop while the weights are read, and stops early with what was trained evaluated', async () => {
    const h = host();
    const t = trainer({ steps: 1000 });
    let during = -1;
    let stopped: Promise<void> | null = null;
    const s = session(t, h, {
      yieldBetweenSlices: async () => {
        if (t.stepCount === 10) {
          await s.holding(async () => { const at = t.stepCount; await new Promise((r) => setTimeout(r, 30)); during = t.stepCount - at; });
        }
        if (t.stepCount === 15 && !stopped) stopped = s.stop();
      },
    });
    s.start();
    await s.settled();
    await stopped;
    expect(during).toBe(0);
    expect(s.state).toBe('stopped');
    expect(t.stepCount).toBe(15);
    expect(h.seen.evaluated).toHaveLength(1);
    expect(h.seen.evaluated[0].steps).toBe(15);
    expect(s.outcome()).toMatchObject({ state: 'stopped', metrics: { steps: 15 } });
    expect(steps(s.outcome()!.rows)).toEqual([5, 10, 15]);
    await s.dispose();
  });
  it('opens weights without a step of training: evaluated once, stopped at step 0, the weights unchanged', async () => {
    const t = trainer();
    const h = host();
    const s = session(t, h);
    const before = Array.from((await t.exportTensors()).W_dec.data);
    await s.finishUntrained();
    expect(t.stepCount).toBe(0);
    expect(h.seen.rows).toEqual([]);
    expect(h.seen.evaluated.length).toBe(1);
    expect(s.state).toBe('stopped');
    expect(s.outcome()?.state).toBe('stopped');
    expect(Array.from((await t.exportTensors()).W_dec.data)).toEqual(before);
    t.dispose();
  });
});
