import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { Trainer } from '../engine/trainer';
import type { ActivationSource } from './source';
import { StatsAccumulator, outlierThreshold } from './stats';
import { StreamSampler, gatherRows } from './streaming';
import { trainingDataFor } from './trainingData';
import { Workspace } from './workspace';
import { EXCLUDED, TRAIN, VAL, splitDataset, splitRows } from './dataset';
import { makeSyntheticDataset } from './synthetic';

/** A source whose row r holds [r, r + 0.5, …]: row ids can be read back from the values. */
function fakeSource(rows: number, width: number, reads: { start: number; count: number }[] = []): ActivationSource {
  const data = Float32Array.from({ length: rows * width }, (_, i) => Math.floor(i / width) + (i % width) * 0.5);
  const src: ActivationSource = {
    name: 'fake', rows, dIn: width, nLayers: 1, dtype: 'float32', bytes: data.byteLength,
    async readRows(start, count) {
      reads.push({ start, count });
      return data.slice(start * width, (start + count) * width);
    },
    withLayers: () => src,
  };
  return src;
}

describe('StreamSampler', () => {
  const rows = 1000, width = 3;
  const cls = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) if (r % 10 === 3) cls[r] = VAL; else if (r % 97 === 5) cls[r] = EXCLUDED;
  const trainRows = cls.reduce((a, c) => a + (c === TRAIN ? 1 : 0), 0);

  it('draws only training rows, with their own values, each once per epoch, from chunks read in a shuffled order', async () => {
    const reads: { start: number; count: number }[] = [];
    const s = new StreamSampler(fakeSource(rows, width, reads), cls, { batchSize: 50, seed: 1, chunkRows: 64, bufferRows: 200 });
    expect(s.trainRows).toBe(trainRows);
    const drawn: number[] = [];
    const batches = Math.ceil((3 * trainRows) / 50);
    for (let b = 0; b < batches; b++) {
      const batch = await s.next();
      s.lastRows.forEach((id, i) => {
        expect(cls[id]).toBe(TRAIN);
        for (let j = 0; j < width; j++) expect(batch[i * width + j]).toBe(id + j * 0.5);
        drawn.push(id);
      });
    }
    // Until the buffer starts taking the next epoch's chunks, no row repeats.
    const capacity = 200 + 64;
    const firstPass = drawn.slice(0, trainRows - capacity);
    expect(new Set(firstPass).size).toBe(firstPass.length);
    // Over three epochs every training row is drawn 2–4 times (once per epoch, give or take the buffer).
    const counts = new Map<number, number>();
    for (const id of drawn) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(counts.size).toBe(trainRows);
    for (const c of counts.values()) { expect(c).toBeGreaterThanOrEqual(2); expect(c).toBeLessThanOrEqual(4); }
    // Chunks are read whole, not in file order, and a batch mixes several chunks.
    const starts = reads.slice(0, 16).map((r) => r.start);
    expect(starts).not.toEqual([...starts].sort((a, b) => a - b));
    const chunksInFirstBatch = new Set(drawn.slice(0, 50).map((id) => Math.floor(id / 64)));
    expect(chunksInFirstBatch.size).toBeGreaterThan(2);
    expect(s.epoch).toBeGreaterThanOrEqual(2);
  });

  it('is reproducible for a seed', async () => {
    const a = new StreamSampler(fakeSource(rows, width), cls, { batchSize: 32, seed: 5, chunkRows: 64, bufferRows: 128 });
    const b = new StreamSampler(fakeSource(rows, width), cls, { batchSize: 32, seed: 5, chunkRows: 64, bufferRows: 128 });
    for (let i = 0; i < 5; i++) expect(Array.from(await a.next())).toEqual(Array.from(await b.next()));
  });

  it('gathers one class in row order, reading only chunks that hold some', async () => {
    const reads: { start: number; count: number }[] = [];
    const only = new Uint8Array(rows).fill(TRAIN);
    only[130] = VAL; only[131] = VAL; only[900] = VAL;
    const { data, ids } = await gatherRows(fakeSource(rows, width, reads), only, VAL, 100);
    expect(Array.from(ids)).toEqual([130, 131, 900]);
    expect(Array.from(data.subarray(0, 3))).toEqual([130, 130.5, 131]);
    expect(reads.map((r) => r.start)).toEqual([100, 900]);
  });
});

describe('splitRows', () => {
  const cfg = { val_fraction: 0.2, seed: 3, split_by: 'rows' as const };

  it('by rows takes the same validation rows as the in-memory shuffle', () => {
    const ds = makeSyntheticDataset({ rows: 300 });
    const cls = splitRows(300, cfg, {});
    const split = splitDataset(ds, 0.2, 3);
    expect(Array.from(split.valIds).sort((a, b) => a - b)).toEqual([...cls.keys()].filter((r) => cls[r] === VAL));
  });

  it('by document keeps every document on one side and leaves excluded rows out', () => {
    const docIds = Int32Array.from({ length: 500 }, (_, r) => Math.floor(r / 23));
    const exclude = Uint32Array.from([0, 23, 46]);
    const cls = splitRows(500, { ...cfg, split_by: 'document' }, { docIds, exclude });
    for (const r of exclude) expect(cls[r]).toBe(EXCLUDED);
    const side = new Map<number, number>();
    docIds.forEach((d, r) => {
      if (cls[r] === EXCLUDED) return;
      if (side.has(d)) expect(cls[r]).toBe(side.get(d));
      side.set(d, cls[r]);
    });
    const val = cls.reduce((a, c) => a + (c === VAL ? 1 : 0), 0);
    expect(val).toBeGreaterThanOrEqual(0.2 * 497);
    expect(val).toBeLessThan(0.2 * 497 + 23);
    expect(() => splitRows(500, { ...cfg, split_by: 'document' }, {})).toThrow(/document id of every row/);
  });

  it('by blocks keeps validation rows contiguous and caps them', () => {
    const cls = splitRows(10_000, cfg, { block: 100, maxVal: 1000 });
    const val = [...cls.keys()].filter((r) => cls[r] === VAL);
    expect(val.length).toBe(1000);
    expect(new Set(val.map((r) => Math.floor(r / 100))).size).toBe(10);
  });
});

describe('StatsAccumulator', () => {
  it('matches a brute-force computation, chunk by chunk, and flags outlier and non-finite rows', () => {
    const rows = 200, w = 4;
    const data = Float32Array.from({ length: rows * w }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 3)));
    for (const r of [7, 150]) for (let j = 0; j < w; j++) data[r * w + j] *= 20; // BOS-like rows
    data[99 * w + 2] = NaN;
    const acc = new StatsAccumulator(rows, w);
    acc.add(data.subarray(0, 64 * w), 0);
    acc.add(data.subarray(64 * w), 64);
    const { stats, outlierRows } = acc.finish();
    expect(acc.nonFiniteRows).toBe(1);
    expect(acc.firstNonFiniteRow).toBe(99);
    const finite = [...Array(rows).keys()].filter((r) => r !== 99);
    for (let j = 0; j < w; j++) {
      const col = finite.map((r) => data[r * w + j]);
      const mean = col.reduce((a, b) => a + b, 0) / col.length;
      const std = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / col.length);
      expect(stats.perDimMean[j]).toBeCloseTo(mean, 5);
      expect(stats.perDimStd[j]).toBeCloseTo(std, 5);
    }
    const norms = finite.map((r) => Math.hypot(...data.subarray(r * w, (r + 1) * w)));
    expect(stats.meanNorm).toBeCloseTo(norms.reduce((a, b) => a + b, 0) / norms.length, 4);
    expect(stats.normHistogram.counts.reduce((a, b) => a + b, 0)).toBe(rows - 1);
    expect(Array.from(outlierRows)).toEqual([7, 150]);
    expect(stats.outliers.count).toBe(2);
    expect(stats.outliers.examples.map((e) => e.row)).toEqual([7, 150]);
  });

  it('does not flag a tight distribution', () => {
    const norms = Float32Array.from({ length: 1000 }, (_, i) => 10 + (i % 7) * 0.01);
    const { threshold, median } = outlierThreshold(norms);
    expect(median).toBeCloseTo(10.03, 5);
    expect(threshold).toBeCloseTo(15.045, 3); // 1.5 × median wins over median + 6·1.4826·MAD
  });
});

describe('training from a stream', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('a streamed dataset trains, validates on held-out blocks, and leaks no tensors', async () => {
    const ds = makeSyntheticDataset({ rows: 3000 });
    const width = ds.dIn;
    const src: ActivationSource = {
      name: 'big.npy', rows: ds.rows, dIn: width, nLayers: 1, dtype: 'float32', bytes: ds.data.byteLength,
      readRows: async (start, count) => ds.data.slice(start * width, (start + count) * width),
      withLayers: () => src,
    };
    const ws = new Workspace();
    ws.setDataset({ name: 'big.npy', rows: ds.rows, dIn: width, nLayers: 1, dtype: 'float32', description: '', source: src }, {
      format: 'npy', bytes: ds.data.byteLength, stats: (() => { const a = new StatsAccumulator(ds.rows, width); a.add(ds.data, 0); return a.finish().stats; })(), outlierRows: new Uint32Array(0),
    });
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 32, k: 4, batch_size: 64, steps: 120, log_every: 20 }, width);
    const data = await trainingDataFor(ws, cfg);
    expect(data.stream).toBeDefined();
    expect(data.valRows).toBe(300);
    // Validation rows are never trained on.
    const val = new Set(data.valIds);
    const t = new Trainer(cfg, data, 'cpu');
    await t.runSteps(1);
    expect([...data.stream!.lastRows].some((r) => val.has(r))).toBe(false);
    await t.runSteps(5);
    const before = tf.memory().numTensors;
    await t.runSteps(10);
    expect(tf.memory().numTensors).toBe(before);
    await t.runSteps(cfg.steps);
    const rows = t.takeRows();
    expect(rows[rows.length - 1].nmse).toBeLessThan(rows[0].nmse);
    const { metrics } = await t.evaluate();
    t.dispose();
    // As good as the same run from memory (same config; different batches and validation rows).
    const memory = new Trainer(cfg, splitDataset(ds, 0.1, 0), 'cpu');
    await memory.runSteps(cfg.steps);
    const reference = (await memory.evaluate()).metrics;
    memory.dispose();
    expect(reference.fve).toBeGreaterThan(0.2);
    expect(Math.abs(metrics.fve - reference.fve)).toBeLessThan(0.05);
  }, 60_000);
});
