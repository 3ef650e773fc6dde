// `npx sae-workbench train|eval ...`: the same engine as the app, on files, for scripts.
import { openAsBlob } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { resolveConfig, type ConfigInput, type SaeConfig } from '../engine/config';
import { Trainer } from '../engine/trainer';
import { evaluateWeights, trainingDataFor } from '../data/trainingData';
import { Workspace } from '../data/workspace';
import { buildRunExport } from '../io/runExport';
import { importSaeLens } from '../io/saeImport';
import type { BackendName, FileOptions, SourceFile } from '../worker/protocol';
import { selectNodeBackend } from './nodeBackend';

export const USAGE = `Usage:
  sae-workbench train --data FILE --config CFG.json --out DIR [--steps N] [--seed S] [--backend wasm|cpu]
                     [--tokens F --vocab F --doc-ids F --positions F] [--labels F[,F…]]
                     [--select ARRAY] [--shape N,d | L,N,d] [--dtype float32|float16]
                     [--memory-budget SIZE] [--init-from DIR]
      Train an SAE on activations: .npy (float32/16/64, [N, d] or [L, N, d]), .npz, .safetensors
      (F32/F16/BF16) or raw .f32/.bin (give --shape). --select picks the array of an .npz or
      .safetensors holding several. Companions (--tokens, --vocab, --doc-ids, --positions, --labels)
      are matched by row count; --data may also list several files, comma-separated, recognised by
      content. Files over --memory-budget (default 1GiB; e.g. 512MiB, 4GiB) are streamed from disk
      with a shuffle buffer. --init-from continues training an exported SAE directory.
      Writes DIR/sae_weights.safetensors, DIR/cfg.json, DIR/sparsity.safetensors (SAELens format),
      DIR/log.csv, DIR/run_config.json, DIR/train_with_saelens.py, DIR/metrics.json and, with
      checkpoint_every, DIR/checkpoints/step_N/. CFG.json is the app's config JSON (see README).
  sae-workbench eval --sae DIR --data FILE [--select ARRAY] [--shape …] [--memory-budget SIZE] [--backend wasm|cpu]
      Evaluate an exported SAE directory (SAELens format) on FILE (every row; the validation
      split of a streamed file); prints the metrics as JSON.
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

/** A file as a Blob read lazily by slices (so files larger than memory can be streamed). */
async function openFile(file: string, options?: FileOptions): Promise<SourceFile> {
  try {
    return { name: path.basename(file), blob: await openAsBlob(file), options };
  } catch (e) {
    throw new Error(`cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** "1GiB", "512MiB", "800MB", "2e9" → bytes. */
export function parseSize(text: string): number {
  const m = /^\s*([\d.e+]+)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i.exec(text);
  const units: Record<string, number> = { b: 1, kb: 1e3, kib: 2 ** 10, mb: 1e6, mib: 2 ** 20, gb: 1e9, gib: 2 ** 30, tb: 1e12, tib: 2 ** 40 };
  const value = m ? Number(m[1]) * units[(m[2] ?? 'b').toLowerCase()] : NaN;
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--memory-budget must be a size such as 1GiB or 512MiB, got "${text}"`);
  return Math.round(value);
}

function fileOptions(flags: Flags): FileOptions | undefined {
  const o: FileOptions = {};
  if (flags.select) o.select = flags.select;
  if (flags.shape) {
    const shape = flags.shape.split(/[,x×]/).map((v) => Number(v.trim()));
    if (shape.length < 2 || shape.length > 3 || shape.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`--shape must be N,d or L,N,d (positive integers), got "${flags.shape}"`);
    o.rawShape = shape;
  }
  if (flags.dtype) {
    if (flags.dtype !== 'float32' && flags.dtype !== 'float16') throw new UsageError(`--dtype must be float32 or float16, got "${flags.dtype}"`);
    o.rawDtype = flags.dtype;
  }
  return Object.keys(o).length ? o : undefined;
}

/** Load the data and companion files into a workspace; any file that fails stops the command. */
async function loadWorkspace(flags: Flags, extra: string[] = []): Promise<Workspace> {
  const workspace = new Workspace();
  const options = fileOptions(flags);
  const files: SourceFile[] = [];
  for (const f of flags.data.split(',')) files.push(await openFile(f, options));
  for (const f of extra) files.push(await openFile(f));
  let lastLine = 0;
  const { results } = await workspace.loadFiles(files, {
    memoryBudgetBytes: flags['memory-budget'] ? parseSize(flags['memory-budget']) : undefined,
    onProgress: (label, done, total) => {
      if (Date.now() - lastLine < 1000 && done < total) return;
      lastLine = Date.now();
      progress(`${label}: ${Math.round((100 * done) / Math.max(1, total))}%`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const problems = results.filter((r) => r.kind === 'error' || r.kind === 'needs_shape');
  if (problems.length) {
    throw new Error(problems.map((r) => (r.kind === 'needs_shape' ? `${r.message} (use --shape N,d)` : r.message)).join('\n'));
  }
  for (const r of results) process.stderr.write(`${r.message}\n`);
  if (!workspace.dataset) throw new Error(`no activations were found in ${flags.data}.`);
  return workspace;
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
  const companions = [flags.tokens, flags.vocab, flags['doc-ids'], flags.positions, ...(flags.labels?.split(',') ?? [])].filter((f): f is string => Boolean(f));
  const workspace = await loadWorkspace(flags, companions);
  const full = workspace.dataset!;
  const input = (await readJson(flags.config, 'config')) as ConfigInput;
  const steps = intFlag(flags, 'steps');
  const seed = intFlag(flags, 'seed');
  const cfg = resolveConfig({ ...input, ...(steps !== undefined ? { steps } : {}), ...(seed !== undefined ? { seed } : {}) }, full.dIn, full.nLayers);
  const guidance = workspace.resolveGuidance(cfg.guidance);
  const initFrom = flags['init-from'] ? await readSaeDirectory(flags['init-from']) : null;
  const { backend } = await selectNodeBackend(backendFlag(flags));
  const data = await trainingDataFor(workspace, cfg, { onProgress: (label, done, total) => progress(`${label}: ${Math.round((100 * done) / Math.max(1, total))}%`) });
  const trainer = new Trainer(cfg, data, backend);
  if (initFrom) trainer.loadTensors(initFrom.tensors);
  if (guidance.length) trainer.setGuidance(guidance);
  const layers = data.nLayers! > 1 ? ` × ${data.nLayers} layers` : '';
  const trainRows = data.stream ? data.stream.trainRows : data.trainRows;
  process.stderr.write(`training ${cfg.architecture} d_in ${data.dIn}${layers} → d_sae ${cfg.d_sae} on ${trainRows} rows (${data.valRows} validation)${data.stream ? ', streamed from the file' : ''} with ${backend}${initFrom ? `, starting from ${flags['init-from']}` : ''}\n`);
  const dataset = { dIn: data.dIn, name: full.name };
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

/** An exported SAE directory (cfg.json, sae_weights.safetensors [, sparsity, run_config.json]). */
async function readSaeDirectory(dir: string) {
  const optional = async (name: string) => { try { return await readBuffer(path.join(dir, name), 'SAE file'); } catch { return undefined; } };
  return importSaeLens({
    cfg: await readBuffer(path.join(dir, 'cfg.json'), 'SAE file'),
    weights: await readBuffer(path.join(dir, 'sae_weights.safetensors'), 'SAE file'),
    sparsity: await optional('sparsity.safetensors'),
    runConfig: await optional('run_config.json'),
  });
}

async function evaluate(flags: Flags): Promise<number> {
  const sae = await readSaeDirectory(flags.sae);
  const workspace = await loadWorkspace(flags);
  const full = workspace.dataset!;
  if (sae.info.dIn !== full.dIn) {
    throw new Error(`the SAE expects d_in = ${sae.info.dIn} but ${full.name} has rows of width ${full.dIn}; evaluate it on activations from the same layer.`);
  }
  const cfg: SaeConfig = resolveConfig(sae.configInput, full.dIn, full.nLayers);
  const { backend } = await selectNodeBackend(backendFlag(flags));
  // In memory: every row is evaluated. Streamed: the validation split (a sample of the file).
  const out = await evaluateWeights(workspace, cfg, sae.tensors, backend, { allRows: true });
  for (const note of sae.info.notes) process.stderr.write(`note: ${note}\n`);
  process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await train(parseFlags(rest, ['data', 'config', 'out', 'steps', 'seed', 'backend', 'tokens', 'vocab', 'labels', 'doc-ids', 'positions', 'select', 'shape', 'dtype', 'memory-budget', 'init-from'], ['data', 'config', 'out']));
      case 'eval':
        return await evaluate(parseFlags(rest, ['sae', 'data', 'backend', 'select', 'shape', 'dtype', 'memory-budget'], ['sae', 'data']));
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
