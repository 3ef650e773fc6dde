// The state a Workspace holds, its errors and dataset types, and helpers its loaders share.
// The loaders of dropped files (src/data/fileRoles.ts, activationFile.ts, companionFiles.ts,
// saeFiles.ts, languageModelFiles.ts, guidanceLabels.ts) work on WorkspaceState rather than on the
// Workspace class, so that none of them imports workspace.ts, which imports them (no cycles).
import type { TransformerModel } from '../engine/lm/transformer';
import type { TextTokenizer } from '../io/tokenizer';
import type { ModelCheckpoint } from '../io/transformerWeights';
import type { ImportedSae } from './saeImport';
import type { Dataset } from './dataset';
import type { ActivationSource } from './source';
import { StatsAccumulator } from './stats';
import type { TokenizedCorpus } from './textCorpus';
import type { DatasetStats, FileResult } from './types';

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

export const DEFAULT_MEMORY_BUDGET = 2 ** 30;

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

/** What the user has loaded: the fields of a Workspace, and the two methods that keep them consistent. */
export interface WorkspaceState {
  dataset: AnyDataset | null;
  facts: DatasetFacts | null;
  tokens: { name: string; ids: Int32Array } | null;
  vocab: { name: string; pieces: string[] } | null;
  docIds: { name: string; ids: Int32Array; documents: number } | null;
  positions: { name: string; ids: Int32Array } | null;
  readonly labelSets: Map<string, Float32Array>;
  imported: ImportedSae | null;
  memoryBudgetBytes: number;
  /** A language model (llama2.c or a Hugging Face folder); its tfjs weights are made on first use (src/data/languageModel.ts). */
  lm: { name: string; checkpoint: ModelCheckpoint; model?: TransformerModel; /** The model's writing weights are centred (TransformerLens center_writing_weights). */ centred?: boolean } | null;
  tokenizer: { name: string; tok: TextTokenizer } | null;
  /** Dropped text files, tokenised once a model and tokenizer are loaded. */
  readonly texts: Map<string, { text: string; corpus?: TokenizedCorpus }>;
  /** The text the loaded activations were extracted from (null for activation files). */
  datasetText: string | null;
  /** Set when rows with NaN/Inf were left out of the activation file (null: the dataset is every row). */
  rowFilter: RowFilter | null;
  /** Replace the activations (companions that no longer match are dropped). */
  setDataset(ds: AnyDataset, facts?: DatasetFacts, rowFilter?: RowFilter | null): void;
  /** Outlier examples with their token and position, and how many sit at a document's start. */
  annotateOutliers(): void;
}

export function factsOf(ds: Dataset): DatasetFacts {
  const acc = new StatsAccumulator(ds.rows, ds.dIn * ds.nLayers);
  acc.add(ds.data, 0);
  const { stats, outlierRows } = acc.finish();
  return { format: 'synthetic', bytes: ds.data.byteLength, stats, outlierRows };
}

/** The rows `kept` of row-major values with `width` values per row. */
export function pickRows<T extends Int32Array | Float32Array>(values: T, kept: Uint32Array, width = 1): T {
  const out = new (values.constructor as { new (n: number): T })(kept.length * width);
  if (width === 1) for (let i = 0; i < kept.length; i++) out[i] = values[kept[i]];
  else for (let i = 0; i < kept.length; i++) out.set(values.subarray(kept[i] * width, (kept[i] + 1) * width), i * width);
  return out;
}

export function errorResult(name: string, e: unknown): FileResult {
  const message = e instanceof Error ? e.message : String(e);
  return { name, kind: 'error', message };
}

export const count = (v: number) => v.toLocaleString('en-US');
export const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;

export function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
