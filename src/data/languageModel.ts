// The language model in the workspace: activations extracted from dropped text become the
// dataset, and an SAE (a run's or an imported one) is judged by splicing it into the model on
// held-out text. Shared by the worker and the CLI.
import type { SaeConfig } from '../engine/config';
import { TransformerModel } from '../engine/lm/transformer';
import { centreWritingWeights } from '../io/transformerWeights';
import { evaluateSplice, type SpliceReport } from '../engine/lm/splice';
import type { Trainer } from '../engine/trainer';
import { writeNpy } from '../io/npy';
import type { FileResult } from './types';
import { VAL, splitRows } from './dataset';
import { siteProblem } from '../engine/lm/hooks';
import { hookMismatch, siteName } from './sites';
import { extractActivations } from './textCorpus';
import { trainingDataFor, withWeights } from './trainingData';
import { contextLimit, prependBos } from './languageModelFiles';
import { Workspace, WorkspaceError, factsOf, isStreamed } from './workspace';

/** Evaluation texts are cut to about this many tokens (whole documents), to keep a pass short. */
export const MAX_EVAL_TOKENS = 65_536;

export interface LanguageModelInfo {
  model?: { name: string; format: string; modelType: string; dtypes: string[]; parameters: number; dim: number; nLayers: number; nHeads: number; nKvHeads: number; vocabSize: number; seqLen: number; parallelResidual: boolean; norm: string; centred: boolean };
  tokenizer?: { name: string; pieces: number };
  texts: { name: string; characters: number; documents?: number; tokens?: number; truncated?: number }[];
  /** The text the loaded activations came from. */
  datasetText: string | null;
  /** Model sites of the loaded activations' layers, when they came from the model. */
  datasetSites?: number[];
}

export function languageModelInfo(ws: Workspace): LanguageModelInfo | null {
  if (!ws.lm && !ws.tokenizer && ws.texts.size === 0) return null;
  const c = ws.lm?.checkpoint.config;
  const ds = ws.dataset;
  return {
    model: ws.lm && c ? { name: ws.lm.name, format: ws.lm.checkpoint.format, modelType: c.modelType, dtypes: ws.lm.checkpoint.dtypes, parameters: ws.lm.checkpoint.parameters, dim: c.dim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, vocabSize: c.vocabSize, seqLen: c.seqLen, parallelResidual: c.parallelResidual, norm: c.norm, centred: centringWanted(ws) } : undefined,
    tokenizer: ws.tokenizer ? { name: ws.tokenizer.name, pieces: ws.tokenizer.tok.display.length } : undefined,
    texts: [...ws.texts].map(([name, t]) => ({ name, characters: t.text.length, documents: t.corpus?.documents.length, tokens: t.corpus?.tokens, truncated: t.corpus?.truncated })),
    datasetText: ws.datasetText,
    datasetSites: ds && !isStreamed(ds) ? ds.sites : undefined,
  };
}

/** The model's tfjs weights, made on first use (on the backend in effect then). */
export function lmModel(ws: Workspace): TransformerModel {
  if (!ws.lm) throw new WorkspaceError('no language model is loaded; drop a Hugging Face model folder or a llama2.c model .bin (and its tokenizer).');
  // An imported SAE trained with TransformerLens's center_writing_weights reads centred activations:
  // the model runs with its writing weights centred, exactly as TransformerLens processes them.
  const centred = centringWanted(ws);
  if (ws.lm.model && ws.lm.centred !== centred) {
    ws.lm.model.dispose();
    ws.lm.model = undefined;
  }
  if (!ws.lm.model) {
    const w = ws.lm.checkpoint.weights;
    ws.lm.model = new TransformerModel(centred ? centreWritingWeights(w) : w);
    ws.lm.centred = centred;
  }
  return ws.lm.model;
}

/** Whether the imported SAE asks for center_writing_weights and the model can have it (LayerNorm). */
export function centringWanted(ws: Workspace): boolean {
  const kwargs = ws.imported?.info.cfg.model_from_pretrained_kwargs as Record<string, unknown> | undefined;
  return kwargs?.center_writing_weights === true && ws.lm?.checkpoint.config.norm === 'layernorm';
}

function corpusOf(ws: Workspace, textName: string) {
  const t = ws.texts.get(textName);
  if (!t) throw new WorkspaceError(`no text named ${textName} is loaded; drop it first.`);
  if (!ws.lm) throw new WorkspaceError('drop the language model (a Hugging Face model folder or a llama2.c .bin) to run the text through it.');
  if (!ws.tokenizer) throw new WorkspaceError('drop the model\'s tokenizer (the folder\'s tokenizer.json, or a llama2.c tokenizer .bin) to tokenise the text.');
  if (!t.corpus) throw new WorkspaceError(`${textName} is not tokenised yet; drop the model and its tokenizer.`);
  return t.corpus;
}

export interface ExtractRequest {
  text: string;
  /** Residual sites 0 … n_layers (n_layers = after the last block). */
  sites: number[];
  includeBos?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Run the model over a loaded text and make its residuals (with tokens, positions, document ids, vocab) the dataset. */
export async function extractFromText(ws: Workspace, req: ExtractRequest): Promise<FileResult & { tokensPerSecond: number }> {
  const corpus = corpusOf(ws, req.text);
  const model = lmModel(ws);
  const ex = await extractActivations(model, ws.tokenizer!.tok, corpus, { sites: req.sites, includeBos: req.includeBos, onProgress: req.onProgress });
  if (ws.lm!.centred) {
    ex.dataset.name += ' (centred)';
    ex.dataset.description += ', centred across d_model (center_writing_weights, as the imported SAE was trained)';
  }
  ws.setDataset(ex.dataset, { ...factsOf(ex.dataset), format: 'extracted' });
  ws.tokens = { name: `tokens of ${req.text}`, ids: ex.tokens };
  ws.positions = { name: `positions of ${req.text}`, ids: ex.positions };
  ws.docIds = { name: `documents of ${req.text}`, ids: ex.docIds, documents: corpus.documents.length };
  ws.vocab = { name: ws.tokenizer!.name, pieces: ex.vocab };
  ws.datasetText = req.text;
  ws.annotateOutliers();
  const n = model.config.nLayers;
  return {
    name: req.text,
    kind: 'activations',
    message: `extracted ${ex.dataset.rows.toLocaleString('en-US')} rows × ${req.sites.length > 1 ? `${req.sites.length} layers × ` : ''}${ex.dataset.dIn} at ${req.sites.map((s) => siteName(s, n)).join(', ')} from ${corpus.documents.length} documents of ${req.text}${!corpus.bos ? ' (without BOS, as the imported SAE was trained)' : req.includeBos ? '' : ' (BOS positions dropped)'}${ws.lm!.centred ? ', centred across d_model as the imported SAE was trained (center_writing_weights)' : ''} — ${Math.round(ex.tokensPerSecond).toLocaleString('en-US')} tokens/s`,
    tokensPerSecond: ex.tokensPerSecond,
  };
}

export interface EvaluationText {
  documents: Int32Array[];
  /** Whether they start with BOS. */
  bos: boolean;
  /** In words: which text and documents. */
  description: string;
}

/**
 * The documents an SAE is judged on: a named text; else the latest text other than the one the
 * activations came from; else that text's validation documents under the run's split (the split
 * must be by documents, or no document is wholly held out). At most ~MAX_EVAL_TOKENS tokens.
 */
export function evaluationText(ws: Workspace, cfg: Pick<SaeConfig, 'val_fraction' | 'seed' | 'split_by'>, textName?: string, maxTokens = MAX_EVAL_TOKENS): EvaluationText {
  let name = textName;
  if (!name) name = [...ws.texts.keys()].filter((n) => n !== ws.datasetText).pop();
  let documents: Int32Array[];
  let what: string;
  let bos: boolean;
  if (name) {
    const corpus = corpusOf(ws, name);
    documents = corpus.documents;
    bos = corpus.bos;
    what = name;
  } else if (ws.datasetText && ws.docIds && ws.dataset) {
    const corpus = corpusOf(ws, ws.datasetText);
    bos = corpus.bos;
    const cls = splitRows(ws.dataset.rows, cfg, { docIds: ws.docIds.ids });
    const held = new Map<number, boolean>();
    ws.docIds.ids.forEach((d, r) => held.set(d, (held.get(d) ?? true) && cls[r] === VAL));
    documents = [...held].filter(([, v]) => v).map(([d]) => corpus.documents[d]).filter(Boolean);
    if (documents.length === 0) throw new WorkspaceError(`no document of ${ws.datasetText} is wholly held out for validation (the split is by ${cfg.split_by}); split validation by documents in the Data panel, or drop another text to evaluate on.`);
    what = `the ${documents.length} validation documents of ${ws.datasetText}`;
  } else {
    throw new WorkspaceError('drop a text file (.txt) to evaluate on: the model runs on it with and without the SAE spliced in.');
  }
  const kept: Int32Array[] = [];
  let tokens = 0;
  for (const d of documents) {
    if (kept.length && tokens + d.length > maxTokens) break;
    kept.push(d);
    tokens += d.length;
  }
  const cut = kept.length < documents.length ? ` (the first ${kept.length} documents, ${tokens.toLocaleString('en-US')} tokens)` : ` (${kept.length} documents, ${tokens.toLocaleString('en-US')} tokens)`;
  return { documents: kept, description: what + cut + (bos ? '' : ', without BOS (the SAE\'s prepend_bos false)'), bos };
}

export interface SpliceEvaluation extends SpliceReport {
  /** Which text was used, in words. */
  text: string;
  /** Model sites of the SAE's layers. */
  sites: number[];
  siteNames: string[];
  /** Set when the SAE's recorded site is not where it was spliced (a layer chosen by hand). */
  warning?: string;
}

export interface SpliceRequest {
  /** The model site of the SAE's first layer, chosen by the user (wins over what is recorded). */
  site?: number;
  /**
   * Model sites the SAE was trained at, when recorded (a run on extracted activations, an
   * imported cfg.json's hook_name: its first site only): used when `site` is not given.
   */
  recordedSites?: number[];
  /** Where `recordedSites` come from, in words, for the warning when `site` differs. */
  recordedBy?: string;
  text?: string;
  maxTokens?: number;
  onProgress?: (done: number, total: number) => void;
  /** An earlier evaluation on the same text: its zero / mean ablations are reused. */
  reuse?: SpliceReport;
}

/**
 * Model sites of a config's layers: the chosen `site` (and the layers after it); else the SAE's
 * recorded sites; else the dataset's, when it came from the model. Never a default.
 */
export function sitesFor(ws: Workspace, cfg: SaeConfig, nLayersUsed: number, site?: number, recorded?: number[]): number[] {
  const ds = ws.dataset;
  const shape = { nLayers: ws.lm?.checkpoint.config.nLayers ?? 0, parallelResidual: ws.lm?.checkpoint.config.parallelResidual };
  const n = shape.nLayers;
  const [first, last] = ds ? Workspace.layersFor(cfg, ds.nLayers) : [0, 0];
  const extracted = ds && !isStreamed(ds) && ds.sites ? ds.sites.slice(first, last + 1) : undefined;
  // A multi-layer SAE reads the same hook of consecutive blocks (sites start, start + 1, …).
  const from = (start: number) => {
    const sites = Array.from({ length: nLayersUsed }, (_, i) => start + i);
    const problem = sites.map((s) => siteProblem(s, shape)).find((p) => p !== null);
    if (problem && (Number.isInteger(start) || !Number.isFinite(start))) throw new WorkspaceError(`layer ${start} is outside the model's residual sites 0 … ${n}${nLayersUsed > 1 ? ` for an SAE of ${nLayersUsed} layers` : ''}.`);
    if (problem) throw new WorkspaceError(`${problem}${nLayersUsed > 1 ? ` (an SAE of ${nLayersUsed} layers from ${siteName(start, n)})` : ''}.`);
    return sites;
  };
  if (site !== undefined) return from(site);
  if (recorded?.length === nLayersUsed) {
    if (recorded.some((s) => siteProblem(s, shape) !== null)) throw new WorkspaceError(`the SAE was trained at ${recorded.map((s) => siteName(s, n)).join(', ')}, which this model does not have (residual sites 0 … ${n}); load the model it was trained on.`);
    return recorded;
  }
  // Only the first hook recorded (a SAELens cfg.json's hook_name) of a multi-layer SAE: the
  // extracted sites when they start there, else consecutive sites from it.
  if (recorded?.length) return extracted?.[0] === recorded[0] && extracted.length === nLayersUsed ? extracted : from(recorded[0]);
  if (!extracted) throw new WorkspaceError('the loaded activations do not say which layer of the model they came from; choose the model layer of the loaded activations (Language model panel, or --layer) before evaluating.');
  return extracted;
}

/** Splice a trained (or imported) SAE into the model at its layer(s). */
export async function evaluateWithModel(ws: Workspace, trainer: Trainer, req: SpliceRequest = {}): Promise<SpliceEvaluation> {
  const model = lmModel(ws);
  const cfg = trainer.cfg;
  if (trainer.data.dIn !== model.config.dim) throw new WorkspaceError(`the SAE reads vectors of width ${trainer.data.dIn}, but the model's residual stream has width ${model.config.dim}; load activations of this model.`);
  const sites = sitesFor(ws, cfg, trainer.data.nLayers, req.site, req.recordedSites);
  const text = evaluationText(ws, cfg, req.text, req.maxTokens);
  // Mean ablation uses the mean of the loaded activations at each layer, unless they are known
  // to come from other sites (then evaluateSplice measures the means on the documents).
  const meanBySite = new Map<number, Float32Array>();
  const perDim = ws.facts?.stats.perDimMean;
  const ds = ws.dataset;
  const [first, last] = ds ? Workspace.layersFor(cfg, ds.nLayers) : [0, 0];
  const dsSites = ds && !isStreamed(ds) ? ds.sites?.slice(first, last + 1) : undefined;
  if (perDim && ds && ds.dIn === model.config.dim && (!dsSites || dsSites.join() === sites.join())) {
    sites.forEach((s, j) => meanBySite.set(s, Float32Array.from(perDim.slice((first + j) * model.config.dim, (first + j + 1) * model.config.dim))));
  }
  const report = await evaluateSplice(model, text.documents, { sites, together: trainer.splicesTogether, reconstruct: (x) => trainer.spliceReconstruction(x) }, { meanBySite, onProgress: req.onProgress, reuse: req.reuse, bos: text.bos });
  const warning = hookMismatch(req.recordedSites?.[0], sites[0], model.config.nLayers, req.recordedBy ?? 'as recorded');
  return { ...report, text: text.description, sites, siteNames: sites.map((s) => siteName(s, model.config.nLayers)), ...(warning ? { warning } : {}) };
}

/** Splice saved weights (an imported SAE) under `cfg`: the trainer only holds them. */
export async function evaluateWeightsWithModel(ws: Workspace, cfg: SaeConfig, tensors: Record<string, { shape: number[]; data: Float32Array }>, backend: string, req: SpliceRequest = {}): Promise<SpliceEvaluation> {
  return withWeights(cfg, await trainingDataFor(ws, cfg), tensors, backend, (trainer) => evaluateWithModel(ws, trainer, req));
}

/**
 * The loaded in-memory activations as files a Python user reads back with NumPy: activations.npy
 * ([N, d], or [L, N, d] for several layers), tokens / positions / doc_ids .npy (int32) and
 * vocab.json, when loaded.
 */
export function datasetFiles(ws: Workspace): Record<string, Uint8Array> {
  const ds = ws.dataset;
  if (!ds) throw new WorkspaceError('no activations are loaded.');
  if (isStreamed(ds)) throw new WorkspaceError(`${ds.name} is streamed from its file; it is already on disk.`);
  const { rows, dIn: d, nLayers: L } = ds;
  let acts: Float32Array;
  if (L === 1) acts = ds.data;
  else {
    acts = new Float32Array(ds.data.length);
    for (let r = 0; r < rows; r++) for (let l = 0; l < L; l++) acts.set(ds.data.subarray((r * L + l) * d, (r * L + l + 1) * d), (l * rows + r) * d);
  }
  const files: Record<string, Uint8Array> = { 'activations.npy': writeNpy(acts, L === 1 ? [rows, d] : [L, rows, d]) };
  if (ws.tokens) files['tokens.npy'] = writeNpy(ws.tokens.ids, [rows]);
  if (ws.positions) files['positions.npy'] = writeNpy(ws.positions.ids, [rows]);
  if (ws.docIds) files['doc_ids.npy'] = writeNpy(ws.docIds.ids, [rows]);
  if (ws.vocab) files['vocab.json'] = new TextEncoder().encode(JSON.stringify(ws.vocab.pieces));
  return files;
}

/** What an export records about where a config's activations came from (the model and its hook). */
export function exportSource(ws: Workspace, cfg: SaeConfig): { modelName: string; hookName: string; contextSize: number; prependBos: boolean; centred: boolean; hookNames?: string[] } | undefined {
  const ds = ws.dataset;
  if (!ws.lm || !ds || isStreamed(ds) || !ds.sites) return undefined;
  const n = ws.lm.checkpoint.config.nLayers;
  const [first, last] = Workspace.layersFor(cfg, ds.nLayers);
  const names = ds.sites.slice(first, last + 1).map((s) => siteName(s, n));
  // The context the activations were read with: the length documents were cut to (SAELens's context_size).
  const contextSize = (ws.datasetText ? ws.texts.get(ws.datasetText)?.corpus?.limit : undefined) ?? contextLimit(ws);
  const bos = (ws.datasetText ? ws.texts.get(ws.datasetText)?.corpus?.bos : undefined) ?? prependBos(ws);
  return { modelName: ws.lm.name, hookName: names[0], contextSize, prependBos: bos, centred: ws.lm.centred === true, hookNames: names.length > 1 ? names : undefined };
}
