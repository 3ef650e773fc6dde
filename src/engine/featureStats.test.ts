// Feature statistics against brute force: the top-k collection (batch by batch, heaps) equals
// sorting every activation of every latent; density, max and mean by hand; context windows stop
// at document boundaries; decoder neighbours equal an all-pairs cosine table.
import { describe, expect, it } from 'vitest';
import { createRng } from './rng';
import { FeatureCollector, contextRows, decoderNeighbours } from './featureStats';

describe('FeatureCollector', () => {
  it('density, max and mean (over firing rows) by hand', () => {
    const c = new FeatureCollector(3, 2);
    c.add([0, 1, 2, 0, 3, 0, 0, 0, 4, 5, 0, 0], 4);
    const s = c.finish();
    expect(Array.from(s.density)).toEqual([0.25, 0.5, 0.5]);
    expect(Array.from(s.maxActivation)).toEqual([5, 3, 4]);
    expect(Array.from(s.meanActivation)).toEqual([5, 2, 3]);
    expect(s.top[2]).toEqual([{ row: 2, value: 4 }, { row: 0, value: 2 }]);
  });

  it('the top-k of every latent, gathered over uneven batches, equals brute-force sorting', () => {
    const rng = createRng(7);
    const n = 1500, dSae = 40, k = 20;
    // Sparse, with repeated values so that ties (earlier row first) are exercised.
    const f = Float32Array.from({ length: n * dSae }, () => (rng.next() < 0.2 ? Math.round(rng.next() * 50) / 10 : 0));
    const c = new FeatureCollector(dSae, k);
    let at = 0;
    for (const size of [1, 37, 500, 262, 700]) {
      c.add(f.subarray(at * dSae, (at + size) * dSae), size);
      at += size;
    }
    expect(at).toBe(n);
    const s = c.finish();
    for (let j = 0; j < dSae; j++) {
      const all: { row: number; value: number }[] = [];
      for (let r = 0; r < n; r++) if (f[r * dSae + j] > 0) all.push({ row: r, value: f[r * dSae + j] });
      all.sort((a, b) => b.value - a.value || a.row - b.row);
      expect(s.top[j], `latent ${j}`).toEqual(all.slice(0, k));
      expect(s.density[j]).toBeCloseTo(all.length / n, 12);
    }
  });

  it('uses the given row ids', () => {
    const c = new FeatureCollector(1, 3);
    c.add([1, 3, 2], 3, [10, 20, 30]);
    expect(c.finish().top[0].map((t) => t.row)).toEqual([20, 30, 10]);
  });
});

describe('contextRows', () => {
  const docIds = [0, 0, 0, 1, 1, 1, 1, 1, 2];
  it('stops at document boundaries and at the window', () => {
    expect(contextRows(4, 9, { before: 10, after: 10, docIds })).toEqual({ rows: [3, 4, 5, 6, 7], centre: 1 });
    expect(contextRows(6, 9, { before: 1, after: 0, docIds })).toEqual({ rows: [5, 6], centre: 1 });
    expect(contextRows(8, 9, { docIds })).toEqual({ rows: [8], centre: 0 });
  });
  it('uses restarts of positions when there are no document ids', () => {
    const positions = [1, 2, 3, 1, 2, 3, 4];
    expect(contextRows(4, 7, { positions })).toEqual({ rows: [3, 4, 5, 6], centre: 1 });
  });
});

describe('decoderNeighbours', () => {
  it('ranks by cosine like an all-pairs table', () => {
    const rng = createRng(3);
    const dSae = 30, d = 8;
    const w = Float32Array.from({ length: dSae * d }, () => rng.normal());
    const got = decoderNeighbours(w, dSae, d, 5, 4);
    const cos = (a: number, b: number) => {
      let dot = 0, na = 0, nb = 0;
      for (let c = 0; c < d; c++) { dot += w[a * d + c] * w[b * d + c]; na += w[a * d + c] ** 2; nb += w[b * d + c] ** 2; }
      return dot / Math.sqrt(na * nb);
    };
    const all = Array.from({ length: dSae }, (_, r) => r).filter((r) => r !== 5).map((r) => ({ latent: r, cosine: cos(5, r) })).sort((a, b) => b.cosine - a.cosine);
    expect(got.map((g) => g.latent)).toEqual(all.slice(0, 4).map((a) => a.latent));
    got.forEach((g, i) => expect(g.cosine).toBeCloseTo(all[i].cosine, 10));
    // A latent's copy scaled by 3 is its nearest neighbour at cosine 1.
    const w2 = Float32Array.from(w);
    for (let c = 0; c < d; c++) w2[7 * d + c] = 3 * w2[5 * d + c];
    expect(decoderNeighbours(w2, dSae, d, 5, 1)[0]).toMatchObject({ latent: 7 });
    expect(decoderNeighbours(w2, dSae, d, 5, 1)[0].cosine).toBeCloseTo(1, 6);
  });
});
