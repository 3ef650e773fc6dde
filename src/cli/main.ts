// `npx sae-workbench train|eval ...`: the same engine as the app, on files, for scripts.
import { openAsBlob } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkConfigBeforeData, MULTI_LAYER, resolveConfig, type ConfigInput, type SaeConfig } from '../engine/config';
import { Trainer } from '../engine/trainer';
import { datasetFiles, evaluateWeightsWithModel, exportSource, extractFromText } from '../data/languageModel';
import { FEW_PREDICTIONS, hookMismatch, siteOfHook } from '../data/sites';
import { evaluateWeights, trainingDataFor } from '../data/trainingData';
import { Workspace, type HintedSourceFile, type RoleHint } from '../data/workspace';
import { unzipSync } from 'fflate';
import { parseLlama2cCheckpoint, parseLlama2cTokenizer } from '../io/llama2c';
import { buildRunExport } from '../io/runExport';
import { importSaeLens } from '../io/saeImport';
import type { BackendName, EvalMetrics } from '../engine/types';
import type { FileOptions, SourceFile } from '../data/types';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { selectNodeBackend } from './nodeBackend';

export const USAGE = `Usage:
  sae-workbench train --data FILE --config CFG.json --out DIR [--steps N] [--seed S] [--backend wasm|cpu]
                     [--tokens F --vocab F --doc-ids F --positions F] [--labels F[,F…]]
                     [--select ARRAY] [--shape N,d | L,N,d] [--dtype float32|float16]
                     [--memory-budget SIZE] [--init-from DIR] [--exclude-nonfinite] [--force]
      Train an SAE on activations: .npy (float32/16/64, [N, d] or [L, N, d]), .npz, .safetensors
      (F32/F16/BF16) or raw .f32/.bin (give --shape). --select picks the array of an .npz or
      .safetensors holding several. Companions (--tokens, --vocab, --doc-ids, --positions, --labels)
      are matched by row count; --data may also list several files, comma-separated, recognised by
      content. Files over --memory-budget (default 1GiB; e.g. 512MiB, 4GiB) are streamed from disk
      with a shuffle buffer. --init-from continues training an exported SAE directory (or its
      .zip). An activation file with rows holding NaN or Inf is refused with their count;
      --exclude-nonfinite loads it without those rows (companions of the file's full length are
      filtered to match).
      Writes DIR/sae_weights.safetensors, DIR/cfg.json, DIR/sparsity.safetensors (SAELens format),
      DIR/log.csv, DIR/run_config.json, DIR/train_with_saelens.py, DIR/metrics.json and, with
      checkpoint_every, DIR/checkpoints/step_N/. CFG.json is the app's config JSON (see README).
      DIR must be new or empty; --force writes over the files of a folder that is not.
  sae-workbench train --lm MODEL.bin --tokenizer TOK.bin --text FILE.txt --layer L[,L…] --config CFG.json --out DIR […]
      Train on the residual stream of a llama2.c model run over the text (instead of --data): the
      layers' resid_pre (L = n_layers: after the last block), BOS positions dropped, with tokens,
      positions and document ids. The export's cfg.json records the model and hook.
  sae-workbench eval --sae DIR --data FILE [--select ARRAY] [--shape …] [--memory-budget SIZE] [--exclude-nonfinite] [--backend wasm|cpu]
      Evaluate an exported SAE directory (SAELens format) on FILE (every row; the validation
      split of a streamed file); prints the reconstruction metrics (nmse, fve, nmse_per_token,
      l0, l0_fraction, dead_fraction, backend) as JSON.
  sae-workbench eval --sae DIR --lm MODEL.bin --tokenizer TOK.bin --text FILE.txt [--layer L] [--data FILE] [--backend wasm|cpu]
      Splice the SAE's reconstruction into the model's residual stream at layer L (default: the
      hook_name in cfg.json) at every non-BOS position of every document of the text: prints clean,
      spliced, zero- and mean-ablation CE, KL(clean ‖ spliced) and loss recovered as JSON, with the
      reconstruction metrics on the text's activations (or on --data). Mean ablation uses the mean
      of those activations.
  sae-workbench activations --lm MODEL.bin --tokenizer TOK.bin --text FILE.txt --layer L[,L…] --out DIR [--include-bos yes|no] [--force]
      Write the text's residuals as DIR/activations.npy ([N, d], or [L, N, d] for several layers)
      with tokens.npy, positions.npy, doc_ids.npy (int32) and vocab.json. DIR must be new or
      empty; --force writes over the files of a folder that is not.
  sae-workbench help | --help | -h
      Show this message.
  sae-workbench --version | -v
      Print the version.
  Every command takes --backend wasm|cpu (default wasm, cpu when wasm cannot start) and
  --threads N: the wasm threads (default every core; 1 runs the one-thread build).
  Options and the config are checked before any file is loaded.`;

class UsageError extends Error {}

type Flags = Record<string, string>;

/** Options that take no value (present: "yes"). */
const SWITCHES = ['exclude-nonfinite', 'force'];

/** Options of reading an activation file (--data). */
const DATA_OPTIONS = ['select', 'shape', 'dtype', 'memory-budget', 'exclude-nonfinite'];
/** Files read with the activations as what their flag says. */
const COMPANION_OPTIONS = ['tokens', 'vocab', 'labels', 'doc-ids', 'positions'];
/** The model run over a text. */
const MODEL_OPTIONS = ['lm', 'tokenizer', 'text', 'layer'];
const BACKEND_OPTIONS = ['backend', 'threads'];
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  train: ['data', 'config', 'out', 'steps', 'seed', 'init-from', 'force', ...COMPANION_OPTIONS, ...DATA_OPTIONS, ...MODEL_OPTIONS, ...BACKEND_OPTIONS],
  eval: ['sae', 'data', ...DATA_OPTIONS, ...MODEL_OPTIONS, ...BACKEND_OPTIONS],
  activations: [...MODEL_OPTIONS, 'out', 'include-bos', 'force', ...BACKEND_OPTIONS],
};

/** Edit distance, for "did you mean" on a mistyped option. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

function parseFlags(command: string, args: string[], required: readonly string[]): Flags {
  const allowed = COMMAND_OPTIONS[command];
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument "${a}"; options are written --name value`);
    const name = a.slice(2);
    if (!allowed.includes(name)) {
      const near = allowed.filter((o) => editDistance(o, name) <= 2).sort((x, y) => editDistance(x, name) - editDistance(y, name))[0];
      throw new UsageError(`unknown option --${name} for ${command}${near ? `; did you mean --${near}?` : `; ${command} takes ${allowed.map((o) => `--${o}`).join(', ')}`}`);
    }
    if (name in flags) throw new UsageError(`--${name} is given twice; give it once`);
    if (SWITCHES.includes(name)) { flags[name] = 'yes'; continue; }
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    flags[name] = value;
    i++;
  }
  for (const r of required) if (!(r in flags)) throw new UsageError(`missing --${r}`);
  return flags;
}

function intFlag(flags: Flags, name: string, min = -Infinity): number | undefined {
  if (!(name in flags)) return undefined;
  const text = flags[name].trim();
  const v = text === '' ? NaN : Number(text);
  if (!Number.isInteger(v) || v < min) {
    const kind = min === 1 ? 'a positive integer' : min === 0 ? 'an integer ≥ 0' : 'an integer';
    throw new UsageError(`--${name} must be ${kind}, got "${flags[name]}"`);
  }
  return v;
}

/** Options that do nothing in this mode are refused (a silently ignored option hides a mistake). */
function refuseUnused(flags: Flags, names: readonly string[], why: string): void {
  const given = names.filter((n) => n in flags);
  if (given.length) throw new UsageError(`${given.map((n) => `--${n}`).join(', ')} ${given.length === 1 ? 'does' : 'do'} nothing ${why}; leave ${given.length === 1 ? 'it' : 'them'} out`);
}

/**
 * Every option that can be checked without reading a file, so that a typo is reported at once
 * rather than after a large file has loaded.
 */
function checkOptions(flags: Flags): void {
  backendFlag(flags);
  intFlag(flags, 'threads', 1);
  fileOptions(flags);
  if (flags['memory-budget'] !== undefined) parseSize(flags['memory-budget']);
  layersFlag(flags);
  intFlag(flags, 'steps', 1);
  intFlag(flags, 'seed');
  const bos = flags['include-bos'];
  if (bos !== undefined && bos !== 'yes' && bos !== 'no') throw new UsageError(`--include-bos must be yes or no, got "${bos}"`);
}

/** --out must be a new or empty folder unless --force allows writing over what is there. */
async function checkOutDir(flags: Flags): Promise<void> {
  const dir = flags.out;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new Error(`--out ${dir} is a file; give a folder to write the results into.`);
    throw new Error(`cannot use --out ${dir}: ${code ?? (e as Error).message}`);
  }
  if (entries.length && !flags.force) {
    throw new Error(`--out ${dir} is not empty (it holds ${entries.length} file${entries.length === 1 ? '' : 's'} or folder${entries.length === 1 ? '' : 's'}, such as ${entries.sort()[0]}); give a new or empty folder, or add --force to write over its files.`);
  }
}

/** The package's version, from package.json. */
async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function backendFlag(flags: Flags): BackendName | undefined {
  const b = flags.backend;
  if (b === undefined) return undefined;
  if (b !== 'wasm' && b !== 'cpu') throw new UsageError(`--backend must be wasm or cpu in Node, got "${b}"`);
  return b;
}

/** Start the backend of --backend / --threads; its label says how it runs ("wasm, 2 threads"). */
async function startBackend(flags: Flags): Promise<{ backend: BackendName; label: string }> {
  const threads = intFlag(flags, 'threads', 1);
  const { backend, skipped } = await selectNodeBackend(backendFlag(flags), { threads });
  for (const [name, why] of Object.entries(skipped)) process.stderr.write(`note: ${name}: ${why}\n`);
  if (backend !== 'wasm') return { backend, label: backend };
  const n = getThreadsCount();
  return { backend, label: `wasm, ${n} thread${n === 1 ? '' : 's'}` };
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
async function openFile(file: string, options?: FileOptions, role?: RoleHint): Promise<HintedSourceFile> {
  try {
    // openAsBlob reports a missing file as ERR_INVALID_ARG_VALUE; stat names it ENOENT.
    await stat(file);
    return { name: path.basename(file), blob: await openAsBlob(file), options, ...(role ? { role } : {}) };
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
  if (flags['exclude-nonfinite']) o.excludeNonFinite = true;
  return Object.keys(o).length ? o : undefined;
}

/** Load the data and companion files into a workspace; any file that fails stops the command. */
async function loadWorkspace(flags: Flags, extra: [string, RoleHint][] = []): Promise<Workspace> {
  const workspace = new Workspace();
  const options = fileOptions(flags);
  const files: SourceFile[] = [];
  for (const f of flags.data.split(',')) files.push(await openFile(f, options));
  // Companions are read as what their flag says they are.
  for (const [f, role] of extra) files.push(await openFile(f, undefined, role));
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

/** Layers of --layer: "3", "1,2,3" or "1-3". */
function layersFlag(flags: Flags): number[] | undefined {
  const text = flags.layer;
  if (text === undefined) return undefined;
  const range = /^(\d+)\s*-\s*(\d+)$/.exec(text);
  const layers = range
    ? Array.from({ length: Math.max(0, Number(range[2]) - Number(range[1]) + 1) }, (_, i) => Number(range[1]) + i)
    : text.split(',').map((v) => Number(v.trim()));
  if (layers.length === 0 || layers.some((v) => !Number.isInteger(v) || v < 0)) throw new UsageError(`--layer must be a layer index, a list 1,2,3 or a range 1-3, got "${text}"`);
  return layers;
}

function requireModelFlags(flags: Flags): void {
  for (const name of ['lm', 'tokenizer', 'text']) if (!(name in flags)) throw new UsageError(`--${name} is needed with --lm (the model .bin, its tokenizer .bin and a .txt)`);
}

/** The model, tokenizer and text in a workspace (files recognised by content, like a drop). */
async function loadLanguageModel(flags: Flags, workspace = new Workspace()): Promise<{ workspace: Workspace; text: string }> {
  requireModelFlags(flags);
  const files = [await openFile(flags.lm), await openFile(flags.tokenizer), await openFile(flags.text)];
  const { results } = await workspace.loadFiles(files);
  const problems = results.filter((r) => r.kind === 'error');
  if (problems.length) throw new Error(problems.map((r) => r.message).join('\n'));
  // Files the workspace did not recognise (taken for raw data): their own parser says what is wrong.
  if (!workspace.lm) {
    parseLlama2cCheckpoint(new Uint8Array(await readBuffer(flags.lm, 'model')), path.basename(flags.lm));
    throw new Error(`${flags.lm} is not a llama2.c model (7-int header, float32 weights).`);
  }
  if (!workspace.tokenizer) {
    parseLlama2cTokenizer(new Uint8Array(await readBuffer(flags.tokenizer, 'tokenizer')), path.basename(flags.tokenizer), workspace.lm.checkpoint.config.vocabSize);
    throw new Error(`${flags.tokenizer} is not a llama2.c tokenizer .bin.`);
  }
  for (const r of results) process.stderr.write(`${r.message}\n`);
  const text = path.basename(flags.text);
  if (!workspace.texts.get(text)?.corpus) throw new Error(`${flags.text} could not be read as text.`);
  return { workspace, text };
}

/** Run the model over the text and make the residuals at `sites` the workspace's dataset. */
async function extractToWorkspace(workspace: Workspace, text: string, sites: number[], includeBos = false): Promise<void> {
  let last = 0;
  const r = await extractFromText(workspace, {
    text, sites, includeBos,
    onProgress: (done, total) => { if (Date.now() - last > 1000 || done === total) { last = Date.now(); progress(`running the model: ${done}/${total} documents`); } },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  process.stderr.write(`${r.message}\n`);
}

async function activations(flags: Flags): Promise<number> {
  checkOptions(flags);
  await checkOutDir(flags);
  const sites = layersFlag(flags)!;
  await startBackend(flags);
  const { workspace, text } = await loadLanguageModel(flags);
  await extractToWorkspace(workspace, text, sites, flags['include-bos'] === 'yes');
  await mkdir(flags.out, { recursive: true });
  const files = datasetFiles(workspace);
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(flags.out, name), bytes);
  process.stdout.write(JSON.stringify({ out: flags.out, files: Object.keys(files), rows: workspace.dataset!.rows, layers: sites }) + '\n');
  return 0;
}

async function train(flags: Flags): Promise<number> {
  const companions: [string, RoleHint][] = [
    ...([[flags.tokens, 'tokens'], [flags.vocab, 'vocab'], [flags['doc-ids'], 'doc_ids'], [flags.positions, 'positions']] as [string | undefined, RoleHint][]),
    ...(flags.labels?.split(',') ?? []).map((f): [string, RoleHint] => [f, 'labels']),
  ].filter((c): c is [string, RoleHint] => Boolean(c[0]));
  // Everything that does not need the activations is checked before they load.
  if (flags.lm) {
    if (flags.data) throw new UsageError('give either --data or --lm/--tokenizer/--text, not both');
    requireModelFlags(flags);
    if (!flags.layer) throw new UsageError('--layer is needed with --lm: the residual layer(s) to train on');
    refuseUnused(flags, [...COMPANION_OPTIONS, ...DATA_OPTIONS], 'with --lm (the model gives the activations, tokens and document ids)');
  } else {
    if (!flags.data) throw new UsageError('missing --data (or --lm, --tokenizer, --text and --layer)');
    refuseUnused(flags, ['tokenizer', 'text', 'layer'], 'without --lm');
  }
  checkOptions(flags);
  await checkOutDir(flags);
  const steps = intFlag(flags, 'steps');
  const seed = intFlag(flags, 'seed');
  const json = (await readJson(flags.config, 'config')) as ConfigInput;
  // A config that is not a JSON object is left as it is, for resolveConfig to say so.
  const input = typeof json === 'object' && json !== null && !Array.isArray(json)
    ? { ...json, ...(steps !== undefined ? { steps } : {}), ...(seed !== undefined ? { seed } : {}) }
    : json;
  named(flags.config, () => checkConfigBeforeData(input));
  const initFrom = flags['init-from'] ? await readSaeDirectory(flags['init-from']) : null;

  let workspace: Workspace;
  if (flags.lm) {
    await startBackend(flags);
    const loaded = await loadLanguageModel(flags);
    workspace = loaded.workspace;
    await extractToWorkspace(workspace, loaded.text, layersFlag(flags)!);
  } else {
    workspace = await loadWorkspace(flags, companions);
  }
  const full = workspace.dataset!;
  const cfg = named(flags.config, () => resolveConfig(input, full.dIn, full.nLayers));
  const guidance = workspace.resolveGuidance(cfg.guidance);
  if (initFrom && initFrom.info.dIn !== full.dIn) {
    throw new Error(`the SAE ${flags['init-from']} takes d_in ${initFrom.info.dIn} but ${full.name} has rows of width ${full.dIn}; continue training on activations of the layer it was trained on.`);
  }
  const { backend, label } = await startBackend(flags);
  const data = await trainingDataFor(workspace, cfg, { onProgress: (label, done, total) => progress(`${label}: ${Math.round((100 * done) / Math.max(1, total))}%`) });
  const trainer = new Trainer(cfg, data, backend);
  if (initFrom) trainer.loadTensors(initFrom.tensors);
  if (guidance.length) trainer.setGuidance(guidance);
  const layers = data.nLayers! > 1 ? ` × ${data.nLayers} layers` : '';
  const trainRows = data.stream ? data.stream.trainRows : data.trainRows;
  process.stderr.write(`training ${cfg.architecture} d_in ${data.dIn}${layers} → d_sae ${cfg.d_sae} on ${trainRows} rows (${data.valRows} validation)${data.stream ? ', streamed from the file' : ''} with ${label}${initFrom ? `, starting from ${flags['init-from']}` : ''}\n`);
  const dataset = { dIn: data.dIn, name: full.name };
  const rows = [];
  let lastPrint = 0;
  const source = exportSource(workspace, cfg);
  const exportInput = () => ({ saelens: trainer.saelensConfig(), dIn: dataset.dIn, config: trainer.currentConfig(), datasetName: dataset.name, normalization: trainer.normalization, source });
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

/** What `fn` throws, with `file` in front (a config's problems name the config). */
function named<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** An exported SAE directory (cfg.json, sae_weights.safetensors [, sparsity, run_config.json]) or its zip. */
async function readSaeDirectory(dir: string) {
  let files: Record<string, ArrayBuffer>;
  const info = await stat(dir).catch((e: NodeJS.ErrnoException) => { throw new Error(`cannot read the SAE directory ${dir}: ${e.code ?? e.message}`); });
  if (info.isDirectory()) {
    files = {};
    for (const name of ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors', 'run_config.json']) {
      try { files[name] = await readBuffer(path.join(dir, name), 'SAE file'); } catch { /* absent */ }
    }
  } else {
    try {
      const entries = unzipSync(new Uint8Array(await readBuffer(dir, 'SAE zip')));
      files = Object.fromEntries(Object.entries(entries).map(([n, b]) => [path.basename(n), b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer]));
    } catch (e) {
      throw new Error(`${dir} is not a readable zip archive (${e instanceof Error ? e.message : String(e)}): it is truncated or damaged, or not a zip at all; give the SAE directory or its exported zip.`);
    }
  }
  for (const name of ['cfg.json', 'sae_weights.safetensors']) {
    if (!files[name]) throw new Error(`${dir} has no ${name}; an SAE directory holds cfg.json and sae_weights.safetensors (a SAELens export, or the workbench's).`);
  }
  return named(dir, () => importSaeLens({ cfg: files['cfg.json'], weights: files['sae_weights.safetensors'], sparsity: files['sparsity.safetensors'], runConfig: files['run_config.json'] }));
}

/**
 * What an evaluation measured: the trainer's metrics without the training-only ones (steps,
 * throughput, early stopping), which an SAE that is only evaluated does not have.
 */
export function evaluationOutput(metrics: EvalMetrics): Omit<EvalMetrics, 'steps' | 'tokens_per_s' | 'early_stopped_at'> {
  const { steps: _steps, tokens_per_s: _tokensPerSecond, early_stopped_at: _earlyStoppedAt, ...measured } = metrics;
  return measured;
}

async function evaluate(flags: Flags): Promise<number> {
  // Everything that does not need the activations is checked before they load.
  if (flags.lm) {
    requireModelFlags(flags);
    if (!flags.data) refuseUnused(flags, DATA_OPTIONS, 'without --data (they say how to read its file)');
  } else {
    if (!flags.data) throw new UsageError('missing --data (or --lm, --tokenizer and --text to splice into a model)');
    refuseUnused(flags, ['tokenizer', 'text', 'layer'], 'without --lm');
  }
  checkOptions(flags);
  if (flags.lm) return evaluateWithLanguageModel(flags);
  const sae = await readSaeDirectory(flags.sae);
  const workspace = await loadWorkspace(flags);
  const full = workspace.dataset!;
  if (sae.info.dIn !== full.dIn) {
    throw new Error(`the SAE ${flags.sae} expects d_in = ${sae.info.dIn} but ${full.name} has rows of width ${full.dIn}; evaluate it on activations from the same layer.`);
  }
  const cfg: SaeConfig = named(flags.sae, () => resolveConfig(sae.configInput, full.dIn, full.nLayers));
  const { backend } = await startBackend(flags);
  // In memory: every row is evaluated. Streamed: the validation split (a sample of the file).
  const out = await evaluateWeights(workspace, cfg, sae.tensors, backend, { allRows: true });
  for (const note of sae.info.notes) process.stderr.write(`note: ${note}\n`);
  process.stdout.write(JSON.stringify(evaluationOutput(out)) + '\n');
  return 0;
}

/** Splice an exported SAE into a llama2.c model over a text: CE, KL, loss recovered (+ reconstruction metrics). */
async function evaluateWithLanguageModel(flags: Flags): Promise<number> {
  const sae = await readSaeDirectory(flags.sae);
  const metadata = (sae.info.cfg ?? {}) as Record<string, unknown>;
  const hookSite = siteOfHook(metadata.hook_name);
  const given = layersFlag(flags);
  const first = given?.[0] ?? hookSite;
  if (first === undefined) throw new UsageError(`--layer is needed: ${flags.sae}/cfg.json does not name a residual hook (hook_name ${JSON.stringify(metadata.hook_name ?? null)})`);
  const { backend } = await startBackend(flags);
  const { workspace, text } = await loadLanguageModel(flags, flags.data ? await loadWorkspace(flags) : new Workspace());
  const recorded = { recordedSites: hookSite === undefined ? undefined : [hookSite], recordedBy: `${flags.sae}/cfg.json's hook_name` };
  const mismatch = hookMismatch(hookSite, first, workspace.lm!.checkpoint.config.nLayers, recorded.recordedBy);
  if (mismatch) process.stderr.write(`warning: --layer ${first}: ${mismatch}\n`);
  const nSaeLayers = MULTI_LAYER.includes(String(sae.configInput.architecture) as never) ? Number(sae.configInput.layer_end ?? 0) - Number(sae.configInput.layer_start ?? 0) + 1 : 1;
  const sites = Array.from({ length: Math.max(1, nSaeLayers) }, (_, i) => first + i);
  if (!flags.data) await extractToWorkspace(workspace, text, sites);
  const full = workspace.dataset!;
  if (sae.info.dIn !== full.dIn) throw new Error(`the SAE expects d_in = ${sae.info.dIn} but the activations have width ${full.dIn}; use the model the SAE was trained on.`);
  const input = flags.data ? sae.configInput : { ...sae.configInput, layer: 0, layer_start: 0, layer_end: sites.length - 1 };
  const cfg: SaeConfig = resolveConfig(input, full.dIn, full.nLayers);
  const reconstruction = await evaluateWeights(workspace, cfg, sae.tensors, backend, { allRows: true });
  const splice = await evaluateWeightsWithModel(workspace, cfg, sae.tensors, backend, { site: first, text, maxTokens: Infinity, ...recorded });
  for (const note of sae.info.notes) process.stderr.write(`note: ${note}\n`);
  const se = (v: number) => (Number.isFinite(v) ? ` ± ${v.toPrecision(2)}` : ' (no standard error from one document)');
  process.stderr.write(`${splice.predictions.toLocaleString('en-US')} predictions in ${splice.documents.toLocaleString('en-US')} documents; ± is the standard error over documents${splice.predictions < FEW_PREDICTIONS ? ' (few predictions: loss recovered is noisy; give a longer --text)' : ''}\n`);
  for (const g of splice.groups) {
    process.stderr.write(`layer ${g.sites.join(', ')}: loss recovered ${g.loss_recovered.toFixed(4)}${se(g.loss_recovered_se)} (vs mean ablation ${g.loss_recovered_vs_mean.toFixed(4)}${se(g.loss_recovered_vs_mean_se)}), KL ${g.kl.toFixed(4)}, CE ${g.ce.toFixed(4)} — clean ${splice.ce_clean.toFixed(4)}, zero ${g.ce_zero.toFixed(4)}, mean ${g.ce_mean.toFixed(4)}\n`);
  }
  // The per-document sums behind the standard errors stay out of the output (one entry per document).
  const { per_document: _perDocument, ...report } = splice;
  process.stdout.write(JSON.stringify({ ...report, reconstruction: evaluationOutput(reconstruction) }) + '\n');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // `train --help` asks for help, not for a training run with an unknown option.
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    switch (command) {
      case 'train':
        return await train(parseFlags(command, rest, ['config', 'out']));
      case 'eval':
        return await evaluate(parseFlags(command, rest, ['sae']));
      case 'activations':
        return await activations(parseFlags(command, rest, ['lm', 'tokenizer', 'text', 'layer', 'out']));
      case 'help': case '--help': case '-h':
        process.stdout.write(USAGE + '\n');
        return 0;
      case '--version': case '-v':
        process.stdout.write(`${await packageVersion()}\n`);
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
