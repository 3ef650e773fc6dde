// The language model on tfjs's webgpu backend in Node (Dawn over the machine's Vulkan driver,
// src/cli/nodeWebgpu.ts; here and in CI Mesa's lavapipe) against the same model on wasm, family by
// family: llama2.c (tiny random checkpoint), and the Hugging Face fixtures (fixtures/hf) GPT-2,
// GPT-NeoX / Pythia (parallel residual, partial rotary), Llama (grouped kv heads) and Qwen2 (bf16,
// sharded). Compared: the logits and every hook of the forward pass, the splice evaluation
// (evaluateSplice with a small ReLU SAE, one site and two inner hooks together), the activations
// extracted from text through the workspace (extractFromText, what the CLI's `activations` and
// `train --lm` run), the tensor count, and one forward of the real stories260K model when
// ../shared/data holds it. The two backends run different code: wasm attends head by head, webgpu
// batched (./transformer.ts attend()), and every other op is a different kernel.
//
// Tolerance: max |webgpu − wasm| ≤ 1e-4 · max(1, max |wasm|). Both run float32, so honest kernel
// differences (summation order, exp / tanh / erf approximations) stay near 1e-6 relative on models
// this small (measured: ≤ 2e-6). The bound is still tight enough to catch a kernel that is wrong:
// the logits reach magnitudes > 1 (asserted), so a flipped sign, a missing scale or a wrong mask
// moves them by O(0.1 … 10), three or more orders above the bound — checked by hand on the batched
// attention path webgpu takes: scores scaled by 1.05 (a wrong 1/√hs) moved the logits by 0.23
// against a bound of 4e-4, the mask left out or the kv heads crossed by 5 … 17. The causal mask
// is also checked on webgpu alone: a later token changed must leave the earlier positions' logits
// within the bound and move the later ones far past it. (Mistakes shared by both backends, in the
// composition itself, are the reference tests' job: llama.test.ts, hfModels.test.ts.)
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { extractFromText } from '../../data/languageModel';
import { tokenizeCorpus } from '../../data/textCorpus';
import { Workspace } from '../../data/workspace';
import { parseHfModel } from '../../io/hfModel';
import { llama2cTransformer, parseLlama2cCheckpoint, parseLlama2cTokenizer } from '../../io/llama2c';
import type { TransformerWeights } from '../../io/transformerWeights';
import { nodeWebGPUUnavailable, useCpu, useWasm, useWebGPU } from '../testing';
import { padBatch } from './batching';
import { evaluateSplice, type SpliceReport, type SpliceSource } from './splice';
import { gaussian, randomDocuments, randomWeights, serializeV0, tinyConfig } from './testing';
import { TransformerModel } from './transformer';

const unavailable = await nodeWebGPUUnavailable();

const HF = path.resolve(__dirname, '../../../fixtures/hf');
const SHARED = path.resolve(__dirname, '../../../../shared/data/stories260k');
const realPresent = existsSync(path.join(SHARED, 'model.bin'));
if (!realPresent) console.warn(`[transformer.webgpu] the real-model forward is skipped: ${SHARED} is absent (it exists only beside the project in CI)`);

const TOL = 1e-4;
/** What each comparison measured, printed at the end with SAE_TEST_REPORT=1. */
const measured: string[] = [];

function hfFolder(name: string): Map<string, Uint8Array> {
  const dir = path.join(HF, name);
  return new Map(readdirSync(dir).map((f) => [f, new Uint8Array(readFileSync(path.join(dir, f)))]));
}

interface Family {
  name: string;
  weights: () => TransformerWeights;
}

const FAMILIES: Family[] = [
  { name: 'llama2.c (tiny random, 4 / 2 heads)', weights: () => { const c = tinyConfig(); return llama2cTransformer(parseLlama2cCheckpoint(serializeV0(c, randomWeights(c, 21)), 'tiny.bin')); } },
  { name: 'GPT-2 (tiny-gpt2)', weights: () => parseHfModel(hfFolder('tiny-gpt2'), 'tiny-gpt2').weights },
  { name: 'GPT-NeoX / Pythia (tiny-pythia)', weights: () => parseHfModel(hfFolder('tiny-pythia'), 'tiny-pythia').weights },
  { name: 'Llama (tiny-llama)', weights: () => parseHfModel(hfFolder('tiny-llama'), 'tiny-llama').weights },
  { name: 'Qwen2 (tiny-qwen2-sharded)', weights: () => parseHfModel(hfFolder('tiny-qwen2-sharded'), 'tiny-qwen2-sharded').weights },
];

/** Worst |a − b| and the largest |b| (b the wasm reference). */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  expect(a.length).toBe(b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** max |webgpu − wasm| within TOL · max(1, max |wasm|); returns the relative figure. */
function expectClose(gpu: ArrayLike<number>, ref: ArrayLike<number>, what: string): number {
  const { diff, scale } = worst(gpu, ref);
  expect(Number.isFinite(diff), `${what}: not finite`).toBe(true);
  const bound = TOL * Math.max(1, scale);
  expect(diff, `${what}: max |webgpu − wasm| ${diff} over the bound ${bound}`).toBeLessThanOrEqual(bound);
  return diff / Math.max(1, scale);
}

interface Pass {
  logits: Float32Array;
  sites: Map<number, Float32Array>;
}

/** One forward of the padded batch capturing every hook, read with data() (webgpu has no dataSync in Node). */
async function forwardAll(model: TransformerModel, tokens: Int32Array, B: number, T: number): Promise<Pass> {
  const sites = model.sites();
  const r = model.forward(tokens, B, T, { capture: sites });
  try {
    const [logits, ...values] = await Promise.all([r.logits!, ...sites.map((s) => r.captured.get(s)!)].map((t) => t.data() as Promise<Float32Array>));
    return { logits, sites: new Map(sites.map((s, i) => [s, values[i]])) };
  } finally {
    tf.dispose([r.logits!, ...r.captured.values()]);
  }
}

async function onBackend<R>(backend: 'wasm' | 'webgpu', weights: TransformerWeights, run: (model: TransformerModel) => Promise<R>): Promise<R> {
  await (backend === 'wasm' ? useWasm() : useWebGPU());
  const model = new TransformerModel(weights);
  try {
    return await run(model);
  } finally {
    model.dispose();
  }
}

/**
 * A small ReLU SAE over `sites` (each D wide): f = relu(x·W_enc + b_enc), x̂ = f·W_dec + b_dec,
 * with W_dec = [I; −I] plus noise and W_enc its transpose, so x̂ is x blurred (the spliced CE lies
 * between clean and ablated, and loss recovered is a meaningful ratio). `masked`: a row's layer
 * is replaced where that layer's first component is positive (as a routing SAE chooses).
 */
function reluSae(sites: number[], D: number, together: boolean, masked: boolean, seed: number): SpliceSource {
  const g = gaussian(seed);
  const L = sites.length, W = L * D, F = 2 * W;
  const dec = new Float32Array(F * W);
  for (let i = 0; i < W; i++) { dec[i * W + i] = 1; dec[(W + i) * W + i] = -1; }
  for (let i = 0; i < dec.length; i++) dec[i] += (0.15 * g()) / Math.sqrt(D);
  const enc = new Float32Array(W * F);
  for (let i = 0; i < F; i++) for (let j = 0; j < W; j++) enc[j * F + i] = dec[i * W + j];
  const bEnc = Float32Array.from({ length: F }, () => -0.02 * Math.abs(g()));
  const bDec = Float32Array.from({ length: W }, () => 0.01 * g());
  return {
    sites, together,
    reconstruct: (x) => tf.tidy(() => {
      const f = tf.relu(tf.add(tf.matMul(x, tf.tensor2d(enc, [W, F])), tf.tensor1d(bEnc)));
      const xHat = tf.add(tf.matMul(f, tf.tensor2d(dec, [F, W])), tf.tensor1d(bDec)) as tf.Tensor2D;
      const replace = masked
        ? tf.cast(tf.greater(tf.concat(sites.map((_, j) => tf.slice(x, [0, j * D], [-1, 1])), 1), 0), 'float32') as tf.Tensor2D
        : tf.ones([x.shape[0], L]) as tf.Tensor2D;
      return { xHat, replace };
    }),
  };
}

const FIGURES = ['ce', 'kl', 'ce_zero', 'kl_zero', 'ce_mean', 'kl_mean', 'loss_recovered', 'loss_recovered_vs_mean', 'replaced_fraction'] as const;

/** Every figure of two reports within TOL · max(1, |wasm|); returns the worst relative difference. */
function expectReportsClose(gpu: SpliceReport, ref: SpliceReport, what: string): number {
  let worstRel = 0;
  const check = (a: number, b: number, name: string) => {
    const bound = TOL * Math.max(1, Math.abs(b));
    expect(Math.abs(a - b), `${what} ${name}: webgpu ${a} vs wasm ${b}`).toBeLessThanOrEqual(bound);
    worstRel = Math.max(worstRel, Math.abs(a - b) / Math.max(1, Math.abs(b)));
  };
  expect(gpu).toMatchObject({ predictions: ref.predictions, documents: ref.documents, tokens: ref.tokens });
  check(gpu.ce_clean, ref.ce_clean, 'ce_clean');
  expect(gpu.groups.map((g) => g.sites)).toEqual(ref.groups.map((g) => g.sites));
  ref.groups.forEach((r, i) => {
    // Loss recovered divides by CE_ablated − CE_clean: kept away from 0 (these random models'
    // ablations cost 0.04 … 1.2 nats), or its figure would amplify float32 noise.
    expect(Math.abs(r.ce_zero - ref.ce_clean), `${what}: zero ablation must move the CE`).toBeGreaterThan(0.03);
    expect(Math.abs(r.ce_mean - ref.ce_clean), `${what}: mean ablation must move the CE`).toBeGreaterThan(0.03);
    console.info(what, JSON.stringify({ clean: ref.ce_clean, ...Object.fromEntries(FIGURES.map((k) => [k, r[k]])) }));
    for (const k of FIGURES) check(gpu.groups[i][k], r[k], `group ${r.sites.join('+')} ${k}`);
    expect(r.kl, `${what}: the SAE changes the predictions`).toBeGreaterThan(1e-3);
  });
  return worstRel;
}

describe.skipIf(unavailable !== null)('the language model on webgpu in Node, against wasm', () => {
  afterAll(async () => {
    await useCpu();
    console.info(`[transformer.webgpu] max |webgpu − wasm| / max(1, max |wasm|):\n  ${measured.join('\n  ')}`);
  });

  // Three documents of different lengths (padded), BOS = 1 first; token ids valid in every vocabulary.
  const docs = randomDocuments([12, 8, 5], 40, 3);
  const batch = padBatch(docs, [0, 1, 2]);

  for (const family of FAMILIES) {
    describe(family.name, () => {
      const weights = family.weights();

      it('logits and every hook of a padded batch match; a later token leaves earlier positions alone', async () => {
        const ref = await onBackend('wasm', weights, (m) => forwardAll(m, batch.tokens, batch.B, batch.T));
        // The logits are far from trivial, so the relative bound is a tight one.
        expect(worst(ref.logits, ref.logits).scale).toBeGreaterThan(1);
        const { gpu, perHead, changed } = await onBackend('webgpu', weights, async (m) => {
          expect(m.attention).toBe('auto');
          const gpu = await forwardAll(m, batch.tokens, batch.B, batch.T);
          // Head-by-head attention (the wasm / cpu path) on webgpu too.
          m.attention = 'per_head';
          const perHead = await forwardAll(m, batch.tokens, batch.B, batch.T);
          m.attention = 'auto';
          // The mask: document 0 with its token at position 8 changed.
          const edited = batch.tokens.slice();
          edited[8] = edited[8] === 5 ? 6 : 5;
          const changed = await forwardAll(m, edited, batch.B, batch.T);
          return { gpu, perHead, changed };
        });
        let rel = expectClose(gpu.logits, ref.logits, 'logits');
        rel = Math.max(rel, expectClose(perHead.logits, ref.logits, 'logits (per-head attention)'));
        for (const [site, v] of ref.sites) {
          rel = Math.max(rel, expectClose(gpu.sites.get(site)!, v, `site ${site}`));
          rel = Math.max(rel, expectClose(perHead.sites.get(site)!, v, `site ${site} (per-head attention)`));
        }
        const V = weights.arch.vocabSize;
        const before = worst(changed.logits.subarray(0, 8 * V), gpu.logits.subarray(0, 8 * V));
        const after = worst(changed.logits.subarray(8 * V, 12 * V), gpu.logits.subarray(8 * V, 12 * V));
        expect(before.diff, 'positions before the changed token must not see it').toBeLessThanOrEqual(TOL * Math.max(1, before.scale));
        expect(after.diff, 'positions from the changed token on must see it').toBeGreaterThan(100 * TOL * Math.max(1, after.scale));
        measured.push(`${family.name} forward: ${rel.toExponential(2)} (${ref.sites.size} hooks + logits, largest |logit| ${worst(ref.logits, ref.logits).scale.toFixed(2)})`);
      }, 30_000);

      it('the logit lens of a direction (read asynchronously) matches', async () => {
        const dir = Float32Array.from({ length: weights.arch.dim }, (_, i) => Math.cos(i * 1.3) - 0.2);
        const ref = await onBackend('wasm', weights, (m) => m.directionLogits(dir));
        const gpu = await onBackend('webgpu', weights, (m) => m.directionLogits(dir));
        expect(gpu.length).toBe(weights.arch.vocabSize);
        expectClose(gpu, ref, 'direction logits');
      });

      it('evaluateSplice: clean, spliced and ablated CE, KL and loss recovered match; no tensor leaks on webgpu', async () => {
        const D = weights.arch.dim;
        // One residual site alone, and two hooks inside blocks spliced together with a mask.
        const sources = () => [reluSae([1], D, false, false, 11), reluSae([0.75, 1.25], D, true, true, 12)];
        const evalDocs = randomDocuments([12, 9, 7, 5], 40, 5);
        const run = (m: TransformerModel) => Promise.all(sources().map((s) => evaluateSplice(m, evalDocs, s)));
        const ref = await onBackend('wasm', weights, run);
        const gpu = await onBackend('webgpu', weights, async (m) => {
          const first = await run(m);
          // The tensor count over a repeated forward and splice evaluation on webgpu.
          const before = tf.memory().numTensors;
          tf.dispose(Object.values(m.forward(batch.tokens, batch.B, batch.T, { capture: m.sites() })).flatMap((v) => (v instanceof Map ? [...v.values()] : [v])));
          await run(m);
          expect(tf.memory().numTensors).toBe(before);
          return first;
        });
        let rel = 0;
        ref.forEach((r, i) => { rel = Math.max(rel, expectReportsClose(gpu[i], r, `${family.name} source ${i}`)); });
        const g = ref[0].groups[0];
        measured.push(`${family.name} splice: ${rel.toExponential(2)} (CE clean ${ref[0].ce_clean.toFixed(4)}, SAE ${g.ce.toFixed(4)}, zero ${g.ce_zero.toFixed(4)}, mean ${g.ce_mean.toFixed(4)}, loss recovered ${g.loss_recovered.toFixed(4)})`);
      }, 30_000);
    });
  }

  describe('extractFromText through the workspace (the CLI\'s activations and train --lm)', () => {
    const TEXT = [
      'The quick brown fox jumps over the lazy dog near the river bank.',
      'Once upon a time there was a little robot who liked to count the stars.',
      'Residual streams carry what each layer writes for the layers after it.',
    ].join('\n');
    for (const [dir, sites] of [['tiny-gpt2', [1, 0.75]], ['tiny-pythia', [0.25, 2]], ['tiny-qwen2-sharded', [1.5]]] as const) {
      it(`${dir}: the same activations at ${sites.join(', ')} on both backends`, async () => {
        const extract = async (backend: 'wasm' | 'webgpu') => {
          await (backend === 'wasm' ? useWasm() : useWebGPU());
          const ws = new Workspace();
          const files = readdirSync(path.join(HF, dir)).filter((f) => !f.includes('reference')).map((f) => ({ name: `${dir}/${f}`, blob: new Blob([readFileSync(path.join(HF, dir, f))]) }));
          const { results } = await ws.loadFiles([...files, { name: 'story.txt', blob: new Blob([TEXT]) }]);
          expect(results.filter((r) => r.kind === 'error')).toEqual([]);
          try {
            const r = await extractFromText(ws, { text: 'story.txt', sites: [...sites] });
            expect(r.kind).toBe('activations');
            const ds = ws.dataset as { rows: number; data: Float32Array };
            return { rows: ds.rows, data: ds.data.slice(), tokens: ws.tokens!.ids.slice() };
          } finally {
            ws.lm?.model?.dispose();
          }
        };
        const ref = await extract('wasm');
        const gpu = await extract('webgpu');
        expect(gpu.rows).toBe(ref.rows);
        expect(ref.rows).toBeGreaterThan(30);
        expect(Array.from(gpu.tokens)).toEqual(Array.from(ref.tokens));
        const rel = expectClose(gpu.data, ref.data, `${dir} activations`);
        measured.push(`${dir} extractFromText: ${rel.toExponential(2)} (${ref.rows} rows × ${sites.length} sites)`);
      }, 30_000);
    }
  });

  describe.skipIf(!realPresent)('the real stories260K model (../shared/data)', () => {
    it('one forward of the first validation story (64 tokens): logits and every residual match', async () => {
      const ckpt = parseLlama2cCheckpoint(new Uint8Array(readFileSync(path.join(SHARED, 'model.bin'))), 'model.bin');
      const tok = parseLlama2cTokenizer(new Uint8Array(readFileSync(path.join(SHARED, 'tok512.bin'))), 'tok512.bin', ckpt.config.vocabSize);
      const corpus = tokenizeCorpus(tok, readFileSync(path.join(SHARED, 'stories_valid.txt'), 'utf8'), 'stories_valid.txt', 64);
      const tokens = corpus.documents[0];
      expect(tokens.length).toBe(64);
      const weights = llama2cTransformer(ckpt);
      const ref = await onBackend('wasm', weights, (m) => forwardAll(m, tokens, 1, 64));
      const gpu = await onBackend('webgpu', weights, (m) => forwardAll(m, tokens, 1, 64));
      expect(worst(ref.logits, ref.logits).scale).toBeGreaterThan(1);
      let rel = expectClose(gpu.logits, ref.logits, 'logits');
      for (const [site, v] of ref.sites) rel = Math.max(rel, expectClose(gpu.sites.get(site)!, v, `site ${site}`));
      measured.push(`stories260K forward: ${rel.toExponential(2)} (64 tokens, ${ref.sites.size} hooks + logits, largest |logit| ${worst(ref.logits, ref.logits).scale.toFixed(2)})`);
    }, 30_000);
  });
});
