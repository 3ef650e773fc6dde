// Neuronpedia / SAEDashboard feature JSON of a small trained SAE, against references computed here
// with plain arrays: frac_nonzero and the activation histogram from every row's latents, the logit
// histogram and top / bottom tokens from the decoder row times a hand-built unembedding, the top
// group's bin fields, per-token values of the windows, the document counts, the neuron alignment.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { createRng } from '../engine/rng';
import { Trainer } from '../engine/trainer';
import { dashboardHistogram, neuronpediaDashboards } from './dashboard';
import { featureOverview } from './features';
import { trainingDataFor } from './trainingData';
import { Workspace } from './workspace';

const FEATURE_KEYS = [
  'activations', 'dataset', 'feature_index', 'frac_nonzero',
  'freq_hist_data_bar_heights', 'freq_hist_data_bar_values',
  'logits_hist_data_bar_heights', 'logits_hist_data_bar_values',
  'n_prompts_total', 'n_tokens_in_prompt',
  'neg_str', 'neg_values',
  'neuron_alignment_indices', 'neuron_alignment_l1', 'neuron_alignment_values',
  'pos_str', 'pos_values',
].sort();
const ACTIVATION_KEYS = ['bin_contains', 'bin_max', 'bin_min', 'qualifying_token_index', 'tokens', 'values'];

/** numpy/torch-style reference: `bins` equal bins over [min, max], the max in the last bin. */
function referenceHistogram(values: number[], bins = 50) {
  const lo = Math.min(...values), hi = Math.max(...values);
  const heights = new Array<number>(bins).fill(0);
  for (const v of values) heights[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))] += 1;
  const centres = heights.map((_, i) => lo + ((i + 0.5) * (hi - lo)) / bins);
  return { heights, centres };
}

describe('Neuronpedia dashboards', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('dashboardHistogram: centres and counts over [min, max]; one repeated value lands in the middle bin', () => {
    const h = dashboardHistogram([0, 1, 2, 3, 4], 4);
    expect(h.bar_values).toEqual([0.5, 1.5, 2.5, 3.5]);
    expect(h.bar_heights).toEqual([1, 1, 1, 2]); // the max falls in the last bin
    expect(dashboardHistogram([])).toEqual({ bar_heights: [], bar_values: [] });
    const same = dashboardHistogram([2, 2, 2]);
    expect(same.bar_heights).toHaveLength(50);
    expect(same.bar_heights[25]).toBe(3);
    expect(same.bar_heights.reduce((a, b) => a + b, 0)).toBe(3);
    expect(same.bar_values.every((v) => v === 2)).toBe(true);
  });

  it('every field equals a brute-force reference; the JSON round-trips with exactly the SAEDashboard keys', async () => {
    const rng = createRng(11);
    const rows = 600, d = 8, V = 30, dSae = 32;
    const data = Float32Array.from({ length: rows * d }, () => rng.normal());
    const ws = new Workspace();
    ws.setDataset({ name: 'toy.npy', rows, dIn: d, nLayers: 1, data, dtype: 'float32', description: 'toy' });
    ws.tokens = { name: 't', ids: Int32Array.from({ length: rows }, (_, r) => (r * 7) % V) };
    ws.vocab = { name: 'v', pieces: Array.from({ length: V }, (_, i) => `tok${i}`) };
    ws.docIds = { name: 'd', ids: Int32Array.from({ length: rows }, (_, r) => Math.floor(r / 50)), documents: 12 };
    const cfg = resolveConfig({ architecture: 'topk', d_sae: dSae, k: 4, batch_size: 64, steps: 30 }, d);
    const trainer = new Trainer(cfg, await trainingDataFor(ws, cfg), 'cpu');
    await trainer.runSteps(30);
    const ov = await featureOverview(ws, trainer, { k: 20 });

    // A hand-built unembedding W_U [d, V] and the logit lens dir · W_U.
    const wU = Float32Array.from({ length: d * V }, () => rng.normal());
    const logits = async (dir: Float32Array) => Float32Array.from({ length: V }, (_, v) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += dir[c] * wU[c * V + v];
      return s;
    });

    const all = await trainer.latentsOfRows(data, rows);
    const wDec = (await trainer.exportTensors()).W_dec.data; // [d_sae, d]
    const alive = Array.from(ov.density.keys()).filter((j) => ov.density[j] > 0.02);
    const latents = alive.slice(0, 3);
    expect(latents.length).toBe(3);

    const batch = await neuronpediaDashboards(ws, trainer, ov, latents, { logits, before: 3, after: 2 });
    expect(Object.keys(batch)).toEqual(['features']); // no language model: no model_id / layer
    expect(batch.features.map((f) => f.feature_index)).toEqual(latents);
    const parsed = JSON.parse(JSON.stringify(batch));
    expect(parsed).toEqual(batch);

    for (const f of parsed.features) {
      const j = f.feature_index;
      expect(Object.keys(f).sort()).toEqual(FEATURE_KEYS);
      const column = Array.from({ length: rows }, (_, r) => all[r * dSae + j]);
      const fired = column.filter((v) => v > 0);

      // frac_nonzero: firing rows / all rows.
      expect(f.frac_nonzero).toBeCloseTo(fired.length / rows, 12);

      // Activation histogram over the non-zero activations only.
      const ref = referenceHistogram(fired);
      expect(f.freq_hist_data_bar_heights).toEqual(ref.heights);
      expect(f.freq_hist_data_bar_values).toHaveLength(50);
      f.freq_hist_data_bar_values.forEach((v: number, i: number) => expect(Math.abs(v - ref.centres[i])).toBeLessThan(1e-5));

      // Logit lens of the decoder row: histogram over the whole vocab, top / bottom 10.
      const dir = Array.from({ length: d }, (_, c) => wDec[j * d + c]);
      const lens = Array.from({ length: V }, (_, v) => dir.reduce((s, x, c) => s + x * wU[c * V + v], 0));
      const lensRef = referenceHistogram(lens);
      expect(f.logits_hist_data_bar_heights).toEqual(lensRef.heights);
      f.logits_hist_data_bar_values.forEach((v: number, i: number) => expect(Math.abs(v - lensRef.centres[i])).toBeLessThan(1e-4));
      const byLogit = lens.map((v, id) => ({ v, id })).sort((a, b) => b.v - a.v);
      expect(f.pos_str).toEqual(byLogit.slice(0, 10).map((t) => `tok${t.id}`));
      expect(f.neg_str).toEqual(byLogit.slice(-10).reverse().map((t) => `tok${t.id}`));
      f.pos_values.forEach((v: number, i: number) => expect(Math.abs(v - byLogit[i].v)).toBeLessThan(1e-4));
      f.neg_values.forEach((v: number, i: number) => expect(Math.abs(v - byLogit[V - 1 - i].v)).toBeLessThan(1e-4));
      expect(f.neg_values[0]).toBeLessThan(0);
      expect(f.pos_values[0]).toBeGreaterThan(0);

      // The top group: bin_min −1, bin_max the max over every row, bin_contains −1; windows carry
      // the latent's activation on every token; the qualifying token is the top row.
      const top = column.map((v, r) => ({ v, r })).filter((t) => t.v > 0).sort((a, b) => b.v - a.v || a.r - b.r).slice(0, 20);
      expect(f.activations).toHaveLength(top.length);
      f.activations.forEach((a: { bin_min: number; bin_max: number; bin_contains: number; tokens: string[]; values: number[]; qualifying_token_index: number }, i: number) => {
        expect(Object.keys(a).sort()).toEqual(ACTIVATION_KEYS);
        expect(a.bin_min).toBe(-1);
        expect(a.bin_contains).toBe(-1);
        expect(Math.abs(a.bin_max - Math.max(...fired))).toBeLessThan(1e-5);
        expect(a.tokens.length).toBe(a.values.length);
        const q = a.qualifying_token_index;
        expect(Math.abs(a.values[q] - top[i].v)).toBeLessThan(1e-4);
        expect(a.tokens[q]).toBe(`tok${ws.tokens!.ids[top[i].r]}`);
        // Every token of the window: its row's activation and token (window rows are consecutive).
        a.values.forEach((v, t) => {
          const row = top[i].r - q + t;
          expect(Math.abs(v - column[row])).toBeLessThan(1e-4);
          expect(a.tokens[t]).toBe(`tok${ws.tokens!.ids[row]}`);
          expect(Math.floor(row / 50)).toBe(Math.floor(top[i].r / 50)); // within the document
        });
        expect(a.tokens.length).toBeLessThanOrEqual(6);
      });

      // 12 documents of 50 tokens.
      expect(f.n_prompts_total).toBe(12);
      expect(f.n_tokens_in_prompt).toBe(50);
      expect(f.dataset).toBe('toy.npy');

      // Neuron alignment: the top 3 decoder coordinates by signed value and their share of its L1 norm.
      const l1 = dir.reduce((s, x) => s + Math.abs(x), 0);
      const coords = dir.map((v, c) => ({ v, c })).sort((a, b) => b.v - a.v).slice(0, 3);
      expect(f.neuron_alignment_indices).toEqual(coords.map((t) => t.c));
      f.neuron_alignment_values.forEach((v: number, i: number) => expect(Math.abs(v - coords[i].v)).toBeLessThan(1e-5));
      f.neuron_alignment_l1.forEach((v: number, i: number) => expect(Math.abs(v - Math.abs(coords[i].v) / l1)).toBeLessThan(1e-5));
    }

    // One latent alone gives the same feature as within the batch.
    const single = await neuronpediaDashboards(ws, trainer, ov, [latents[1]], { logits, before: 3, after: 2 });
    expect(single.features[0]).toEqual(batch.features[1]);

    // No language model: the logit fields are empty, the rest unchanged.
    const bare = (await neuronpediaDashboards(ws, trainer, ov, [latents[0]], { before: 3, after: 2 })).features[0];
    for (const key of ['logits_hist_data_bar_heights', 'logits_hist_data_bar_values', 'pos_str', 'pos_values', 'neg_str', 'neg_values'] as const) expect(bare[key]).toEqual([]);
    expect(bare.freq_hist_data_bar_heights).toEqual(batch.features[0].freq_hist_data_bar_heights);
    expect(bare.activations).toEqual(batch.features[0].activations);

    // Top-k: fewer contexts on request.
    expect((await neuronpediaDashboards(ws, trainer, ov, [latents[0]], { k: 5 })).features[0].activations).toHaveLength(5);

    // Documents from positions when there are no document ids; one sequence when neither is known.
    ws.docIds = null;
    ws.positions = { name: 'p', ids: Int32Array.from({ length: rows }, (_, r) => r % 40) };
    let f0 = (await neuronpediaDashboards(ws, trainer, ov, [latents[0]])).features[0];
    expect([f0.n_prompts_total, f0.n_tokens_in_prompt]).toEqual([15, 40]);
    ws.positions = null;
    f0 = (await neuronpediaDashboards(ws, trainer, ov, [latents[0]])).features[0];
    expect([f0.n_prompts_total, f0.n_tokens_in_prompt]).toEqual([1, rows]);

    // A dead latent: no activations and an empty histogram, not made-up numbers.
    const dead = Array.from(ov.density.keys()).find((j) => ov.density[j] === 0);
    if (dead !== undefined) {
      const fd = (await neuronpediaDashboards(ws, trainer, ov, [dead], { logits })).features[0];
      expect(fd.activations).toEqual([]);
      expect(fd.frac_nonzero).toBe(0);
      expect(fd.freq_hist_data_bar_heights).toEqual([]);
      expect(fd.logits_hist_data_bar_heights).toHaveLength(50);
    }

    await expect(neuronpediaDashboards(ws, trainer, ov, [dSae])).rejects.toThrow(/does not exist/);
    trainer.dispose();
  }, 60_000);
});
