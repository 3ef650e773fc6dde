// The llama2.c stories260K model of ../shared/data/stories260k (present only beside the project)
// converted, in this test, to a Hugging Face Llama folder (config.json + model.safetensors) the way
// transformers' convert_llama_weights_to_hf.py converts Meta's checkpoints: HF key names, nn.Linear
// [out, in] matrices, and the rows of wq and wk permuted by the converter's permute() so that HF's
// rotate_half RoPE (pairs i, i + hs/2) computes what llama2.c's interleaved RoPE (pairs 2i, 2i+1)
// computes. Read back through src/io/hfModel.ts, the engine's transformer must then give the
// llama2.c model's residuals, hooks and logits on real text (cpu and wasm), and the CE figures of
// baselines.json; without the permutation it must not.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenizeCorpus, type TokenizedCorpus } from '../../data/textCorpus';
import { parseHfModel } from '../../io/hfModel';
import { encodeLlama2c, parseLlama2cCheckpoint, parseLlama2cTokenizer, type Llama2cTokenizer, type LlamaCheckpoint } from '../../io/llama2c';
import { parseNpy } from '../../io/npy';
import { writeSafetensors, type F32Tensor } from '../../io/safetensors';
import { useCpu, useWasm } from '../testing';
import { LlamaModel } from './llama';
import { pca, pcaSource } from './testing';
import { INNER_HOOKS, siteName } from './hooks';
import { evaluateSplice, type SpliceReport } from './splice';
import { TransformerModel } from './transformer';

const SHARED = path.resolve(__dirname, '../../../../shared/data/stories260k');
const present = existsSync(path.join(SHARED, 'model.bin'));
if (!present) console.warn(`[hfConversion.realdata] skipped: ${SHARED} is absent (it exists only beside the project in CI)`);

const bytes = (rel: string) => new Uint8Array(readFileSync(path.join(SHARED, rel)));
const npy = (rel: string) => {
  const b = readFileSync(path.join(SHARED, rel));
  return parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer, rel);
};
const text = (rel: string) => readFileSync(path.join(SHARED, rel), 'utf8');

/**
 * transformers' convert_llama_weights_to_hf.py, on a row-major [dim1, dim2] matrix:
 *   def permute(w, n_heads, dim1=dim, dim2=dim):
 *       return w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)
 * view: row r = (h, i, j) with r = (h·half + i)·2 + j; after transpose(1, 2) the same row sits at
 * (h, j, i), i.e. at row (h·2 + j)·half + i.
 */
function hfPermute(w: Float32Array, nHeads: number, dim1: number, dim2: number): Float32Array {
  const half = dim1 / nHeads / 2;
  if (!Number.isInteger(half) || w.length !== dim1 * dim2) throw new Error(`permute: [${dim1}, ${dim2}] with ${nHeads} heads`);
  const out = new Float32Array(dim1 * dim2);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * half + i) * 2 + j;
        const dst = (h * 2 + j) * half + i;
        out.set(w.subarray(src * dim2, (src + 1) * dim2), dst * dim2);
      }
    }
  }
  return out;
}

/** The checkpoint as a Hugging Face LlamaForCausalLM folder (by base name), F32. */
function hfFolder(ckpt: LlamaCheckpoint, opts: { permute: boolean }): Map<string, Uint8Array> {
  const c = ckpt.config, w = ckpt.weights;
  const D = c.dim, F = c.hiddenDim, V = c.vocabSize, hs = D / c.nHeads, KV = c.nKvHeads * hs;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: D,
    intermediate_size: F,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    hidden_act: 'silu',
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    max_position_embeddings: c.seqLen,
    vocab_size: V,
    tie_word_embeddings: c.sharedClassifier,
    attention_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  const t: Record<string, F32Tensor> = {};
  const put = (key: string, shape: number[], data: Float32Array) => { t[key] = { shape, data: data.slice() }; };
  put('model.embed_tokens.weight', [V, D], w.tokenEmbedding);
  for (let l = 0; l < c.nLayers; l++) {
    const at = (a: Float32Array, n: number) => a.subarray(l * n, (l + 1) * n);
    const p = `model.layers.${l}`;
    const wq = at(w.wq, D * D), wk = at(w.wk, KV * D);
    put(`${p}.self_attn.q_proj.weight`, [D, D], opts.permute ? hfPermute(wq, c.nHeads, D, D) : wq);
    put(`${p}.self_attn.k_proj.weight`, [KV, D], opts.permute ? hfPermute(wk, c.nKvHeads, KV, D) : wk);
    put(`${p}.self_attn.v_proj.weight`, [KV, D], at(w.wv, KV * D));
    put(`${p}.self_attn.o_proj.weight`, [D, D], at(w.wo, D * D));
    put(`${p}.mlp.gate_proj.weight`, [F, D], at(w.w1, F * D));
    put(`${p}.mlp.up_proj.weight`, [F, D], at(w.w3, F * D));
    put(`${p}.mlp.down_proj.weight`, [D, F], at(w.w2, D * F));
    put(`${p}.input_layernorm.weight`, [D], at(w.rmsAtt, D));
    put(`${p}.post_attention_layernorm.weight`, [D], at(w.rmsFfn, D));
  }
  put('model.norm.weight', [D], w.rmsFinal);
  if (!c.sharedClassifier) put('lm_head.weight', [V, D], w.wcls);
  return new Map([
    ['config.json', new TextEncoder().encode(JSON.stringify(config, null, 2))],
    ['model.safetensors', writeSafetensors(t, { format: 'pt' })],
  ]);
}

/** Documents padded to one batch [B·T] (0 after each end). */
function batchOf(docs: readonly Int32Array[]): { ids: Int32Array; B: number; T: number } {
  const T = Math.max(...docs.map((d) => d.length));
  const ids = new Int32Array(docs.length * T);
  docs.forEach((d, b) => ids.set(d, b * T));
  return { ids, B: docs.length, T };
}

/** Max |a − b| over the real (unpadded) rows of [B·T, width] values. */
function worstReal(a: ArrayLike<number>, b: ArrayLike<number>, docs: readonly Int32Array[], T: number, width: number): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  docs.forEach((d, bi) => {
    for (let p = 0; p < d.length; p++) {
      const base = (bi * T + p) * width;
      for (let j = 0; j < width; j++) m = Math.max(m, Math.abs(a[base + j] - b[base + j]));
    }
  });
  return m;
}

interface Pass { sites: Map<number, Float32Array>; logits: Float32Array }

/** Every site of the model (residuals and the hooks inside blocks, ./hooks.ts) and the logits, read back and freed. */
function runAll(model: TransformerModel, ids: Int32Array, B: number, T: number): Pass {
  const r = model.forward(ids, B, T, { capture: model.sites() });
  const out: Pass = { sites: new Map([...r.captured].map(([s, t]) => [s, t.dataSync() as Float32Array])), logits: r.logits!.dataSync() as Float32Array };
  tf.dispose([r.logits!, ...r.captured.values()]);
  return out;
}

describe.skipIf(!present)('stories260K converted to a Hugging Face Llama folder (convert_llama_weights_to_hf permute)', () => {
  let ckpt: LlamaCheckpoint;
  let tok: Llama2cTokenizer;
  let valid: TokenizedCorpus;
  let baselines: Record<string, any>;
  let folder: Map<string, Uint8Array>;
  /** The comparison texts on wasm: the longest validation story (RoPE up to its last position) and two more. */
  let docs: Int32Array[];
  /**
   * On cpu, shorter ones: tfjs's cpu kernels take ~5 s per 511-token pass here (attention is
   * quadratic), so the first 128 tokens of story 0 and the sentence.
   */
  let cpuDocs: Int32Array[];

  beforeAll(() => {
    ckpt = parseLlama2cCheckpoint(bytes('model.bin'), 'model.bin');
    tok = parseLlama2cTokenizer(bytes('tok512.bin'), 'tok512.bin', ckpt.config.vocabSize);
    valid = tokenizeCorpus(tok, text('stories_valid.txt'), 'stories_valid.txt', ckpt.config.seqLen);
    baselines = JSON.parse(text('baselines.json'));
    folder = hfFolder(ckpt, { permute: true });
    const longest = valid.documents.reduce((best, d, i) => (d.length > valid.documents[best].length ? i : best), 0);
    const sentence = encodeLlama2c(tok, 'Once upon a time, there was a little dog named Max. He liked to run in the park with his friend Sue.');
    docs = [valid.documents[longest], valid.documents[0], sentence];
    cpuDocs = [valid.documents[0].slice(0, 128), sentence];
  });
  afterAll(useCpu);

  it('permute() moves the rows of each head as the converter does (plain example)', () => {
    // Two heads of size 4: rows (0, 1, 2, 3) → (0, 2, 1, 3) within each head, columns untouched.
    const w = Float32Array.from({ length: 8 * 2 }, (_, i) => Math.floor(i / 2) * 10 + (i % 2));
    expect(Array.from(hfPermute(w, 2, 8, 2))).toEqual([0, 1, 20, 21, 10, 11, 30, 31, 40, 41, 60, 61, 50, 51, 70, 71]);
  });

  it('parseHfModel reads the folder as a tied Llama with rotate_half RoPE and the checkpoint\'s parameter count', () => {
    const hf = parseHfModel(folder, 'stories260K-hf');
    expect(hf.weights.arch).toMatchObject({
      family: 'llama', modelType: 'llama', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, headSize: 8, vocabSize: 512,
      seqLen: 512, norm: 'rmsnorm', normEps: 1e-5, positions: 'rotary', rotary: { dims: 8, theta: 10000, layout: 'half' }, mlp: 'swiglu', parallelResidual: false,
    });
    expect(ckpt.config.sharedClassifier).toBe(true);
    expect(hf.weights.unembedTied).toBe(true);
    expect(hf.dtypes).toEqual(['F32']);
    expect(hf.files).toEqual(['model.safetensors']);
    expect(hf.parameters).toBe(ckpt.parameters);
    // The comparison texts are llama2.c encodings, BOS (id 1) first.
    for (const d of [...docs, ...cpuDocs]) expect(d[0]).toBe(1);
    expect(docs[0].length).toBe(Math.max(...valid.documents.map((d) => d.length)));
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: every residual site, every hook inside the blocks and the logits equal the llama2.c model's within 1e-4`, async () => {
      await (backend === 'wasm' ? useWasm() : useCpu());
      const texts = backend === 'cpu' ? cpuDocs : docs;
      const before = tf.memory().numTensors;
      const hfModel = new TransformerModel(parseHfModel(folder, 'stories260K-hf').weights);
      const ref = new LlamaModel(ckpt);
      const { ids, B, T } = batchOf(texts);
      const a = runAll(hfModel, ids, B, T);
      const b = runAll(ref, ids, B, T);
      const D = ckpt.config.dim, V = ckpt.config.vocabSize, L = ckpt.config.nLayers;
      // Residual sites 0 … L and hook_attn_out, hook_resid_mid, hook_mlp_out of every block.
      expect(a.sites.size).toBe(L + 1 + 3 * L);
      const worst = new Map<string, number>();
      for (const [site, v] of a.sites) worst.set(siteName(site, L), worstReal(v, b.sites.get(site)!, texts, T, D));
      worst.set('logits', worstReal(a.logits, b.logits, texts, T, V));
      for (const [k, v] of worst) expect(v, k).toBeLessThan(1e-4);
      const residual = Array.from({ length: L + 1 }, (_, l) => worst.get(siteName(l, L))!);
      const inner = Math.max(...[...a.sites.keys()].filter((s) => !Number.isInteger(s)).map((s) => worst.get(siteName(s, L))!));
      console.info(`[hfConversion.realdata] ${backend}, ${texts.map((d) => d.length).join(' + ')} tokens: max |Δ| residual sites 0…${L} ${residual.map((x) => x.toExponential(1)).join(' ')}; hooks inside blocks ${inner.toExponential(1)}; logits ${worst.get('logits')!.toExponential(1)}`);
      hfModel.dispose();
      ref.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }, 30_000);
  }

  it('without the permutation (wq, wk rows as llama2.c stores them) the activations differ by > 1e-2', async () => {
    await useWasm();
    const before = tf.memory().numTensors;
    const wrong = new TransformerModel(parseHfModel(hfFolder(ckpt, { permute: false }), 'unpermuted').weights);
    const ref = new LlamaModel(ckpt);
    const { ids, B, T } = batchOf(docs);
    const a = runAll(wrong, ids, B, T);
    const b = runAll(ref, ids, B, T);
    const D = ckpt.config.dim;
    const L = ckpt.config.nLayers;
    const sites = Array.from({ length: L + 1 }, (_, l) => worstReal(a.sites.get(l)!, b.sites.get(l)!, docs, T, D));
    const logits = worstReal(a.logits, b.logits, docs, T, ckpt.config.vocabSize);
    // Site 0 is the embedding (no attention yet); every later site has passed through RoPE'd attention.
    expect(sites[0]).toBe(0);
    for (let l = 1; l <= L; l++) expect(sites[l], `site ${l}`).toBeGreaterThan(1e-2);
    expect(worstReal(a.sites.get(INNER_HOOKS.hook_attn_out)!, b.sites.get(INNER_HOOKS.hook_attn_out)!, docs, T, D), 'blocks.0.hook_attn_out').toBeGreaterThan(1e-2);
    expect(logits).toBeGreaterThan(1e-2);
    console.info(`[hfConversion.realdata] unpermuted wq/wk: max |Δ| residual sites 1…5 ${sites.slice(1).map((x) => x.toFixed(3)).join(' ')}; logits ${logits.toFixed(3)}`);
    wrong.dispose();
    ref.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 30_000);

  it('reproduces the CE figures of baselines.json (clean with and without the BOS prediction, zero-, mean- and PCA-ablation CE and KL) within 0.5%', async () => {
    await useWasm();
    const before = tf.memory().numTensors;
    const model = new TransformerModel(parseHfModel(folder, 'stories260K-hf').weights);
    const V = ckpt.config.vocabSize;
    // Clean CE from the logits, as baselines.json defines it: mean next-token CE over the
    // predictions at positions 1 … T−2 of each story, and (clean_ce_all_predictions_incl_bos)
    // at 0 … T−2.
    let sumScored = 0, nScored = 0, sumAll = 0, nAll = 0;
    for (let start = 0; start < valid.documents.length; start += 5) {
      const group = valid.documents.slice(start, start + 5);
      const { ids, B, T } = batchOf(group);
      const { logits } = model.forward(ids, B, T);
      const z = logits!.dataSync() as Float32Array;
      logits!.dispose();
      group.forEach((d, b) => {
        for (let p = 0; p + 1 < d.length; p++) {
          const row = (b * T + p) * V;
          let max = -Infinity;
          for (let v = 0; v < V; v++) max = Math.max(max, z[row + v]);
          let s = 0;
          for (let v = 0; v < V; v++) s += Math.exp(z[row + v] - max);
          const nll = max + Math.log(s) - z[row + d[p + 1]];
          sumAll += nll; nAll += 1;
          if (p >= 1) { sumScored += nll; nScored += 1; }
        }
      });
    }
    expect(nAll).toBe(baselines.n_predictions_incl_bos);
    expect(nScored).toBe(baselines.n_predictions_scored);
    close(sumScored / nScored, baselines.clean.ce);
    close(sumAll / nAll, baselines.clean_ce_all_predictions_incl_bos);
    const lines = [`clean ${(sumScored / nScored).toFixed(7)} (ref ${baselines.clean.ce.toFixed(7)}), incl. BOS ${(sumAll / nAll).toFixed(7)} (ref ${baselines.clean_ce_all_predictions_incl_bos.toFixed(7)})`];

    // The splice figures: layer-3 residual replaced at every non-BOS position; mean and PCA from train/resid_l3.npy.
    const t0 = performance.now();
    const train = npy('train/resid_l3.npy');
    const { mean, components } = pca(train.data as Float32Array, train.shape[0], 64);
    const pcaSeconds = (performance.now() - t0) / 1000;
    let first: SpliceReport | undefined;
    for (const k of [8, 16, 32]) {
      const report = await evaluateSplice(model, valid.documents, pcaSource(mean, components, k, 3), { meanBySite: new Map([[3, mean]]), reuse: first });
      first ??= report;
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
      if (k === 8) lines.push(`zero ${g.ce_zero.toFixed(4)} (ref ${baselines.zero_ablation.ce.toFixed(4)}), mean ${g.ce_mean.toFixed(4)} (ref ${baselines.mean_ablation.ce.toFixed(4)})`);
      lines.push(`PCA k=${k} ${g.ce.toFixed(4)} (ref ${ref.ce.toFixed(4)}), KL ${g.kl.toFixed(4)} (ref ${ref.kl_clean_vs_spliced.toFixed(4)}) [${report.seconds.toFixed(1)} s]`);
    }
    console.info(`[hfConversion.realdata] CE via the HF folder: ${lines.join('; ')}; PCA fit ${pcaSeconds.toFixed(1)} s`);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);
});

/** The realdata tolerance of llama.realdata.test.ts: 0.5% relative. */
function close(actual: number, expected: number) {
  expect(Math.abs(actual - expected), `${actual} vs ${expected}`).toBeLessThanOrEqual(0.005 * Math.abs(expected) + 1e-6);
}
