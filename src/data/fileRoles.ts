// Recognising dropped files by their content, and opening dropped zips.
// Recognition only sorts the files: nothing is loaded here, so the workspace can apply the
// activations first and match every companion of the same drop to their rows (src/data/workspace.ts).
import { unzipSync } from 'fflate';
import { MULTI_LAYER, resolveConfig, type Architecture, type ConfigInput } from '../engine/config';
import { NeedsShapeError, arrayRole, indexArrayFile } from '../io/arrayFile';
import { hasLlama2cHeader, looksLikeLlama2cCheckpoint, looksLikeLlama2cHeader, looksLikeLlama2cTokenizer, looksLikeLlama2cTokenizerStart } from '../io/llama2c';
import type { Candidate } from './activationFile';
import { integerValues, loadCompanionArray, loadLabelFile, loadVocab } from './companionFiles';
import { HF_WEIGHTS, baseName, type LanguageModelFiles } from './languageModelFiles';
import { looksLikeTokenizerJson } from '../io/hfTokenizer';
import type { SaeFiles } from './saeFiles';
import { readRangeOf } from './source';
import type { ArrayChoice, FileResult, SourceFile } from './types';
import { WorkspaceError, count, errorResult, shapeText, type AnyDataset, type WorkspaceState } from './workspaceState';

/**
 * What the user said a file is (the CLI's --tokens, --doc-ids, --positions, --labels, --vocab):
 * its array is read in that role instead of the role its content suggests, so that, say, 0/1
 * labels saved as int32 are not taken for token ids, and float token ids get a message.
 */
export type RoleHint = 'tokens' | 'doc_ids' | 'positions' | 'labels' | 'vocab';
export type HintedSourceFile = SourceFile & { role?: RoleHint };
const HINT_NAMES: Record<RoleHint, string> = { tokens: 'token ids', doc_ids: 'document ids', positions: 'positions', labels: 'labels', vocab: 'a vocab' };

/** The files of one drop, sorted by what they are. */
export interface RecognisedFiles {
  /** Files holding activations (one is loaded; the others are refused). */
  candidates: Candidate[];
  /** Companions, loaded after the activations they are matched to. */
  companions: { name: string; load: () => Promise<FileResult> }[];
  runConfigs: FileResult[];
  sae: SaeFiles;
  lmFiles: LanguageModelFiles;
}

/**
 * Sort the files of a drop by their content. A file that is none of the known kinds, or that is
 * refused on sight (a run config that does not resolve, raw data without a shape), gets its result
 * in `results` here.
 */
export async function recogniseFiles(ws: WorkspaceState, files: SourceFile[], results: FileResult[]): Promise<RecognisedFiles> {
  const sae: SaeFiles = {};
  const candidates: Candidate[] = [];
  const companions: { name: string; load: () => Promise<FileResult> }[] = [];
  const runConfigs: FileResult[] = [];
  const lmFiles: LanguageModelFiles = { texts: [] };

  const hfConfig = await findHfConfig(files);
  for (const file of files) {
    const lower = file.name.toLowerCase();
    const base = lower.split('/').pop() ?? lower;
    const hint = (file as HintedSourceFile).role;
    try {
      if (hint === 'vocab') { companions.push({ name: file.name, load: () => loadVocab(ws, file) }); continue; }
      if (await takeHfFile(file, base, hfConfig, lmFiles)) continue;
      if (lower.endsWith('.txt')) { lmFiles.texts.push(file); continue; }
      const lmKind = await llamaFileKind(file);
      if (lmKind) { lmFiles[lmKind] = file; continue; }
      if (lower.endsWith('.json')) {
        const { json, error } = await readJson(file);
        if (base === 'cfg.json' || (isRecord(json) && 'd_in' in json && 'd_sae' in json)) { sae.cfg = file; continue; }
        // A config by its name that does not parse (a vocab that does not parse gets parseVocab's message).
        if (error !== undefined && /config/.test(base)) {
          throw new WorkspaceError(`${file.name} is not valid JSON (${error}); a run config is a JSON object such as {"architecture": "topk", "d_sae": 512} (the run_config.json of an export). Fix its syntax.`);
        }
        if (isRecord(json) && typeof json.architecture === 'string' && !('model' in json)) {
          checkRunConfig(ws.dataset, json, file.name);
          if (base === 'run_config.json') sae.runConfig = file;
          runConfigs.push({ name: file.name, kind: 'run_config', message: `run config ${file.name}: ${json.architecture}; the Model panel now holds its settings`, config: json });
          continue;
        }
        companions.push({ name: file.name, load: () => loadVocab(ws, file) });
        continue;
      }
      if (lower.endsWith('.csv') || lower.endsWith('.jsonl')) {
        companions.push({ name: file.name, load: () => loadLabelFile(ws, file) });
        continue;
      }
      const index = await indexArrayFile(file.name, file.blob.size, readRangeOf(file.blob), file.options);
      if (index.format === 'safetensors' && index.arrays.some((a) => a.name === 'W_dec')) { sae.weights = file; continue; }
      if (index.format === 'safetensors' && base === 'sparsity.safetensors') { sae.sparsity = file; continue; }
      const choices: ArrayChoice[] = [];
      // Integer arrays decoded to tell their role are kept for the companion load below.
      const decoded = new Map<string, Int32Array>();
      for (const layout of index.arrays) {
        const values = isInteger(layout.dtype) && layout.byteLength <= 64 * 2 ** 20 ? await integerValues(file, layout) : undefined;
        if (values) decoded.set(layout.name, values);
        choices.push({ name: layout.name, shape: layout.shape, dtype: layout.dtype, role: arrayRole(layout, values) });
      }
      const wanted = file.options?.select;
      if (wanted && !choices.some((c) => c.name === wanted)) throw new WorkspaceError(`${file.name} has no array "${wanted}" (it has ${choices.map((c) => c.name).join(', ')}).`);
      const held = () => choices.map((c) => `${c.name === file.name ? '' : `${c.name} `}${c.dtype} ${shapeText(c.shape)}`).join(', ');
      if (hint) {
        // One array that is not activations-shaped takes the role the user gave the file.
        const others = choices.filter((c) => c.role !== 'activations');
        if (others.length === 1) others[0].role = hint;
        if (!choices.some((c) => c.role === hint)) {
          throw new WorkspaceError(`${file.name} was given as ${HINT_NAMES[hint]} but holds ${held()}; ${HINT_NAMES[hint]} are a 1-D array [N], one value per activation row.`);
        }
        for (const c of choices) if (c.role === 'activations') c.role = 'other';
      }
      const activations = choices.filter((c) => (wanted && !hint ? c.name === wanted : c.role === 'activations'));
      // The largest float array is the activations; the others are companions by their role.
      activations.sort((a, b) => b.shape.reduce((x, y) => x * y, 1) - a.shape.reduce((x, y) => x * y, 1));
      if (activations.length) {
        const chosen = activations[0];
        candidates.push({ file, index, layout: index.arrays.find((a) => a.name === chosen.name)!, role: 'activations', choices });
      }
      for (const c of choices) {
        if (activations.length && c.name === activations[0].name) continue;
        if (c.role === 'activations' || c.role === 'other') continue;
        const layout = index.arrays.find((a) => a.name === c.name)!;
        companions.push({ name: file.name, load: () => loadCompanionArray(ws, file, layout, c.role, choices, decoded.get(c.name)) });
      }
      if (!activations.length && !choices.some((c) => c.role !== 'other' && c.role !== 'activations')) {
        throw new WorkspaceError(`${file.name} holds ${held()}: no activations (float [N, d] or [L, N, d]), token ids, document ids, positions or labels (integer [N]). Save activations as floats (array.astype(np.float32)) and ids as a 1-D integer array.`);
      }
    } catch (e) {
      if (base === 'sae_weights.safetensors') sae.weightsFailed = true;
      if (e instanceof NeedsShapeError) {
        results.push({ name: file.name, kind: 'needs_shape', bytes: e.bytes, message: `${file.name} is raw data (${count(e.bytes)} bytes): give its shape, e.g. N × d for float32 rows of width d.` });
      } else results.push(errorResult(file.name, e));
    }
  }
  return { candidates, companions, runConfigs, sae, lmFiles };
}

/** A run config is validated as it is dropped (its layers against the loaded data, or any). */
function checkRunConfig(ds: AnyDataset | null, json: Record<string, unknown>, name: string): void {
  const layers = ['layer', 'layer_start', 'layer_end'].map((k) => json[k]).filter((v): v is number => Number.isInteger(v) && (v as number) >= 0);
  const nLayers = Math.max(ds?.nLayers ?? 1, MULTI_LAYER.includes(json.architecture as Architecture) ? 2 : 1, ...layers.map((v) => v + 1));
  try {
    resolveConfig(json as ConfigInput, ds?.dIn ?? 64, nLayers);
  } catch (e) {
    throw new WorkspaceError(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Files of a Hugging Face model folder the workbench does not need (other weight formats, the slow tokenizer's files, docs). */
const HF_UNUSED = /^(pytorch_model.*\.bin|pytorch_model\.bin\.index\.json|tf_model\.h5|flax_model\.msgpack|rust_model\.ot|model\.onnx|.*\.md|\.gitattributes|vocab\.json|merges\.txt|generation_config\.json|added_tokens\.json|tokenizer\.model|vocab\.txt)$/;

/** The drop's Hugging Face config.json (a JSON object with model_type, not an SAE's cfg), if any. */
async function findHfConfig(files: SourceFile[]): Promise<SourceFile | undefined> {
  for (const file of files) {
    if (baseName(file.name).toLowerCase() !== 'config.json') continue;
    const { json } = await readJson(file);
    if (isRecord(json) && typeof json.model_type === 'string' && !('d_sae' in json)) return file;
  }
  return undefined;
}

/**
 * Put a file of a Hugging Face model folder in its place (true), or leave it to the other kinds
 * (false). With the folder's config.json in the drop, its weights, index, tokenizer files and the
 * files the workbench does not need are taken by name; without it, a tokenizer.json is still a
 * tokenizer, and weights named as a model's are taken only when their tensors are a model's.
 */
async function takeHfFile(file: SourceFile, base: string, hfConfig: SourceFile | undefined, lm: LanguageModelFiles): Promise<boolean> {
  const hf = (lm.hf ??= { folder: folderOf(file.name), weights: [], ignored: [] });
  const take = (role: 'config' | 'index' | 'tokenizer' | 'tokenizerConfig' | 'specialTokensMap') => {
    hf[role] = file;
    if (role === 'config') hf.folder = folderOf(file.name);
    return true;
  };
  if (file === hfConfig) return take('config');
  if (base === 'tokenizer.json' && looksLikeTokenizerJson(await readRangeOf(file.blob)(0, Math.min(file.blob.size, 4096)))) return take('tokenizer');
  if (hfConfig) {
    if (base === 'model.safetensors.index.json') return take('index');
    if (base === 'tokenizer_config.json') return take('tokenizerConfig');
    if (base === 'special_tokens_map.json') return take('specialTokensMap');
    if (HF_WEIGHTS.test(base)) { hf.weights.push(file); return true; }
    if (HF_UNUSED.test(base)) { hf.ignored.push(baseName(file.name)); return true; }
    return false;
  }
  if (HF_WEIGHTS.test(base)) {
    const index = await indexArrayFile(file.name, file.blob.size, readRangeOf(file.blob), file.options).catch(() => null);
    if (index?.arrays.some((a) => /(^|\.)(wte|embed_tokens|embed_in|layers\.\d+|h\.\d+)\./.test(a.name))) { hf.weights.push(file); return true; }
  }
  if (base === 'model.safetensors.index.json') return take('index');
  return false;
}

function folderOf(name: string): string {
  const parts = name.split('/');
  return parts.length > 1 ? parts[parts.length - 2] : 'the model folder';
}

/** Whether a file is a llama2.c checkpoint or tokenizer (by its header, then its structure). */
async function llamaFileKind(file: SourceFile): Promise<'model' | 'tokenizer' | null> {
  const size = file.blob.size;
  if (size < 8) return null;
  const head = await readRangeOf(file.blob)(0, Math.min(size, 256));
  // A plausible header is enough: a checkpoint of the wrong size then gets the checkpoint's message.
  const modelName = /\.(bin|model|ckpt)$/i.test(file.name);
  if (looksLikeLlama2cCheckpoint(head, size) || (modelName && (hasLlama2cHeader(head) || looksLikeLlama2cHeader(head)))) return 'model';
  const maxTokenLength = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(0, true);
  if (size > 64 * 2 ** 20 || head[0] === 0x93) return null;
  if (maxTokenLength >= 1 && maxTokenLength <= 4096 && looksLikeLlama2cTokenizer(new Uint8Array(await file.blob.arrayBuffer()))) return 'tokenizer';
  // A damaged or cut tokenizer.bin (even its max token length) still starts like one: it gets the tokenizer's message.
  return modelName && looksLikeLlama2cTokenizerStart(head, { anyMaxLength: true }) ? 'tokenizer' : null;
}

function isInteger(dtype: string): boolean {
  return dtype === 'int32' || dtype === 'int64' || dtype === 'uint8';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

async function readJson(file: SourceFile): Promise<{ json?: unknown; error?: string }> {
  // Vocab files are parsed (with their own messages) by parseVocab; here only the shape matters.
  try {
    return { json: JSON.parse(await file.blob.text()) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * A .zip that is not an .npz (an exported SAELens directory, a bundle of files) is opened and its
 * files loaded as if dropped; an .npz (only .npy entries) is an activation file of its own.
 */
export async function expandZips(files: SourceFile[], results: FileResult[], origins: Map<SourceFile, string>): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for (const file of files) {
    if (!file.name.toLowerCase().endsWith('.zip')) { out.push(file); continue; }
    let entries: Record<string, Uint8Array>;
    try {
      entries = unzipSync(new Uint8Array(await file.blob.arrayBuffer()));
    } catch (e) {
      results.push({ name: file.name, kind: 'error', message: `${file.name} is not a readable zip archive (${e instanceof Error ? e.message : String(e)}): it is truncated or damaged, or not a zip at all. Re-copy or re-create it, or drop the files it holds.` });
      continue;
    }
    const names = Object.keys(entries).filter((n) => !n.endsWith('/') && !n.startsWith('__MACOSX'));
    if (!names.length) {
      results.push({ name: file.name, kind: 'error', message: `${file.name} holds no files; zip the SAELens directory's files (cfg.json, sae_weights.safetensors) or the arrays, or drop the files themselves.` });
      continue;
    }
    if (names.every((n) => n.endsWith('.npy'))) { out.push(file); continue; }
    for (const n of names) {
      const entry: SourceFile = { name: n.split('/').pop() ?? n, blob: new Blob([entries[n] as Uint8Array<ArrayBuffer>]) };
      origins.set(entry, file.name);
      out.push(entry);
    }
  }
  return out;
}

/** Errors of files that came out of a zip are named by the zip, which is what the user dropped. */
export function nameZipErrors(results: FileResult[], origins: Map<SourceFile, string>): void {
  const fromZip = new Map([...origins].map(([f, zip]) => [f.name, zip]));
  for (const r of results) {
    const zip = fromZip.get(r.name) ?? (origins.size && [...origins.values()].includes(r.name) ? r.name : undefined);
    if (r.kind === 'error' && zip) {
      // The zip is what the user dropped: its name leads the message and names the result.
      if (!r.message.startsWith(`${zip}:`)) r.message = `${zip}: ${r.message}`;
      r.name = zip;
    }
  }
}
