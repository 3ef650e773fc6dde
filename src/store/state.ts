// The shape of the application state: the zustand slices, joined as AppState, that src/store/store.ts creates.
// Slices: data, run (progress, live values, results), kept runs and sweeps, guidance drafts, ui
// (messages, backend); the Model form is `form`. Metric rows are in metricsBuffer, not here.
import type { LiveParams, SaeConfig } from '../engine/config';
import type { RunData, RunRecord } from './runHistory';
import type { RunOutcome } from '../run/runRecord';
import type { AutosaveSummary } from '../run/autosave';
import type { SweepParam } from './sweepParam';
import type { BackendPreference, FeatureListInfo, RunState } from '../worker/protocol';
import type { BackendName, EvalMetrics } from '../engine/types';
import type { Calibration } from '../engine/calibrate';
import type { DatasetInfo, FileResult } from '../data/types';
import type { ImportedSaeInfo } from '../data/saeImport';
import type { LanguageModelInfo, SpliceEvaluation } from '../data/languageModel';
import type { LatentDetail } from '../data/features';
import type { GuidanceDraft, LabelsPreview } from './guidance';
import type { ModelForm } from './modelForm';

export interface Notice {
  message: string;
  hint?: string;
}

interface DataSlice {
  dataset: DatasetInfo | null;
  dataLoading: string | null;
  dataError: Notice | null;
  /** Progress of a long read (indexing a large file, reading validation rows). */
  loadProgress: { label: string; done: number; total: number } | null;
  /** Outcome of the files of the last drops, by file name (array choices, raw files awaiting a shape). */
  fileResults: FileResult[];
  /** Files larger than this are streamed from disk instead of read into memory. */
  memoryBudgetMiB: number;
  /** An SAE imported from a SAELens directory, and its evaluation on the loaded data. */
  imported: ImportedSaeInfo | null;
  importEvaluation: EvalMetrics | null;
  /** The data the imported SAE was evaluated on (the loaded data may have changed since). */
  importEvaluationData: RunData | null;
  importEvaluating: boolean;
  /** The language model, its tokenizer and the texts loaded. */
  lm: LanguageModelInfo | null;
  /** Residual sites chosen for extraction, and whether BOS rows are kept. */
  lmSites: number[];
  /** The hook recorded at each chosen layer (resid_pre, or attn_out / resid_mid / mlp_out inside the block). */
  lmHook: ExtractHook;
  lmIncludeBos: boolean;
  /** Splice evaluations: of the run, and of the imported SAE. */
  splice: SpliceState;
  importSplice: SpliceState;
  /** Model layer the user gave for activations from a file (null until chosen: never a default). */
  spliceSite: number | null;
  /** Text to judge on ('' = the default: another text, or the validation documents). */
  spliceText: string;
  /** While training: splice every this many steps on a short held-out text (0 = off). */
  lmEvalEvery: number;
}

export interface SpliceState {
  pending: boolean;
  evaluation: SpliceEvaluation | null;
  error?: string;
}

export const NO_SPLICE: SpliceState = { pending: false, evaluation: null };

/** One periodic splice evaluation while training (charted beside NMSE). */
export interface SplicePoint {
  step: number;
  loss_recovered: number;
  /** Its standard error, and the predictions it was measured on. */
  loss_recovered_se: number;
  predictions: number;
  kl: number;
  ce: number;
}

interface RunSlice {
  runId: string | null;
  /** The data the current run trains (or trained) on: the loaded data may have changed since. */
  runData: RunData | null;
  /** The current run is an imported SAE opened without training (Open without training). */
  runUntrained: boolean;
  runState: RunState;
  step: number;
  totalSteps: number;
  tokensPerS: number;
  etaSeconds: number;
  live: LiveParams | null;
  resolved: SaeConfig | null;
  evaluation: EvalMetrics | null;
  /** What the run's session reported at its end, to be kept (src/run/runRecord.ts). */
  outcome: RunOutcome | null;
  runError: Notice | null;
  log: string[];
  exported: Record<string, ArrayBuffer> | null;
  exporting: boolean;
  /** Steps at which the worker keeps a copy of the weights. */
  checkpoints: number[];
  checkpointExporting: number | null;
  /** Periodic splice evaluations of the current run. */
  splicePoints: SplicePoint[];
  /** The feature browser: the list (null until asked for), the latent shown, pending requests. */
  features: FeatureListInfo | null;
  featuresPending: boolean;
  latentDetail: LatentDetail | null;
  latentPending: number | null;
}

/** A sweep over one hyper-parameter: its runs are trained one after another. */
export interface SweepState {
  id: string;
  param: SweepParam;
  values: number[];
  /** Index of the value being trained (= values.length when finished). */
  index: number;
  state: 'running' | 'done' | 'cancelled' | 'failed';
  message?: string;
}

interface RunsSlice {
  /** Finished runs kept for comparison (oldest first). */
  runs: RunRecord[];
  /** Why runs are not kept across reloads (no IndexedDB, quota), or null. */
  runsProblem: string | null;
  /** Runs whose curves are overlaid, and the logged column shown. */
  overlay: string[];
  overlayColumn: string;
  /** The data whose runs the frontier compares (a key of runDataKey); null = the loaded data's. */
  frontierData: string | null;
  /** The run being kept (its weights are being fetched), in words. */
  keeping: string | null;
  sweep: SweepState | null;
  /** The sweep form: parameter and values as typed. */
  sweepParam: SweepParam;
  sweepValues: string;
}

interface GuidanceSlice {
  guidance: GuidanceDraft[];
  /** Next id number: ids are never reused within a session. */
  nextGuidanceId: number;
  previews: Record<string, LabelsPreview>;
}

interface UiSlice {
  /** An interrupted run that can be resumed (after a reload or a crashed worker). */
  autosave: AutosaveSummary | null;
  /** The engine worker died or stopped answering: why (charts and kept runs stay). */
  engineDown: Notice | null;
  backend: BackendName | null;
  /** How the backend runs, e.g. "SIMD, 2 threads" for wasm; null when there is nothing to add. */
  backendDetail: string | null;
  skipped: Partial<Record<BackendName, string>>;
  /** Backends this browser offers (the others cannot be chosen). */
  availableBackends: BackendName[];
  /** 'auto' (measure at Train, per size) or the backend the user chose. */
  backendPreference: BackendPreference;
  /** Auto: the backend being measured before the current run starts. */
  calibrating: { backend: BackendName; index: number; total: number; /** Date.now() when measuring began */ since: number } | null;
  /** The speeds the last run's backend was chosen by; `cached` when measured for an earlier run of that size. */
  calibration: { calibration: Calibration; cached: boolean } | null;
  dragging: boolean;
}

export type AppState = DataSlice & RunSlice & RunsSlice & GuidanceSlice & UiSlice & { form: ModelForm };

/** Where in each chosen block the Language model panel records (src/engine/lm/hooks.ts). */
export type ExtractHook = 'hook_resid_pre' | 'hook_attn_out' | 'hook_resid_mid' | 'hook_mlp_out';
