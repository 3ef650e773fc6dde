// The engine's home in the browser: a module Web Worker that owns the data, the tfjs backend and
// the run. It talks to the page only through the typed messages of protocol.ts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { BACKEND_ORDER, selectBackend, tryBackend } from '../engine/backend';
import { benchTrainingSteps } from '../engine/bench';
import { wasmSgemm } from '../engine/benchSgemm';
import { calibrateBackends, calibrationKey, type Calibration } from '../engine/calibrate';
import { COMMON_DEFAULTS, ConfigError, MULTI_LAYER, resolveConfig, resolveGuidanceTarget, type SaeConfig } from '../engine/config';
import { describeOomError, limitsOfBackend, refusal } from '../engine/memoryBudget';
import { DivergenceError, Trainer, type Checkpoint, type EvalDetails, type TrainingData } from '../engine/trainer';
import { MetricLog } from '../engine/metricLog';
import { makeSyntheticDataset } from '../data/synthetic';
import { evaluateWeights, trainingDataFor } from '../data/trainingData';
import { Workspace, isStreamed } from '../data/workspace';
import { exportContexts, featureOverview, latentContexts, latentDetail, type FeatureOverview } from '../data/features';
import { neuronpediaDashboards } from '../data/dashboard';
import { datasetFiles, evaluateWeightsWithModel, evaluateWithModel, exportSource, extractFromText, languageModelInfo, lmModel } from '../data/languageModel';
import { siteOfHook } from '../data/sites';
import { buildRunExport } from '../io/runExport';
import { clearAutosave, fingerprint, fingerprintMismatch, readAutosave, writeAutosave } from '../run/autosave';
import { zipFiles } from '../io/saelens';
import type { BackendPreference, FromWorker, RunState, ToWorker } from './protocol';
import type { BackendName } from '../engine/types';
import type { DatasetInfo } from '../data/types';
import type { SpliceEvaluation } from '../data/languageModel';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});
// When the page is cross-origin isolated, tfjs-backend-wasm runs XNNPACK's matmuls on a thread pool
// (this worker counts as one of its threads). Its compiled code caps the pool at
// navigator.hardwareConcurrency / 2, assuming two hyper-threads per core. The cap is read once,
// when the wasm module starts, through this worker's navigator; reporting twice the logical cores
// lifts it (the pool stays at most 8, tfjs's own limit), and init() sets the size we choose.
// Nothing else in this worker reads hardwareConcurrency.
const LOGICAL_CORES = Math.max(1, self.navigator.hardwareConcurrency || 1);
Object.defineProperty(self.navigator, 'hardwareConcurrency', { value: 2 * LOGICAL_CORES, configurable: true });

const post = (msg: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(msg, transfer);

let backend: BackendName | null = null;
let preference: BackendPreference = 'auto';
/** Auto: what each size measured (calibrationKey → calibration); a size is measured once per worker. */
const calibrations = new Map<string, Calibration>();
/** The run whose backends are being measured before it starts (a Stop cancels the measuring). */
let calibrating: { runId: string; abort: AbortController } | null = null;
/** Backends that failed to start at init, and why: a calibration does not wait for them again. */
let startFailures: Partial<Record<BackendName, string>> = {};
/**
 * Calibration order: the CPU backends first, the GPU ones after. A GPU step given up as too slow
 * keeps the (software) GPU busy for a while after; measured last, it cannot slow the others' timing.
 */
const CALIBRATION_ORDER: readonly BackendName[] = ['wasm', 'cpu', 'webgl', 'webgpu'];
const workspace = new Workspace();
/** Checkpoints kept per run (the most recent ones; older ones are dropped to bound memory). */
const MAX_CHECKPOINTS = 5;
const MAX_CHECKPOINT_BYTES = 512 * 2 ** 20;
let run: {
  id: string;
  trainer: Trainer;
  state: RunState;
  /** Every logged row, by column (the export's log; the autosave's, piece by piece). */
  log: MetricLog;
  /** Rows of `log` already in the autosave, and the pieces they are stored in. */
  savedRows: number;
  savedPieces: number;
  datasetName: string;
  checkpoints: Checkpoint[];
  /** Settles when the training loop has returned (so the trainer may be evaluated or disposed). */
  loopDone: Promise<void>;
  lastEval?: EvalDetails;
  /** Splice the SAE into the language model every this many steps (0 = never). */
  lmEvalEvery: number;
  nextLmEval: number;
  /** While set, the loop waits before its next slice (an evaluation is reading the weights). */
  hold: Promise<unknown> | null;
  /** The first periodic splice evaluation: later ones reuse its zero / mean ablations. */
  periodic?: SpliceEvaluation;
  /** The feature browser's pass over the data (top rows per latent) and the step it was made at. */
  features?: { overview: FeatureOverview; step: number };
  /** The model and hook the activations came from, for the export's cfg.json. */
  source?: ReturnType<typeof exportSource>;
  /** The model layer the user gave for activations from a file (periodic splices use it). */
  spliceSite?: number;
  fromImported: boolean;
  /** When the run was last autosaved (ms), and the write in flight. */
  savedAt: number;
  /** How long the last autosave took (ms): big models are saved less often. */
  saveMs: number;
  saving: Promise<void> | null;
} | null = null;

/** Log pieces in the autosave before a save rewrites the log as one. */
const MAX_LOG_PIECES = 256;
/** Seconds between autosaves while training (a reload loses at most about this much). */
const AUTOSAVE_SECONDS = 3;
/** An autosave waits at least this many times as long as the last one took (≤ 20% of the time saving). */
const AUTOSAVE_COST_FACTOR = 5;

/** Tokens of held-out text used by the periodic splice evaluation while training (kept short). */
const PERIODIC_EVAL_TOKENS = 4096;

/**
 * Time budget of one uninterrupted slice of training before the worker posts progress and reads
 * its mailbox. A slice is at least one step; at ≥ 20 steps/s each slice is one step, so a slider
 * moved while the page shows step s is used from step s + 1 on.
 */
const SLICE_MS = 50;

/**
 * Let queued messages (pause, slider changes) run, then continue. A MessageChannel task rather
 * than setTimeout(0), which browsers clamp to 4 ms once nested.
 */
const yieldChannel = new MessageChannel();
const yieldWaiters: (() => void)[] = [];
yieldChannel.port1.onmessage = () => yieldWaiters.shift()?.();
function yieldToMailbox(): Promise<void> {
  return new Promise((resolve) => { yieldWaiters.push(resolve); yieldChannel.port2.postMessage(null); });
}

/** A backend that has not started within this long is given up (see selectBackend). */
const BACKEND_START_TIMEOUT_MS = 45_000;
let wasmThreadsOff = false;

/**
 * Settles when init has chosen the start-up backend. Messages are handled as they arrive, so a
 * Train pressed while the backends are still starting waits here: a run (and a calibration, which
 * switches backends) must not race selectBackend.
 */
let resolveInitialised = () => {};
const initialised = new Promise<void>((resolve) => { resolveInitialised = resolve; });

async function init(prefer?: BackendName, threads?: number) {
  try {
    await chooseStartBackend(prefer, threads);
  } finally {
    resolveInitialised();
  }
}

async function chooseStartBackend(prefer?: BackendName, threads?: number) {
  // Every core but one by default: with all of them busy the page's own thread (charts, sliders)
  // waits its turn — measured on 2 cores: 25 main-thread tasks over 50 ms in 20 s instead of 2, and
  // fewer steps per second, not more. The bench harness (no UI) asks for all of them.
  setThreadsCount(Math.max(1, Math.min(threads ?? LOGICAL_CORES - 1, 8)));
  preference = prefer ?? 'auto';
  // The prechecks pass over software renderers for a fast start; those are not failures (auto
  // measures them when a run starts). Anything else skipped did fail to start.
  const passedOver = new Set<BackendName>();
  const choice = await selectBackend({
    prefer,
    // wasm with threads waits for ever if its thread workers cannot start; then go on without them.
    initTimeoutMs: BACKEND_START_TIMEOUT_MS,
    retry: {
      wasm: () => {
        if (!self.crossOriginIsolated || wasmThreadsOff) return null;
        wasmThreadsOff = true;
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
        return 'retried without threads';
      },
    },
    precheck: {
      webgpu: async () => {
        const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        if (!gpu) return 'navigator.gpu is missing (WebGPU not enabled in this browser)';
        const adapter = (await gpu.requestAdapter()) as { isFallbackAdapter?: boolean; info?: { isFallbackAdapter?: boolean } } | null;
        if (!adapter) return 'no WebGPU adapter';
        const software = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
        if (software && prefer !== 'webgpu') {
          passedOver.add('webgpu');
          return 'only a software (fallback) WebGPU adapter, usually far slower than wasm on a CPU; auto measures it when you train, or choose it as the backend';
        }
        return null;
      },
      webgl: async () => {
        const renderer = webglRenderer();
        if (renderer && /swiftshader|llvmpipe|software/i.test(renderer) && prefer !== 'webgl') {
          passedOver.add('webgl');
          return `software WebGL renderer (${renderer}), usually slower than wasm on a CPU; auto measures it when you train, or choose it as the backend`;
        }
        return null;
      },
    },
  });
  backend = choice.backend;
  startFailures = Object.fromEntries(Object.entries(choice.skipped).filter(([name]) => name !== choice.backend && !passedOver.has(name as BackendName)));
  const available = BACKEND_ORDER.filter((name) => name in tf.engine().registryFactory);
  post({ type: 'ready', backend: choice.backend, skipped: choice.skipped, detail: await backendDetail(choice.backend), available, preference });
}

/** The preference from the page: a named backend is started now (and kept only if it works). */
async function setPreference(next: BackendPreference) {
  if (calibrating || (run && (run.state === 'running' || run.state === 'paused'))) {
    postBackend();
    throw new Error('the backend cannot change while a run is active; stop it first.');
  }
  if (next !== 'auto' && next !== backend) {
    const why = await tryBackend(next, BACKEND_START_TIMEOUT_MS);
    if (why) {
      if (backend) await tf.setBackend(backend);
      postBackend();
      throw new Error(`the ${next} backend does not work here: ${why}. Still on ${backend ?? tf.getBackend()}.`);
    }
    backend = next;
  }
  preference = next;
  await postBackendWithDetail();
}

function postBackend(detail?: string) {
  post({ type: 'backend', backend: backend ?? (tf.getBackend() as BackendName), detail, preference });
}

async function postBackendWithDetail() {
  postBackend(backend ? await backendDetail(backend) : undefined);
}

/**
 * Auto: make the fastest backend for this run's size the active one, measuring it first when this
 * size has not been measured yet. Rejects with an AbortError when the run is stopped meanwhile.
 */
async function autoBackend(runId: string, cfg: SaeConfig, data: TrainingData) {
  const spec = { architecture: cfg.architecture, dIn: data.dIn, dSae: cfg.d_sae, batch: cfg.batch_size, nLayers: data.nLayers ?? 1, config: cfg };
  const key = calibrationKey(spec);
  let calibration = calibrations.get(key);
  // A backend measured earlier (maybe in an earlier session) that no longer starts: measure again.
  if (calibration?.fastest && calibration.fastest !== tf.getBackend() && !(await tf.setBackend(calibration.fastest).catch(() => false))) {
    calibrations.delete(key);
    calibration = undefined;
  }
  const cached = calibration !== undefined;
  if (!calibration) {
    const abort = new AbortController();
    calibrating = { runId, abort };
    try {
      calibration = await calibrateBackends(CALIBRATION_ORDER, spec, {
        initTimeoutMs: BACKEND_START_TIMEOUT_MS,
        signal: abort.signal,
        onProgress: (p) => post({ type: 'calibrating', runId, key, ...p }),
        skip: {
          ...Object.fromEntries(Object.entries(startFailures).map(([name, why]) => [name, () => `did not start: ${why}`])),
          // tfjs's cpu backend runs the same work as wasm on the same CPU in plain JavaScript, several
          // times slower; its step cannot be interrupted, so at a large size it would hold the run up.
          cpu: (soFar) => soFar.some((r) => r.backend === 'wasm' && r.status === 'measured') ? 'not measured: wasm runs on the same CPU, faster' : null,
        },
      });
    } finally {
      calibrating = null;
    }
    calibrations.set(key, calibration);
  }
  post({ type: 'calibrated', runId, calibration, cached });
  const now = tf.getBackend() as BackendName;
  if (now !== backend) {
    backend = now;
    await postBackendWithDetail();
  }
}

/** For wasm, whether SIMD and threads are in use (and why not), shown next to the backend's name. */
async function backendDetail(name: BackendName): Promise<string | undefined> {
  if (name !== 'wasm') return undefined;
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) ? 'SIMD' : 'no SIMD';
  let threads = 1;
  try { threads = getThreadsCount(); } catch { /* not initialised */ }
  const why = threads > 1 ? ''
    : !self.crossOriginIsolated ? ': the page is not cross-origin isolated'
    : LOGICAL_CORES > 1 ? `: the page keeps the other core (?threads=${LOGICAL_CORES} uses ${LOGICAL_CORES === 2 ? 'both' : 'all'})` : '';
  return `${simd}, ${threads} thread${threads === 1 ? '' : 's'}${why}`;
}

/** The unmasked WebGL renderer string, to recognise software rasterisers; null if unavailable. */
function webglRenderer(): string | null {
  try {
    const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : String(gl.getParameter(gl.RENDERER));
  } catch {
    return null;
  }
}

function describe(ws: Workspace): DatasetInfo | null {
  const ds = ws.dataset;
  const facts = ws.facts;
  if (!ds || !facts) return null;
  const valRows = Math.max(ds.rows >= 2 ? 1 : 0, Math.round(ds.rows * COMMON_DEFAULTS.val_fraction)); // the default split
  return {
    name: ds.name,
    rows: ds.rows,
    dIn: ds.dIn,
    nLayers: ds.nLayers,
    tokens: ws.tokens ? { name: ws.tokens.name, count: ws.tokens.ids.length } : undefined,
    vocab: ws.vocab ? { name: ws.vocab.name, count: ws.vocab.pieces.length } : undefined,
    labels: [...ws.labelSets].map(([name, v]) => ({ name, count: v.length, positiveFraction: v.reduce((a, y) => a + (y > 0.5 ? 1 : 0), 0) / Math.max(1, v.length) })),
    dtype: ds.dtype,
    trainRows: ds.rows - valRows,
    valRows,
    stats: facts.stats,
    format: facts.format,
    bytes: facts.bytes,
    streamed: isStreamed(ds),
    memoryBudgetBytes: ws.memoryBudgetBytes,
    docIds: ws.docIds ? { name: ws.docIds.name, count: ws.docIds.ids.length, documents: ws.docIds.documents } : undefined,
    positions: ws.positions ? { name: ws.positions.name, count: ws.positions.ids.length } : undefined,
    synthetic: ds.groundTruth !== undefined,
    description: ds.description,
  };
}

/** The imported SAE, checked against a config resolved on the loaded data. */
function importedFor(cfg: { d_sae: number; architecture: string }) {
  const imported = workspace.imported;
  if (!imported) throw new Error('no SAE is imported; drop a SAELens directory (cfg.json + sae_weights.safetensors) or its zip first.');
  const ds = workspace.dataset!;
  if (imported.info.dIn !== ds.dIn) throw new Error(`the imported SAE takes d_in = ${imported.info.dIn} but the loaded activations have width ${ds.dIn}; load activations of the layer it was trained on.`);
  if (cfg.d_sae !== imported.info.dSae) throw new Error(`the imported SAE has d_sae ${imported.info.dSae} but the config asks for ${cfg.d_sae}; keep the imported size to continue training it.`);
  return imported;
}

/** Evaluate the imported SAE on the loaded data's validation split. */
async function evaluateImported(runId: string) {
  const ds = workspace.dataset;
  const imported = workspace.imported;
  if (!ds || !imported) throw new Error(!ds ? 'load activations to evaluate the imported SAE on.' : 'no SAE is imported.');
  const cfg = resolveConfig(imported.configInput, ds.dIn, ds.nLayers);
  importedFor(cfg);
  post({ type: 'evaluated', runId, metrics: await evaluateWeights(workspace, cfg, imported.tensors, backend ?? tf.getBackend()) });
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

/** A run stopped before it began (while its backends were measured). */
function stoppedBeforeStart(runId: string) {
  post({ type: 'status', runId, state: 'stopped', step: 0, totalSteps: 0, message: 'stopped while measuring the backends; nothing was trained' });
}

function fail(e: unknown, ids: { runId?: string; requestId?: string }, hint?: string) {
  const message = e instanceof Error ? e.message : String(e);
  post({ type: 'error', ...ids, message, hint });
}

/**
 * A run's config resolved on the loaded data. A run too large for the backend is refused here,
 * before anything is allocated.
 */
function runConfig(input: Record<string, unknown>): SaeConfig {
  const ds = workspace.dataset;
  if (!ds) throw new Error('no data is loaded; load the sample or drop an activation file first.');
  const cfg = resolveConfig(input, ds.dIn, ds.nLayers);
  const tooBig = refusal(cfg, ds.dIn, limitsOfBackend(backend ?? tf.getBackend(), tf.backend(), tf.env()));
  if (tooBig) throw new Error(tooBig);
  return cfg;
}

/** The training data of a run, its progress posted under the run's id. */
function runData(runId: string, cfg: SaeConfig) {
  return trainingDataFor(workspace, cfg, { onProgress: (label, done, total) => post({ type: 'progress', requestId: runId, label, done, total }) });
}

async function start(runId: string, input: Record<string, unknown>, fromImported = false, lmEvalEvery = 0, spliceSite?: number) {
  // Everything that can fail on the user's input is checked before the old run is dropped.
  const cfg = runConfig(input);
  const guidance = workspace.resolveGuidance(cfg.guidance);
  const imported = fromImported ? importedFor(cfg) : null;
  const data = await runData(runId, cfg);
  await dropRun();
  if (preference === 'auto') await autoBackend(runId, cfg, data);
  const trainer = new Trainer(cfg, data, backend ?? tf.getBackend());
  if (imported) {
    try { trainer.loadTensors(imported.tensors); } catch (e) { trainer.dispose(); throw e; }
  }
  if (guidance.length) trainer.setGuidance(guidance);
  const every = workspace.lm && Number.isFinite(lmEvalEvery) && lmEvalEvery > 0 ? Math.round(lmEvalEvery) : 0;
  // A new run replaces the autosave of the previous one.
  await clearAutosave();
  begin({ id: runId, trainer, log: new MetricLog(), savedRows: 0, savedPieces: 0, lmEvalEvery: every, nextLmEval: every, fromImported: Boolean(imported), spliceSite });
}

/** Stop the current run (if any) and free its trainer. */
async function dropRun() {
  const old = run;
  run = null;
  if (old) {
    old.state = 'stopped';
    await old.loopDone;
    await old.saving;
    old.trainer.dispose();
  }
}

/** Make `r` the current run and start its loop. */
function begin(r: { id: string; trainer: Trainer; log: MetricLog; savedRows: number; savedPieces: number; lmEvalEvery: number; nextLmEval: number; fromImported: boolean; spliceSite?: number }, resumedFrom?: number) {
  const ds = workspace.dataset!;
  const cfg = r.trainer.cfg;
  run = { ...r, state: 'running', datasetName: ds.name, checkpoints: [], loopDone: Promise.resolve(), hold: null, source: exportSource(workspace, cfg), savedAt: performance.now(), saveMs: 0, saving: null };
  post({ type: 'started', runId: r.id, config: cfg, live: r.trainer.liveParams, resumedFrom });
  run.loopDone = loop(run);
}

/** The loaded activations' fingerprint (what an autosave must match). */
function loadedFingerprint() {
  const ds = workspace.dataset;
  return ds ? fingerprint({ name: ds.name, rows: ds.rows, dIn: ds.dIn, nLayers: ds.nLayers, data: isStreamed(ds) ? undefined : ds.data }) : null;
}

/**
 * Write the run's state to the autosave. The state is copied on the device at once (the loop may
 * go on) and read back and stored in the background; one write at a time.
 */
function autosave(r: NonNullable<typeof run>): Promise<void> {
  if (r.saving) return r.saving;
  const fp = loadedFingerprint();
  if (!fp) return Promise.resolve();
  const state = r.trainer.saveState();
  // The rows logged since the last save (from where a rollback cut the log, if it did); all of
  // them in one piece now and then, so a long run's log is not spread over thousands of pieces.
  const from = r.savedPieces >= MAX_LOG_PIECES ? 0 : Math.min(r.savedRows, r.log.length);
  const piece = { from, data: r.log.toData(from) };
  const logLength = r.log.length;
  r.savedPieces = from === 0 ? 1 : r.savedPieces + 1;
  r.savedRows = logLength;
  const began = performance.now();
  r.savedAt = began;
  r.saving = (async () => {
    try {
      await writeAutosave({ runId: r.id, savedAt: Date.now(), config: r.trainer.cfg, dataset: fp, fromImported: r.fromImported, lmEvalEvery: r.lmEvalEvery, nextLmEval: r.nextLmEval, state: await state, logLength }, piece);
      r.saveMs = performance.now() - began;
    } catch (e) {
      // Not stored: the next save writes these rows again.
      r.savedRows = Math.min(r.savedRows, from);
      // Storage refused (quota, private window): training goes on; say so once.
      if (r.savedAt !== -1) fail(e, { runId: r.id }, 'Autosave failed, so a reload or a crash would lose this run; training goes on.');
      r.savedAt = -1;
    } finally {
      r.saving = null;
    }
  })();
  return r.saving;
}

/** Continue the autosaved run on the loaded data (after a reload or a restarted worker). */
async function resumeAutosave(runId: string) {
  const saved = await readAutosave();
  if (!saved) throw new Error('there is no autosaved run to resume.');
  const why = fingerprintMismatch(saved.dataset, loadedFingerprint());
  if (why) throw new Error(`${why}.`);
  const cfg = runConfig(saved.config as unknown as Record<string, unknown>);
  const guidance = workspace.resolveGuidance(saved.state.meta.guidance);
  const data = await runData(runId, cfg);
  await dropRun();
  if (preference === 'auto') await autoBackend(runId, cfg, data);
  const trainer = new Trainer(cfg, data, backend ?? tf.getBackend());
  try {
    trainer.restore(saved.state, { guidance });
  } catch (e) {
    trainer.dispose();
    throw e;
  }
  begin({ id: runId, trainer, log: saved.log, savedRows: saved.log.length, savedPieces: saved.logPieces, lmEvalEvery: workspace.lm ? saved.lmEvalEvery : 0, nextLmEval: saved.nextLmEval, fromImported: saved.fromImported }, trainer.stepCount);
}

async function loop(r: NonNullable<typeof run>) {
  const { trainer } = r;
  while (r.state === 'running' && !trainer.done) {
    if (r.hold) await r.hold;
    const sliceStart = performance.now();
    try {
      while (r.state === 'running' && !trainer.done && !r.hold && performance.now() - sliceStart < SLICE_MS) {
        await trainer.runSteps(1);
      }
    } catch (e) {
      r.state = 'paused';
      flush(r);
      if (!(e instanceof DivergenceError)) {
        // Out of memory: say what fits; the weights so far stay (the step's tidy freed its tensors).
        const oom = describeOomError(e, trainer.cfg, trainer.data.dIn, limitsOfBackend(trainer.backend, tf.backend(), tf.env()));
        fail(oom ? new Error(oom) : e, { runId: r.id }, oom ? 'Paused with the weights so far kept: export them, or train again at a size that fits.' : undefined);
        status(r, oom ? 'paused: out of memory' : 'paused: training failed');
        return;
      }
      // Back to the last finite state; the sliders keep the values that led here.
      const to = trainer.rollback();
      const live = trainer.liveParams;
      if (to !== null) {
        r.log.truncateToStep(to);
        post({ type: 'rolledBack', runId: r.id, step: to });
      }
      const where = to !== null ? `Rolled back to step ${to.toLocaleString('en-US')}, the last healthy state, and paused.` : 'It diverged before its first logged step, so there is no earlier state to go back to.';
      fail(new Error(`training diverged at step ${e.step.toLocaleString('en-US')} (${e.detail}). ${where}`), { runId: r.id },
        `Lower the learning rate (now ${live.lr.toPrecision(3)}; try ${(live.lr / 10).toPrecision(2)}) or λ with the sliders, then Resume — or Reset and train again.`);
      flush(r);
      if (to !== null) await autosave(r);
      status(r, 'paused: training diverged');
      return;
    }
    flush(r);
    if (r.savedAt !== -1 && performance.now() - r.savedAt > Math.max(AUTOSAVE_SECONDS * 1000, AUTOSAVE_COST_FACTOR * r.saveMs)) void autosave(r);
    if (r.lmEvalEvery > 0 && trainer.stepCount >= r.nextLmEval) {
      r.nextLmEval = trainer.stepCount + r.lmEvalEvery;
      await periodicSplice(r);
    }
    // Yield so that pause / update / stop messages are handled between slices.
    await yieldToMailbox();
  }
  if (run !== r) return;
  if (trainer.done && r.state === 'running') {
    r.state = 'done';
    await finish(r);
  }
}

/** Loss recovered on a short held-out text while training; a failure turns the periodic check off. */
async function periodicSplice(r: NonNullable<typeof run>) {
  try {
    const evaluation = await evaluateWithModel(workspace, r.trainer, { maxTokens: PERIODIC_EVAL_TOKENS, reuse: r.periodic, site: r.spliceSite, recordedSites: recordedSites(r), recordedBy: RUN_RECORDED_BY });
    r.periodic = evaluation;
    post({ type: 'spliced', runId: r.id, evaluation, step: r.trainer.stepCount });
  } catch (e) {
    r.lmEvalEvery = 0;
    fail(e, { runId: r.id }, 'Loss recovered will not be measured during this run; training goes on.');
  }
}

/** Model sites of the activations a run was trained on, when the model in the page extracted them. */
function recordedSites(r: NonNullable<typeof run>): number[] | undefined {
  const sites = r.source ? (r.source.hookNames ?? [r.source.hookName]).map(siteOfHook) : [];
  return sites.length > 0 && sites.every((s) => s !== undefined) ? sites as number[] : undefined;
}

const RUN_RECORDED_BY = 'where the activations it was trained on were extracted';

/** Splice the run's SAE (between training slices) or the imported one into the language model. */
async function spliceEvaluate(msg: Extract<ToWorker, { type: 'spliceEvaluate' }>) {
  // No progress messages: the button says the model is running, and a pass takes seconds.
  const req = { site: msg.site, text: msg.text };
  if (msg.source === 'imported') {
    const ds = workspace.dataset;
    const imported = workspace.imported;
    if (!ds || !imported) throw new Error(!ds ? 'load activations (or extract them from text) before evaluating the imported SAE.' : 'no SAE is imported.');
    const cfg = resolveConfig(imported.configInput, ds.dIn, ds.nLayers);
    importedFor(cfg);
    const hook = siteOfHook(imported.info.cfg.hook_name);
    const recorded = { recordedSites: hook === undefined ? undefined : [hook], recordedBy: "its cfg.json's hook_name" };
    return post({ type: 'spliced', runId: msg.runId, evaluation: await evaluateWeightsWithModel(workspace, cfg, imported.tensors, backend ?? tf.getBackend(), { ...req, ...recorded }) });
  }
  const r = run;
  if (!r || r.id !== msg.runId) throw new Error('that run is gone; train again, then evaluate.');
  const evaluation = await holding(r, () => evaluateWithModel(workspace, r.trainer, { ...req, recordedSites: recordedSites(r), recordedBy: RUN_RECORDED_BY }));
  post({ type: 'spliced', runId: r.id, evaluation });
}

/** Run `work` while the training loop waits (it stops at its next step boundary until `work` ends). */
async function holding<T>(r: NonNullable<typeof run>, work: () => Promise<T>): Promise<T> {
  let release = () => {};
  const held = new Promise<void>((res) => { release = res; });
  r.hold = held;
  try {
    return await work();
  } finally {
    if (r.hold === held) r.hold = null;
    release();
  }
}

async function browseFeatures(r: NonNullable<typeof run>) {
  const ov = await holding(r, () => featureOverview(workspace, r.trainer));
  r.features = { overview: ov, step: r.trainer.stepCount };
  const { density, maxActivation, meanActivation, densityHistogram, dead, dense, rows } = ov;
  post({ type: 'features', runId: r.id, features: { rows, density, maxActivation, meanActivation, densityHistogram, dead, dense } });
}

/** The feature pass of the current weights (made again, and re-sent, when training moved on). */
async function currentFeatures(r: NonNullable<typeof run>): Promise<FeatureOverview> {
  if (!r.features || r.features.step !== r.trainer.stepCount) await browseFeatures(r);
  return r.features!.overview;
}

/** The logit lens of a decoder direction, when a language model of the activations' width is loaded. */
function directionLogits(): ((dir: Float32Array) => Float32Array) | undefined {
  const model = workspace.lm && workspace.dataset && workspace.lm.checkpoint.config.dim === workspace.dataset.dIn ? lmModel(workspace) : null;
  return model ? (dir) => model.directionLogits(dir) : undefined;
}

async function inspectLatent(r: NonNullable<typeof run>, latent: number) {
  const overview = await currentFeatures(r);
  const logits = directionLogits();
  const detail = await holding(r, () => latentDetail(workspace, r.trainer, overview, latent, { logits }));
  post({ type: 'latent', runId: r.id, detail });
}

function status(r: NonNullable<typeof run>, message?: string) {
  post({ type: 'status', runId: r.id, state: r.state, step: r.trainer.stepCount, totalSteps: r.trainer.totalSteps, message, checkpoints: r.checkpoints.map((c) => c.step) });
}

function flush(r: NonNullable<typeof run>) {
  const rows = r.trainer.takeRows();
  const events = r.trainer.takeEvents();
  r.checkpoints.push(...r.trainer.takeCheckpoints());
  r.checkpoints.splice(0, Math.max(0, r.checkpoints.length - MAX_CHECKPOINTS));
  // Large SAEs: keep the newest checkpoints that fit the memory budget (always the newest one).
  const bytes = (c: Checkpoint) => Object.values(c.tensors).reduce((a, t) => a + t.data.byteLength, 0);
  while (r.checkpoints.length > 1 && r.checkpoints.reduce((a, c) => a + bytes(c), 0) > MAX_CHECKPOINT_BYTES) r.checkpoints.shift();
  r.log.append(rows);
  if (rows.length || events.length) post({ type: 'metrics', runId: r.id, rows, events });
  status(r);
}

async function finish(r: NonNullable<typeof run>) {
  // A finished run has nothing to resume (it is kept among the runs by the page).
  await r.saving;
  await clearAutosave();
  status(r, r.trainer.stoppedEarlyAt !== null ? `stopped early: kept the weights of step ${r.trainer.stoppedEarlyAt}` : undefined);
  r.lastEval = await r.trainer.evaluate();
  post({ type: 'evaluated', runId: r.id, metrics: r.lastEval.metrics });
}

function toBuffers(files: Record<string, Uint8Array>): Record<string, ArrayBuffer> {
  const buffers: Record<string, ArrayBuffer> = {};
  for (const [name, bytes] of Object.entries(files)) {
    buffers[name] = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  return buffers;
}

async function exportRun(r: NonNullable<typeof run>) {
  r.lastEval ??= await r.trainer.evaluate();
  const buffers = toBuffers(buildRunExport({
    tensors: await r.trainer.exportTensors(),
    saelens: r.trainer.saelensConfig(),
    dIn: r.trainer.data.dIn,
    config: r.trainer.currentConfig(),
    rows: r.log.toRows(),
    firingFraction: r.lastEval.firingFraction,
    datasetName: r.datasetName,
    normalization: r.trainer.normalization,
    source: r.source,
  }));
  post({ type: 'exported', runId: r.id, files: buffers }, Object.values(buffers));
}

function exportCheckpoint(r: NonNullable<typeof run>, step: number) {
  const c = r.checkpoints.find((cp) => cp.step === step);
  if (!c) throw new Error(`no checkpoint at step ${step} is kept (kept: ${r.checkpoints.map((cp) => cp.step).join(', ') || 'none'}).`);
  const files = buildRunExport({
    tensors: c.tensors,
    saelens: r.trainer.saelensConfig(),
    dIn: r.trainer.data.dIn,
    config: r.trainer.currentConfig(),
    rows: r.log.toRows().filter((row) => row.step <= step),
    datasetName: r.datasetName,
    normalization: r.trainer.normalization,
    source: r.source,
  });
  const buffers = toBuffers({ [`checkpoint_step_${step}.zip`]: zipFiles(files) });
  post({ type: 'checkpointExported', runId: r.id, step, files: buffers }, Object.values(buffers));
}

async function handle(msg: ToWorker) {
  switch (msg.type) {
    case 'init':
      // Speeds measured by earlier sessions in this browser: the same sizes are not measured again.
      for (const c of msg.calibrations ?? []) if (c && typeof c.key === 'string') calibrations.set(c.key, c);
      return init(msg.prefer, msg.threads);
    case 'setBackend':
      await initialised;
      try { return await setPreference(msg.preference); } catch (e) { return fail(e, {}); }
    case 'loadSample': {
      workspace.setDataset(makeSyntheticDataset());
      return post({ type: 'loaded', requestId: msg.requestId, info: describe(workspace), results: [], lm: languageModelInfo(workspace) });
    }
    case 'load': {
      try {
        // Each file's failure is reported in its result and changes nothing already loaded.
        const { results, sae } = await workspace.loadFiles(msg.files, {
          memoryBudgetBytes: msg.memoryBudgetBytes,
          onProgress: (label, done, total) => post({ type: 'progress', requestId: msg.requestId, label, done, total }),
        });
        const ds = workspace.dataset;
        const saeInfo = sae && workspace.imported ? { ...sae.info, config: resolveConfig(sae.configInput, sae.info.dIn, Math.max(ds?.nLayers ?? 1, MULTI_LAYER.includes(String(sae.configInput.architecture) as never) ? 2 : 1)) } : undefined;
        return post({ type: 'loaded', requestId: msg.requestId, info: describe(workspace), results, sae: saeInfo, lm: languageModelInfo(workspace) });
      } catch (e) {
        return fail(e, { requestId: msg.requestId }, 'The data already loaded is unchanged.');
      }
    }
    case 'extract': {
      try {
        const result = await extractFromText(workspace, {
          text: msg.text, sites: msg.sites, includeBos: msg.includeBos,
          onProgress: (done, total) => post({ type: 'progress', requestId: msg.requestId, label: `running the language model over ${msg.text}`, done, total }),
        });
        return post({ type: 'loaded', requestId: msg.requestId, info: describe(workspace), results: [result], lm: languageModelInfo(workspace) });
      } catch (e) {
        return fail(e, { requestId: msg.requestId }, 'The data already loaded is unchanged.');
      }
    }
    case 'spliceEvaluate':
      try { return await spliceEvaluate(msg); } catch (e) { return fail(e, { runId: msg.runId }); }
    case 'exportDataset':
      try {
        const buffers = toBuffers(datasetFiles(workspace));
        return post({ type: 'datasetExported', requestId: msg.requestId, files: buffers }, Object.values(buffers));
      } catch (e) {
        return fail(e, { requestId: msg.requestId });
      }
    case 'evaluateImported':
      try { return await evaluateImported(msg.runId); } catch (e) { return fail(e, { runId: msg.runId }); }
    case 'previewLabels': {
      try {
        return post({ type: 'labelsPreview', requestId: msg.requestId, ...workspace.previewLabels(msg.labels) });
      } catch (e) {
        return post({ type: 'labelsPreview', requestId: msg.requestId, rows: 0, positives: 0, examples: [], error: e instanceof Error ? e.message : String(e) });
      }
    }
    case 'bench':
      try {
        if (!(await tf.setBackend(msg.backend))) throw new Error(`backend ${msg.backend} failed to initialise`);
        await tf.ready();
        return post({ type: 'benchResult', requestId: msg.requestId, result: await benchTrainingSteps(msg.spec) });
      } catch (e) {
        return post({ type: 'benchResult', requestId: msg.requestId, error: e instanceof Error ? e.message : String(e) });
      } finally {
        if (backend) await tf.setBackend(backend);
      }
    case 'benchSgemm':
      try {
        return post({ type: 'benchSgemmResult', requestId: msg.requestId, rows: await wasmSgemm(msg.shapes) });
      } catch (e) {
        return post({ type: 'benchSgemmResult', requestId: msg.requestId, error: e instanceof Error ? e.message : String(e) });
      }
    case 'resumeAutosave':
      await initialised;
      try {
        return await resumeAutosave(msg.runId);
      } catch (e) {
        if (isAbort(e)) return stoppedBeforeStart(msg.runId);
        return fail(e, { runId: msg.runId }, 'The autosave is kept; load the data it was trained on, then Resume.');
      }
    case 'ping':
      {
        const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
        return post({ type: 'pong', memory: { numTensors: m.numTensors, numBytes: m.numBytes, numBytesInGPU: m.numBytesInGPU } });
      }
    case 'debugCrash':
      return; // handled in onmessage
    case 'start':
      await initialised;
      try {
        return await start(msg.runId, msg.config as Record<string, unknown>, msg.fromImported, msg.lmEvalEvery, msg.spliceSite);
      } catch (e) {
        if (isAbort(e)) return stoppedBeforeStart(msg.runId);
        return fail(e, { runId: msg.runId }, e instanceof ConfigError ? 'Fix the highlighted setting and press Train again.' : undefined);
      }
    default: {
      if (!run || run.id !== msg.runId) {
        // Stopped while its backends are being measured: the run is not started.
        if (msg.type === 'stop' && calibrating?.runId === msg.runId) calibrating.abort.abort();
        return; // else a late message for an old run
      }
      const r = run;
      switch (msg.type) {
        case 'update':
          r.trainer.update(msg.live);
          return;
        case 'guidance':
          try {
            const targets = msg.targets.map((t, i) => resolveGuidanceTarget(t, i, r.trainer.cfg.d_sae));
            r.trainer.setGuidance(workspace.resolveGuidance(targets));
          } catch (e) {
            fail(e, { runId: r.id }, 'The guidance targets in effect are unchanged.');
          }
          return;
        case 'exportCheckpoint':
          try { return exportCheckpoint(r, msg.step); } catch (e) { return fail(e, { runId: r.id }); }
        case 'features':
          try { return await browseFeatures(r); } catch (e) { return fail(e, { runId: r.id }); }
        case 'latent':
          try { return await inspectLatent(r, msg.latent); } catch (e) { return fail(e, { runId: r.id }); }
        case 'exportContexts':
          try {
            const overview = await currentFeatures(r);
            const json = await holding(r, () => exportContexts(workspace, r.trainer, overview));
            const buffers = toBuffers({ 'contexts.json': new TextEncoder().encode(JSON.stringify(json)) });
            return post({ type: 'contextsExported', runId: r.id, files: buffers }, Object.values(buffers));
          } catch (e) { return fail(e, { runId: r.id }); }
        case 'exportDashboard':
          try {
            const overview = await currentFeatures(r);
            const logits = directionLogits();
            const json = await holding(r, () => neuronpediaDashboards(workspace, r.trainer, overview, msg.latents, { logits }));
            const name = msg.latents.length === 1 ? `neuronpedia_feature_${msg.latents[0]}.json` : 'neuronpedia_features.json';
            const buffers = toBuffers({ [name]: new TextEncoder().encode(JSON.stringify(json)) });
            return post({ type: 'dashboardExported', runId: r.id, files: buffers }, Object.values(buffers));
          } catch (e) { return fail(e, { runId: r.id }); }
        case 'latentContexts':
          try {
            const overview = await currentFeatures(r);
            return post({ type: 'latentContexts', runId: r.id, contexts: await holding(r, () => latentContexts(workspace, r.trainer, overview, msg.latents)) });
          } catch (e) { return post({ type: 'latentContexts', runId: r.id, contexts: {}, error: e instanceof Error ? e.message : String(e) }); }
        case 'pause':
          // Report 'paused' only once the loop has stopped, so no metrics arrive after it.
          if (r.state === 'running') { r.state = 'paused'; await r.loopDone; await autosave(r); }
          return status(r);
        case 'resume':
          if (r.state === 'paused' && !r.trainer.done) {
            await r.loopDone;
            r.state = 'running';
            r.loopDone = loop(r);
          }
          return;
        case 'stop':
          if (r.state === 'running' || r.state === 'paused') {
            r.state = 'stopped';
            await r.loopDone;
            flush(r);
            await finish(r);
          }
          return;
        case 'export':
          try { await r.loopDone; return await exportRun(r); } catch (e) { return fail(e, { runId: r.id }); }
      }
    }
  }
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  // For tests: an exception nothing catches, as a bug would throw (the page hears it as the worker's error event).
  if (ev.data.type === 'debugCrash') { setTimeout(() => { throw new Error('a deliberate crash (debugCrash)'); }); return; }
  handle(ev.data).catch((e) => fail(e, {}));
};

// A promise nobody awaited that failed: say so instead of failing silently.
self.addEventListener('unhandledrejection', (ev: PromiseRejectionEvent) => {
  ev.preventDefault();
  fail(ev.reason, {});
});
