// LlamaModel on tiny random checkpoints against run.c's forward pass transcribed in ./testing.ts
// (token by token, KV cache, float64): residuals at every site, logits, starting and stopping at
// sites, splicing, and tensor bookkeeping. Also the batch planning of ./batching.ts.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLlama2cCheckpoint, type LlamaConfig } from '../../io/llama2c';
import { useCpu } from '../testing';
import { batchTokenBudget, padBatch, planBatches } from './batching';
import { LlamaModel } from './llama';
import { randomDocuments, randomWeights, referenceForward, serializeV0, serializeV1, tinyConfig, uniform, type RawWeights, type ResidualHook } from './testing';

beforeAll(useCpu);

function build(c: LlamaConfig, seed: number, format: 'v0' | 'v1' = 'v0'): { w: RawWeights; model: LlamaModel } {
  const w = randomWeights(c, seed);
  const bytes = format === 'v0' ? serializeV0(c, w) : serializeV1(c, w);
  return { w, model: new LlamaModel(parseLlama2cCheckpoint(bytes, 'tiny.bin')) };
}

const LENGTHS = [11, 7, 4];

/**
 * Runs the padded batch of `docs` and returns the worst |tfjs − reference| over real positions of
 * the logits and of the residual at every site (all sites captured).
 */
function worstDiffs(model: LlamaModel, c: LlamaConfig, w: RawWeights, docs: Int32Array[], opts: { splice?: (site: number, x: tf.Tensor2D) => tf.Tensor2D | null; hook?: ResidualHook } = {}) {
  const { tokens, B, T } = padBatch(docs, docs.map((_, i) => i));
  const sites = Array.from({ length: c.nLayers + 1 }, (_, s) => s);
  const out = model.forward(tokens, B, T, { capture: sites, splice: opts.splice });
  const logits = out.logits!.dataSync();
  const resid = sites.map((s) => out.captured.get(s)!.dataSync());
  tf.dispose([out.logits!, ...out.captured.values()]);
  let worstLogit = 0, worstResid = 0, largestLogit = 0;
  docs.forEach((doc, b) => {
    const ref = referenceForward(c, w, doc, opts.hook);
    for (let p = 0; p < doc.length; p++) {
      const row = b * T + p;
      for (let v = 0; v < c.vocabSize; v++) {
        worstLogit = Math.max(worstLogit, Math.abs(logits[row * c.vocabSize + v] - ref.logits[p][v]));
        largestLogit = Math.max(largestLogit, Math.abs(ref.logits[p][v]));
      }
      for (const s of sites) for (let j = 0; j < c.dim; j++) worstResid = Math.max(worstResid, Math.abs(resid[s][row * c.dim + j] - ref.residuals[s][p][j]));
    }
  });
  return { worstLogit, worstResid, largestLogit };
}

describe('LlamaModel against run.c (plain JS, token by token)', () => {
  const variants: { name: string; config: LlamaConfig; format: 'v0' | 'v1' }[] = [
    { name: 'grouped kv heads (4 / 2), shared classifier, v0', config: tinyConfig(), format: 'v0' },
    { name: 'separate classifier, v1', config: tinyConfig({ sharedClassifier: false }), format: 'v1' },
    { name: 'n_kv_heads = n_heads', config: tinyConfig({ nKvHeads: 4 }), format: 'v0' },
    { name: '2 query heads sharing 1 kv head, head size 8', config: tinyConfig({ nHeads: 2, nKvHeads: 1, dim: 16 }), format: 'v1' },
  ];
  for (const { name, config, format } of variants) {
    for (const attention of ['per_head', 'batched'] as const) {
      it(`${name}: logits and every site's residual of 3 padded sequences within 1e-4 (${attention} attention)`, () => {
        const { w, model } = build(config, 7, format);
        model.attention = attention;
        const docs = randomDocuments(LENGTHS, config.vocabSize, 3);
        const { worstLogit, worstResid, largestLogit } = worstDiffs(model, config, w, docs);
        model.dispose();
        expect(largestLogit).toBeGreaterThan(1); // logits far from trivial, so 1e-4 is a tight bound
        expect(worstLogit).toBeLessThan(1e-4);
        expect(worstResid).toBeLessThan(1e-4);
      });
    }
  }

  it('depends on the classifier actually read: the shared one is the embedding, not wcls', () => {
    // Same random matrices; only the classifier differs: the references must differ a lot.
    const shared = tinyConfig();
    const w = randomWeights({ ...shared, sharedClassifier: false }, 7);
    const doc = randomDocuments([5], shared.vocabSize, 3)[0];
    const a = referenceForward(shared, w, doc).logits[4];
    const b = referenceForward({ ...shared, sharedClassifier: false }, w, doc).logits[4];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeGreaterThan(0.1);
  });
});

describe('LlamaModel.forward options', () => {
  const c = tinyConfig();
  let model: LlamaModel;
  let w: RawWeights;
  const docs = randomDocuments(LENGTHS, c.vocabSize, 5);
  const { tokens, B, T } = padBatch(docs, [0, 1, 2]);
  const all = [0, 1, 2, 3];
  let full: { logits: Float32Array; captured: tf.Tensor2D[] };

  beforeAll(() => {
    ({ w, model } = build(c, 9));
    const r = model.forward(tokens, B, T, { capture: all });
    full = { logits: r.logits!.dataSync() as Float32Array, captured: all.map((s) => r.captured.get(s)!) };
    r.logits!.dispose();
  });
  afterAll(() => {
    tf.dispose(full.captured);
    model.dispose();
  });

  const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    expect(a.length).toBe(b.length);
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  };

  it('from a later site, started from the residual captured there, gives the same logits', () => {
    for (const from of [1, 2, 3]) {
      const r = model.forward(tokens, B, T, { from, start: full.captured[from], capture: [from, 3] });
      expect(worst(r.logits!.dataSync(), full.logits), `from ${from}`).toBeLessThan(1e-6);
      expect(worst(r.captured.get(3)!.dataSync(), full.captured[3].dataSync())).toBeLessThan(1e-6);
      expect(r.captured.get(from)).not.toBe(full.captured[from]); // a copy, not the caller's tensor
      tf.dispose([r.logits!, ...r.captured.values()]);
      expect(full.captured[from].isDisposed).toBe(false);
    }
  });

  it('until a site returns no logits and the residuals up to it', () => {
    for (const until of [0, 2, 3]) {
      const r = model.forward(tokens, B, T, { capture: [0, until], until });
      expect(r.logits).toBeUndefined();
      expect(worst(r.captured.get(until)!.dataSync(), full.captured[until].dataSync())).toBeLessThan(1e-6);
      tf.dispose([...r.captured.values()]);
    }
    const r = model.forward(tokens, B, T, { from: 1, start: full.captured[1], until: 2, capture: [2] });
    expect(r.logits).toBeUndefined();
    expect(worst(r.captured.get(2)!.dataSync(), full.captured[2].dataSync())).toBeLessThan(1e-6);
    tf.dispose([...r.captured.values()]);
  });

  it('a splice that returns a copy of the residual changes nothing', () => {
    const seen: number[] = [];
    const r = model.forward(tokens, B, T, { splice: (site, x) => { seen.push(site); return tf.clone(x); } });
    // Every residual site, and attn_out, resid_mid, mlp_out inside each of the 3 blocks.
    expect(seen).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5, 2.75, 3]);
    expect(worst(r.logits!.dataSync(), full.logits)).toBe(0);
    r.logits!.dispose();
  });

  // Returning x itself means "keep it" (it must not be disposed and then read by the next block).
  it('a splice that returns the same tensor changes nothing', () => {
    const r = model.forward(tokens, B, T, { splice: (site, x) => (site === 1 ? x : null) });
    expect(worst(r.logits!.dataSync(), full.logits)).toBe(0);
    r.logits!.dispose();
  });

  it('a splice that zeroes site 1 (all positions) matches run.c with x zeroed there', () => {
    const zero = new Float64Array(c.dim);
    const { worstLogit, worstResid } = worstDiffs(model, c, w, docs, {
      splice: (site, x) => (site === 1 ? tf.zerosLike(x) : null),
      hook: (site) => (site === 1 ? zero : undefined),
    });
    expect(worstLogit).toBeLessThan(1e-4);
    expect(worstResid).toBeLessThan(1e-4);
    // …and it did change the output (zeroing site 1 is not a no-op).
    const r = model.forward(tokens, B, T, { splice: (site, x) => (site === 1 ? tf.zerosLike(x) : null) });
    expect(worst(r.logits!.dataSync(), full.logits)).toBeGreaterThan(0.1);
    r.logits!.dispose();
  });

  it('a splice that scales the final residual (site n_layers) by −0.5 matches run.c', () => {
    const { worstLogit, worstResid } = worstDiffs(model, c, w, docs, {
      splice: (site, x) => (site === 3 ? tf.mul(x, -0.5) as tf.Tensor2D : null),
      hook: (site, _pos, x) => (site === 3 ? x.map((v) => -0.5 * v) : undefined),
    });
    expect(worstLogit).toBeLessThan(1e-4);
    expect(worstResid).toBeLessThan(1e-4);
  });

  it('leaks no tensors: forward + disposing what it returns, and a model built and disposed', () => {
    const before = tf.memory().numTensors;
    const runs = [
      () => model.forward(tokens, B, T, { capture: all }),
      () => model.forward(tokens, B, T, { from: 2, start: full.captured[2], capture: [3] }),
      () => model.forward(tokens, B, T, { until: 1, capture: [1] }),
      () => model.forward(tokens, B, T, { splice: (s, x) => (s === 1 ? tf.zerosLike(x) : null), capture: [2] }),
    ];
    for (const run of runs) {
      const r = run();
      tf.dispose([...(r.logits ? [r.logits] : []), ...r.captured.values()]);
      expect(tf.memory().numTensors).toBe(before);
    }
    const other = build(tinyConfig({ sharedClassifier: false }), 2).model;
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses bad calls with clear messages', () => {
    expect(() => model.forward(tokens, B, T + 1)).toThrow(/tokens for 3 × 12/);
    expect(() => model.forward(new Int32Array(33), 1, 33)).toThrow(/longer than the model's context \(32\)/);
    expect(() => model.forward(tokens, B, T, { from: 2 })).toThrow(/needs the residual there/);
    expect(() => model.forward(tokens, B, T, { until: 4 })).toThrow(/stops at residual site 4, outside 0…3/);
  });

  it('a refused call leaks no tensor', () => {
    const before = tf.memory().numTensors;
    expect(() => model.forward(tokens, B, T, { from: 2, start: full.captured[2], until: 1 })).toThrow(/outside/);
    expect(() => model.forward(tokens, B, T, { until: 4 })).toThrow(/outside/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('planBatches and padBatch', () => {
  it('plans a hand-worked example: longest first, ties by index, at most the budget', () => {
    // Sorted: 1 (9), 3 (9), 2 (5), 0 (3), 4 (2). [1, 3] pads to 18 ≤ 20; adding 2 would make 27.
    expect(planBatches([3, 9, 5, 9, 2], 20)).toEqual([[1, 3], [2, 0, 4]]);
    // A document longer than the budget goes alone.
    expect(planBatches([50, 3, 4], 20)).toEqual([[0], [2, 1]]);
    expect(planBatches([], 20)).toEqual([]);
  });

  it('puts every document in exactly one batch, within budget unless alone, longest first', () => {
    const u = uniform(17);
    for (let trial = 0; trial < 200; trial++) {
      const lengths = Array.from({ length: 1 + Math.floor(u() * 30) }, () => 1 + Math.floor(u() * 60));
      const budget = 8 + Math.floor(u() * 120);
      const batches = planBatches(lengths, budget);
      const flat = batches.flat();
      expect(flat.slice().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
      for (const batch of batches) {
        expect(batch.length).toBeGreaterThan(0);
        const padded = batch.length * Math.max(...batch.map((i) => lengths[i]));
        if (batch.length > 1) expect(padded).toBeLessThanOrEqual(budget);
      }
      for (let i = 1; i < flat.length; i++) expect(lengths[flat[i]]).toBeLessThanOrEqual(lengths[flat[i - 1]]);
      // Greedy: the next batch's first document would not have fitted in the previous batch.
      for (let k = 1; k < batches.length; k++) {
        const prev = batches[k - 1];
        expect((prev.length + 1) * lengths[prev[0]]).toBeGreaterThan(budget);
      }
    }
  });

  it('pads each document with zeros to the longest, row-major [B·T]', () => {
    const docs = [Int32Array.from([1, 5, 6]), Int32Array.from([1, 7]), Int32Array.from([1, 8, 9, 10])];
    const { tokens, B, T } = padBatch(docs, [2, 0, 1]);
    expect([B, T]).toEqual([3, 4]);
    expect(Array.from(tokens)).toEqual([1, 8, 9, 10, 1, 5, 6, 0, 1, 7, 0, 0]);
  });

  it('budgets the context length per batch on the cpu backend (attention head by head)', () => {
    const { model } = build(tinyConfig(), 1);
    expect(batchTokenBudget(model)).toBe(32);
    model.dispose();
  });
});

describe('logit lens of a direction', () => {
  it('is (d ⊙ rms_final) · W_clsᵀ, with a separate classifier too', async () => {
    for (const config of [tinyConfig(), tinyConfig({ sharedClassifier: false })]) {
      const { w, model } = build(config, 11);
      const cls = w.wcls ?? w.tokenEmbedding;
      const dir = Float32Array.from({ length: config.dim }, (_, i) => Math.cos(i * 1.3) - 0.2);
      const got = await model.directionLogits(dir);
      expect(got).toHaveLength(config.vocabSize);
      for (let v = 0; v < config.vocabSize; v++) {
        let s = 0;
        for (let i = 0; i < config.dim; i++) s += dir[i] * w.rmsFinal[i] * cls[v * config.dim + i];
        expect(got[v]).toBeCloseTo(s, 5);
      }
      await expect(model.directionLogits(new Float32Array(3))).rejects.toThrow(/width/);
      model.dispose();
    }
  });
});
