// Application state in zustand slices: data, config (the form and the guidance targets), run
// (progress, live values, results), ui (messages). Metric rows are in metricsBuffer, not here.
import { create } from 'zustand';
import {
  MULTI_LAYER, SPARSITY_KIND, lambdaKey, resolveConfig,
  type Architecture, type ClassicConfig, type ConfigInput, type GuidanceTarget, type LabelSource, type LiveParams,
  type Normalize, type SaeConfig, type SparsityMode,
} from '../engine/config';
import { describeRunData, runDataKey, runDataOf, type RunData, type RunRecord } from './runHistory';
import type { AutosaveSummary } from '../run/autosave';
import type { SweepParam } from './sweepParam';
import type { BackendPreference, FeatureListInfo, RunState } from '../worker/protocol';
import type { BackendName, EvalMetrics } from '../engine/types';
import type { Calibration } from '../engine/calibrate';
import type { DatasetInfo, FileResult } from '../data/types';
import type { ImportedSaeInfo } from '../io/saeImport';
import type { LanguageModelInfo, SpliceEvaluation } from '../data/languageModel';
import type { LatentDetail } from '../data/features';

export interface ModelForm {
  architecture: Architecture;
  d_sae: number;
  batch_size: number;
  steps: number;
  lr: number;
  seed: number;
  /** Validation rows: a seeded sample of rows, or whole documents (needs document ids). */
  split_by: 'rows' | 'document';
  exclude_outliers: boolean;
  normalize: Normalize;
  sparsity_mode: SparsityMode;
  /** Target L0 in percent of d_sae (the config's target_l0 × 100). */
  target_l0_percent: number;
  /** λ of each penalty family (relu, gated and crosscoder share l1_coefficient). */
  l1_coefficient: number;
  l0_coefficient: number;
  sparsity_coefficient: number;
  k: number;
  bandwidth: number;
  init_threshold: number;
  /** Inference threshold of the non-jumprelu variants. */
  threshold: number;
  // classic
  hidden_dim: number | null;
  sparsity_type: ClassicConfig['sparsity_type'];
  kl_target: number;
  tied_weights: boolean;
  // matryoshka: comma-separated ascending sizes ending at d_sae; empty = the default nesting
  matryoshka_prefixes: string;
  // routesae
  routing: 'hard' | 'soft';
  aggregation: 'sum' | 'mean';
  // layers of [L, N, d] files; null = the config's default
  layer: number | null;
  layer_start: number | null;
  layer_end: number | null;
  // advanced
  lr_warmup_steps: number;
  lr_decay_steps: number;
  lambda_warmup_steps: number;
  grad_clip_norm: number;
  checkpoint_every: number;
  resample_dead_every: number;
  val_every: number;
  /** null = the variant's default (10 validations for classic, off for the others). */
  early_stopping_patience: number | null;
}

/** A guidance target as edited in the form; `toTarget` turns it into the config's shape. */
export interface GuidanceDraft {
  id: string;
  latent: number;
  method: 'mse' | 'contrastive';
  beta: number;
  margin: number;
  source: 'file' | 'piece' | 'regex';
  file: string;
  piece: string;
  pattern: string;
}

export interface LabelsPreview {
  pending: boolean;
  text?: string;
  error?: string;
}

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
  runState: RunState;
  step: number;
  totalSteps: number;
  tokensPerS: number;
  etaSeconds: number;
  live: LiveParams | null;
  resolved: SaeConfig | null;
  evaluation: EvalMetrics | null;
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

export const DEFAULT_FORM: ModelForm = {
  architecture: 'topk',
  d_sae: 512,
  batch_size: 512,
  steps: 1000,
  lr: 1e-3,
  seed: 0,
  split_by: 'rows',
  exclude_outliers: false,
  normalize: 'none',
  sparsity_mode: 'target_l0',
  target_l0_percent: 5,
  l1_coefficient: 1,
  l0_coefficient: 0.1,
  sparsity_coefficient: 0.1,
  k: 16,
  bandwidth: 0.05,
  init_threshold: 0.05,
  threshold: 0,
  hidden_dim: null,
  sparsity_type: 'l1',
  kl_target: 0.05,
  tied_weights: false,
  matryoshka_prefixes: '',
  routing: 'hard',
  aggregation: 'sum',
  layer: null,
  layer_start: null,
  layer_end: null,
  lr_warmup_steps: 0,
  lr_decay_steps: 0,
  lambda_warmup_steps: 0,
  grad_clip_norm: 1,
  checkpoint_every: 0,
  resample_dead_every: 0,
  val_every: 100,
  early_stopping_patience: null,
};

export const useStore = create<AppState>(() => ({
  dataset: null,
  dataLoading: null,
  dataError: null,
  loadProgress: null,
  fileResults: [],
  memoryBudgetMiB: 1024,
  imported: null,
  importEvaluation: null,
  importEvaluationData: null,
  importEvaluating: false,
  lm: null,
  lmSites: [],
  lmIncludeBos: false,
  splice: NO_SPLICE,
  importSplice: NO_SPLICE,
  spliceSite: null,
  spliceText: '',
  lmEvalEvery: 0,
  splicePoints: [],
  features: null,
  featuresPending: false,
  latentDetail: null,
  latentPending: null,
  runs: [],
  runsProblem: null,
  overlay: [],
  overlayColumn: 'total_loss',
  frontierData: null,
  keeping: null,
  sweep: null,
  sweepParam: 'd_sae',
  sweepValues: '',
  form: DEFAULT_FORM,
  guidance: [],
  nextGuidanceId: 0,
  previews: {},
  runId: null,
  runData: null,
  runState: 'idle',
  step: 0,
  totalSteps: 0,
  tokensPerS: 0,
  etaSeconds: 0,
  live: null,
  resolved: null,
  evaluation: null,
  runError: null,
  log: [],
  exported: null,
  exporting: false,
  checkpoints: [],
  checkpointExporting: null,
  autosave: null,
  engineDown: null,
  backend: null,
  backendDetail: null,
  skipped: {},
  availableBackends: [],
  backendPreference: 'auto',
  calibrating: null,
  calibration: null,
  dragging: false,
}));

export const setForm = (patch: Partial<ModelForm>) => useStore.setState((s) => ({ form: { ...s.form, ...patch } }));
export const appendLog = (line: string) => useStore.setState((s) => ({ log: [...s.log.slice(-199), line] }));

export const isMultiLayer = (a: Architecture) => MULTI_LAYER.includes(a);
export const isPenalty = (a: Architecture) => SPARSITY_KIND[a] === 'penalty';

// ---- guidance targets ---------------------------------------------------------------------------

export function labelSource(d: GuidanceDraft): LabelSource {
  switch (d.source) {
    case 'file': return { kind: 'file', name: d.file };
    case 'piece': return { kind: 'piece', piece: d.piece };
    case 'regex': return { kind: 'regex', pattern: d.pattern };
  }
}

export function toTarget(d: GuidanceDraft): GuidanceTarget {
  return { id: d.id, latent: d.latent, method: d.method, beta: d.beta, margin: d.margin, labels: labelSource(d) };
}

/** Why a target cannot be used with the loaded data, or null when it can. */
export function guidanceProblem(d: GuidanceDraft, dataset: DatasetInfo | null, dSae: number): string | null {
  if (!Number.isInteger(d.latent) || d.latent < 0 || d.latent >= dSae) return `latent must be an integer in 0 … ${dSae - 1}`;
  if (d.source === 'file') {
    if (!d.file) return 'choose a labels file (drop a .csv, .jsonl or 1-D .npy of labels first)';
    if (!dataset?.labels.some((l) => l.name === d.file)) return `labels file ${d.file} is not loaded`;
    return null;
  }
  if (!dataset?.tokens || !dataset.vocab) return 'token rules need the token ids (.npy of ints) and the vocab (.json)';
  if (d.source === 'piece' && !d.piece) return 'type the token piece';
  if (d.source === 'regex') {
    if (!d.pattern) return 'type a regular expression';
    try { new RegExp(d.pattern); } catch (e) { return `bad regular expression: ${e instanceof Error ? e.message : String(e)}`; }
  }
  return null;
}

export function addGuidanceTarget(): string {
  const s = useStore.getState();
  const id = `g${s.nextGuidanceId}`;
  const ds = s.dataset;
  const tokenRules = Boolean(ds?.tokens && ds.vocab);
  const file = ds?.labels[0]?.name ?? '';
  const draft: GuidanceDraft = {
    id,
    latent: Math.min(s.guidance.length, Math.max(0, s.form.d_sae - 1)),
    method: 'contrastive',
    beta: 1,
    margin: 1,
    source: file && !tokenRules ? 'file' : tokenRules ? 'regex' : 'file',
    file,
    piece: '',
    pattern: '',
  };
  useStore.setState({ guidance: [...s.guidance, draft], nextGuidanceId: s.nextGuidanceId + 1 });
  return id;
}

export function updateGuidanceTarget(id: string, patch: Partial<GuidanceDraft>) {
  useStore.setState((s) => {
    const { [id]: _dropped, ...previews } = s.previews;
    const labelsChanged = 'source' in patch || 'file' in patch || 'piece' in patch || 'pattern' in patch;
    return {
      guidance: s.guidance.map((g) => (g.id === id ? { ...g, ...patch } : g)),
      previews: labelsChanged ? previews : s.previews,
    };
  });
}

export function removeGuidanceTarget(id: string) {
  useStore.setState((s) => ({ guidance: s.guidance.filter((g) => g.id !== id) }));
}

// ---- config -------------------------------------------------------------------------------------

function parsePrefixes(text: string): number[] | string {
  const parts = text.split(/[,\s]+/).filter(Boolean);
  const values = parts.map(Number);
  if (values.some((v) => !Number.isInteger(v) || v < 1)) return text; // resolveConfig explains
  return values;
}

/**
 * The config JSON sent to the worker: the common keys and only the keys of the chosen variant.
 * `nLayers` decides whether the layer keys are sent.
 */
export function configFromForm(f: ModelForm, guidance: GuidanceDraft[] = [], nLayers = 1): ConfigInput {
  const a = f.architecture;
  const target = f.sparsity_mode === 'target_l0';
  const cfg: ConfigInput = {
    architecture: a,
    d_sae: f.d_sae,
    batch_size: f.batch_size,
    steps: f.steps,
    lr: f.lr,
    seed: f.seed,
    split_by: f.split_by,
    exclude_outliers: f.exclude_outliers,
    normalize: f.normalize,
    sparsity_mode: f.sparsity_mode,
    target_l0: f.target_l0_percent / 100,
    lr_warmup_steps: f.lr_warmup_steps,
    lr_decay_steps: f.lr_decay_steps,
    grad_clip_norm: f.grad_clip_norm,
    checkpoint_every: f.checkpoint_every,
    val_every: f.val_every,
  };
  if (f.early_stopping_patience !== null) cfg.early_stopping_patience = f.early_stopping_patience;
  if (a !== 'jumprelu') cfg.threshold = f.threshold;
  if (nLayers > 1) {
    if (isMultiLayer(a)) {
      if (f.layer_start !== null) cfg.layer_start = f.layer_start;
      if (f.layer_end !== null) cfg.layer_end = f.layer_end;
    } else if (f.layer !== null) cfg.layer = f.layer;
  }
  const lk = lambdaKey(a);
  if (lk) {
    cfg[lk] = f[lk];
    cfg.lambda_warmup_steps = f.lambda_warmup_steps;
    cfg.resample_dead_every = f.resample_dead_every;
  } else if (!target) {
    cfg.k = f.k; // in target mode k follows target_l0 · d_sae
  }
  switch (a) {
    case 'jumprelu':
      cfg.bandwidth = f.bandwidth;
      cfg.init_threshold = f.init_threshold;
      break;
    case 'classic':
      if (f.hidden_dim !== null) cfg.hidden_dim = f.hidden_dim;
      cfg.sparsity_type = f.sparsity_type;
      cfg.kl_target = f.kl_target;
      cfg.tied_weights = f.tied_weights;
      break;
    case 'matryoshka':
      if (f.matryoshka_prefixes.trim()) cfg.matryoshka_prefixes = parsePrefixes(f.matryoshka_prefixes);
      break;
    case 'routesae':
      cfg.routing = f.routing;
      cfg.aggregation = f.aggregation;
      break;
    default:
      break;
  }
  if (guidance.length) cfg.guidance = guidance.map(toTarget);
  return cfg;
}

/** The form resolved against the loaded data: the config the worker would run, or why not. */
export function checkForm(f: ModelForm, guidance: GuidanceDraft[], dataset: DatasetInfo | null): { config: SaeConfig | null; problem: string | null } {
  if (!dataset) return { config: null, problem: null };
  let config: SaeConfig;
  try {
    config = resolveConfig(configFromForm(f, [], dataset.nLayers), dataset.dIn, dataset.nLayers);
  } catch (e) {
    return { config: null, problem: e instanceof Error ? e.message : String(e) };
  }
  // The targets are checked here first: these messages name the form's fields, not JSON keys.
  for (const g of guidance) {
    const why = guidanceProblem(g, dataset, config.d_sae);
    if (why) return { config, problem: `guidance target ${g.id}: ${why}.` };
  }
  try {
    return { config: resolveConfig(configFromForm(f, guidance, dataset.nLayers), dataset.dIn, dataset.nLayers), problem: null };
  } catch (e) {
    return { config, problem: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The form holding a config (a reloaded run_config.json, an imported SAE's config): every key the
 * form has; keys it does not show keep their values. Guidance drafts come back too.
 */
export function formFromConfig(c: ConfigInput): { form: Partial<ModelForm>; guidance: GuidanceDraft[] } {
  const form: Partial<ModelForm> = {};
  const v = c as Record<string, unknown>;
  const keys = Object.keys(DEFAULT_FORM) as (keyof ModelForm)[];
  for (const key of keys) {
    const value = v[key];
    if (value === undefined || value === null) continue;
    if (typeof value === typeof DEFAULT_FORM[key] || DEFAULT_FORM[key] === null) (form as Record<string, unknown>)[key] = value;
  }
  if (typeof v.target_l0 === 'number') form.target_l0_percent = v.target_l0 * 100;
  if (Array.isArray(v.matryoshka_prefixes)) form.matryoshka_prefixes = v.matryoshka_prefixes.join(', ');
  const guidance: GuidanceDraft[] = Array.isArray(v.guidance)
    ? (v.guidance as GuidanceTarget[]).map((g) => ({
      id: g.id, latent: g.latent, method: g.method, beta: g.beta, margin: g.margin,
      source: g.labels.kind, file: g.labels.kind === 'file' ? g.labels.name : '',
      piece: g.labels.kind === 'piece' ? g.labels.piece : '', pattern: g.labels.kind === 'regex' ? g.labels.pattern : '',
    }))
    : [];
  return { form, guidance };
}

/** Set one top-level value of the store (simple settings of the panels). */
export const setStoreValue = <K extends keyof AppState>(key: K, value: AppState[K]) => useStore.setState({ [key]: value } as Pick<AppState, K>);

/**
 * The shown run was trained on other data than the loaded data (new data was loaded since): its
 * data and the loaded data in words, or null. Its curves and metrics stay true of its own data;
 * what reads the loaded rows (feature browser, splicing) would not be.
 */
export function staleRun(s: Pick<AppState, 'runId' | 'runData' | 'dataset'>): { runData: string; loaded: string } | null {
  if (!s.runId || !s.runData || !s.dataset) return null;
  const loaded = runDataOf(s.dataset);
  if (runDataKey(loaded) === runDataKey(s.runData)) return null;
  return { runData: describeRunData(s.runData), loaded: describeRunData(loaded) };
}

/** Why the shown run cannot be judged on the loaded rows (feature browser, splicing), or null. */
export function staleRunProblem(s: Pick<AppState, 'runId' | 'runData' | 'dataset'>): string | null {
  const stale = staleRun(s);
  return stale ? `this run was trained on ${stale.runData}, not on the loaded ${stale.loaded}: load its data again, or open the kept run from Runs as the imported SAE` : null;
}
