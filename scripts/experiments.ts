// `npm run experiments`: the runs behind the README's variant tables, re-runnable by anyone.
//   recovery  built-in synthetic sample (256 planted features, ~5 active per row): each variant
//             with L0 matched to the planted sparsity; mean max cosine of the planted features
//             with the decoder rows.
//   real      ../shared/data/stories260k layer-3 residuals: every single-layer variant at d_sae 512
//             and L0 ≈ 16 (trained on train/, measured on valid/), and the multi-layer variants on
//             train/resid_layers.npy. Each single-layer SAE is then spliced into the model at
//             layer 3 on the 25 validation stories: CE, KL and loss recovered beside the PCA and
//             ablation baselines of baselines.json.
//   controller  target-L0 mode on the penalty variants: where λ ends and when L0 settles.
//   guidance  a latent guided towards "the token begins with a capital letter" on the real data:
//             its validation AUROC and the NMSE against the unguided run.
// Prints Markdown tables and writes experiments-results/experiments.json. Not a test.
//   npx tsx scripts/experiments.ts [recovery|real|guidance ...] [--steps N] [--backend wasm|cpu] [--variants relu,topk,…]
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig, type ConfigInput } from '../src/engine/config';
import { featureRecovery } from '../src/engine/metrics';
import { createRng } from '../src/engine/rng';
import { Trainer, type TrainingData } from '../src/engine/trainer';
import { datasetFromNpy, splitDataset, type Dataset } from '../src/data/dataset';
import { makeSyntheticDataset } from '../src/data/synthetic';
import { Workspace } from '../src/data/workspace';
import { tokenizeCorpus } from '../src/data/textCorpus';
import { parseLlama2cCheckpoint, parseLlama2cTokenizer } from '../src/io/llama2c';
import { LlamaModel } from '../src/engine/lm/llama';
import { evaluateSplice, type SpliceReport } from '../src/engine/lm/splice';
import { selectNodeBackend } from '../src/cli/nodeBackend';
import type { EvalMetrics } from '../src/engine/types';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DATA = path.resolve(ROOT, '../shared/data/stories260k');

interface Result { experiment: string; variant: string; config: ConfigInput; metrics: EvalMetrics; seconds: number; extra?: Record<string, number> }

function load(file: string): Dataset {
  const b = readFileSync(path.join(DATA, file));
  return datasetFromNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer, file);
}

/** `after` runs on the trained SAE before it is disposed; what it returns goes into `extra`. */
async function train(experiment: string, variant: string, input: ConfigInput, data: TrainingData, backend: string, setup?: (t: Trainer) => void, after?: (t: Trainer) => Promise<Record<string, number>>): Promise<Result> {
  const cfg = resolveConfig(input, data.dIn, data.nLayers ?? 1);
  const t = new Trainer(cfg, data, backend);
  setup?.(t);
  const t0 = Date.now();
  let lastPrint = 0;
  while (!t.done) {
    await t.runSteps(cfg.log_every);
    const rows = t.takeRows();
    const last = rows[rows.length - 1];
    if (last && Date.now() - lastPrint > 5000) {
      lastPrint = Date.now();
      process.stderr.write(`  ${experiment}/${variant} step ${t.stepCount}/${cfg.steps} L0 ${last.l0.toFixed(1)} fve ${last.fve.toFixed(3)} λ ${last.lambda.toPrecision(3)}\n`);
    }
  }
  const { metrics } = await t.evaluate();
  const seconds = (Date.now() - t0) / 1000;
  process.stderr.write(`  ${experiment}/${variant}: L0 ${metrics.l0.toFixed(1)} NMSE ${metrics.nmse.toFixed(4)} FVE ${metrics.fve.toFixed(4)} dead ${(100 * metrics.dead_fraction).toFixed(1)}% ${seconds.toFixed(0)} s\n`);
  let extra: Record<string, number> | undefined;
  try {
    extra = after ? await after(t) : undefined;
  } finally {
    t.dispose();
  }
  return { experiment, variant, config: input, metrics, seconds, ...(extra ? { extra } : {}) };
}

const fmt = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));

async function recovery(steps: number, backend: string): Promise<Result[]> {
  const ds = makeSyntheticDataset();
  const split = splitDataset(ds, 0.1, 0);
  const data: TrainingData = { ...split, groundTruth: ds.groundTruth };
  const planted = 5; // activePerRow of the sample
  const dSae = 512;
  const base = { d_sae: dSae, batch_size: 1024, steps, log_every: 10, target_l0: planted / dSae };
  const out: Result[] = [];
  for (const architecture of ['topk', 'batchtopk', 'matryoshka', 'jumprelu', 'gated', 'relu', 'randomk']) {
    out.push(await train('recovery', architecture, { ...base, architecture }, data, backend));
  }
  // What chance gives: the same measure for d_sae random unit directions (an untrained decoder).
  const rng = createRng(123);
  const random = Float32Array.from({ length: dSae * ds.dIn }, () => rng.normal());
  const chance = featureRecovery(ds.groundTruth!.dictionary, ds.groundTruth!.nFeatures, random, dSae, ds.dIn);
  console.log(`\n### Recovery of the planted dictionary (synthetic sample, d_sae ${dSae}, L0 target ${planted}, ${steps} steps)\n`);
  console.log('| variant | L0 | mean max cosine | FVE | dead % |');
  console.log('| --- | --- | --- | --- | --- |');
  console.log(`| (untrained random decoder) | — | ${fmt(chance)} | — | — |`);
  for (const r of out) console.log(`| ${r.variant} | ${fmt(r.metrics.l0, 1)} | ${fmt(r.metrics.feature_recovery)} | ${fmt(r.metrics.fve)} | ${fmt(100 * r.metrics.dead_fraction, 1)} |`);
  return out;
}

async function controller(steps: number, backend: string): Promise<Result[]> {
  const ds = makeSyntheticDataset();
  const data: TrainingData = { ...splitDataset(ds, 0.1, 0), groundTruth: ds.groundTruth };
  const target = 0.05;
  const out: Result[] = [];
  for (const architecture of ['relu', 'jumprelu', 'gated', 'classic']) {
    let settledAt = -1;
    let finalLambda = NaN;
    const r = await train('controller', architecture, { architecture, d_sae: 512, batch_size: 1024, steps, log_every: 10, target_l0: target, early_stopping_patience: 0 }, data, backend, (t) => {
      const take = t.takeRows.bind(t);
      t.takeRows = () => {
        const rows = take();
        for (const row of rows) {
          const ok = Math.abs(row.sparsity_l0 - target) < 0.01;
          if (!ok) settledAt = -1;
          else if (settledAt < 0) settledAt = row.step;
          finalLambda = row.lambda;
        }
        return rows;
      };
    });
    r.extra = { settled_at: settledAt, final_lambda: finalLambda };
    out.push(r);
  }
  console.log(`\n### Target-L0 mode (synthetic sample, d_sae 512, target 5%, ${steps} steps, λ from its default)\n`);
  console.log('| variant | final λ | training L0 fraction within ±0.01 from step | validation L0 fraction | FVE |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of out) console.log(`| ${r.variant} | ${fmt(r.extra!.final_lambda, 3)} | ${r.extra!.settled_at >= 0 ? r.extra!.settled_at : 'not settled'} | ${fmt(r.metrics.l0_fraction)} | ${fmt(r.metrics.fve)} |`);
  return out;
}

async function real(steps: number, backend: string, only?: string[]): Promise<Result[]> {
  const train3 = load('train/resid_l3.npy');
  const valid3 = load('valid/resid_l3.npy');
  const data: TrainingData = { train: train3.data, trainRows: train3.rows, val: valid3.data, valRows: valid3.rows, dIn: 64 };
  const dSae = 512, l0 = 16;
  const base = { d_sae: dSae, batch_size: 1024, steps, log_every: 10, target_l0: l0 / dSae };
  const out: Result[] = [];
  // The language model, for splicing each single-layer SAE in at layer 3 of the validation stories.
  const bytes = (f: string) => new Uint8Array(readFileSync(path.join(DATA, f)));
  const model = new LlamaModel(parseLlama2cCheckpoint(bytes('model.bin'), 'model.bin'));
  const tok = parseLlama2cTokenizer(bytes('tok512.bin'), 'tok512.bin', model.config.vocabSize);
  const stories = tokenizeCorpus(tok, readFileSync(path.join(DATA, 'stories_valid.txt'), 'utf8'), 'stories_valid.txt', model.config.seqLen);
  // Mean ablation: the mean of the train rows, as baselines.json fits it.
  const mean = new Float64Array(64);
  for (let r = 0; r < train3.rows; r++) for (let j = 0; j < 64; j++) mean[j] += train3.data[r * 64 + j];
  const meanBySite = new Map([[3, Float32Array.from(mean, (v) => v / train3.rows)]]);
  let first: SpliceReport | undefined;
  const splice = async (t: Trainer): Promise<Record<string, number>> => {
    // Zero and mean ablation do not depend on the SAE: measured once, then reused.
    const report = await evaluateSplice(model, stories.documents, { sites: [3], together: t.splicesTogether, reconstruct: (x) => t.spliceReconstruction(x) }, { meanBySite, reuse: first });
    first ??= report;
    const g = report.groups[0];
    process.stderr.write(`  splice: CE ${g.ce.toFixed(4)} (clean ${report.ce_clean.toFixed(4)}, zero ${g.ce_zero.toFixed(4)}, mean ${g.ce_mean.toFixed(4)}) KL ${g.kl.toFixed(4)} recovered ${g.loss_recovered.toFixed(4)} vs mean ${g.loss_recovered_vs_mean.toFixed(4)}; ${report.predictions} predictions, ${report.seconds.toFixed(0)} s\n`);
    return {
      ce: g.ce, kl: g.kl, loss_recovered: g.loss_recovered, loss_recovered_vs_mean: g.loss_recovered_vs_mean,
      ce_clean: report.ce_clean, ce_zero: g.ce_zero, kl_zero: g.kl_zero, ce_mean: g.ce_mean, kl_mean: g.kl_mean,
      predictions: report.predictions, splice_seconds: report.seconds,
    };
  };
  try {
    for (const architecture of ['relu', 'topk', 'batchtopk', 'matryoshka', 'randomk', 'jumprelu', 'gated', 'classic'].filter((a) => !only || only.includes(a))) {
      const extra = architecture === 'classic' ? { early_stopping_patience: 0 } : {};
      out.push(await train('real', architecture, { ...base, architecture, ...extra }, data, backend, undefined, splice));
    }
  } finally {
    model.dispose();
  }
  const layers = load('train/resid_layers.npy'); // [6, 7175, 64]
  const ws = new Workspace();
  ws.setDataset(layers);
  for (const architecture of ['mlsae', 'crosscoder', 'routesae'].filter((a) => !only || only.includes(a))) {
    const input = { ...base, architecture };
    const cfg = resolveConfig(input, layers.dIn, layers.nLayers);
    const ds = ws.datasetFor(cfg);
    const split = splitDataset(ds, 0.1, 0);
    out.push(await train('real-multilayer', architecture, input, split, backend));
  }
  console.log(`\n### Real activations (stories260K, d_sae ${dSae}, L0 target ${l0}, ${steps} steps of 1024 tokens; validation rows)\n`);
  console.log('| variant | data | L0 | NMSE | FVE | dead % | tokens/s |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of out) {
    const where = r.experiment === 'real' ? 'layer 3 (valid/)' : `resid_layers, layers ${resolveConfig(r.config, 64, 6).layer_start}–${resolveConfig(r.config, 64, 6).layer_end} (10% held out)`;
    console.log(`| ${r.variant} | ${where} | ${fmt(r.metrics.l0, 1)} | ${fmt(r.metrics.nmse, 4)} | ${fmt(r.metrics.fve, 4)} | ${fmt(100 * r.metrics.dead_fraction, 1)} | ${Math.round(r.metrics.tokens_per_s)} |`);
  }
  // Baselines as baselines.json gives them (its own NumPy splice on the same stories).
  interface Baseline { ce: number; kl_clean_vs_spliced: number; loss_recovered: number; loss_recovered_vs_mean_ablation: number; fve?: number }
  const baselines = JSON.parse(readFileSync(path.join(DATA, 'baselines.json'), 'utf8')) as Record<string, Baseline>;
  const spliced = out.filter((r) => r.experiment === 'real' && r.extra);
  const measured = spliced[0]?.extra;
  console.log(`\n### Spliced into the model at layer 3 (25 validation stories, ${measured?.predictions ?? '?'} predictions; clean CE ${fmt(measured?.ce_clean, 4)}, here zero ablation ${fmt(measured?.ce_zero, 4)}, mean ablation ${fmt(measured?.ce_mean, 4)})\n`);
  console.log('| splice | L0 | FVE | CE | KL | loss recovered | vs mean ablation |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const row = (name: string, l0: string, b: Baseline) => console.log(`| ${name} | ${l0} | ${fmt(b.fve, 4)} | ${fmt(b.ce, 4)} | ${fmt(b.kl_clean_vs_spliced, 4)} | ${fmt(b.loss_recovered, 4)} | ${fmt(b.loss_recovered_vs_mean_ablation, 4)} |`);
  row('zero ablation (baselines.json)', '—', baselines.zero_ablation);
  row('mean ablation (baselines.json)', '—', baselines.mean_ablation);
  for (const k of [8, 16, 32]) row(`PCA k=${k} (baselines.json)`, `${k} (dense)`, baselines[`pca_${k}`]);
  for (const r of spliced) {
    const e = r.extra!;
    console.log(`| ${r.variant} | ${fmt(r.metrics.l0, 1)} | ${fmt(r.metrics.fve, 4)} | ${fmt(e.ce, 4)} | ${fmt(e.kl, 4)} | ${fmt(e.loss_recovered, 4)} | ${fmt(e.loss_recovered_vs_mean, 4)} |`);
  }
  return out;
}

async function guidance(steps: number, backend: string): Promise<Result[]> {
  const ws = new Workspace();
  const open = (f: string) => ({ name: path.basename(f), blob: new Blob([readFileSync(path.join(DATA, f))]) });
  await ws.loadFiles([open('train/resid_l3.npy'), open('train/tokens.npy'), open('vocab.json')]);
  const ds = ws.dataset as Dataset;
  const split = splitDataset(ds, 0.1, 0);
  const rule = { kind: 'regex' as const, pattern: '^ ?[A-Z]' };
  const base = { architecture: 'topk', d_sae: 512, k: 16, batch_size: 1024, steps, log_every: 20, val_every: 200 };
  const probe = { id: 'capital', latent: 0, method: 'contrastive', beta: 0, margin: 1, labels: rule };
  const labels = ws.labelsFor(rule);
  const plain = await train('guidance', 'topk (unguided)', base, split, backend, (t) => t.setGuidance([{ target: resolveConfig({ ...base, guidance: [probe] }, 64).guidance[0], labels }]));
  const runs = [plain];
  for (const [name, target] of [
    ['topk + contrastive (β 1, margin 1)', { ...probe, beta: 1 }],
    ['topk + mse (β 1)', { ...probe, method: 'mse', beta: 1 }],
  ] as const) {
    runs.push(await train('guidance', name, { ...base, guidance: [target] }, split, backend, (t) => t.setGuidance(ws.resolveGuidance(t.cfg.guidance))));
  }
  const positive = labels.reduce((a, v) => a + v, 0) / labels.length;
  console.log(`\n### Guidance: latent 0 towards tokens matching /^ ?[A-Z]/ (${(100 * positive).toFixed(1)}% of rows), topk d_sae 512 k 16, ${steps} steps\n`);
  console.log('| run | validation AUROC of latent 0 | mean act. positive / negative | NMSE | NMSE / unguided | FVE |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of runs) {
    const g = r.metrics.guidance?.[0];
    console.log(`| ${r.variant} | ${fmt(g?.auroc)} | ${fmt(g?.mean_pos, 2)} / ${fmt(g?.mean_neg, 2)} | ${fmt(r.metrics.nmse, 4)} | ${fmt(r.metrics.nmse / plain.metrics.nmse)} | ${fmt(r.metrics.fve, 4)} |`);
  }
  return runs;
}

export async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  const flag = (name: string) => { const i = args.indexOf(`--${name}`); if (i < 0) return undefined; const v = args[i + 1]; args.splice(i, 2); return v; };
  const steps = Number(flag('steps') ?? 3000);
  // --variants relu,topk,…: only these variants in the "real" tables.
  const only = flag('variants')?.split(',');
  const { backend } = await selectNodeBackend((flag('backend') as 'wasm' | 'cpu' | undefined) ?? 'wasm');
  const which = args.length ? args : ['recovery', 'controller', 'real', 'guidance'];
  const needsData = which.some((w) => w !== 'recovery' && w !== 'controller');
  if (needsData && !existsSync(path.join(DATA, 'train/resid_l3.npy'))) {
    console.error(`no real activations at ${DATA}; run only "recovery", or place ../shared/data/stories260k beside the project.`);
    return 1;
  }
  console.log(`backend ${backend}, ${steps} steps per run`);
  const results: Result[] = [];
  for (const w of which) {
    if (w === 'recovery') results.push(...(await recovery(steps, backend)));
    else if (w === 'controller') results.push(...(await controller(steps, backend)));
    else if (w === 'real') results.push(...(await real(steps, backend, only)));
    else if (w === 'guidance') results.push(...(await guidance(steps, backend)));
    else { console.error(`unknown experiment "${w}"`); return 2; }
  }
  await mkdir(path.join(ROOT, 'experiments-results'), { recursive: true });
  await writeFile(path.join(ROOT, 'experiments-results', `experiments-${which.join('-')}.json`), JSON.stringify({ backend, steps, results }, null, 2) + '\n');
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  process.exitCode = await main(process.argv.slice(2));
}
