// Typed messages between the page and the engine worker. Every run-scoped message carries the
// run id so that late messages of an old run are ignored. Large arrays travel as transferables.
// Only the messages and their message-only payloads live here; the types they carry live with
// their owners (src/engine/types.ts, src/data/types.ts, …) so that no lower layer
// imports this file.
import type { BenchResult, BenchSpec } from '../engine/bench';
import type { SgemmShape, WasmSgemmRow } from '../engine/benchSgemm';
import type { Calibration } from '../engine/calibrate';
import type { ConfigInput, GuidanceTarget, LabelSource, LiveParams, SaeConfig } from '../engine/config';
import type { BackendName, EvalMetrics, LiveEvent, MetricRow } from '../engine/types';
import type { LanguageModelInfo, SpliceEvaluation } from '../data/languageModel';
import type { RunOutcome } from '../run/runRecord';
import type { LatentContext, LatentDetail } from '../data/features';
import type { DatasetInfo, FileResult, SourceFile } from '../data/types';
import type { ImportedSaeInfo } from '../data/saeImport';

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

/**
 * Which backend trains: 'auto' measures the backends when a run starts (once per size, see
 * src/engine/calibrate.ts) and takes the fastest; a name uses that backend and measures nothing.
 */
export type BackendPreference = 'auto' | BackendName;

/** tfjs memory in the worker (tf.memory()): live tensors and the bytes they hold on the backend. */
export interface EngineMemory {
  numTensors: number;
  numBytes: number;
  /** GPU bytes of the webgl / webgpu backend, when it reports them. */
  numBytesInGPU?: number;
  /**
   * On wasm, the size of its memory: it only grows, so this is the high-water mark of all the
   * worker ran (what src/engine/memoryBudget.ts estimates for a run on wasm).
   */
  wasmMemoryBytes?: number;
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
  | { type: 'start'; runId: string; config: ConfigInput; fromImported?: boolean; lmEvalEvery?: number; spliceSite?: number; /** Open the imported SAE as a run without training it. */ untrained?: boolean }
  /** Run the language model over a loaded text; its residuals at `sites` become the dataset (answers 'loaded'). */
  | { type: 'extract'; requestId: string; text: string; sites: number[]; includeBos?: boolean }
  /**
   * Splice the run's SAE (or the imported one) into the language model: CE, KL, loss recovered.
   * `site` is the model layer of the SAE's first layer the user chose (else the SAE's recorded
   * site, else the extracted activations' sites; see sitesFor in src/data/languageModel.ts); `text`
   * the text to use (default: see evaluationText in src/data/languageModel.ts).
   */
  | { type: 'spliceEvaluate'; runId: string; source: 'run' | 'imported'; site?: number; text?: string; split?: ValidationSplit }
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
  | { type: 'evaluateImported'; runId: string; split?: ValidationSplit }
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
  /** A run's final metrics (with what it leaves to be kept), or the imported SAE's evaluation (metrics only). */
  | { type: 'evaluated'; runId: string; metrics: EvalMetrics; outcome?: RunOutcome }
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

/**
 * The Data panel's validation split, for an imported SAE: its own config says nothing of the
 * loaded data, so it is evaluated on the validation rows (or documents) the page shows.
 */
export interface ValidationSplit {
  split_by: 'rows' | 'document';
  seed: number;
}
