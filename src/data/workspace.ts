// What the user has loaded: one activation dataset (in memory, or streamed from its file when it
// is larger than the memory budget), its companion files (tokens, vocab, labels, document ids,
// positions) matched by row count, and an imported SAE. Files are recognised by content, whatever
// order they are dropped in. Shared by the worker and the CLI. A file that fails to parse or to
// match changes nothing: the error names the file, the problem and the fix.
import { unzipSync } from 'fflate';
import type { Architecture, ConfigInput, GuidanceTarget, LabelSource, SaeConfig } from '../engine/config';
import { MULTI_LAYER, resolveConfig } from '../engine/config';
import type { ResolvedGuidance } from '../engine/trainer';
import { ArrayFileError, NeedsShapeError, arrayRole, decodeFloat32, decodeInt32, indexArrayFile, readArrayBytes, type ArrayLayout, type FileIndex } from '../io/arrayFile';
import { parseLabels, checkLabelCount } from '../io/labels';
import { hasLlama2cHeader, looksLikeLlama2cCheckpoint, looksLikeLlama2cHeader, looksLikeLlama2cTokenizer, looksLikeLlama2cTokenizerStart, parseLlama2cCheckpoint, parseLlama2cTokenizer, type Llama2cTokenizer, type LlamaCheckpoint } from '../io/llama2c';
import type { LlamaModel } from '../engine/lm/llama';
import { importSaeLens, type ImportedSae } from '../io/saeImport';
import { parseVocab } from '../io/vocab';
import type { ArrayChoice, DatasetStats, FileResult, LoadedKind, SourceFile } from './types';
import { selectLayers, type Dataset } from './dataset';
import { readAllRows, readRangeOf, sourceFromLayout, type ActivationSource } from './source';
import { StatsAccumulator } from './stats';
import { tokenizeCorpus, type TokenizedCorpus } from './textCorpus';
import { labelsFromTokenRule } from './tokenRules';

export class WorkspaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

/** An activation file with rows holding NaN or Inf: it loads without them when asked (FileOptions.excludeNonFinite). */
export class NonFiniteRowsError extends WorkspaceError {
  constructor(message: string, readonly rows: number) {
    super(message);
    this.name = 'NonFiniteRowsError';
  }
}

/**
 * The rows of an activation file that the dataset holds when rows with NaN or Inf were left out:
 * companion files of the file's full length are filtered by it, so row n of each stays one token.
 */
export interface RowFilter {
  file: string;
  /** Rows in the file. */
  fileRows: number;
  /** File row of each dataset row, ascending. */
  kept: Uint32Array;
}

/**
 * What the user said a file is (the CLI's --tokens, --doc-ids, --positions, --labels, --vocab):
 * its array is read in that role instead of the role its content suggests, so that, say, 0/1
 * labels saved as int32 are not taken for token ids, and float token ids get a message.
 */
export type RoleHint = 'tokens' | 'doc_ids' | 'positions' | 'labels' | 'vocab';
export type HintedSourceFile = SourceFile & { role?: RoleHint };
const HINT_NAMES: Record<RoleHint, string> = { tokens: 'token ids', doc_ids: 'document ids', positions: 'positions', labels: 'labels', vocab: 'a vocab' };

export const DEFAULT_MEMORY_BUDGET = 2 ** 30;
/** Rows read per chunk while indexing a streamed file. */
const SCAN_CHUNK_BYTES = 8 * 2 ** 20;

/** Activations that stay in their file; training streams them (src/data/streaming.ts). */
export interface StreamedDataset {
  name: string;
  rows: number;
  dIn: number;
  nLayers: number;
  dtype: string;
  description: string;
  source: ActivationSource;
  data?: undefined;
  groundTruth?: undefined;
}

export type AnyDataset = Dataset | StreamedDataset;

export function isStreamed(ds: AnyDataset): ds is StreamedDataset {
  return (ds as StreamedDataset).source !== undefined;
}

/** Per-dataset facts gathered while loading. */
export interface DatasetFacts {
  format: 'npy' | 'npz' | 'safetensors' | 'raw' | 'synthetic' | 'extracted';
  bytes: number;
  stats: DatasetStats;
  /** Dataset rows flagged as outliers (norm far above the rest). */
  outlierRows: Uint32Array;
}

export interface LoadOptions {
  memoryBudgetBytes?: number;
  onProgress?: (label: string, done: number, total: number) => void;
}

interface Candidate {
  file: SourceFile;
  index: FileIndex;
  layout: ArrayLayout;
  role: ArrayChoice['role'];
  choices: ArrayChoice[];
}

const count = (v: number) => v.toLocaleString('en-US');
const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;

export class Workspace {
  dataset: AnyDataset | null = null;
  facts: DatasetFacts | null = null;
  tokens: { name: string; ids: Int32Array } | null = null;
  vocab: { name: string; pieces: string[] } | null = null;
  docIds: { name: string; ids: Int32Array; documents: number } | null = null;
  positions: { name: string; ids: Int32Array } | null = null;
  readonly labelSets = new Map<string, Float32Array>();
  imported: ImportedSae | null = null;
  memoryBudgetBytes = DEFAULT_MEMORY_BUDGET;
  /** A llama2.c model; its tfjs weights are made on first use (src/data/languageModel.ts). */
  lm: { name: string; checkpoint: LlamaCheckpoint; model?: LlamaModel } | null = null;
  tokenizer: { name: string; tok: Llama2cTokenizer } | null = null;
  /** Dropped text files, tokenised once a model and tokenizer are loaded. */
  readonly texts = new Map<string, { text: string; corpus?: TokenizedCorpus }>();
  /** The text the loaded activations were extracted from (null for activation files). */
  datasetText: string | null = null;
  /** Set when rows with NaN/Inf were left out of the activation file (null: the dataset is every row). */
  rowFilter: RowFilter | null = null;

  /**
   * Replace the activations; companions whose row count no longer matches are dropped (with a row
   * filter, companions of the file's full length are filtered to the kept rows).
   */
  setDataset(ds: AnyDataset, facts?: DatasetFacts, rowFilter: RowFilter | null = null): void {
    this.dataset = ds;
    this.datasetText = null;
    this.rowFilter = rowFilter;
    this.facts = facts ?? (isStreamed(ds) ? null : factsOf(ds));
    const fit = <T extends Int32Array | Float32Array>(values: T): T | null => (values.length === ds.rows ? values : rowFilter && values.length === rowFilter.fileRows ? pickRows(values, rowFilter.kept) : null);
    if (this.tokens) { const ids = fit(this.tokens.ids); this.tokens = ids ? { ...this.tokens, ids } : null; }
    if (this.docIds) { const ids = fit(this.docIds.ids); this.docIds = ids ? { ...this.docIds, ids, documents: new Set(ids).size } : null; }
    if (this.positions) { const ids = fit(this.positions.ids); this.positions = ids ? { ...this.positions, ids } : null; }
    for (const [name, values] of this.labelSets) {
      const kept = fit(values);
      if (kept) this.labelSets.set(name, kept);
      else this.labelSets.delete(name);
    }
    this.annotateOutliers();
  }

  /**
   * Load dropped files, recognised by content: activations (.npy, .npz, .safetensors, raw), token
   * ids / document ids / positions (integer arrays), labels (.csv, .jsonl, 1-D float .npy), a vocab
   * (.json), a run config (run_config.json), a SAELens directory (cfg.json + sae_weights.safetensors
   * [+ sparsity.safetensors], or its zip). Activations are applied first, so companions in the same
   * drop match the new rows. Each file's outcome is in the results; failures change nothing.
   */
  async loadFiles(input: HintedSourceFile[], opts: LoadOptions = {}): Promise<{ results: FileResult[]; sae?: ImportedSae }> {
    if (opts.memoryBudgetBytes) this.memoryBudgetBytes = opts.memoryBudgetBytes;
    const results: FileResult[] = [];
    // Files taken out of a zip: the zip's name goes in front of their messages.
    const origins = new Map<SourceFile, string>();
    const files = await expandZips(input, results, origins);
    const sae: { cfg?: SourceFile; weights?: SourceFile; sparsity?: SourceFile; runConfig?: SourceFile; weightsFailed?: boolean } = {};
    const candidates: Candidate[] = [];
    const companions: { name: string; load: () => Promise<FileResult> }[] = [];
    const runConfigs: FileResult[] = [];
    const lmFiles: { model?: SourceFile; tokenizer?: SourceFile; texts: SourceFile[] } = { texts: [] };

    for (const file of files) {
      const lower = file.name.toLowerCase();
      const base = lower.split('/').pop() ?? lower;
      const hint = (file as HintedSourceFile).role;
      try {
        if (hint === 'vocab') { companions.push({ name: file.name, load: () => this.loadVocab(file) }); continue; }
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
            this.checkRunConfig(json, file.name);
            if (base === 'run_config.json') sae.runConfig = file;
            runConfigs.push({ name: file.name, kind: 'run_config', message: `run config ${file.name}: ${json.architecture}; the Model panel now holds its settings`, config: json });
            continue;
          }
          companions.push({ name: file.name, load: () => this.loadVocab(file) });
          continue;
        }
        if (lower.endsWith('.csv') || lower.endsWith('.jsonl')) {
          companions.push({ name: file.name, load: () => this.loadLabelFile(file) });
          continue;
        }
        const index = await indexArrayFile(file.name, file.blob.size, readRangeOf(file.blob), file.options);
        if (index.format === 'safetensors' && index.arrays.some((a) => a.name === 'W_dec')) { sae.weights = file; continue; }
        if (index.format === 'safetensors' && base === 'sparsity.safetensors') { sae.sparsity = file; continue; }
        const choices: ArrayChoice[] = [];
        // Integer arrays decoded to tell their role are kept for the companion load below.
        const decoded = new Map<string, Int32Array>();
        for (const layout of index.arrays) {
          const values = isInteger(layout.dtype) && layout.byteLength <= 64 * 2 ** 20 ? await this.integerValues(file, layout) : undefined;
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
          companions.push({ name: file.name, load: () => this.loadCompanionArray(file, layout, c.role, choices, decoded.get(c.name)) });
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

    if (candidates.length > 1) {
      for (const c of candidates.slice(1)) results.push({ name: c.file.name, kind: 'error', message: `${c.file.name} also holds activations; load one activation file at a time (${candidates[0].file.name} is being loaded).` });
    }
    if (candidates.length) {
      const c = candidates[0];
      try {
        results.push(await this.loadActivations(c, opts));
      } catch (e) {
        const retry = e instanceof NonFiniteRowsError ? { nonFinite: { rows: e.rows, options: { ...c.file.options, excludeNonFinite: true } } } : {};
        results.push({ ...errorResult(c.file.name, e), choices: c.choices.length > 1 ? c.choices : undefined, chosen: c.layout.name, ...retry });
      }
    }
    // Companions after the activations (they are matched to its rows); token ids before anything
    // that reports tokens.
    // Integer arrays (token ids first) before the vocab, so the vocab is checked against the ids.
    const order = (c: { name: string }) => (c.name.toLowerCase().endsWith('.json') ? 1 : 0);
    companions.sort((a, b) => order(a) - order(b));
    for (const c of companions) {
      try {
        results.push(await c.load());
      } catch (e) {
        results.push(errorResult(c.name, e));
      }
    }
    results.push(...runConfigs);
    let imported: ImportedSae | undefined;
    // Weights that failed to index already have their message (no second one about the lonely cfg.json).
    if ((sae.cfg || sae.weights) && !(sae.weightsFailed && !sae.weights)) {
      const first = (sae.weights ?? sae.cfg)!;
      const zip = origins.get(first);
      const name = zip ?? first.name;
      try {
        if (!sae.cfg) throw new WorkspaceError(`${sae.weights!.name} holds SAE weights; drop its cfg.json with it (the SAELens directory's two files, or its zip).`);
        if (!sae.weights) throw new WorkspaceError(`${sae.cfg.name} is a SAELens config; drop sae_weights.safetensors with it (the directory's files, or its zip).`);
        imported = importSaeLens({
          cfg: await sae.cfg.blob.arrayBuffer(),
          weights: await sae.weights.blob.arrayBuffer(),
          sparsity: sae.sparsity ? await sae.sparsity.blob.arrayBuffer() : undefined,
          runConfig: sae.runConfig ? await sae.runConfig.blob.arrayBuffer() : undefined,
        });
        // Matched to the activations loaded (not to the built-in sample, a placeholder).
        const ds = this.dataset;
        if (ds && !ds.groundTruth && imported.info.dIn !== ds.dIn) {
          const dIn = imported.info.dIn;
          imported = undefined;
          throw new WorkspaceError(`the SAE takes d_in ${dIn} but the loaded activations ${ds.name} have rows of width ${ds.dIn}; load activations of the layer it was trained on first, or drop them together with the SAE.`);
        }
        this.imported = imported;
        const i = imported.info;
        results.push({ name, kind: 'sae', message: `imported SAE: ${i.saelensArchitecture} d_in ${i.dIn} → d_sae ${count(i.dSae)} (${i.tensors.map((t) => t.name).join(', ')})` });
      } catch (e) {
        // The SAE's name in front (the zip's is added below for every file that came out of it).
        const r = errorResult(name, e);
        if (!zip && !r.message.startsWith(name)) r.message = `${name}: ${r.message}`;
        results.push(r);
      }
    }
    results.push(...(await this.loadLanguageModelFiles(lmFiles)));
    const fromZip = new Map([...origins].map(([f, zip]) => [f.name, zip]));
    for (const r of results) {
      const zip = fromZip.get(r.name) ?? (origins.size && [...origins.values()].includes(r.name) ? r.name : undefined);
      if (r.kind === 'error' && zip) {
        // The zip is what the user dropped: its name leads the message and names the result.
        if (!r.message.startsWith(`${zip}:`)) r.message = `${zip}: ${r.message}`;
        r.name = zip;
      }
    }
    return { results, sae: imported };
  }

  /** A run config is validated as it is dropped (its layers against the loaded data, or any). */
  private checkRunConfig(json: Record<string, unknown>, name: string): void {
    const ds = this.dataset;
    const layers = ['layer', 'layer_start', 'layer_end'].map((k) => json[k]).filter((v): v is number => Number.isInteger(v) && (v as number) >= 0);
    const nLayers = Math.max(ds?.nLayers ?? 1, MULTI_LAYER.includes(json.architecture as Architecture) ? 2 : 1, ...layers.map((v) => v + 1));
    try {
      resolveConfig(json as ConfigInput, ds?.dIn ?? 64, nLayers);
    } catch (e) {
      throw new WorkspaceError(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** A llama2.c model, its tokenizer and texts; texts are tokenised once both are present. */
  private async loadLanguageModelFiles(files: { model?: SourceFile; tokenizer?: SourceFile; texts: SourceFile[] }): Promise<FileResult[]> {
    const results: FileResult[] = [];
    // Texts are tokenised again only when the model or tokenizer was replaced (a refused file changes nothing).
    let replaced = false;
    if (files.model) {
      const file = files.model;
      try {
        const checkpoint = parseLlama2cCheckpoint(new Uint8Array(await file.blob.arrayBuffer()), file.name);
        const vocabSize = checkpoint.config.vocabSize;
        if (this.tokenizer && this.tokenizer.tok.pieces.length < vocabSize) {
          throw new WorkspaceError(`${file.name} has a vocabulary of ${count(vocabSize)} tokens but the loaded tokenizer ${this.tokenizer.name} has ${count(this.tokenizer.tok.pieces.length)}; load the model and the tokenizer of the same export.`);
        }
        this.lm?.model?.dispose();
        this.lm = { name: file.name, checkpoint };
        replaced = true;
        const c = checkpoint.config;
        results.push({ name: file.name, kind: 'language_model', message: `language model ${file.name}: ${count(checkpoint.parameters)} parameters, d_model ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} key/value), vocab ${count(c.vocabSize)}, context ${c.seqLen}` });
      } catch (e) {
        results.push(errorResult(file.name, e));
      }
    }
    if (files.tokenizer) {
      const file = files.tokenizer;
      try {
        const bytes = new Uint8Array(await file.blob.arrayBuffer());
        const vocabSize = this.lm?.checkpoint.config.vocabSize;
        let tok: Llama2cTokenizer;
        try {
          tok = parseLlama2cTokenizer(bytes, file.name, vocabSize);
        } catch (e) {
          // A sound tokenizer of another model: say so with both names.
          let whole: Llama2cTokenizer | undefined;
          try { whole = parseLlama2cTokenizer(bytes, file.name); } catch { /* damaged: the first message says how */ }
          if (whole && vocabSize !== undefined && whole.pieces.length < vocabSize) {
            throw new WorkspaceError(`${file.name} has ${count(whole.pieces.length)} tokens but the model ${this.lm!.name} has a vocabulary of ${count(vocabSize)}; load the tokenizer the model was trained with (the tokenizer.bin of the same export).`);
          }
          throw e;
        }
        this.tokenizer = { name: file.name, tok };
        replaced = true;
        results.push({ name: file.name, kind: 'tokenizer', message: `tokenizer ${file.name}: ${count(tok.pieces.length)} pieces` });
      } catch (e) {
        results.push(errorResult(file.name, e));
      }
    }
    for (const file of files.texts) {
      try {
        const text = new TextDecoder('utf-8', { fatal: true }).decode(await file.blob.arrayBuffer());
        if (!text.trim()) throw new WorkspaceError(`${file.name} is empty; give text with one document per line, or documents separated by a line <|endoftext|>.`);
        this.texts.set(file.name, { text });
        results.push({ name: file.name, kind: 'text', message: `text ${file.name}: ${count(text.length)} characters` });
      } catch (e) {
        const why = e instanceof TypeError ? new WorkspaceError(`${file.name} is not UTF-8 text; save it as UTF-8.`) : e;
        results.push(errorResult(file.name, why));
      }
    }
    this.tokenizeTexts(replaced);
    for (const r of results) {
      const corpus = this.texts.get(r.name)?.corpus;
      if (r.kind === 'text' && corpus) r.message += ` → ${count(corpus.documents.length)} documents, ${count(corpus.tokens)} tokens${corpus.truncated ? ` (${corpus.truncated} cut to the ${this.lm!.checkpoint.config.seqLen}-token context)` : ''}`;
    }
    return results;
  }

  /** Tokenise the texts that are not yet (all of them when the model or tokenizer changed). */
  private tokenizeTexts(all: boolean): void {
    if (!this.lm || !this.tokenizer) return;
    for (const [name, t] of this.texts) {
      if (t.corpus && !all) continue;
      t.corpus = tokenizeCorpus(this.tokenizer.tok, t.text, name, this.lm.checkpoint.config.seqLen);
    }
  }

  private async loadActivations(c: Candidate, opts: LoadOptions): Promise<FileResult> {
    const { file, layout, index } = c;
    const name = file.name;
    if (layout.shape.length !== 2 && layout.shape.length !== 3) {
      throw new WorkspaceError(`${name}: ${layout.name} has shape ${shapeText(layout.shape)}; activations must be [N, d] (one row per token) or [L, N, d] (several layers). Reshape with array.reshape(-1, d).`);
    }
    const rows = layout.shape.length === 3 ? layout.shape[1] : layout.shape[0];
    const width = layout.shape.length === 3 ? layout.shape[0] * layout.shape[2] : layout.shape[1];
    if (rows === 0 || width === 0) throw new WorkspaceError(`${name} has shape ${shapeText(layout.shape)} and holds no activations.`);
    if (rows < 2) throw new WorkspaceError(`${name} has only ${rows} row; training needs at least 2 activation rows (a validation split is held out).`);
    const read = readRangeOf(file.blob);
    const memoryBytes = rows * width * 4;
    const streamed = memoryBytes > this.memoryBudgetBytes && !layout.compressed;
    if (layout.compressed && memoryBytes > this.memoryBudgetBytes) {
      throw new WorkspaceError(`${name}: ${layout.name} needs ${mib(memoryBytes)} in memory, over the ${mib(this.memoryBudgetBytes)} budget, and is compressed (np.savez_compressed) so it cannot be streamed; re-save it with np.save or np.savez, or raise the memory budget.`);
    }
    const L = layout.shape.length === 3 ? layout.shape[0] : 1;
    const dIn = layout.shape.length === 3 ? layout.shape[2] : layout.shape[1];
    const label = index.arrays.length > 1 ? `${name}:${layout.name}` : name;
    const description = `${layout.dtype} ${shapeText(layout.shape)}${L > 1 ? ` (${L} layers)` : ''} from ${label}${streamed ? ', streamed from the file' : ''}`;
    const acc = new StatsAccumulator(rows, width);
    let ds: AnyDataset;
    if (!streamed) {
      opts.onProgress?.(`reading ${name}`, 0, layout.byteLength);
      const data = await readAllRows(layout, read);
      acc.add(data, 0);
      opts.onProgress?.(`reading ${name}`, layout.byteLength, layout.byteLength);
      ds = { name: label, rows, dIn, nLayers: L, data, dtype: layout.dtype, description };
    } else {
      const source = sourceFromLayout(name, layout, read);
      const chunk = Math.max(1, Math.floor(SCAN_CHUNK_BYTES / (width * 4)));
      for (let start = 0; start < rows; start += chunk) {
        const n = Math.min(chunk, rows - start);
        acc.add(await source.readRows(start, n), start);
        opts.onProgress?.(`indexing ${name}`, start + n, rows);
      }
      ds = { name: label, rows, dIn, nLayers: L, dtype: layout.dtype, description, source };
    }
    const { stats, outlierRows } = acc.finish();
    let rowFilter: RowFilter | null = null;
    let leftOut = '';
    if (acc.nonFiniteRows > 0) {
      // The accumulator gives a NaN norm to every row holding NaN or ±Inf.
      const bad: number[] = [];
      acc.norms.forEach((v, r) => { if (Number.isNaN(v)) bad.push(r); });
      const what = L > 1 ? `token row${bad.length === 1 ? '' : 's'} (with NaN or Inf in some layer)` : `row${bad.length === 1 ? '' : 's'}`;
      const which = `${count(bad.length)} ${what} (${bad.length === 1 ? 'row' : 'rows'} ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''})`;
      const left = rows - bad.length;
      if (left < 2) throw new WorkspaceError(`${name}: ${which} of ${count(rows)} contain NaN or Inf, so fewer than 2 rows are left to train on; the file is damaged or was written before its values were filled in. Dump the activations again.`);
      if (!file.options?.excludeNonFinite) {
        throw new NonFiniteRowsError(`${name}: ${which} contain NaN or Inf. Load the file without them ("Load without the ${count(bad.length)} rows with NaN/Inf" in the app, --exclude-nonfinite in the CLI; companion files are filtered to match), or remove them, e.g. acts[np.isfinite(acts).all(axis=1)] (and the same rows of the companions), and save again.`, bad.length);
      }
      const kept = keptRows(rows, bad);
      rowFilter = { file: name, fileRows: rows, kept };
      // Row numbers of the statistics are file rows: make them dataset rows.
      const toKept = (r: number) => r - lowerBound(bad, r);
      for (let i = 0; i < outlierRows.length; i++) outlierRows[i] = toKept(outlierRows[i]);
      for (const ex of stats.outliers.examples) ex.row = toKept(ex.row);
      const note = `${count(bad.length)} ${bad.length === 1 ? 'row' : 'rows'} with NaN or Inf left out (file ${bad.length === 1 ? 'row' : 'rows'} ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ', …' : ''})`;
      ds = isStreamed(ds)
        ? { ...ds, rows: kept.length, source: keepSourceRows(ds.source, kept), description: `${ds.description}, ${note}` }
        : { ...ds, rows: kept.length, data: pickRows(ds.data, kept, width), description: `${ds.description}, ${note}` };
      leftOut = ` — ${note}; companion files of ${count(rows)} rows are filtered to the ${count(kept.length)} kept`;
    }
    this.setDataset(ds, { format: index.format, bytes: layout.byteLength, stats, outlierRows }, rowFilter);
    const n = ds.rows;
    const shape = L > 1 ? `${count(n)} × ${L} layers × ${dIn}` : `${count(n)} × ${dIn}`;
    const sae = this.imported?.info;
    const saeNote = sae && sae.dIn !== dIn ? ` (the imported SAE takes d_in ${sae.dIn}, not ${dIn}: it cannot be evaluated on these rows; import an SAE trained on this layer)` : '';
    return {
      name, kind: 'activations',
      message: `loaded ${label}: ${shape} ${layout.dtype}${leftOut}${streamed ? ` — ${mib(layout.byteLength)} is over the ${mib(this.memoryBudgetBytes)} memory budget, so training streams it from the file` : ''}${saeNote}`,
      choices: c.choices.length > 1 ? c.choices : undefined,
      chosen: layout.name,
    };
  }

  private async integerValues(file: SourceFile, layout: ArrayLayout, what?: string): Promise<Int32Array> {
    return decodeInt32(await readArrayBytes(layout, readRangeOf(file.blob)), layout.dtype, file.name, what);
  }

  /** Token ids / document ids / positions / labels from an array of a file. */
  private async loadCompanionArray(file: SourceFile, layout: ArrayLayout, role: ArrayChoice['role'], choices: ArrayChoice[], decoded?: Int32Array): Promise<FileResult> {
    const label = choices.length > 1 ? `${file.name}:${layout.name}` : file.name;
    if (role === 'labels') {
      const values = decodeFloat32(await readArrayBytes(layout, readRangeOf(file.blob)), layout.dtype);
      return this.addLabels(label, values);
    }
    const idsName = role === 'tokens' ? 'token ids' : role === 'doc_ids' ? 'document ids' : 'positions';
    let ids = decoded ?? await this.integerValues(file, layout, idsName);
    // [L, N] per-layer copies of the same ids (or [1, N], [N, 1]) → [N].
    if (layout.shape.length === 2 && layout.shape[0] > 1 && layout.shape[1] > 1) {
      const [L, N] = layout.shape;
      for (let l = 1; l < L; l++) for (let n = 0; n < N; n++) {
        if (ids[l * N + n] !== ids[n]) throw new WorkspaceError(`${label} has shape ${shapeText(layout.shape)} with different values per row; ${role === 'tokens' ? 'token ids' : role} must be one per activation row ([N], or [L, N] with equal rows).`);
      }
      ids = ids.slice(0, N);
    }
    const what = role === 'tokens' ? 'token ids' : role === 'doc_ids' ? 'document ids' : 'positions';
    ids = this.fitRows(ids, label, what);
    const bad = ids.findIndex((v) => v < 0);
    if (bad >= 0) throw new WorkspaceError(`${label} holds ${what.replace(/s$/, '')} ${ids[bad]} at index ${bad}; ${what} must be ≥ 0. Drop padding rows from both this file and the activations.`);
    if (role === 'tokens') {
      const tooBig = this.vocab ? ids.findIndex((id) => id >= this.vocab!.pieces.length) : -1;
      if (tooBig >= 0) throw new WorkspaceError(`${label} holds token id ${ids[tooBig]} (row ${tooBig}) but the vocab ${this.vocab!.name} has ${count(this.vocab!.pieces.length)} pieces; load the tokens and vocab of the same model.`);
      this.tokens = { name: label, ids };
      this.annotateOutliers();
      return { name: file.name, kind: 'tokens', message: `loaded token ids ${label}: ${count(ids.length)} ids` };
    }
    if (role === 'doc_ids') {
      const documents = new Set(ids).size;
      this.docIds = { name: label, ids, documents };
      this.annotateOutliers();
      return { name: file.name, kind: 'doc_ids', message: `loaded document ids ${label}: ${count(documents)} documents` };
    }
    this.positions = { name: label, ids };
    this.annotateOutliers();
    return { name: file.name, kind: 'positions', message: `loaded positions ${label}: ${count(ids.length)} rows` };
  }

  private async loadVocab(file: SourceFile): Promise<FileResult> {
    const pieces = parseVocab(await file.blob.arrayBuffer(), file.name);
    if (this.tokens) {
      const tooBig = this.tokens.ids.findIndex((id) => id >= pieces.length);
      if (tooBig >= 0) {
        throw new WorkspaceError(`${file.name} has ${count(pieces.length)} pieces but ${this.tokens.name} holds token id ${this.tokens.ids[tooBig]} (row ${tooBig}); load the vocab of the model that produced these tokens.`);
      }
    }
    this.vocab = { name: file.name, pieces };
    this.annotateOutliers();
    return { name: file.name, kind: 'vocab', message: `loaded vocab ${file.name}: ${count(pieces.length)} pieces` };
  }

  private async loadLabelFile(file: SourceFile): Promise<FileResult> {
    const { values } = parseLabels(await file.blob.arrayBuffer(), file.name);
    return this.addLabels(file.name, values);
  }

  private addLabels(name: string, labels: Float32Array): FileResult {
    if (!this.dataset) throw new WorkspaceError(`load the activations before the labels file ${name} (labels are matched to activation rows).`);
    const f = this.rowFilter;
    const values = f && labels.length === f.fileRows && labels.length !== this.dataset.rows ? pickRows(labels, f.kept) : labels;
    checkLabelCount(values, this.dataset.rows, name);
    this.labelSets.set(name, values);
    const positive = values.reduce((a, y) => a + (y > 0.5 ? 1 : 0), 0);
    return { name, kind: 'labels', message: `loaded labels ${name}: ${count(values.length)} rows, ${((100 * positive) / values.length).toFixed(1)}% positive` };
  }

  /**
   * Values with one entry per dataset row: as they are, or, when rows with NaN/Inf were left out of
   * the activation file, the kept rows of values as long as the file.
   */
  private fitRows(values: Int32Array, name: string, what: string): Int32Array {
    if (!this.dataset) throw new WorkspaceError(`load the activations before ${name} (${what} are matched to activation rows).`);
    const n = values.length;
    if (n === this.dataset.rows) return values;
    const f = this.rowFilter;
    if (f && n === f.fileRows) return pickRows(values, f.kept);
    const left = f ? ` (${count(f.fileRows)} in ${f.file}, ${count(f.fileRows - f.kept.length)} with NaN/Inf left out)` : '';
    throw new WorkspaceError(`${name} has ${count(n)} ${what} but the activations have ${count(this.dataset.rows)} rows${left}; they must have one per activation row (same order).`);
  }

  /** Outlier examples with their token and position, and how many sit at a document's start. */
  annotateOutliers(): void {
    const facts = this.facts;
    if (!facts) return;
    const o = facts.stats.outliers;
    for (const ex of o.examples) {
      ex.token = this.tokens && this.vocab ? this.vocab.pieces[this.tokens.ids[ex.row]] : undefined;
      ex.position = this.positions ? this.positions.ids[ex.row] : undefined;
    }
    const first = this.firstPositionRows();
    if (first) {
      let n = 0;
      for (const r of facts.outlierRows) if (first(r)) n++;
      o.atFirstPosition = n;
    } else delete o.atFirstPosition;
  }

  /** Whether a row is the first of its document (from positions, else from document ids). */
  private firstPositionRows(): ((row: number) => boolean) | null {
    if (this.positions) {
      // BOS-dropped data starts documents at position 1.
      let min = Infinity;
      for (const p of this.positions.ids) if (p < min) min = p;
      const ids = this.positions.ids;
      return (r) => ids[r] === min;
    }
    if (this.docIds) {
      const ids = this.docIds.ids;
      return (r) => r === 0 || ids[r] !== ids[r - 1];
    }
    return null;
  }

  /** Labels for every dataset row from a label source. */
  labelsFor(source: LabelSource): Float32Array {
    if (!this.dataset) throw new WorkspaceError('no activations are loaded.');
    if (source.kind === 'file') {
      const values = this.labelSets.get(source.name);
      if (!values) {
        const known = [...this.labelSets.keys()];
        throw new WorkspaceError(`no labels file "${source.name}" is loaded${known.length ? ` (loaded: ${known.join(', ')})` : ''}; drop it with the activations.`);
      }
      return values;
    }
    if (!this.tokens || !this.vocab) {
      throw new WorkspaceError('a token rule needs the token ids (.npy of ints, one per row) and the vocab (.json) of these activations; drop both.');
    }
    return labelsFromTokenRule(this.tokens.ids, this.vocab.pieces, source);
  }

  resolveGuidance(targets: GuidanceTarget[]): ResolvedGuidance[] {
    return targets.map((target) => ({ target, labels: this.labelsFor(target.labels) }));
  }

  /** Positive count and a few example pieces (for the UI's preview of a label source). */
  previewLabels(source: LabelSource): { rows: number; positives: number; examples: string[] } {
    const labels = this.labelsFor(source);
    let positives = 0;
    const examples = new Set<string>();
    labels.forEach((v, r) => {
      if (v <= 0.5) return;
      positives += 1;
      if (examples.size < 6 && this.tokens && this.vocab) examples.add(this.vocab.pieces[this.tokens.ids[r]]);
    });
    return { rows: labels.length, positives, examples: [...examples] };
  }

  /** The layers a config trains on: one layer of a multi-layer file, or a range for multi-layer variants. */
  static layersFor(cfg: SaeConfig, nLayers: number): [number, number] {
    if (nLayers === 1) return [0, 0];
    return MULTI_LAYER.includes(cfg.architecture) ? [cfg.layer_start, cfg.layer_end] : [cfg.layer, cfg.layer];
  }

  /** The in-memory dataset a config trains on: its layers selected from a multi-layer file. */
  datasetFor(cfg: SaeConfig): Dataset {
    const ds = this.dataset;
    if (!ds) throw new WorkspaceError('no data is loaded; load the sample or drop an activation file first.');
    if (isStreamed(ds)) throw new WorkspaceError(`${ds.name} is streamed from its file; use trainingDataFor.`);
    if (ds.nLayers === 1) return ds;
    const [first, last] = Workspace.layersFor(cfg, ds.nLayers);
    return selectLayers(ds, first, last);
  }
}

// ---- helpers ------------------------------------------------------------------------------------

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

/** The rows 0 … rows − 1 not in `bad` (ascending). */
function keptRows(rows: number, bad: number[]): Uint32Array {
  const kept = new Uint32Array(rows - bad.length);
  let b = 0, k = 0;
  for (let r = 0; r < rows; r++) {
    if (b < bad.length && bad[b] === r) b++;
    else kept[k++] = r;
  }
  return kept;
}

/** How many of the ascending `sorted` are below `v`. */
function lowerBound(sorted: ArrayLike<number>, v: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The rows `kept` of row-major values with `width` values per row. */
function pickRows<T extends Int32Array | Float32Array>(values: T, kept: Uint32Array, width = 1): T {
  const out = new (values.constructor as { new (n: number): T })(kept.length * width);
  if (width === 1) for (let i = 0; i < kept.length; i++) out[i] = values[kept[i]];
  else for (let i = 0; i < kept.length; i++) out.set(values.subarray(kept[i] * width, (kept[i] + 1) * width), i * width);
  return out;
}

/**
 * A streamed file without its left-out rows: dataset row i is file row kept[i]. Each read takes
 * the runs of consecutive kept rows it spans, so skipping a few bad rows costs a few more reads.
 */
function keepSourceRows(source: ActivationSource, kept: Uint32Array): ActivationSource {
  return {
    ...source,
    rows: kept.length,
    async readRows(start, n) {
      const width = source.dIn * source.nLayers;
      const out = new Float32Array(n * width);
      let i = start;
      while (i < start + n) {
        let j = i + 1;
        while (j < start + n && kept[j] === kept[j - 1] + 1) j++;
        out.set(await source.readRows(kept[i], j - i), (i - start) * width);
        i = j;
      }
      return out;
    },
    withLayers(first, last) {
      return keepSourceRows(source.withLayers(first, last), kept);
    },
  };
}

export function factsOf(ds: Dataset): DatasetFacts {
  const acc = new StatsAccumulator(ds.rows, ds.dIn * ds.nLayers);
  acc.add(ds.data, 0);
  const { stats, outlierRows } = acc.finish();
  return { format: 'synthetic', bytes: ds.data.byteLength, stats, outlierRows };
}

function isInteger(dtype: string): boolean {
  return dtype === 'int32' || dtype === 'int64' || dtype === 'uint8';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

async function readJson(file: SourceFile): Promise<{ json?: unknown; error?: string }> {
  // Vocab files are parsed (with their own messages) by parseVocab; here only the shape matters.
  try {
    return { json: JSON.parse(await file.blob.text()) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

function errorResult(name: string, e: unknown): FileResult {
  const message = e instanceof Error ? e.message : String(e);
  return { name, kind: 'error', message };
}

/**
 * A .zip that is not an .npz (an exported SAELens directory, a bundle of files) is opened and its
 * files loaded as if dropped; an .npz (only .npy entries) is an activation file of its own.
 */
async function expandZips(files: SourceFile[], results: FileResult[], origins: Map<SourceFile, string>): Promise<SourceFile[]> {
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

export { ArrayFileError };
export type { LoadedKind };
