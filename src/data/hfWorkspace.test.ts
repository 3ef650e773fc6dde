// A Hugging Face model folder in the workspace (fixtures/hf/tiny-gpt2 and its SAELens SAE, written
// by scripts/make_hf_fixtures.py): the folder's files recognised by name, the model and its
// tokenizer.json loaded, text tokenised with BOS, activations extracted at residual sites and at
// hooks inside blocks, and the imported SAE spliced at its cfg.json's hook_name — loss recovered
// against a plain splice written here (the SAE in plain arrays, CE summed by hand).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../engine/config';
import { useCpu } from '../engine/testing';
import { parseHfModel } from '../io/hfModel';
import { neuronpediaDashboards } from './dashboard';
import { featureOverview, latentContexts } from './features';
import { evaluateWeightsWithModel, exportSource, extractFromText, languageModelInfo, lmModel } from './languageModel';
import { trainingDataFor, withWeights } from './trainingData';
import { readHfModelFiles } from './languageModelFiles';
import { saeModelMatch, siteOfHook } from './sites';
import { Workspace } from './workspace';

const ROOT = path.resolve(__dirname, '../../fixtures/hf');
const MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];
const fileOf = (dir: string, name: string, as = `${dir}/${name}`) => ({ name: as, blob: new Blob([readFileSync(path.join(ROOT, dir, name))]) });
const TEXT = [
  'The quick brown fox jumps over the lazy dog near the river bank.',
  'A small model reads the story and guesses the next word each time.',
  'Sparse autoencoders find directions that fire on a few tokens only.',
  'She said: "it is 42, not 41!" and left the room at 9:30 in the morning.',
  'Residual streams carry what each layer writes for the layers after it.',
  'Once upon a time there was a little robot who liked to count the stars.',
].join('\n');
const text = () => ({ name: 'story.txt', blob: new Blob([TEXT]) });

describe('a Hugging Face GPT-2 folder in the workspace', () => {
  let ws: Workspace;
  beforeAll(async () => {
    await useCpu();
    ws = new Workspace();
    const { results } = await ws.loadFiles([...MODEL_FILES.map((f) => fileOf('tiny-gpt2', f)), text()]);
    expect(results.filter((r) => r.kind === 'error')).toEqual([]);
  });

  it('loads the model, its tokenizer and tokenises the text with BOS', async () => {
    const info = languageModelInfo(ws)!;
    expect(info.model).toMatchObject({ name: 'tiny-gpt2', format: 'huggingface', modelType: 'gpt2', dtypes: ['F32'], dim: 32, nLayers: 2, vocabSize: 357, seqLen: 64 });
    expect(info.tokenizer).toEqual({ name: 'tiny-gpt2/tokenizer.json', pieces: 357 });
    const corpus = ws.texts.get('story.txt')!.corpus!;
    expect(corpus.documents.length).toBe(6);
    // <|endoftext|> (356) is GPT-2's BOS, put before every document.
    for (const d of corpus.documents) expect(d[0]).toBe(356);
    expect(ws.tokenizer!.tok.decode(corpus.documents[3].subarray(1))).toBe(TEXT.split('\n')[3]);
  });

  it('names the files it does not need instead of refusing them', async () => {
    const other = new Workspace();
    const { results } = await other.loadFiles([...MODEL_FILES.map((f) => fileOf('tiny-gpt2', f)), { name: 'tiny-gpt2/pytorch_model.bin', blob: new Blob([new Uint8Array(100)]) }, { name: 'tiny-gpt2/merges.txt', blob: new Blob(['#version: 0.2']) }]);
    expect(results.filter((r) => r.kind === 'error')).toEqual([]);
    expect(results.find((r) => r.kind === 'language_model')!.message).toMatch(/^gpt2 model tiny-gpt2: 3[\d,]+ parameters \(F32\), d_model 32, 2 layers.*; not needed: .*pytorch_model\.bin.*merges\.txt/);
    // merges.txt is not taken for a text to run the model on.
    expect(other.texts.size).toBe(0);
  });

  it('a folder with a missing shard or without its config says which file is missing', async () => {
    const sharded = new Workspace();
    const { results } = await sharded.loadFiles(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'tokenizer.json'].map((f) => fileOf('tiny-qwen2-sharded', f)));
    const error = results.find((r) => r.kind === 'error');
    expect(error?.message).toMatch(/model-00002-of-00002\.safetensors is missing: model\.safetensors\.index\.json lists it for \d+ tensors/);
    expect(sharded.lm).toBeNull();
    // Over a loaded model: the refused folder's tokenizer.json stays out too.
    const loaded = new Workspace();
    await loaded.loadFiles(MODEL_FILES.map((f) => fileOf('tiny-gpt2', f)));
    const again = await loaded.loadFiles(['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'tokenizer.json'].map((f) => fileOf('tiny-qwen2-sharded', f)));
    expect(again.results.map((r) => r.kind)).toEqual(['error', 'error']);
    expect(again.results[1].message).toMatch(/tiny-qwen2-sharded\/tokenizer\.json was not loaded: the model of its folder was refused/);
    expect(loaded.lm!.name).toBe('tiny-gpt2');
    expect(loaded.tokenizer!.name).toBe('tiny-gpt2/tokenizer.json');
    const lone = await new Workspace().loadFiles([fileOf('tiny-gpt2', 'model.safetensors')]);
    expect(lone.results[0].message).toMatch(/Hugging Face weights need their config\.json; drop the whole model folder/);
  });

  it('extracts residual sites and hooks inside blocks, equal to the model run directly', async () => {
    // blocks.1.hook_resid_pre (1) and blocks.1.hook_attn_out (1.25).
    const r = await extractFromText(ws, { text: 'story.txt', sites: [1, 1.25] });
    expect(r.message).toMatch(/blocks\.1\.hook_resid_pre, blocks\.1\.hook_attn_out/);
    const ds = ws.dataset as { data: Float32Array; rows: number; nLayers: number; dIn: number; sites: number[] };
    expect(ds.sites).toEqual([1, 1.25]);
    const doc = ws.texts.get('story.txt')!.corpus!.documents[0];
    const model = lmModel(ws);
    const out = model.forward(doc, 1, doc.length, { capture: [1, 1.25], until: 2 });
    const direct = [out.captured.get(1)!.dataSync(), out.captured.get(1.25)!.dataSync()];
    tf.dispose([...out.captured.values()]);
    // Row 0 of the dataset is the document's position 1 (BOS dropped); layers side by side.
    let worst = 0;
    for (let p = 1; p < doc.length; p++) {
      for (let l = 0; l < 2; l++) {
        for (let j = 0; j < 32; j++) worst = Math.max(worst, Math.abs(ds.data[((p - 1) * 2 + l) * 32 + j] - direct[l][p * 32 + j]));
      }
    }
    expect(worst).toBe(0);
  });

  it('splices the imported SAELens SAE at its hook: loss recovered equals a plain splice', async () => {
    const { results } = await ws.loadFiles(['cfg.json', 'sae_weights.safetensors'].map((f) => fileOf('tiny-gpt2-sae', f)));
    expect(results.filter((r) => r.kind === 'error')).toEqual([]);
    const imported = ws.imported!;
    const site = siteOfHook(imported.info.cfg.hook_name);
    expect(site).toBe(1);
    await extractFromText(ws, { text: 'story.txt', sites: [site!] });
    const ds = ws.dataset!;
    const cfg = resolveConfig(imported.configInput, ds.dIn, ds.nLayers);
    const other = { name: 'held.txt', blob: new Blob([TEXT.split('\n').reverse().map((l) => l.toUpperCase()).join('\n')]) };
    await ws.loadFiles([other]);
    const report = await evaluateWeightsWithModel(ws, cfg, imported.tensors, 'cpu', { recordedSites: [site!], text: 'held.txt' });
    expect(report.siteNames).toEqual(['blocks.1.hook_resid_pre']);

    // The plain splice: f = relu((x − b_dec)·W_enc + b_enc), x̂ = f·W_dec + b_dec at positions 1 …,
    // CE of the next token at positions 1 … len − 2, summed over documents.
    const t = imported.tensors;
    const [W_enc, b_enc, W_dec, b_dec] = [t.W_enc.data, t.b_enc.data, t.W_dec.data, t.b_dec.data];
    const D = 32, S = 64;
    const sae = (x: Float32Array) => {
      const out = new Float32Array(x.length);
      for (let r = 0; r < x.length / D; r++) {
        const f = new Float64Array(S);
        for (let k = 0; k < S; k++) {
          let a = b_enc[k];
          for (let j = 0; j < D; j++) a += (x[r * D + j] - b_dec[j]) * W_enc[j * S + k];
          f[k] = Math.max(0, a);
        }
        for (let j = 0; j < D; j++) {
          let v = b_dec[j];
          for (let k = 0; k < S; k++) v += f[k] * W_dec[k * D + j];
          out[r * D + j] = v;
        }
      }
      return out;
    };
    const model = lmModel(ws);
    let ceClean = 0, ceSae = 0, n = 0;
    for (const doc of ws.texts.get('held.txt')!.corpus!.documents) {
      const T = doc.length;
      const clean = model.forward(doc, 1, T);
      const spliced = model.forward(doc, 1, T, {
        splice: (s, x) => {
          if (s !== site) return null;
          const v = x.dataSync() as Float32Array;
          const hat = sae(v);
          hat.set(v.subarray(0, D), 0); // BOS stays
          return tf.tensor2d(hat, [T, D]);
        },
      });
      const lc = clean.logits!.dataSync(), ls = spliced.logits!.dataSync();
      tf.dispose([clean.logits!, spliced.logits!]);
      const nll = (logits: ArrayLike<number>, p: number, target: number) => {
        let max = -Infinity;
        for (let v = 0; v < 357; v++) max = Math.max(max, logits[p * 357 + v]);
        let sum = 0;
        for (let v = 0; v < 357; v++) sum += Math.exp(logits[p * 357 + v] - max);
        return -(logits[p * 357 + target] - max - Math.log(sum));
      };
      for (let p = 1; p + 1 < T; p++) {
        ceClean += nll(lc, p, doc[p + 1]);
        ceSae += nll(ls, p, doc[p + 1]);
        n += 1;
      }
    }
    expect(report.predictions).toBe(n);
    expect(report.ce_clean).toBeCloseTo(ceClean / n, 4);
    expect(report.groups[0].ce).toBeCloseTo(ceSae / n, 4);
    const g = report.groups[0];
    expect(g.loss_recovered).toBeCloseTo((g.ce_zero - ceSae / n) / (g.ce_zero - ceClean / n), 4);
    // The SAE changes the model's predictions (a splice that did nothing would pass the above too).
    expect(Math.abs(ceSae - ceClean) / n).toBeGreaterThan(1e-3);
  });

  it("the imported SAE's densities, top contexts and dashboard equal a plain encoding of the extracted rows", async () => {
    const imported = ws.imported!;
    const ds = ws.dataset as { data: Float32Array; rows: number; dIn: number; nLayers: number };
    const cfg = resolveConfig(imported.configInput, ds.dIn, ds.nLayers);
    const t = imported.tensors;
    const D = 32, S = 64, N = ds.rows;
    // Plain: f = relu((x − b_dec)·W_enc + b_enc) for every extracted row.
    const f = new Float64Array(N * S);
    for (let r = 0; r < N; r++) {
      for (let k = 0; k < S; k++) {
        let a = t.b_enc.data[k];
        for (let j = 0; j < D; j++) a += (ds.data[r * D + j] - t.b_dec.data[j]) * t.W_enc.data[j * S + k];
        f[r * S + k] = Math.max(0, a);
      }
    }
    const density = (k: number) => { let c = 0; for (let r = 0; r < N; r++) if (f[r * S + k] > 0) c++; return c / N; };
    const argmax = (k: number) => { let best = 0; for (let r = 1; r < N; r++) if (f[r * S + k] > f[best * S + k]) best = r; return best; };
    await withWeights(cfg, await trainingDataFor(ws, cfg), imported.tensors, 'cpu', async (trainer) => {
      const overview = await featureOverview(ws, trainer, { k: 5 });
      expect(overview.rows).toBe(N);
      const alive = Array.from({ length: S }, (_, k) => k).filter((k) => density(k) > 0);
      expect(alive.length).toBeGreaterThan(5);
      for (let k = 0; k < S; k++) {
        // Activations within ~1e-6 of 0 may fall either side of it in float32.
        expect(Math.abs(overview.density[k] - density(k))).toBeLessThanOrEqual(2 / N);
        if (density(k) > 0) expect(overview.maxActivation[k]).toBeCloseTo(f[argmax(k) * S + k], 4);
      }
      const j = alive.reduce((a, b) => (density(b) > density(a) ? b : a));
      const contexts = (await latentContexts(ws, trainer, overview, [j]))[j];
      const top = contexts[0];
      expect(top.rows[top.centre]).toBe(argmax(j));
      top.rows.forEach((row, i) => expect(top.values[i]).toBeCloseTo(f[row * S + j], 4));
      expect(top.tokens[top.centre]).toBe(ws.tokenizer!.tok.display[ws.tokens!.ids[argmax(j)]]);
      const dash = (await neuronpediaDashboards(ws, trainer, overview, [j], { k: 5 })).features[0];
      expect(dash.feature_index).toBe(j);
      expect(dash.frac_nonzero).toBeCloseTo(density(j), 2);
      const first = dash.activations[0];
      expect(first.values[first.qualifying_token_index]).toBeCloseTo(f[argmax(j) * S + j], 3);
    });
  });
});

describe('an SAE cfg.json against the loaded model', () => {
  const gpt2 = { name: 'gpt2', dim: 768, nLayers: 12 };
  it('finds its hook; TransformerLens model names match the Hub folder; conventions in words', () => {
    const m = saeModelMatch({ model_name: 'gpt2-small', hook_name: 'blocks.8.hook_resid_pre', prepend_bos: true, context_size: 128, model_from_pretrained_kwargs: { center_writing_weights: true } }, 768, gpt2);
    expect(m.site).toBe(8);
    expect(m.problems).toEqual([]);
    expect(m.centred).toBe(true);
    expect(m.conventions.join('; ')).toMatch(/trained with BOS first.*contexts of 128 tokens.*center_writing_weights/);
    expect(saeModelMatch({ model_name: 'EleutherAI/pythia-70m-deduped', hook_name: 'blocks.3.hook_mlp_out' }, 512, { name: 'pythia-70m-deduped', dim: 512, nLayers: 6, parallelResidual: true })).toMatchObject({ site: 3.75, problems: [] });
  });
  it('says plainly when the model, the hook or the width differ', () => {
    const other = saeModelMatch({ model_name: 'pythia-70m-deduped', hook_name: 'blocks.3.hook_resid_mid' }, 512, { name: 'pythia-70m', dim: 768, nLayers: 6, parallelResidual: true });
    expect(other.site).toBeUndefined();
    expect(other.problems.join('\n')).toMatch(/reads blocks\.3\.hook_resid_mid, which pythia-70m does not have: blocks\.3\.hook_resid_mid does not exist in this model/);
    expect(other.problems.join('\n')).toMatch(/trained on pythia-70m-deduped, but the loaded model is pythia-70m/);
    expect(other.problems.join('\n')).toMatch(/reads vectors of width 512, but pythia-70m's residual stream has width 768/);
    expect(saeModelMatch({ hook_name: 'blocks.12.hook_resid_pre' }, 768, gpt2).problems[0]).toMatch(/reads blocks\.12\.hook_resid_pre, which gpt2 does not have: its blocks are 0 … 11/);
  });
});

describe("an imported SAE's context_size", () => {
  it('cuts the documents to it (they were what it was trained on), and back when another SAE says otherwise', async () => {
    const ws = new Workspace();
    await ws.loadFiles([...MODEL_FILES.map((f) => fileOf('tiny-gpt2', f)), text()]);
    expect(Math.max(...ws.texts.get('story.txt')!.corpus!.documents.map((d) => d.length))).toBeGreaterThan(16);
    const cfg = JSON.parse(readFileSync(path.join(ROOT, 'tiny-gpt2-sae', 'cfg.json'), 'utf8'));
    const { results } = await ws.loadFiles([
      { name: 'sae/cfg.json', blob: new Blob([JSON.stringify({ ...cfg, context_size: 16 })]) },
      fileOf('tiny-gpt2-sae', 'sae_weights.safetensors', 'sae/sae_weights.safetensors'),
    ]);
    expect(results.filter((r) => r.kind === 'error')).toEqual([]);
    const corpus = ws.texts.get('story.txt')!.corpus!;
    expect(corpus.limit).toBe(16);
    expect(Math.max(...corpus.documents.map((d) => d.length))).toBe(16);
    await ws.loadFiles(['cfg.json', 'sae_weights.safetensors'].map((f) => fileOf('tiny-gpt2-sae', f)));
    expect(ws.texts.get('story.txt')!.corpus!.limit).toBe(64);
  });
});

describe("an imported SAE's prepend_bos false", () => {
  it('runs documents without BOS: every position extracted, replaced and scored', async () => {
    await useCpu();
    const ws = new Workspace();
    await ws.loadFiles([...MODEL_FILES.map((f) => fileOf('tiny-gpt2', f)), text()]);
    const cfg = JSON.parse(readFileSync(path.join(ROOT, 'tiny-gpt2-sae', 'cfg.json'), 'utf8'));
    await ws.loadFiles([
      { name: 'sae/cfg.json', blob: new Blob([JSON.stringify({ ...cfg, prepend_bos: false })]) },
      fileOf('tiny-gpt2-sae', 'sae_weights.safetensors', 'sae/sae_weights.safetensors'),
    ]);
    const corpus = ws.texts.get('story.txt')!.corpus!;
    expect(corpus.bos).toBe(false);
    for (const d of corpus.documents) expect(d[0]).not.toBe(356);
    expect(ws.tokenizer!.tok.decode(corpus.documents[3])).toBe(TEXT.split('\n')[3]);
    const r = await extractFromText(ws, { text: 'story.txt', sites: [1] });
    expect(r.message).toMatch(/without BOS, as the imported SAE was trained/);
    expect(ws.dataset!.rows).toBe(corpus.tokens);
    const imported = ws.imported!;
    const sae = resolveConfig(imported.configInput, 32, 1);
    await ws.loadFiles([{ name: 'held.txt', blob: new Blob([TEXT.toUpperCase()]) }]);
    const report = await evaluateWeightsWithModel(ws, sae, imported.tensors, 'cpu', { recordedSites: [1], text: 'held.txt' });
    const held = ws.texts.get('held.txt')!.corpus!.documents;
    // Predictions at positions 0 … len − 2 of each document.
    expect(report.predictions).toBe(held.reduce((n, d) => n + d.length - 1, 0));
    const model = lmModel(ws);
    let ce = 0;
    for (const d of held) {
      const out = model.forward(d, 1, d.length);
      const logits = out.logits!.dataSync();
      out.logits!.dispose();
      for (let p = 0; p + 1 < d.length; p++) {
        let max = -Infinity, sum = 0;
        for (let v = 0; v < 357; v++) max = Math.max(max, logits[p * 357 + v]);
        for (let v = 0; v < 357; v++) sum += Math.exp(logits[p * 357 + v] - max);
        ce -= logits[p * 357 + d[p + 1]] - max - Math.log(sum);
      }
    }
    expect(report.ce_clean).toBeCloseTo(ce / report.predictions, 4);
    // The export says so, for SAELens to run the model the same way.
    expect(exportSource(ws, sae)?.prependBos).toBe(false);
  });
});

describe('reading a model folder a tensor at a time', () => {
  const folderOf = (dir: string, names: string[]) => {
    const files = new Map(names.map((n) => [n, readFileSync(path.join(ROOT, dir, n))]));
    return {
      folder: dir, weights: names.filter((n) => n.endsWith('.safetensors')).map((n) => ({ name: `${dir}/${n}`, blob: new Blob([files.get(n)!]) })),
      config: { name: `${dir}/config.json`, blob: new Blob([files.get('config.json')!]) },
      index: files.has('model.safetensors.index.json') ? { name: `${dir}/model.safetensors.index.json`, blob: new Blob([files.get('model.safetensors.index.json')!]) } : undefined,
      ignored: [],
    };
  };
  it('gives the weights the in-memory reader gives, with the bytes read reported up to the total', async () => {
    for (const [dir, names] of [['tiny-gpt2', ['config.json', 'model.safetensors']], ['tiny-qwen2-sharded', ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']]] as const) {
      const seen: [number, number][] = [];
      const streamed = await readHfModelFiles(folderOf(dir, [...names]), (_label, done, total) => seen.push([done, total]));
      const whole = parseHfModel(new Map(names.map((n) => [n, new Uint8Array(readFileSync(path.join(ROOT, dir, n)))])), dir);
      expect(streamed.checkpoint.weights).toEqual(whole.weights);
      expect(streamed.checkpoint.dtypes).toEqual(whole.dtypes);
      expect(seen[0][0]).toBe(0); // said before any weight is read
      expect(seen.at(-1)![0]).toBe(seen.at(-1)![1]);
      expect(seen.at(-1)![1]).toBe(streamed.storedBytes);
      // GPT-2's causal-mask buffers (2 × 64 × 64 float32) are not read: fewer bytes than the file.
      if (dir === 'tiny-gpt2') expect(streamed.storedBytes).toBeLessThan(readFileSync(path.join(ROOT, dir, 'model.safetensors')).length - 2 * 64 * 64 * 4);
    }
  });
  it('refuses a model over the float32 limit before reading its weights, and a truncated shard by its header', async () => {
    let progressed = 0;
    await expect(readHfModelFiles(folderOf('tiny-gpt2', ['config.json', 'model.safetensors']), () => { progressed += 1; }, 100_000))
      .rejects.toThrow(/tiny-gpt2 has 3[\d,]+ parameters: 0\.\d+ GB as float32, which the engine holds them in, over the 0\.000 GB a tab can hold/);
    expect(progressed).toBe(0);
    const cut = folderOf('tiny-qwen2-sharded', ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const shard = readFileSync(path.join(ROOT, 'tiny-qwen2-sharded', 'model-00002-of-00002.safetensors'));
    cut.weights[1] = { name: 'tiny-qwen2-sharded/model-00002-of-00002.safetensors', blob: new Blob([shard.subarray(0, shard.length - 10)]) };
    await expect(readHfModelFiles(cut)).rejects.toThrow(/model-00002-of-00002\.safetensors: tensor .* the file is only [\d,]+ bytes; it is truncated/);
  });
});
