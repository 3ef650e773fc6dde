// Typed messages between the page and the engine worker. Every run-scoped message carries the
// run id so that late messages of an old run are ignored. Large arrays travel as transferables.
import type { BenchResult, BenchSpec } from '../engine/bench';
import type { SgemmShape, WasmSgemmRow } from '../engine/benchSgemm';
import type { BackendMeasurement, Calibration } from '../engine/calibrate';
import type { ConfigInput, GuidanceTarget, LabelSource, LiveParams, SaeConfig } from '../engine/config';
import type { LanguageModelInfo, SpliceEvaluation } from '../data/languageModel';
import type { LatentContext, LatentDetail } from '../data/features';

export type { LatentContext, LatentDetail };

/** Per-latent statistics of a run's SAE over the loaded activations (the feature browser's list). */
export interface FeatureListInfo {
  rows: number;
  density: Float64Array;
  maxActivation: Float32Array;
  meanActivation: Float64Array;
  densityHistogram: { edges: number[]; counts: number[] };
  dead: number;
  dense: number;
}

export type { LanguageModelInfo, SpliceEvaluation, BackendMeasurement, Calibration };

export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/**
 * Which backend trains: 'auto' measures the backends when a run starts (once per size, see
 * src/engine/calibrate.ts) and takes the fastest; a name uses that backend and measures nothing.
 */
export type BackendPreference = 'auto' | BackendName;

/**
 * One logged training step. Column names are those of the exported log CSV. Besides the fixed
 * columns a row may carry extra ones: guidance targets (`guidance_<id>_loss`, `_pos`, `_neg`,
 * `_auroc`), validation (`val_loss`) and variant diagnostics (`route_share_0`, …).
 */
export interface MetricRow {
  [column: string]: number;
  step: number;
  total_loss: number;
  recon_loss: number;
  sparsity_loss: number;
  /** L0 fraction = mean active latents per row / d_sae (the seeds' `sparsity_l0`). */
  sparsity_l0: number;
  aux_loss: number;
  /** Mean active latents per row. */
  l0: number;
  /** Σ||x − x̂||² / Σ||x||² on this batch. */
  nmse: number;
  /** 1 − Σ||x − x̂||² / Σ||x − x̄||² on this batch. */
  fve: number;
  dead_fraction: number;
  /** Fraction of latents that fired on more than 10% of the tokens since the last logged step. */
  dense_fraction: number;
  /** β-weighted sum of the guidance losses as it enters the total. */
  guidance_loss: number;
  /** Learning rate in effect (after warm-up and decay). */
  lr: number;
  /** Base λ (the controller moves it in target-L0 mode). */
  lambda: number;
  /** λ in effect (after λ warm-up). */
  lambda_effective: number;
  target_l0: number;
  k: number;
  bandwidth: number;
  threshold: number;
  /** Mean learned threshold θ (jumprelu), else the inference threshold. */
  threshold_mean: number;
  tokens_per_s: number;
  elapsed_s: number;
}

/** A live parameter change, as applied by the worker (shown in the log). */
export interface LiveEvent {
  step: number;
  changes: Partial<LiveParams>;
  /** The guidance targets now in effect, when they changed. */
  guidance?: GuidanceTarget[];
  /** Something the trainer did on its own (early stopping, resampling), in words. */
  note?: string;
}

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

/** tfjs memory in the worker (tf.memory()): live tensors and the bytes they hold on the backend. */
export interface EngineMemory {
  numTensors: number;
  numBytes: number;
  /** GPU bytes of the webgl / webgpu backend, when it reports them. */
  numBytesInGPU?: number;
}

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

/** An SAE imported from a SAELens directory (cfg.json + sae_weights.safetensors [+ sparsity]). */
export interface ImportedSaeInfo {
  /** The SAELens architecture name in cfg.json. */
  saelensArchitecture: string;
  /** Our architecture it loads as, and the config used to evaluate or continue training it. */
  config: SaeConfig;
  dIn: number;
  dSae: number;
  tensors: { name: string; shape: number[]; dtype: string }[];
  /** log10 feature density histogram from sparsity.safetensors, when present. */
  density?: { edges: number[]; counts: number[] };
  /** cfg.json fields worth showing (hook, model, normalisation, version). */
  cfg: Record<string, unknown>;
  /** Conversions made on import, in words (e.g. apply_b_dec_to_input folded into b_enc). */
  notes: string[];
  /** True when run_config.json of a workbench run came with it (the full training config). */
  hasRunConfig: boolean;
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

/** Metrics on the validation split, names exactly as in DESIGN.md §3. */
export interface EvalMetrics {
  nmse: number;
  fve: number;
  nmse_per_token: number;
  l0: number;
  l0_fraction: number;
  dead_fraction: number;
  /** Mean over true features of the best |cosine| with a decoder row (synthetic data only). */
  feature_recovery?: number;
  /** Per guidance target on the validation split: AUROC of the latent for its labels, and means. */
  guidance?: GuidanceEval[];
  /** Set when early stopping ended the run: the step whose weights were kept. */
  early_stopped_at?: number;
  steps: number;
  tokens_per_s: number;
  backend: string;
}

export interface GuidanceEval {
  id: string;
  latent: number;
  auroc: number;
  mean_pos: number;
  mean_neg: number;
}

export type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'done';

export type ToWorker =
  /**
   * threads: the wasm thread pool's size (this worker included) when the page is cross-origin
   * isolated; default every logical core but one, which stays with the page.
   */
  | { type: 'init'; prefer?: BackendName; threads?: number; /** speeds measured in earlier sessions (store/calibrationCache.ts) */ calibrations?: Calibration[] }
  /**
   * The backend preference. A name switches to that backend at once ('auto' waits for the next
   * Train); refused while a run is active. Answers 'backend' (and 'error' when the backend fails).
   */
  | { type: 'setBackend'; preference: BackendPreference }
  | { type: 'loadSample'; requestId: string }
  /**
   * One or several dropped files, recognised by content: activations, companions (tokens, vocab,
   * labels, document ids, positions), a run_config.json, a SAELens directory or its zip.
   */
  | { type: 'load'; requestId: string; files: SourceFile[]; memoryBudgetBytes?: number }
  /**
   * Train; `fromImported` starts from the imported SAE's weights (continue training). With a
   * language model loaded, `lmEvalEvery` > 0 splices the SAE in every that many steps on a short
   * held-out text (posts 'spliced' with `step`), at `spliceSite` when the activations come from a
   * file (the layer the user gave).
   */
  | { type: 'start'; runId: string; config: ConfigInput; fromImported?: boolean; lmEvalEvery?: number; spliceSite?: number }
  /** Run the language model over a loaded text; its residuals at `sites` become the dataset (answers 'loaded'). */
  | { type: 'extract'; requestId: string; text: string; sites: number[]; includeBos?: boolean }
  /**
   * Splice the run's SAE (or the imported one) into the language model: CE, KL, loss recovered.
   * `site` is the model layer of the SAE's first layer the user chose (else the SAE's recorded
   * site, else the extracted activations' sites; see sitesFor in src/data/languageModel.ts); `text`
   * the text to use (default: see evaluationText in src/data/languageModel.ts).
   */
  | { type: 'spliceEvaluate'; runId: string; source: 'run' | 'imported'; site?: number; text?: string }
  /** The loaded activations and their tokens, positions, document ids and vocab as .npy / .json files. */
  | { type: 'exportDataset'; requestId: string }
  /** The feature browser: every latent of the run's SAE over the loaded activations (answers 'features'). */
  | { type: 'features'; runId: string }
  /** One latent's contexts, histogram, neighbours and logit lens (answers 'latent'). */
  | { type: 'latent'; runId: string; latent: number }
  /** Every latent's top contexts as contexts.json (answers 'contextsExported'). */
  | { type: 'exportContexts'; runId: string }
  /** Dashboards of some latents in SAEDashboard's Neuronpedia feature-JSON shape (answers 'dashboardExported'). */
  | { type: 'exportDashboard'; runId: string; latents: number[] }
  /** The top contexts of some latents, for auto-interpretation in the page (answers 'latentContexts'). */
  | { type: 'latentContexts'; runId: string; latents: number[] }
  /** Evaluate the imported SAE on the loaded data (posts 'evaluated' with this run id). */
  | { type: 'evaluateImported'; runId: string }
  /** Continue the autosaved run on the loaded data (answers 'started' with `resumedFrom`). */
  | { type: 'resumeAutosave'; runId: string }
  /** Liveness check while a run is active (answers 'pong'). */
  | { type: 'ping' }
  /** For tests of worker failure: the worker throws an exception nothing catches. */
  | { type: 'debugCrash' }
  | { type: 'update'; runId: string; live: Partial<LiveParams> }
  /** Replace the running job's guidance targets (add, remove, re-weight); effective next step. */
  | { type: 'guidance'; runId: string; targets: GuidanceTarget[] }
  /** How many rows a label source marks positive, with example tokens, before training. */
  | { type: 'previewLabels'; requestId: string; labels: LabelSource }
  /** Download the weights kept at a checkpoint step. */
  | { type: 'exportCheckpoint'; runId: string; step: number }
  | { type: 'pause' | 'resume' | 'stop' | 'export'; runId: string }
  /** Benchmark training steps on one backend (used by `npm run bench`, not by the UI). */
  | { type: 'bench'; requestId: string; backend: BackendName; spec: BenchSpec }
  /** tfjs-wasm's matMul GFLOP/s at these shapes (`npm run bench`'s sgemm table, not the UI). */
  | { type: 'benchSgemm'; requestId: string; shapes: SgemmShape[] };

export type FromWorker =
  | {
    type: 'ready'; backend: BackendName; skipped: Partial<Record<BackendName, string>>; /** e.g. "SIMD, 2 threads" for wasm */ detail?: string;
    /** Backends this browser offers (registered with tfjs), whether or not they started. */
    available: BackendName[];
    preference: BackendPreference;
  }
  /** The backend in use or the preference changed (a choice, or the fastest of a calibration). */
  | { type: 'backend'; backend: BackendName; detail?: string; preference: BackendPreference }
  /** Auto: a run's backends are being measured before it starts; `backend` is the one now timed. */
  | { type: 'calibrating'; runId: string; key: string; backend: BackendName; index: number; total: number }
  /** Auto: the measured speeds the run's backend was chosen by; `cached` when measured for an earlier run of this size. */
  | { type: 'calibrated'; runId: string; calibration: Calibration; cached: boolean }
  /** The result of a load: every file's outcome, and the data now loaded (unchanged on errors). */
  | { type: 'loaded'; requestId: string; info: DatasetInfo | null; results: FileResult[]; sae?: ImportedSaeInfo; lm?: LanguageModelInfo | null }
  /** Progress of a long read (indexing a large file). */
  | { type: 'progress'; requestId: string; label: string; done: number; total: number }
  /** A run began; `resumedFrom` is the step an autosaved run continues from. */
  | { type: 'started'; runId: string; config: SaeConfig; live: LiveParams; resumedFrom?: number }
  /** Training diverged and the run went back to its last finite state at `step` (rows after it are void). */
  | { type: 'rolledBack'; runId: string; step: number }
  /** tfjs memory of the worker's backend at the time of the ping. */
  | { type: 'pong'; memory: EngineMemory }
  | { type: 'metrics'; runId: string; rows: MetricRow[]; events: LiveEvent[] }
  | { type: 'status'; runId: string; state: RunState; step: number; totalSteps: number; message?: string; checkpoints?: number[] }
  | { type: 'labelsPreview'; requestId: string; rows: number; positives: number; examples: string[]; error?: string }
  | { type: 'checkpointExported'; runId: string; step: number; files: Record<string, ArrayBuffer> }
  | { type: 'evaluated'; runId: string; metrics: EvalMetrics }
  /** A splice evaluation; `step` is set for the periodic ones taken while training. */
  | { type: 'spliced'; runId: string; evaluation: SpliceEvaluation; step?: number }
  | { type: 'datasetExported'; requestId: string; files: Record<string, ArrayBuffer> }
  | { type: 'features'; runId: string; features: FeatureListInfo }
  | { type: 'latent'; runId: string; detail: LatentDetail }
  | { type: 'contextsExported'; runId: string; files: Record<string, ArrayBuffer> }
  | { type: 'dashboardExported'; runId: string; files: Record<string, ArrayBuffer> }
  /** Top contexts by latent; `error` says why there are none (no features, streamed data, bad latent). */
  | { type: 'latentContexts'; runId: string; contexts: Record<number, LatentContext[]>; error?: string }
  | { type: 'exported'; runId: string; files: Record<string, ArrayBuffer> }
  | { type: 'benchResult'; requestId: string; result?: BenchResult; error?: string }
  | { type: 'benchSgemmResult'; requestId: string; rows?: WasmSgemmRow[]; error?: string }
  | { type: 'error'; runId?: string; requestId?: string; message: string; hint?: string };
