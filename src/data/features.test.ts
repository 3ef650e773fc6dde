// The feature browser's data on a small dataset: the overview equals brute force over every row's
// latents, contexts centre on the top rows with the latent's own activations, the histogram counts
// the firing rows, neighbours and the logit lens are wired to the decoder.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { createRng } from '../engine/rng';
import { Trainer } from '../engine/trainer';
import { exportContexts, featureOverview, latentDetail } from './features';
import { trainingDataFor } from './trainingData';
import { Workspace } from './workspace';

describe('feature browser data', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('overview = brute force; detail of a latent is consistent with it', async () => {
    const rng = createRng(5);
    const rows = 600, d = 8;
    const data = Float32Array.from({ length: rows * d }, () => rng.normal());
    const ws = new Workspace();
    ws.setDataset({ name: 'toy', rows, dIn: d, nLayers: 1, data, dtype: 'float32', description: 'toy' });
    ws.tokens = { name: 't', ids: Int32Array.from({ length: rows }, (_, r) => r % 7) };
    ws.vocab = { name: 'v', pieces: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] };
    ws.docIds = { name: 'd', ids: Int32Array.from({ length: rows }, (_, r) => Math.floor(r / 50)), documents: 12 };
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 32, k: 4, batch_size: 64, steps: 30 }, d);
    const trainer = new Trainer(cfg, await trainingDataFor(ws, cfg), 'cpu');
    await trainer.runSteps(30);
    const before = tf.memory().numTensors;
    const ov = await featureOverview(ws, trainer, { k: 5 });
    expect(tf.memory().numTensors).toBe(before);
    const all = await trainer.latentsOfRows(data, rows);
    for (let j = 0; j < 32; j++) {
      const list: { row: number; value: number }[] = [];
      for (let r = 0; r < rows; r++) if (all[r * 32 + j] > 0) list.push({ row: r, value: all[r * 32 + j] });
      list.sort((a, b) => b.value - a.value || a.row - b.row);
      expect(ov.top[j]).toEqual(list.slice(0, 5));
      expect(ov.density[j]).toBeCloseTo(list.length / rows, 12);
    }
    // TopK with k = 4: on average 4 latents fire per row (ReLU may drop a negative one).
    const meanL0 = Array.from(ov.density).reduce((a, b) => a + b, 0);
    expect(meanL0).toBeGreaterThan(3);
    expect(meanL0).toBeLessThanOrEqual(4 + 1e-9);
    expect(ov.dead).toBe(Array.from(ov.density).filter((v) => v === 0).length);

    const j = Array.from(ov.density).findIndex((v) => v > 0.05);
    const detail = await latentDetail(ws, trainer, ov, j, { before: 3, after: 2, logits: async (dir) => Float32Array.from({ length: 7 }, (_, v) => dir[v % d] * (v + 1)) });
    expect(detail.contexts).toHaveLength(5);
    detail.contexts.forEach((c, i) => {
      expect(c.rows[c.centre]).toBe(ov.top[j][i].row);
      expect(c.values[c.centre]).toBeCloseTo(ov.top[j][i].value, 5);
      expect(c.tokens[c.centre]).toBe(ws.vocab!.pieces[ws.tokens!.ids[c.rows[c.centre]]]);
      // Windows stay in their document.
      expect(new Set(c.rows.map((r) => Math.floor(r / 50))).size).toBe(1);
      expect(c.rows.length).toBeLessThanOrEqual(6);
    });
    expect(detail.histogram.counts.reduce((a, b) => a + b, 0)).toBe(Math.round(ov.density[j] * rows));
    expect(detail.neighbours).toHaveLength(10);
    expect(detail.neighbours.every((n) => n.latent !== j && Math.abs(n.cosine) <= 1 + 1e-6)).toBe(true);
    expect(detail.promoted).toHaveLength(7); // the whole 7-token vocabulary (at most 10)
    expect(detail.promoted![0].logit).toBeGreaterThanOrEqual(detail.promoted![1].logit);
    // The contexts export: every latent, the same windows and values as the latent's own detail.
    const exported = await exportContexts(ws, trainer, ov, { before: 3, after: 2 });
    expect(exported.latents).toHaveLength(32);
    expect(exported.latents[j].contexts).toEqual(detail.contexts.map((c) => ({ tokens: c.tokens, values: c.values, rows: c.rows, max_index: c.centre })));
    expect(exported.latents[j].density).toBe(ov.density[j]);
    expect(JSON.parse(JSON.stringify(exported)).latents[j].contexts[0].tokens).toEqual(detail.contexts[0].tokens);
    trainer.dispose();
  }, 60_000);
});
