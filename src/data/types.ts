// Types of the loaded data: dropped files and what became of them, the dataset and its
// statistics. They live here, not in src/worker/protocol.ts, so that src/data (workspace.ts,
// stats.ts, languageModel.ts) does not import the worker layer above it; the worker's messages,
// the CLI and the page import them from here (layer rules: .dependency-cruiser.cjs).

export interface DatasetStats {
  mean: number;
  std: number;
  meanNorm: number;
  min: number;
  max: number;
  /** Per dimension of a row (nLayers·dIn entries, layer-major): mean and std over the rows. */
  perDimMean: number[];
  perDimStd: number[];
  /** Histogram of the row norms ‖x‖ (per layer for multi-layer rows: of every layer's vector). */
  normHistogram: { edges: number[]; counts: number[] };
  medianNorm: number;
  outliers: OutlierInfo;
}

/** Rows whose norm is far above the rest (typically BOS / first positions). */
export interface OutlierInfo {
  count: number;
  /** Norm above which a row counts as an outlier. */
  thresholdNorm: number;
  /** A few outlier rows (dataset row index, norm, token piece when tokens + vocab are loaded). */
  examples: { row: number; norm: number; token?: string; position?: number }[];
  /** How many of the outliers sit at position 0 of their document (when positions or doc ids are loaded). */
  atFirstPosition?: number;
}

/** One array found inside a file (.npz entry, safetensors tensor). */
export interface ArrayChoice {
  name: string;
  shape: number[];
  dtype: string;
  /** What the array looks like by its content. */
  role: 'activations' | 'tokens' | 'doc_ids' | 'positions' | 'labels' | 'other';
}

/** Per-file reading options: which array of a multi-array file, or the shape of a raw file. */
export interface FileOptions {
  /** .npz entry or safetensors tensor to read as activations. */
  select?: string;
  /** Raw .f32 / .bin files: [N, d] or [L, N, d]. */
  rawShape?: number[];
  rawDtype?: 'float32' | 'float16';
  /** Leave out rows holding NaN or Inf (companion files of the file's length are filtered to match). */
  excludeNonFinite?: boolean;
}

/** A file handed to the worker. Blobs are not copied on postMessage; big ones are read by slices. */
export interface SourceFile {
  name: string;
  blob: Blob;
  options?: FileOptions;
}

export type LoadedKind = 'activations' | 'tokens' | 'vocab' | 'labels' | 'doc_ids' | 'positions' | 'sae' | 'run_config' | 'language_model' | 'tokenizer' | 'text';

/** What became of one dropped file. */
export interface FileResult {
  name: string;
  kind: LoadedKind | 'error' | 'needs_shape';
  /** In words: what was loaded, or what is wrong and how to fix it. */
  message: string;
  /** Arrays of a multi-array file, and the one used. */
  choices?: ArrayChoice[];
  chosen?: string;
  /** A run_config.json: the config it holds (the UI fills the form with it). */
  config?: Record<string, unknown>;
  /** Raw files: the byte size, to help choose a shape. */
  bytes?: number;
  /** An activation file refused for rows with NaN/Inf: how many, and the options that load it without them. */
  nonFinite?: { rows: number; options: FileOptions };
}

/** A companion file matched to the activation rows. */
export interface CompanionInfo {
  name: string;
  /** Values in the file (= activation rows when it matched). */
  count: number;
}

export interface LabelSetInfo extends CompanionInfo {
  /** Fraction of rows with label > 0.5. */
  positiveFraction: number;
}

export interface DatasetInfo {
  name: string;
  rows: number;
  dIn: number;
  /** Layers per row: 1 for [N, d] files, L for [L, N, d] files. */
  nLayers: number;
  /** Token ids per row (for token rules and, later, the feature browser). */
  tokens?: CompanionInfo;
  /** Vocabulary size and file. */
  vocab?: CompanionInfo;
  /** Label files loaded for guidance, by file name. */
  labels: LabelSetInfo[];
  /** dtype of the file as read ('float32', 'float16', or 'synthetic'). */
  dtype: string;
  /** File format the activations came from; 'extracted' = the loaded language model ran over a text in this page. */
  format: 'npy' | 'npz' | 'safetensors' | 'raw' | 'synthetic' | 'extracted';
  /** Size of the activation data in bytes, and whether training streams it from the file. */
  bytes: number;
  streamed: boolean;
  memoryBudgetBytes: number;
  /** Document ids / positions per row (for the split by document and the outlier report). */
  docIds?: CompanionInfo & { documents: number };
  positions?: CompanionInfo;
  trainRows: number;
  valRows: number;
  stats: DatasetStats;
  /** True for the built-in sample with planted ground-truth features. */
  synthetic: boolean;
  /** Human-readable description (e.g. of the planted features). */
  description: string;
}
