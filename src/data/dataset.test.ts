import { describe, expect, it } from 'vitest';
import { writeNpy } from '../io/npy';
import { BatchSampler, datasetFromNpy, splitDataset } from './dataset';
import { StatsAccumulator } from './stats';
import { makeSyntheticDataset } from './synthetic';

const ab = (u: Uint8Array) => u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

/** Rows tagged with their index in column 0, so we can see which rows went where. */
function indexed(rows: number, d = 2) {
  const data = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) data[r * d + j] = r + j / 10;
  return { name: 't', rows, dIn: d, nLayers: 1, data, dtype: 'float32', description: '' };
}

describe('datasetFromNpy', () => {
  it('loads [N, d] and rejects NaN rows and single rows with clear messages', () => {
    const ds = datasetFromNpy(ab(writeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2])), 'a.npy');
    expect(ds).toMatchObject({ rows: 3, dIn: 2, dtype: 'float32', name: 'a.npy' });
    expect(() => datasetFromNpy(ab(writeNpy(new Float32Array([1, 2, NaN, 4, 5, Infinity]), [3, 2])), 'n.npy')).toThrow(/2 row\(s\) containing NaN or Inf \(the first is row 1\)/);
    expect(() => datasetFromNpy(ab(writeNpy(new Float32Array([1, 2]), [1, 2])), 'one.npy')).toThrow(/only 1 row/);
  });
});

describe('splitDataset', () => {
  it('is a seeded, disjoint, complete partition with the asked validation size', () => {
    const ds = indexed(100);
    const s = splitDataset(ds, 0.1, 7);
    expect([s.trainRows, s.valRows]).toEqual([90, 10]);
    const ids = (a: Float32Array, n: number) => Array.from({ length: n }, (_, i) => a[i * 2]);
    const all = [...ids(s.train, s.trainRows), ...ids(s.val, s.valRows)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(ids(splitDataset(ds, 0.1, 7).val, 10)).toEqual(ids(s.val, 10));
    expect(ids(splitDataset(ds, 0.1, 8).val, 10)).not.toEqual(ids(s.val, 10));
    // Rows are copied whole (the second column follows its row).
    expect(s.val[1]).toBeCloseTo(s.val[0] + 0.1, 5);
    expect(splitDataset(indexed(5), 0.01, 0).valRows).toBe(1);
    expect(splitDataset(indexed(5), 0, 0).valRows).toBe(0);
  });
});

describe('BatchSampler', () => {
  it('visits every row once per epoch, in a seeded order that changes between epochs', () => {
    const ds = indexed(12);
    const s = new BatchSampler(ds.data, 12, 2, 4, 3);
    const epoch = (smp: BatchSampler) => [0, 1, 2].flatMap(() => { const b = smp.next(); return [b[0], b[2], b[4], b[6]]; });
    const e1 = epoch(s);
    expect([...e1].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const e2 = epoch(s);
    expect([...e2].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(e2).not.toEqual(e1);
    expect(s.epoch).toBe(1);
    expect(epoch(new BatchSampler(ds.data, 12, 2, 4, 3))).toEqual(e1);
  });
  it('wraps across epochs when the batch is larger than the data', () => {
    const b = new BatchSampler(indexed(3).data, 3, 2, 7, 0).next();
    const ids = Array.from({ length: 7 }, (_, i) => b[i * 2]);
    expect(ids.slice(0, 3).sort()).toEqual([0, 1, 2]);
    expect(ids.slice(3, 6).sort()).toEqual([0, 1, 2]);
  });
});

describe('StatsAccumulator', () => {
  it('matches a hand computation', () => {
    // rows (3,4), (0,0), (-3,-4): norms 5, 0, 5; entries mean 0; E[x²] = 50/6
    const acc = new StatsAccumulator(3, 2);
    acc.add(new Float32Array([3, 4, 0, 0, -3, -4]), 0);
    const s = acc.finish().stats;
    expect(s.mean).toBeCloseTo(0, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(50 / 6), 6);
    expect(s.meanNorm).toBeCloseTo(10 / 3, 6);
    expect([s.min, s.max]).toEqual([-4, 4]);
    expect(s.perDimMean).toEqual([0, 0]);
  });
});

describe('synthetic sample', () => {
  it('plants unit features with sparse non-negative codes, deterministically', () => {
    const ds = makeSyntheticDataset({ rows: 4000, dIn: 16, nFeatures: 40, activePerRow: 3, noise: 0, seed: 5 });
    const gt = ds.groundTruth!;
    for (let i = 0; i < 40; i++) {
      let n = 0;
      for (let j = 0; j < 16; j++) n += gt.dictionary[i * 16 + j] ** 2;
      expect(Math.sqrt(n)).toBeCloseTo(1, 5);
    }
    const again = makeSyntheticDataset({ rows: 4000, dIn: 16, nFeatures: 40, activePerRow: 3, noise: 0, seed: 5 });
    expect(Array.from(again.data.subarray(0, 64))).toEqual(Array.from(ds.data.subarray(0, 64)));
    expect(Array.from(makeSyntheticDataset({ rows: 10, dIn: 16, nFeatures: 40, seed: 6 }).data.subarray(0, 16))).not.toEqual(Array.from(ds.data.subarray(0, 16)));
    // With no noise, x − offset = Σ c_i d_i over the active features. Features are nearly
    // orthogonal on average, so E‖x − offset‖² ≈ active · E[c²], with c = 1 + 1.5|N(0,1)|:
    // E[c²] = 1 + 3·√(2/π) + 2.25 ≈ 5.643. The offset is drawn right after the dictionary, so a
    // dataset with the same seed and no active features is exactly the offset.
    const offset = new Float64Array(16);
    const off = makeSyntheticDataset({ rows: 1, dIn: 16, nFeatures: 40, activePerRow: 0, noise: 0, seed: 5 }).data;
    for (let j = 0; j < 16; j++) offset[j] = off[j];
    let sq = 0;
    for (let r = 0; r < 4000; r++) for (let j = 0; j < 16; j++) sq += (ds.data[r * 16 + j] - offset[j]) ** 2;
    expect(sq / 4000 / (3 * 5.643)).toBeGreaterThan(0.8);
    expect(sq / 4000 / (3 * 5.643)).toBeLessThan(1.25);
  });
});
