// `npx sae-workbench train|eval ...`: the same engine as the app, on files, for scripts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, resolveConfig, type ConfigInput, type SaeConfig } from '../engine/config';
import { Trainer } from '../engine/trainer';
import { datasetFromNpy, splitDataset, type Dataset } from '../data/dataset';
import { Workspace } from '../data/workspace';
import { buildRunExport } from '../io/runExport';
import { readSaeLensExport } from '../io/saelens';
import type { BackendName, EvalMetrics } from '../worker/protocol';
import { selectNodeBackend } from './nodeBackend';

export const USAGE = `Usage:
  sae-workbench train --data FILE.npy --config CFG.json --out DIR [--steps N] [--seed S] [--backend wasm|cpu]
                     [--tokens TOKENS.npy --vocab VOCAB.json] [--labels LABELS.csv[,MORE.jsonl]]
      Train an SAE on a float32/float16/float64 [N, d] (or [L, N, d] multi-layer) .npy file.
      Writes DIR/sae_weights.safetensors, DIR/cfg.json, DIR/sparsity.safetensors (SAELens format),
      DIR/log.csv, DIR/run_config.json, DIR/metrics.json (validation metrics) and, with
      checkpoint_every, DIR/checkpoints/step_N/. CFG.json is the app's config JSON (see README);
      guidance targets in it read labels from --labels files (by file name) or token rules
      (--tokens and --vocab).
  sae-workbench eval --sae DIR --data FILE.npy [--backend wasm|cpu]
      Evaluate an exported SAE directory on every row of FILE.npy; prints the metrics as JSON.
  sae-workbench help
      Show this message.`;

class UsageError extends Error {}

type Flags = Record<string, string>;

function parseFlags(args: string[], allowed: readonly string[], required: readonly string[]): Flags {
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"`);
    const name = a.slice(2);
    if (!allowed.includes(name)) throw new UsageError(`unknown option --${name}`);
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    flags[name] = value;
    i++;
  }
  for (const r of required) if (!(r in flags)) throw new UsageError(`missing --${r}`);
  return flags;
}

function intFlag(flags: Flags, name: string): number | undefined {
  if (!(name in flags)) return undefined;
  const v = Number(flags[name]);
  if (!Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got "${flags[name]}"`);
  return v;
}

function backendFlag(flags: Flags): BackendName | undefined {
  const b = flags.backend;
  if (b === undefined) return undefined;
  if (b !== 'wasm' && b !== 'cpu') throw new UsageError(`--backend must be wasm or cpu in Node, got "${b}"`);
  return b;
}

async function readBuffer(file: string, what: string): Promise<ArrayBuffer> {
  try {
    const bytes = await readFile(file);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  } catch (e) {
    throw new Error(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function loadDataset(file: string): Promise<Dataset> {
  return datasetFromNpy(await readBuffer(file, 'data file'), path.basename(file));
}

async function readJson(file: string, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readBuffer(file, what));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`the ${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function progress(line: string) {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
  else process.stderr.write(`${line}\n`);
}

async function train(flags: Flags): Promise<number> {
  const workspace = new Workspace();
  workspace.setDataset(await loadDataset(flags.data));
  for (const file of [flags.tokens, flags.vocab, ...(flags.labels?.split(',') ?? [])]) {
    if (file) workspace.load(await readBuffer(file, 'companion file'), path.basename(file));
  }
  const full = workspace.dataset as Dataset;
  const input = (await readJson(flags.config, 'config')) as ConfigInput;
  const steps = intFlag(flags, 'steps');
  const seed = intFlag(flags, 'seed');
  const cfg = resolveConfig({ ...input, ...(steps !== undefined ? { steps } : {}), ...(seed !== undefined ? { seed } : {}) }, full.dIn, full.nLayers);
  const guidance = workspace.resolveGuidance(cfg.guidance);
  const dataset = workspace.datasetFor(cfg);
  const { backend } = await selectNodeBackend(backendFlag(flags));
  const split = splitDataset(dataset, cfg.val_fraction, cfg.seed);
  const trainer = new Trainer(cfg, { ...split, groundTruth: dataset.groundTruth }, backend);
  if (guidance.length) trainer.setGuidance(guidance);
  const layers = dataset.nLayers > 1 ? ` × ${dataset.nLayers} layers` : '';
  process.stderr.write(`training ${cfg.architecture} d_in ${dataset.dIn}${layers} → d_sae ${cfg.d_sae} on ${split.trainRows} rows (${split.valRows} validation) with ${backend}\n`);
  const rows = [];
  let lastPrint = 0;
  const exportInput = () => ({ saelens: trainer.saelensConfig(), dIn: dataset.dIn, config: trainer.currentConfig(), datasetName: dataset.name, normalization: trainer.normalization });
  while (!trainer.done) {
    await trainer.runSteps(cfg.log_every);
    rows.push(...trainer.takeRows());
    for (const e of trainer.takeEvents()) if (e.note) process.stderr.write(`\nstep ${e.step}: ${e.note}\n`);
    for (const c of trainer.takeCheckpoints()) {
      const dir = path.join(flags.out, 'checkpoints', `step_${String(c.step).padStart(6, '0')}`);
      await mkdir(dir, { recursive: true });
      const files = buildRunExport({ ...exportInput(), tensors: c.tensors, rows: rows.filter((r) => r.step <= c.step) });
      for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
    }
    const last = rows[rows.length - 1];
    if (last && (Date.now() - lastPrint > 2000 || trainer.done)) {
      lastPrint = Date.now();
      progress(`step ${trainer.stepCount}/${cfg.steps}  loss ${last.total_loss.toFixed(4)}  L0 ${last.l0.toFixed(1)}  FVE ${last.fve.toFixed(3)}  ${Math.round(last.tokens_per_s)} tok/s`);
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  const evaluation = await trainer.evaluate();
  const files = buildRunExport({ ...exportInput(), tensors: await trainer.exportTensors(), rows, firingFraction: evaluation.firingFraction });
  await mkdir(flags.out, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(flags.out, name), bytes);
  await writeFile(path.join(flags.out, 'metrics.json'), JSON.stringify(evaluation.metrics, null, 2) + '\n');
  trainer.dispose();
  process.stdout.write(JSON.stringify(evaluation.metrics) + '\n');
  return 0;
}

/** The run config of an exported directory: run_config.json when present, else from cfg.json. */
function configFromExport(cfg: Record<string, unknown>, runConfig: unknown): ConfigInput {
  if (runConfig && typeof runConfig === 'object') return runConfig as ConfigInput;
  const arch = cfg.architecture;
  const base = { d_sae: cfg.d_sae as number };
  if (arch === 'standard') return { ...base, architecture: 'relu' };
  if (arch === 'topk') return { ...base, architecture: 'topk', k: cfg.k as number };
  if (arch === 'jumprelu') return { ...base, architecture: 'jumprelu' };
  throw new ConfigError(`cfg.json architecture "${String(arch)}" is not one this tool can evaluate (standard, topk, jumprelu).`);
}

async function evaluate(flags: Flags): Promise<number> {
  const dir = flags.sae;
  const files: Record<string, ArrayBuffer> = {};
  for (const name of ['cfg.json', 'sae_weights.safetensors']) files[name] = await readBuffer(path.join(dir, name), `SAE file`);
  let runConfig: unknown = null;
  try { runConfig = await readJson(path.join(dir, 'run_config.json'), 'run config'); } catch { /* optional */ }
  const sae = readSaeLensExport(files);
  const workspace = new Workspace();
  workspace.setDataset(await loadDataset(flags.data));
  const full = workspace.dataset as Dataset;
  const dIn = Number(sae.cfg.d_in);
  if (dIn !== full.dIn) {
    throw new Error(`the SAE expects d_in = ${dIn} but ${full.name} has rows of width ${full.dIn}; evaluate it on activations from the same layer.`);
  }
  const input = configFromExport(sae.cfg, runConfig);
  // A dataset_norm scale folded into the exported weights means they take raw activations.
  const metadata = (sae.cfg.metadata ?? {}) as Record<string, unknown>;
  if (metadata.dataset_norm_scale_folded !== undefined) input.normalize = 'none';
  // Guidance labels do not travel with an export; evaluation needs none.
  const cfg: SaeConfig = resolveConfig({ ...input, guidance: [] }, dIn, full.nLayers);
  const dataset = workspace.datasetFor(cfg);
  const { backend } = await selectNodeBackend(backendFlag(flags));
  const trainer = new Trainer(cfg, { train: dataset.data, trainRows: dataset.rows, val: dataset.data, valRows: dataset.rows, dIn, nLayers: dataset.nLayers }, backend);
  trainer.loadTensors(sae.tensors);
  const { metrics } = await trainer.evaluate();
  const out: EvalMetrics = { ...metrics, steps: 0, tokens_per_s: 0 };
  trainer.dispose();
  process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await train(parseFlags(rest, ['data', 'config', 'out', 'steps', 'seed', 'backend', 'tokens', 'vocab', 'labels'], ['data', 'config', 'out']));
      case 'eval':
        return await evaluate(parseFlags(rest, ['sae', 'data', 'backend'], ['sae', 'data']));
      case 'help': case '--help': case '-h':
        process.stdout.write(USAGE + '\n');
        return 0;
      default:
        throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}
