// The llama2.c model of ../shared/data/stories260k (present only beside the project) against the
// reference files made by an independent implementation (see that directory's README): token ids,
// residuals at every site, greedy generation, and the splice baselines of baselines.json.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNodeWasmFiles } from '../../cli/nodeBackend';
import { extractActivations, splitDocuments, tokenizeCorpus, type TokenizedCorpus } from '../../data/textCorpus';
import { encodeLlama2c, parseLlama2cCheckpoint, parseLlama2cTokenizer, type Llama2cTokenizer } from '../../io/llama2c';
import { parseNpy } from '../../io/npy';
import { LlamaModel } from './llama';
import { pca, pcaSource } from './testing';
import { evaluateSplice, type SpliceSource } from './splice';

const SHARED = path.resolve(__dirname, '../../../../shared/data/stories260k');
const present = existsSync(path.join(SHARED, 'model.bin'));
if (!present) console.warn(`[llama.realdata] skipped: ${SHARED} is absent (it exists only beside the project in CI)`);

const bytes = (rel: string) => new Uint8Array(readFileSync(path.join(SHARED, rel)));
const npy = (rel: string) => {
  const b = readFileSync(path.join(SHARED, rel));
  return parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer, rel);
};
const text = (rel: string) => readFileSync(path.join(SHARED, rel), 'utf8');

describe.skipIf(!present)('stories260K in tfjs against the reference files', () => {
  let model: LlamaModel;
  let tok: Llama2cTokenizer;
  let valid: TokenizedCorpus;
  let baselines: Record<string, any>;

  beforeAll(async () => {
    useNodeWasmFiles();
    await tf.setBackend('wasm');
    const ckpt = parseLlama2cCheckpoint(bytes('model.bin'), 'model.bin');
    tok = parseLlama2cTokenizer(bytes('tok512.bin'), 'tok512.bin', ckpt.config.vocabSize);
    model = new LlamaModel(ckpt);
    valid = tokenizeCorpus(tok, text('stories_valid.txt'), 'stories_valid.txt', ckpt.config.seqLen);
    baselines = JSON.parse(text('baselines.json'));
  });
  afterAll(async () => {
    model?.dispose();
    await tf.setBackend('cpu');
  });

  it('reads the header and the vocabulary as vocab.json spells it', () => {
    expect(model.config).toMatchObject({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, family: 'llama2c', norm: 'rmsnorm', mlp: 'swiglu', rotary: { dims: 8, theta: 10000, layout: 'interleaved' } });
    expect(tok.display.slice(0, 512)).toEqual(JSON.parse(text('vocab.json')));
    // The one 260K encoding test of clebert/llama2.ts (no BOS, dummy prefix included).
    expect(Array.from(encodeLlama2c(tok, 'abcdefgh', { bos: false }))).toEqual([261, 430, 429, 418, 411, 431, 428, 415]);
  });

  it('tokenises every validation story exactly as valid/tokens.npy (BOS dropped there)', () => {
    const tokens = npy('valid/tokens.npy').data as Int32Array;
    const docIds = npy('valid/doc_ids.npy').data as Int32Array;
    expect(splitDocuments(text('stories_valid.txt'))).toHaveLength(25);
    expect(valid.documents).toHaveLength(25);
    let row = 0;
    valid.documents.forEach((doc, d) => {
      expect(doc[0]).toBe(1);
      for (let p = 1; p < doc.length; p++, row++) {
        expect(docIds[row]).toBe(d);
        if (tokens[row] !== doc[p]) expect.fail(`story ${d} position ${p}: ${doc[p]} ≠ ${tokens[row]}`);
      }
    });
    expect(row).toBe(tokens.length);
    expect(Array.from(valid.documents[0].slice(0, 12))).toEqual(baselines.reference.first_valid_story_first_12_ids);
  });

  it('matches valid/resid_l3.npy to < 1e-4 with the tokens, positions and document ids of the reference', async () => {
    const ex = await extractActivations(model, tok, valid, { sites: [3] });
    const ref = npy('valid/resid_l3.npy');
    expect(ex.dataset.rows).toBe(ref.shape[0]);
    expect(maxAbsDiff(ex.dataset.data, ref.data as Float32Array)).toBeLessThan(1e-4);
    expect(Array.from(ex.positions)).toEqual(Array.from(npy('valid/positions.npy').data));
    expect(Array.from(ex.docIds)).toEqual(Array.from(npy('valid/doc_ids.npy').data));
    expect(Array.from(ex.tokens)).toEqual(Array.from(npy('valid/tokens.npy').data));
    expect(ex.dataset.sites).toEqual([3]);
  }, 60_000);

  it('matches all six residual sites of train/resid_layers.npy (stories 0–19) to < 1e-4', async () => {
    const train = tokenizeCorpus(tok, text('stories_train.txt'), 'stories_train.txt', 512);
    const first20: TokenizedCorpus = { ...train, documents: train.documents.slice(0, 20) };
    const ex = await extractActivations(model, tok, first20, { sites: [0, 1, 2, 3, 4, 5] });
    const ref = npy('train/resid_layers.npy'); // [6, 7175, 64]
    expect(ref.shape).toEqual([6, ex.dataset.rows, 64]);
    const refData = ref.data as Float32Array;
    for (let l = 0; l < 6; l++) {
      let worst = 0;
      for (let r = 0; r < ex.dataset.rows; r++) {
        for (let j = 0; j < 64; j++) worst = Math.max(worst, Math.abs(ex.dataset.data[(r * 6 + l) * 64 + j] - refData[(l * ex.dataset.rows + r) * 64 + j]));
      }
      expect(worst, `site ${l}`).toBeLessThan(1e-4);
    }
  }, 120_000);

  it('batched attention (the WebGPU / WebGL path) gives the same residuals and logits as head by head', () => {
    const docs = valid.documents.slice(0, 3);
    const T = Math.max(...docs.map((d) => d.length));
    const ids = new Int32Array(3 * T);
    docs.forEach((d, b) => ids.set(d, b * T));
    const run = (attention: LlamaModel['attention']) => {
      model.attention = attention;
      const r = model.forward(ids, 3, T, { capture: [3] });
      const out = { logits: r.logits!.dataSync().slice(), resid: r.captured.get(3)!.dataSync().slice() };
      tf.dispose([r.logits!, ...r.captured.values()]);
      return out;
    };
    const perHead = run('per_head');
    const batched = run('batched');
    model.attention = 'auto';
    // Compare real positions only (padding rows differ in neither path, but are meaningless).
    let worst = 0;
    docs.forEach((d, b) => {
      for (let p = 0; p < d.length; p++) for (let j = 0; j < 64; j++) worst = Math.max(worst, Math.abs(perHead.resid[(b * T + p) * 64 + j] - batched.resid[(b * T + p) * 64 + j]));
    });
    expect(worst).toBeLessThan(1e-4);
    expect(maxAbsDiff(perHead.logits, batched.logits)).toBeLessThan(1e-3);
  });

  it('logit lens of a direction: (d ⊙ rms_final) · W_clsᵀ by plain arithmetic', async () => {
    const ckpt = parseLlama2cCheckpoint(bytes('model.bin'), 'model.bin');
    const dir = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 0.7));
    const before = tf.memory().numTensors;
    const got = await model.directionLogits(dir);
    expect(tf.memory().numTensors).toBe(before);
    expect(got).toHaveLength(512);
    for (const v of [0, 1, 261, 511]) {
      let s = 0;
      for (let i = 0; i < 64; i++) s += dir[i] * ckpt.weights.rmsFinal[i] * ckpt.weights.wcls[v * 64 + i];
      expect(got[v]).toBeCloseTo(s, 4);
    }
  });

  it('generates greedily from BOS the 40 tokens the reference generates', () => {
    const ids = [1];
    const expected = baselines.reference.greedy_from_bos_first_40_ids as number[];
    while (ids.length < expected.length) {
      const { logits } = model.forward(Int32Array.from(ids), 1, ids.length);
      const last = tf.tidy(() => tf.argMax(tf.slice(logits!, [ids.length - 1, 0], [1, -1]), 1));
      ids.push(last.dataSync()[0]);
      tf.dispose([logits!, last]);
    }
    expect(ids).toEqual(expected);
  });

  it('reproduces clean, zero-, mean- and PCA-ablation CE, KL and loss recovered of baselines.json within 0.5%', async () => {
    const train = npy('train/resid_l3.npy');
    const { mean, components } = pca(train.data as Float32Array, train.shape[0], 64);
    const before = tf.memory().numTensors;
    for (const k of [8, 16, 32]) {
      const report = await evaluateSplice(model, valid.documents, pcaSource(mean, components, k, 3), { meanBySite: new Map([[3, mean]]) });
      const [g] = report.groups;
      const ref = baselines[`pca_${k}`];
      expect(report.predictions).toBe(baselines.n_predictions_scored);
      close(report.ce_clean, baselines.clean.ce);
      close(g.ce_zero, baselines.zero_ablation.ce);
      close(g.kl_zero, baselines.zero_ablation.kl_clean_vs_spliced);
      close(g.ce_mean, baselines.mean_ablation.ce);
      close(g.kl_mean, baselines.mean_ablation.kl_clean_vs_spliced);
      close(g.ce, ref.ce);
      close(g.kl, ref.kl_clean_vs_spliced);
      close(g.loss_recovered, ref.loss_recovered);
      close(g.loss_recovered_vs_mean, ref.loss_recovered_vs_mean_ablation);
      console.info(`[llama.realdata] PCA k=${k}: CE ${g.ce.toFixed(4)} (ref ${ref.ce.toFixed(4)}), KL ${g.kl.toFixed(4)}, loss recovered ${g.loss_recovered.toFixed(4)} (ref ${ref.loss_recovered.toFixed(4)}); clean ${report.ce_clean.toFixed(4)}, zero ${g.ce_zero.toFixed(4)}, mean ${g.ce_mean.toFixed(4)}`);
    }
    expect(tf.memory().numTensors).toBe(before);
  }, 180_000);

  it('an identity splice gives the clean CE exactly and zero KL', async () => {
    const identity: SpliceSource = { sites: [3], together: false, reconstruct: (x) => ({ xHat: x.clone(), replace: tf.ones([x.shape[0], 1]) }) };
    const report = await evaluateSplice(model, valid.documents.slice(0, 5), identity);
    expect(report.groups[0].ce).toBe(report.ce_clean);
    expect(report.groups[0].kl).toBeLessThan(1e-6);
    expect(report.groups[0].loss_recovered).toBe(1);
  }, 60_000);
});

function close(actual: number, expected: number) {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(0.005 * Math.abs(expected) + 1e-6);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
