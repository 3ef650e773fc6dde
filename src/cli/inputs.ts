// What the command line reads and where it reports: files opened lazily (streamed when larger
// than memory), the workspace they load into, the language model and its text, an SAE directory,
// the backend, and progress lines on stderr.
import { openAsBlob } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SaeConfig } from '../engine/config';
import { extractFromText } from '../data/languageModel';
import type { FileOptions, FileResult, SourceFile } from '../data/types';
import { HF_MODEL_FILE } from '../data/languageModelFiles';
import { Workspace, type HintedSourceFile, type RoleHint } from '../data/workspace';
import { parseLlama2cCheckpoint, parseLlama2cTokenizer } from '../io/llama2c';
import type { ImportedSae } from '../data/saeImport';
import { importSaeFiles } from '../data/saeFiles';
import { backendFlag, checkOptions, fileOptions, intFlag, parseSize, requireModelFlags, UsageError, type Flags } from './flags';
import { checkBackendEarly, startBackend as startCommandBackend, type AutoWork, type StartedBackend } from './backendChoice';

/** --out must be a new or empty folder unless --force allows writing over what is there. */
export async function checkOutDir(flags: Flags): Promise<void> {
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

/** Every option, then the GPU a --backend webgpu needs, before any file is read. */
export async function checkOptionsAndBackend(flags: Flags): Promise<void> {
  checkOptions(flags);
  await checkBackendEarly(backendFlag(flags));
}

/**
 * Start the backend of --backend / --threads; its label says how it runs ("wasm, 2 threads").
 * `work` is what --backend auto times the candidates on (./backendChoice.ts).
 */
export async function startBackend(flags: Flags, work?: AutoWork): Promise<StartedBackend> {
  return startCommandBackend(backendFlag(flags), intFlag(flags, 'threads', 1), work);
}

/** What --backend auto measures for an SAE of this config: its training step (as the page does). */
export function saeWork(cfg: SaeConfig, dIn: number, nLayers = 1): AutoWork {
  return { kind: 'sae', spec: { architecture: cfg.architecture, dIn, dSae: cfg.d_sae, batch: cfg.batch_size, nLayers, config: cfg } };
}

export async function readBuffer(file: string, what: string): Promise<ArrayBuffer> {
  try {
    const bytes = await readFile(file);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  } catch (e) {
    throw new Error(`cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A file as a Blob read lazily by slices (so files larger than memory can be streamed). */
export async function openFile(file: string, options?: FileOptions, role?: RoleHint): Promise<HintedSourceFile> {
  try {
    // openAsBlob reports a missing file as ERR_INVALID_ARG_VALUE; stat names it ENOENT.
    await stat(file);
    return { name: path.basename(file), blob: await openAsBlob(file), options, ...(role ? { role } : {}) };
  } catch (e) {
    throw new Error(`cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Load the data and companion files into a workspace; any file that fails stops the command. */
export async function loadWorkspace(flags: Flags, extra: [string, RoleHint][] = []): Promise<Workspace> {
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

export async function readJson(file: string, what: string): Promise<unknown> {
  const text = new TextDecoder().decode(await readBuffer(file, what));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`the ${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export function progress(line: string) {
  if (process.stderr.isTTY) process.stderr.write(`\r${line}`);
  else process.stderr.write(`${line}\n`);
}

/** The model, tokenizer and text in a workspace (files recognised by content, like a drop). */
export async function loadLanguageModel(flags: Flags, workspace = new Workspace()): Promise<{ workspace: Workspace; text: string }> {
  requireModelFlags(flags);
  const folder = await isDirectory(flags.lm);
  if (!folder && !flags.tokenizer) throw new UsageError(`--tokenizer is needed with a llama2.c model file (${flags.lm}); a Hugging Face model folder brings its own tokenizer.json`);
  const modelFiles = folder ? await folderFiles(flags.lm) : [await openFile(flags.lm)];
  const files = [...modelFiles, ...(flags.tokenizer ? [await openFile(flags.tokenizer)] : []), await openFile(flags.text)];
  let last = 0;
  const { results } = await workspace.loadFiles(files, {
    onProgress: (label, done, total) => {
      if (Date.now() - last < 1000 && done < total) return;
      last = Date.now();
      progress(`${label}: ${Math.round((100 * done) / Math.max(1, total))}%`);
    },
  });
  if (process.stderr.isTTY && last) process.stderr.write('\n');
  const problems = results.filter((r) => r.kind === 'error');
  if (problems.length) throw new Error(problems.map((r) => r.message).join('\n'));
  // Files the workspace did not recognise (taken for raw data): their own parser says what is wrong.
  if (!workspace.lm && folder) throw new Error(`${flags.lm} holds no model the workbench reads: a Hugging Face model folder has config.json and model.safetensors (or its shards with model.safetensors.index.json).`);
  if (!workspace.lm) {
    parseLlama2cCheckpoint(new Uint8Array(await readBuffer(flags.lm, 'model')), path.basename(flags.lm));
    throw new Error(`${flags.lm} is not a llama2.c model (7-int header, float32 weights).`);
  }
  if (!workspace.tokenizer && !flags.tokenizer) throw new Error(`${flags.lm} has no tokenizer.json; give the model's tokenizer with --tokenizer.`);
  if (!workspace.tokenizer) {
    parseLlama2cTokenizer(new Uint8Array(await readBuffer(flags.tokenizer, 'tokenizer')), path.basename(flags.tokenizer), workspace.lm.checkpoint.config.vocabSize);
    throw new Error(`${flags.tokenizer} is not a llama2.c tokenizer .bin.`);
  }
  for (const r of results) process.stderr.write(`${r.message}\n`);
  const text = path.basename(flags.text);
  if (!workspace.texts.get(text)?.corpus) throw new Error(`${flags.text} could not be read as text.`);
  return { workspace, text };
}

async function isDirectory(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory();
  } catch (e) {
    throw new Error(`cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * The files of a model folder the workbench reads (config, weights, tokenizer; not subfolders or
 * other files), named folder/file as a dropped folder's are.
 */
async function folderFiles(dir: string): Promise<HintedSourceFile[]> {
  const folder = path.basename(path.resolve(dir));
  const out: HintedSourceFile[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile() || !HF_MODEL_FILE.test(entry.name)) continue;
    const file = path.join(dir, entry.name);
    out.push({ name: `${folder}/${entry.name}`, blob: await openAsBlob(file) });
  }
  return out;
}

/** Run the model over the text and make the residuals at `sites` the workspace's dataset. */
export async function extractToWorkspace(workspace: Workspace, text: string, sites: number[], includeBos = false): Promise<void> {
  let last = 0;
  const r = await extractFromText(workspace, {
    text, sites, includeBos,
    onProgress: (done, total) => { if (Date.now() - last > 1000 || done === total) { last = Date.now(); progress(`running the model: ${done}/${total} documents`); } },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  process.stderr.write(`${r.message}\n`);
}

/** What `fn` throws, with `file` in front (a config's problems name the config). */
export function named<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * An exported SAE directory (cfg.json, sae_weights.safetensors [, sparsity, run_config.json]) or its
 * zip, read by the page's own SAE import (src/data/saeFiles.ts) so both say the same about it.
 */
export async function readSaeDirectory(dir: string): Promise<ImportedSae> {
  const info = await stat(dir).catch((e: NodeJS.ErrnoException) => { throw new Error(`cannot read the SAE directory ${dir}: ${e.code ?? e.message}`); });
  // The zip goes through the page's loader as a dropped file would (it unzips and recognises the files).
  if (!info.isDirectory()) {
    const { results, sae } = await new Workspace().loadFiles([await openFile(dir)]);
    if (!sae) throw new Error(results.filter((r) => r.kind === 'error').map((r) => r.message).join('\n') || `${dir} holds no SAE: give the SAE directory (cfg.json and sae_weights.safetensors) or its exported zip.`);
    return sae;
  }
  const files: Record<string, SourceFile> = {};
  for (const name of ['cfg.json', 'sae_weights.safetensors', 'sparsity.safetensors', 'run_config.json']) {
    const file = path.join(dir, name);
    if (await stat(file).then((s) => s.isFile(), () => false)) files[name] = await openFile(file);
  }
  for (const name of ['cfg.json', 'sae_weights.safetensors']) {
    if (!files[name]) throw new Error(`${dir} has no ${name}; an SAE directory holds cfg.json and sae_weights.safetensors (a SAELens export, or the workbench's).`);
  }
  // The directory's files are imported by the page's SAE import, as if they came out of a zip named after it.
  const results: FileResult[] = [];
  const origins = new Map(Object.values(files).map((f) => [f, dir]));
  const sae = await importSaeFiles(new Workspace(), { cfg: files['cfg.json'], weights: files['sae_weights.safetensors'], sparsity: files['sparsity.safetensors'], runConfig: files['run_config.json'] }, origins, results);
  if (!sae) throw new Error(`${dir}: ${results.map((r) => r.message).join('; ')}`);
  return sae;
}

