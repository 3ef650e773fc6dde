// The language model in the workspace: files recognised by content, activations extracted from
// text, which text an SAE is judged on, splicing of single- and multi-layer SAEs, the normaliser
// round trip, and the CLI's eval / activations with --lm. Real-model parts use ../shared/data
// (skipped with a message where it is absent).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main';
import { captureOutput } from '../cli/testing';
import { useNodeWasmFiles } from '../cli/nodeBackend';
import { resolveConfig } from '../engine/config';
import { evaluateSplice } from '../engine/lm/splice';
import { normalizerOf } from '../engine/normalize';
import { Trainer } from '../engine/trainer';
import { parseNpy } from '../io/npy';
import { evaluateWithModel, evaluationText, extractFromText, lmModel, sitesFor } from './languageModel';
import { siteName, siteOfHook } from './sites';
import { trainingDataFor } from './trainingData';
import { Workspace } from './workspace';

const SHARED = path.resolve(__dirname, '../../../shared/data/stories260k');
const present = existsSync(path.join(SHARED, 'model.bin'));
if (!present) console.warn(`[languageModel.test] real-model tests skipped: ${SHARED} is absent (it exists only beside the project in CI)`);
const source = (name: string, bytes?: Uint8Array) => ({ name, blob: new Blob([Uint8Array.from(bytes ?? readFileSync(path.join(SHARED, name)))]) });

describe('site names', () => {
  it('name resid_pre sites and the final residual as TransformerLens does, and read them back', () => {
    expect(siteName(0, 5)).toBe('blocks.0.hook_resid_pre');
    expect(siteName(3, 5)).toBe('blocks.3.hook_resid_pre');
    expect(siteName(5, 5)).toBe('blocks.4.hook_resid_post');
    for (let s = 0; s <= 5; s++) expect(siteOfHook(siteName(s, 5))).toBe(s);
    // Inside block l: attn_out, resid_mid, mlp_out at l + 0.25, 0.5, 0.75 (src/engine/lm/hooks.ts).
    expect(siteOfHook('blocks.3.hook_attn_out')).toBe(3.25);
    expect(siteOfHook('blocks.3.hook_resid_mid')).toBe(3.5);
    expect(siteOfHook('blocks.3.hook_mlp_out')).toBe(3.75);
    for (const s of [0.25, 2.5, 4.75]) expect(siteOfHook(siteName(s, 5))).toBe(s);
    expect(siteOfHook('blocks.3.hook_z')).toBeUndefined();
    expect(siteName(7, 5)).toBe('site 7');
    expect(siteOfHook(undefined)).toBeUndefined();
  });
});

describe('sitesFor: where an SAE is spliced', () => {
  // A workspace that only knows the model's depth (5 blocks) and a dataset, with or without sites.
  const workspace = (nLayers: number, sites?: number[]) => {
    const ws = new Workspace();
    ws.lm = { name: 'm.bin', checkpoint: { config: { nLayers: 5 } } } as unknown as Workspace['lm'];
    ws.dataset = { name: 'acts', rows: 4, dIn: 2, nLayers, data: new Float32Array(4 * 2 * nLayers), sites } as unknown as Workspace['dataset'];
    return ws;
  };
  const one = resolveConfig({ architecture: 'topk', d_sae: 8 }, 2, 1);
  const three = resolveConfig({ architecture: 'crosscoder', d_sae: 8, layer_start: 0, layer_end: 2 }, 2, 3);

  it('a chosen layer wins; else the recorded sites; else the extracted ones; else it asks (no default)', () => {
    expect(sitesFor(workspace(1), one, 1, 2, [3])).toEqual([2]);
    expect(sitesFor(workspace(1), one, 1, undefined, [3])).toEqual([3]);
    expect(sitesFor(workspace(1, [1]), one, 1, undefined, [3])).toEqual([3]);
    expect(sitesFor(workspace(1, [1]), one, 1)).toEqual([1]);
    expect(() => sitesFor(workspace(1), one, 1)).toThrow(/choose the model layer of the loaded activations \(Language model panel, or --layer\)/);
    expect(() => sitesFor(workspace(1), one, 1, 6)).toThrow(/layer 6 is outside the model's residual sites 0 … 5/);
  });

  it('a multi-layer SAE with only its first hook recorded: the extracted sites when they start there, else consecutive ones', () => {
    expect(sitesFor(workspace(3, [1, 3, 5]), three, 3, undefined, [1])).toEqual([1, 3, 5]);
    expect(sitesFor(workspace(3, [0, 3, 5]), three, 3, undefined, [1])).toEqual([1, 2, 3]);
    expect(sitesFor(workspace(3), three, 3, undefined, [2, 3, 5])).toEqual([2, 3, 5]);
    expect(() => sitesFor(workspace(3), three, 3, undefined, [4])).toThrow(/layer 4 is outside the model's residual sites 0 … 5 for an SAE of 3 layers/);
  });
});

describe('normalizerOf', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });
  it('undo(normalised x) gives x back for per_token (per layer) and dataset_norm, and normalises as applyNormalization does', () => {
    const raw = tf.tensor2d(Array.from({ length: 4 * 6 }, (_, i) => Math.sin(i * 1.3) * 3 + (i % 6 < 3 ? 2 : -1)), [4, 6]);
    for (const n of [{ mode: 'per_token' as const }, { mode: 'dataset_norm' as const, scale: [0.5, 2] }, { mode: 'none' as const }]) {
      const { x, undo } = normalizerOf(n, raw, 3, 2);
      const back = undo(x);
      const diff = tf.max(tf.abs(tf.sub(back, raw))).dataSync()[0];
      expect(diff).toBeLessThan(1e-5);
      if (n.mode === 'per_token') {
        // Each 3-wide layer vector has mean 0 and unbiased std 1 (up to the 1e-5 epsilon).
        const v = Array.from(x.dataSync()).slice(3, 6);
        const mean = v.reduce((a, b) => a + b, 0) / 3;
        const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
        expect(Math.abs(mean)).toBeLessThan(1e-5);
        expect(std).toBeCloseTo(1, 3);
      }
      if (n.mode === 'dataset_norm') expect(x.dataSync()[4]).toBeCloseTo(raw.dataSync()[4] * 2, 5);
    }
  });
});

describe.skipIf(!present)('the stories260K model in the workspace', () => {
  let ws: Workspace;
  beforeAll(async () => {
    useNodeWasmFiles();
    await tf.setBackend('wasm');
    ws = new Workspace();
    // The text first: it is tokenised once the model and tokenizer arrive.
    const first = await ws.loadFiles([source('stories_valid.txt')]);
    expect(first.results[0]).toMatchObject({ kind: 'text' });
    const { results } = await ws.loadFiles([source('tok512.bin'), source('model.bin')]);
    expect(results.map((r) => r.kind).sort()).toEqual(['language_model', 'tokenizer']);
    expect(ws.texts.get('stories_valid.txt')?.corpus?.documents).toHaveLength(25);
  });
  afterAll(async () => {
    ws?.lm?.model?.dispose();
    await tf.setBackend('cpu');
  });

  it('recognises a damaged model and a text that is not UTF-8 with specific messages, keeping what is loaded', async () => {
    const model = readFileSync(path.join(SHARED, 'model.bin'));
    const { results } = await ws.loadFiles([source('model.bin', model.subarray(0, model.length - 100)), source('latin1.txt', Uint8Array.from([0x63, 0x61, 0x66, 0xe9]))]);
    // A truncated checkpoint is still recognised by its header and says what is wrong; the loaded model stays.
    expect(results.find((r) => r.name === 'model.bin')).toMatchObject({ kind: 'error', message: expect.stringMatching(/model\.bin has 1,056,440 bytes.*has 1,056,540: the file is truncated/) });
    expect(results.find((r) => r.name === 'latin1.txt')?.message).toMatch(/not UTF-8/);
    expect(ws.lm?.checkpoint.parameters).toBe(260_032);
  });

  it('extracts one or several layers with tokens, positions, document ids and vocab, and records the sites', async () => {
    const r = await extractFromText(ws, { text: 'stories_valid.txt', sites: [2, 3, 4] });
    expect(r.kind).toBe('activations');
    const ds = ws.dataset!;
    expect(ds).toMatchObject({ rows: 9461, dIn: 64, nLayers: 3, sites: [2, 3, 4] });
    expect(ws.tokens?.ids).toHaveLength(9461);
    expect(ws.docIds?.documents).toBe(25);
    expect(ws.vocab?.pieces).toHaveLength(512);
    expect(ws.datasetText).toBe('stories_valid.txt');
    // Said to come from the model, not from a .npy file; the name carries the hooks.
    expect(ws.facts?.format).toBe('extracted');
    expect(ds.name).toBe('stories_valid.txt @ blocks.2.hook_resid_pre, blocks.3.hook_resid_pre, blocks.4.hook_resid_pre');
    // Layer 3 of the rows is the reference layer-3 residual.
    const b = readFileSync(path.join(SHARED, 'valid/resid_l3.npy'));
    const ref = parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer).data as Float32Array;
    let worst = 0;
    for (let row = 0; row < 9461; row += 97) for (let j = 0; j < 64; j++) worst = Math.max(worst, Math.abs((ds as { data: Float32Array }).data[(row * 3 + 1) * 64 + j] - ref[row * 64 + j]));
    expect(worst).toBeLessThan(1e-4);
  }, 60_000);

  it('judges on the validation documents only when the split is by document, else says how to fix it', () => {
    const cfgRows = { val_fraction: 0.1, seed: 0, split_by: 'rows' as const };
    expect(() => evaluationText(ws, cfgRows)).toThrow(/split validation by documents/);
    const t = evaluationText(ws, { ...cfgRows, split_by: 'document' });
    expect(t.documents.length).toBeGreaterThanOrEqual(2);
    expect(t.documents.length).toBeLessThan(25);
    expect(t.description).toMatch(/validation documents of stories_valid.txt/);
    expect(evaluationText(ws, cfgRows, 'stories_valid.txt').documents).toHaveLength(25);
    expect(evaluationText(ws, cfgRows, 'stories_valid.txt', 1000).documents.length).toBeLessThan(5);
  });

  it('splices a crosscoder and an MLSAE at each of their layers, a RouteSAE once where it routed', async () => {
    await extractFromText(ws, { text: 'stories_valid.txt', sites: [2, 3, 4] });
    const text = 'stories_valid.txt';
    for (const architecture of ['crosscoder', 'mlsae', 'routesae']) {
      const cfg = resolveConfig({ architecture, d_sae: 128, batch_size: 256, steps: 40, layer_start: 0, layer_end: 2, split_by: 'document' }, 64, 3);
      const trainer = new Trainer(cfg, await trainingDataFor(ws, cfg), 'wasm');
      await trainer.runSteps(40);
      const before = tf.memory().numTensors;
      const e = await evaluateWithModel(ws, trainer, { text, maxTokens: 3000 });
      expect(tf.memory().numTensors).toBe(before);
      expect(e.sites).toEqual([2, 3, 4]);
      if (architecture === 'routesae') {
        expect(e.groups).toHaveLength(1);
        expect(e.groups[0].sites).toEqual([2, 3, 4]);
        // Every position is replaced at exactly one of the three layers.
        expect(e.groups[0].replaced_fraction).toBeCloseTo(1 / 3, 10);
      } else {
        expect(e.groups.map((g) => g.sites)).toEqual([[2], [3], [4]]);
        for (const g of e.groups) expect(g.replaced_fraction).toBe(1);
      }
      for (const g of e.groups) {
        expect(g.ce_zero).toBeGreaterThan(g.ce_mean);
        expect(g.ce_mean).toBeGreaterThan(e.ce_clean);
        // Barely trained, but far better than zeroing the residual stream.
        expect(g.loss_recovered).toBeGreaterThan(0.3);
        expect(g.loss_recovered).toBeLessThanOrEqual(1.0001);
        expect(g.loss_recovered).toBeCloseTo((g.ce_zero - g.ce) / (g.ce_zero - e.ce_clean), 10);
      }
      trainer.dispose();
    }
  }, 240_000);

  it('a single-layer SAE on layer 3 of the multi-layer rows: the same numbers as evaluateSplice with the dataset mean', async () => {
    await extractFromText(ws, { text: 'stories_valid.txt', sites: [2, 3, 4] });
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 256, k: 16, batch_size: 512, steps: 60, layer: 1, normalize: 'per_token' }, 64, 3);
    const trainer = new Trainer(cfg, await trainingDataFor(ws, cfg), 'wasm');
    await trainer.runSteps(60);
    const e = await evaluateWithModel(ws, trainer, { text: 'stories_valid.txt', maxTokens: 4000 });
    expect(e.sites).toEqual([3]);
    expect(e.siteNames).toEqual(['blocks.3.hook_resid_pre']);
    const mean = Float32Array.from(ws.facts!.stats.perDimMean.slice(64, 128));
    const docs = evaluationText(ws, cfg, 'stories_valid.txt', 4000).documents;
    const direct = await evaluateSplice(lmModel(ws), docs, { sites: [3], together: false, reconstruct: (x) => trainer.spliceReconstruction(x) }, { meanBySite: new Map([[3, mean]]) });
    expect(e.groups[0].ce).toBeCloseTo(direct.groups[0].ce, 10);
    expect(e.groups[0].ce_mean).toBeCloseTo(direct.groups[0].ce_mean, 10);
    // A periodic re-evaluation reuses the ablations (those passes are skipped) and gets the same numbers.
    const again = await evaluateWithModel(ws, trainer, { text: 'stories_valid.txt', maxTokens: 4000, reuse: e });
    expect(again.groups[0]).toEqual(e.groups[0]);
    // Raw-space reconstructions: the normalisation is undone, so FVE on raw rows is high.
    expect(e.groups[0].loss_recovered).toBeGreaterThan(0.6);
    trainer.dispose();
  }, 120_000);

  it('activations from a file: no layer is guessed; the chosen or recorded hook is used and named, another one warned about; loss recovered comes with its standard error', async () => {
    await ws.loadFiles([source('train/resid_l3.npy')]);
    expect(ws.dataset).toMatchObject({ rows: 35234, dIn: 64, nLayers: 1 });
    expect((ws.dataset as { sites?: number[] }).sites).toBeUndefined();
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 256, k: 16, batch_size: 512, steps: 80 }, 64, 1);
    const trainer = new Trainer(cfg, await trainingDataFor(ws, cfg), 'wasm');
    await trainer.runSteps(80);
    const text = 'stories_valid.txt';
    await expect(evaluateWithModel(ws, trainer, { text, maxTokens: 4000 })).rejects.toThrow(/choose the model layer of the loaded activations/);
    const at3 = await evaluateWithModel(ws, trainer, { text, maxTokens: 4000, recordedSites: [3], recordedBy: "its cfg.json's hook_name" });
    expect(at3.siteNames).toEqual(['blocks.3.hook_resid_pre']);
    expect(at3.warning).toBeUndefined();
    const at0 = await evaluateWithModel(ws, trainer, { text, maxTokens: 4000, site: 0, recordedSites: [3], recordedBy: "its cfg.json's hook_name" });
    expect(at0.siteNames).toEqual(['blocks.0.hook_resid_pre']);
    expect(at0.warning).toBe("the SAE belongs at blocks.3.hook_resid_pre (its cfg.json's hook_name) but is spliced at blocks.0.hook_resid_pre: loss recovered there says little about it.");
    const [g3, g0] = [at3.groups[0], at0.groups[0]];
    console.info(`[languageModel.test] layer-3 SAE from a file over ${at3.predictions} predictions in ${at3.documents} documents: loss recovered at layer 3 ${g3.loss_recovered.toFixed(4)} ± ${g3.loss_recovered_se.toFixed(4)}, at layer 0 ${g0.loss_recovered.toFixed(4)} ± ${g0.loss_recovered_se.toFixed(4)}`);
    // Standard errors over a handful of documents: a few hundredths at most, never zero.
    expect(at3.per_document.predictions.reduce((a, b) => a + b, 0)).toBe(at3.predictions);
    expect(at3.per_document.predictions).toHaveLength(at3.documents);
    for (const g of [g3, g0]) {
      expect(g.loss_recovered_se).toBeGreaterThan(1e-4);
      expect(g.loss_recovered_se).toBeLessThan(0.1);
    }
    // Spliced at the wrong layer it scores far worse: the figure is about the layer, not the SAE.
    expect(g0.loss_recovered).toBeLessThan(g3.loss_recovered - 5 * g3.loss_recovered_se);
    trainer.dispose();
  }, 120_000);
});

describe.skipIf(!present)('CLI with a language model', () => {
  afterAll(async () => { await tf.setBackend('cpu'); });
  const dir = mkdtempSync(path.join(tmpdir(), 'saewb-lm-'));
  const lm = ['--lm', path.join(SHARED, 'model.bin'), '--tokenizer', path.join(SHARED, 'tok512.bin')];
  const capture = captureOutput;

  it('activations writes .npy files equal to the reference; train --lm records the hook; eval --lm splices at it', async () => {
    let c = capture();
    expect(await main(['activations', ...lm, '--text', path.join(SHARED, 'stories_valid.txt'), '--layer', '3', '--out', path.join(dir, 'acts')])).toBe(0);
    c.done();
    const read = (f: string) => { const b = readFileSync(f); return parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer); };
    const acts = read(path.join(dir, 'acts/activations.npy'));
    const ref = read(path.join(SHARED, 'valid/resid_l3.npy'));
    expect(acts.shape).toEqual(ref.shape);
    let worst = 0;
    for (let i = 0; i < ref.data.length; i++) worst = Math.max(worst, Math.abs(Number(acts.data[i]) - Number(ref.data[i])));
    expect(worst).toBeLessThan(1e-4);
    expect(Array.from(read(path.join(dir, 'acts/tokens.npy')).data)).toEqual(Array.from(read(path.join(SHARED, 'valid/tokens.npy')).data));

    writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify({ architecture: 'topk', d_sae: 256, k: 16, batch_size: 512, steps: 80, split_by: 'document' }));
    c = capture();
    expect(await main(['train', ...lm, '--text', path.join(SHARED, 'stories_train.txt'), '--layer', '3', '--config', path.join(dir, 'cfg.json'), '--out', path.join(dir, 'sae'), '--splice-every', '40'])).toBe(0);
    // The run layer's periodic splice (the page's "every N steps") at steps 40 and 80, at the extracted hook.
    const spliced = [...c.done().err.matchAll(/step (\d+): loss recovered (-?[\d.]+) ± [\d.e-]+ over ([\d,]+) predictions \(layer 3\)/g)];
    expect(spliced.map((m) => Number(m[1]))).toEqual([40, 80]);
    for (const m of spliced) expect(Number(m[2])).toBeGreaterThan(0.3);
    const cfg = JSON.parse(readFileSync(path.join(dir, 'sae/cfg.json'), 'utf8'));
    expect(cfg.metadata).toMatchObject({ hook_name: 'blocks.3.hook_resid_pre', model_name: 'model.bin', context_size: 512 });

    // No --layer: the hook in cfg.json says where. Mean ablation from --data (the train rows) gives baselines.json's figure.
    c = capture();
    expect(await main(['eval', '--sae', path.join(dir, 'sae'), ...lm, '--text', path.join(SHARED, 'stories_valid.txt'), '--data', path.join(SHARED, 'train/resid_l3.npy')])).toBe(0);
    const { out, err } = c.done();
    const report = JSON.parse(out);
    const baselines = JSON.parse(readFileSync(path.join(SHARED, 'baselines.json'), 'utf8'));
    expect(report.ce_clean).toBeCloseTo(baselines.clean.ce, 4);
    expect(report.groups[0].ce_zero).toBeCloseTo(baselines.zero_ablation.ce, 3);
    expect(report.groups[0].ce_mean).toBeCloseTo(baselines.mean_ablation.ce, 3);
    expect(report.groups[0].loss_recovered).toBeGreaterThan(0.7);
    expect(report.reconstruction.fve).toBeGreaterThan(0.5);
    expect(err).toMatch(/layer 3: loss recovered/);
    // Loss recovered with its standard error over the 25 documents and the predictions behind it.
    expect(report).toMatchObject({ predictions: 9436, documents: 25 });
    expect(report.groups[0].loss_recovered_se).toBeGreaterThan(1e-4);
    expect(report.groups[0].loss_recovered_se).toBeLessThan(0.05);
    expect(report.groups[0].loss_recovered_vs_mean_se).toBeGreaterThan(1e-4);
    expect(report.per_document).toBeUndefined();
    expect(report.warning).toBeUndefined();
    expect(err).toContain('9,436 predictions in 25 documents; ± is the standard error over documents\n');
    expect(err).toContain(`layer 3: loss recovered ${report.groups[0].loss_recovered.toFixed(4)} ± ${report.groups[0].loss_recovered_se.toPrecision(2)} (`);
    expect(err).not.toMatch(/warning|few predictions/);

    // --layer other than the hook in cfg.json: spliced where asked, with a warning (stderr and JSON).
    c = capture();
    expect(await main(['eval', '--sae', path.join(dir, 'sae'), ...lm, '--text', path.join(SHARED, 'stories_valid.txt'), '--layer', '0'])).toBe(0);
    const elsewhere = c.done();
    const at0 = JSON.parse(elsewhere.out);
    expect(at0.siteNames).toEqual(['blocks.0.hook_resid_pre']);
    expect(elsewhere.err).toContain(`warning: --layer 0: the SAE belongs at blocks.3.hook_resid_pre (${path.join(dir, 'sae')}/cfg.json's hook_name) but is spliced at blocks.0.hook_resid_pre`);
    expect(at0.warning).toMatch(/belongs at blocks\.3\.hook_resid_pre .* spliced at blocks\.0\.hook_resid_pre/);
    expect(at0.groups[0].loss_recovered).toBeLessThan(report.groups[0].loss_recovered - 0.1);

    // No hook in cfg.json and no --layer: refused before any work, asking for --layer.
    mkdirSync(path.join(dir, 'nohook'));
    for (const f of readdirSync(path.join(dir, 'sae'))) copyFileSync(path.join(dir, 'sae', f), path.join(dir, 'nohook', f));
    const noHook = JSON.parse(readFileSync(path.join(dir, 'sae/cfg.json'), 'utf8'));
    delete noHook.metadata.hook_name;
    writeFileSync(path.join(dir, 'nohook/cfg.json'), JSON.stringify(noHook));
    c = capture();
    expect(await main(['eval', '--sae', path.join(dir, 'nohook'), ...lm, '--text', path.join(SHARED, 'stories_valid.txt')])).toBe(2);
    expect(c.done().err).toMatch(/--layer or --hook is needed: .*cfg\.json does not name a hook of the model/);

    c = capture();
    expect(await main(['eval', '--sae', path.join(dir, 'sae'), ...lm])).toBe(2);
    expect(c.done().err).toMatch(/--text is needed/);
  }, 240_000);
});
