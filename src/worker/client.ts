// The page's side of the worker protocol: sends typed messages, and turns the worker's messages
// into store updates. Messages of an old run (a different runId) are ignored. It runs in the page,
// so it is app-layer code like src/ui and src/store, which it may import; the worker itself
// (engine.worker.ts) may not (.dependency-cruiser.cjs).
import { SPARSITY_KIND, type ConfigInput, type GuidanceTarget, type LiveParams } from '../engine/config';
import { spliceTargetOf } from '../data/sites';
import { describeTokenRule } from '../data/tokenRules';
import { metricsBuffer } from '../store/metricsBuffer';
import { runDataKey, runDataOf } from '../store/runHistory';
import { NO_SPLICE, appendLog, configFromForm, staleRun, type AppState, formFromConfig, guidanceProblem, labelSource, toTarget, useStore, type GuidanceDraft } from '../store/store';
import { download, downloadFiles } from '../ui/download';
import { formatNumber } from '../ui/format';
import type { BackendPreference, EngineMemory, FromWorker, ToWorker } from './protocol';
import type { BackendName, LiveEvent } from '../engine/types';
import type { Calibration } from '../engine/calibrate';
import type { FileOptions, SourceFile } from '../data/types';
import type { LatentContext } from '../data/features';
import type { SpliceEvaluation } from '../data/languageModel';
import { clearAutosave, readAutosave, summarise } from '../run/autosave';
import { environmentKey, loadCalibrations, saveCalibration } from '../store/calibrationCache';

let worker: Worker | null = null;
let counter = 0;
const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

/** File loads in flight: request id → file name. */
const pendingLoads = new Map<string, string>();
/** Label previews in flight: request id → guidance target id. */
const pendingPreviews = new Map<string, string>();

function send(msg: ToWorker, transfer: Transferable[] = []) {
  worker?.postMessage(msg, transfer);
}

export function describeSource(t: GuidanceTarget): string {
  return t.labels.kind === 'file' ? `labels ${t.labels.name}` : describeTokenRule(t.labels);
}

function describeTarget(t: GuidanceTarget): string {
  return `${t.id}: latent ${t.latent} ← ${describeSource(t)}, ${t.method} β ${formatNumber(t.beta)}${t.method === 'contrastive' ? ` margin ${formatNumber(t.margin)}` : ''}`;
}

function describeEvent(e: LiveEvent): string[] {
  const lines: string[] = [];
  const parts = Object.entries(e.changes).map(([k, v]) => (k === 'targetL0' ? `target L0 → ${formatNumber((v as number) * 100)}%` : `${k} → ${formatNumber(v as number)}`));
  if (parts.length) lines.push(`step ${e.step}: ${parts.join(', ')}`);
  if (e.guidance) lines.push(`step ${e.step}: guidance → ${e.guidance.length ? e.guidance.map(describeTarget).join('; ') : 'none'}`);
  if (e.note) lines.push(`step ${e.step}: ${e.note}`);
  return lines;
}

function settleLoad(requestId: string) {
  pendingLoads.delete(requestId);
  if (pendingLoads.size === 0) useStore.setState({ dataLoading: null, loadProgress: null });
  else useStore.setState({ dataLoading: `Reading ${[...pendingLoads.values()].join(', ')}…` });
}

/** Files of the latest drops by name, so one can be re-read with options (array, raw shape). */
const droppedFiles = new Map<string, File>();

function onLoaded(msg: Extract<FromWorker, { type: 'loaded' }>) {
  const s = useStore.getState();
  const info = msg.info;
  const prev = s.dataset;
  const patch: Partial<typeof s> = {};
  if (info) {
    patch.dataset = info;
    // Layer choices are per file: fall back to the defaults of a new file.
    if (!prev || prev.nLayers !== info.nLayers || prev.name !== info.name) patch.form = { ...s.form, layer: null, layer_start: null, layer_end: null };
  }
  const errors = msg.results.filter((r) => r.kind === 'error');
  if (errors.length) {
    patch.dataError = {
      message: errors.map((r) => r.message).join(' · '),
      hint: info ? 'Everything loaded before is unchanged.' : 'Nothing was loaded.',
    };
  }
  // The latest result per file: the Data panel offers array choices and raw-shape forms from them.
  const byName = new Map(s.fileResults.map((r) => [r.name, r]));
  for (const r of msg.results) {
    // A multi-array file reports its activations (with the array choices) and its companions under
    // one name: the result carrying the choices wins.
    const prev = byName.get(r.name);
    if (prev?.choices && !r.choices && msg.results.includes(prev)) continue;
    byName.set(r.name, r);
  }
  patch.fileResults = [...byName.values()].filter((r) => r.kind === 'needs_shape' || (r.choices && r.choices.length > 1) || r.kind === 'error').slice(-12);
  for (const r of msg.results) {
    if (r.kind === 'run_config' && r.config) {
      const { form, guidance } = formFromConfig(r.config as ConfigInput);
      patch.form = { ...(patch.form ?? s.form), ...form };
      if (guidance.length) patch.guidance = guidance;
    }
  }
  if (msg.sae) {
    patch.imported = msg.sae;
    patch.importEvaluation = null;
    patch.importSplice = NO_SPLICE;
  }
  if (msg.lm !== undefined) {
    patch.lm = msg.lm;
    const n = msg.lm?.model?.nLayers;
    // Default extraction site: the middle of the model, as most SAE papers pick.
    if (n !== undefined && (s.lmSites.length === 0 || s.lmSites.some((x) => x > n))) patch.lmSites = [Math.floor(n / 2)];
    if (n !== undefined && s.spliceSite !== null && s.spliceSite > n) patch.spliceSite = null;
  }
  // Activations from text come with document ids: validate on whole documents, so that the
  // held-out documents can judge the SAE through the model.
  if (info && msg.lm?.datasetText && msg.results.some((r) => r.kind === 'activations')) {
    patch.form = { ...(patch.form ?? s.form), split_by: 'document' };
  }
  useStore.setState(patch);
  settleLoad(msg.requestId);
  for (const r of msg.results) appendLog(r.kind === 'error' ? `error: ${r.message}` : r.message);
  if (!msg.results.length && info) appendLog(`loaded ${info.name}: ${info.nLayers > 1 ? `${info.rows.toLocaleString('en-US')} × ${info.nLayers} layers × ${info.dIn}` : `${info.rows.toLocaleString('en-US')} × ${info.dIn}`}`);
  // Said once, when other data arrives (not when a companion file joins the same data).
  const newData = info && (!prev || runDataKey(runDataOf(prev)) !== runDataKey(runDataOf(info)));
  const stale = newData ? staleRun(useStore.getState()) : null;
  if (stale) {
    const active = s.runState === 'running' || s.runState === 'paused';
    appendLog(active
      ? `the run continues on its own data (${stale.runData}); ${stale.loaded} is for the next run`
      : `the results shown are of the last run, trained on ${stale.runData}, not on the loaded ${stale.loaded}`);
  }
}

function onMessage(msg: FromWorker) {
  lastHeard = Date.now();
  if ((msg.type === 'loaded' || msg.type === 'error') && msg.requestId) {
    requestWaiters.get(msg.requestId)?.();
    requestWaiters.delete(msg.requestId);
  }
  if (msg.type === 'ready') readyWaiter?.();
  const s = useStore.getState();
  switch (msg.type) {
    case 'ready':
      useStore.setState({ backend: msg.backend, backendDetail: msg.detail ?? null, skipped: msg.skipped, availableBackends: msg.available, backendPreference: msg.preference });
      appendLog(`backend: ${msg.backend}${msg.detail ? ` (${msg.detail})` : ''}`);
      return;
    case 'backend':
      if (msg.backend !== s.backend) appendLog(`backend: ${msg.backend}${msg.detail ? ` (${msg.detail})` : ''}${msg.preference === 'auto' ? ', the fastest measured' : ''}`);
      useStore.setState({ backend: msg.backend, backendDetail: msg.detail ?? null, backendPreference: msg.preference });
      return;
    case 'loaded':
      return onLoaded(msg);
    case 'progress':
      useStore.setState({ loadProgress: { label: msg.label, done: msg.done, total: msg.total } });
      return;
    case 'labelsPreview': {
      const id = pendingPreviews.get(msg.requestId);
      pendingPreviews.delete(msg.requestId);
      if (!id) return;
      const preview = msg.error
        ? { pending: false, error: msg.error }
        : {
          pending: false,
          text: `${msg.positives.toLocaleString('en-US')} of ${msg.rows.toLocaleString('en-US')} rows positive (${msg.rows ? ((100 * msg.positives) / msg.rows).toFixed(1) : '0'}%)`
            + (msg.examples.length ? ` e.g. ${msg.examples.slice(0, 5).map((e) => `'${e}'`).join(', ')}…` : ''),
        };
      useStore.setState((st) => ({ previews: { ...st.previews, [id]: preview } }));
      return;
    }
    case 'error':
      if (msg.requestId) {
        const name = pendingLoads.get(msg.requestId);
        const message = name ? `${name}: ${msg.message}` : msg.message;
        const before = useStore.getState().dataError;
        useStore.setState({ dataError: before ? { message: `${before.message} · ${message}`, hint: msg.hint ?? before.hint } : { message, hint: msg.hint } });
        settleLoad(msg.requestId);
      } else if (msg.runId && msg.runId === importEvalId) {
        useStore.setState({ importEvaluating: false, dataError: { message: msg.message, hint: msg.hint } });
      } else if (msg.runId && msg.runId === importSpliceId) {
        useStore.setState({ importSplice: { pending: false, evaluation: null, error: msg.message } });
      } else if (msg.runId && msg.runId === s.runId && s.splice.pending) {
        useStore.setState({ splice: { pending: false, evaluation: null, error: msg.message } });
      } else if (msg.runId && msg.runId === s.runId && (s.featuresPending || s.latentPending !== null)) {
        useStore.setState({ featuresPending: false, latentPending: null, runError: { message: msg.message, hint: msg.hint } });
      } else if (!msg.runId || msg.runId === s.runId) {
        useStore.setState({ runError: { message: msg.message, hint: msg.hint }, exporting: false, checkpointExporting: null });
        // A rejected start leaves nothing running.
        if (msg.runId && s.runState === 'running' && !s.resolved) useStore.setState({ runState: 'idle', runId: null, calibrating: null });
      }
      appendLog(`error: ${msg.message}`);
      return;
    case 'benchResult':
    case 'benchSgemmResult':
      return;
    case 'pong':
      for (const resolve of memoryWaiters.splice(0)) resolve(msg.memory);
      return;
    case 'latentContexts': {
      const waiting = contextRequests.get(msg.runId);
      contextRequests.delete(msg.runId);
      if (msg.error) waiting?.reject(new Error(msg.error));
      else waiting?.resolve(msg.contexts);
      return;
    }
    case 'datasetExported': {
      const { dataset } = useStore.getState();
      downloadFiles(`${(dataset?.name ?? 'activations').replace(/[^\w.-]+/g, '_')}.zip`, msg.files);
      return;
    }
  }
  if (msg.type === 'spliced' && msg.runId === importSpliceId) {
    useStore.setState({ importSplice: { pending: false, evaluation: msg.evaluation } });
    appendLog(`imported SAE spliced into the model: ${describeSplice(msg.evaluation)}`);
    return;
  }
  if (msg.type === 'evaluated' && msg.runId === importEvalId) {
    useStore.setState({ importEvaluation: msg.metrics, importEvaluating: false });
    appendLog(`imported SAE on the validation rows: NMSE ${formatNumber(msg.metrics.nmse)}, FVE ${formatNumber(msg.metrics.fve)}, L0 ${formatNumber(msg.metrics.l0)}`);
    return;
  }
  if (msg.type === 'exported') {
    const waiting = weightRequests.get(msg.runId);
    weightRequests.delete(msg.runId);
    waiting?.(msg.files);
  }
  if (msg.runId !== s.runId) return; // a message of an older run
  switch (msg.type) {
    case 'calibrating':
      if (msg.index === 0) appendLog(`measuring the backends for ${msg.key}…`);
      useStore.setState({ calibrating: { backend: msg.backend, index: msg.index, total: msg.total, since: s.calibrating?.since ?? Date.now() } });
      return;
    case 'calibrated':
      // The progress line keeps saying "measuring" until the run has started.
      useStore.setState({ calibration: { calibration: msg.calibration, cached: msg.cached } });
      if (!msg.cached) saveCalibration(environmentKey(wasmThreads), msg.calibration);
      appendLog(describeCalibration(msg.calibration, msg.cached));
      return;
    case 'started':
      useStore.setState({ resolved: msg.config, live: msg.live, totalSteps: msg.config.steps, runState: 'running', autosave: null, calibrating: null, ...(msg.resumedFrom !== undefined ? { step: msg.resumedFrom } : {}) });
      lastSentGuidance = JSON.stringify(msg.config.guidance);
      if (msg.resumedFrom !== undefined) appendLog(`resumed the autosaved run at step ${msg.resumedFrom.toLocaleString('en-US')}`);
      appendLog(`started ${msg.config.architecture}: d_sae ${msg.config.d_sae}, batch ${msg.config.batch_size}, ${msg.config.steps} steps`
        + (msg.config.sparsity_mode === 'target_l0' ? `, target L0 ${formatNumber(msg.config.target_l0 * 100)}%` : ''));
      return;
    case 'metrics': {
      metricsBuffer.append(msg.rows);
      const last = msg.rows[msg.rows.length - 1];
      if (last) {
        const remaining = Math.max(0, s.totalSteps - last.step);
        const rate = last.tokens_per_s / Math.max(1, s.resolved?.batch_size ?? 1);
        const patch: Partial<typeof s> = { tokensPerS: last.tokens_per_s, etaSeconds: rate > 0 ? remaining / rate : 0 };
        // In target-L0 mode the controller moves λ (or k): the sliders show where it is.
        if (s.live && s.resolved?.sparsity_mode === 'target_l0') {
          const kind = SPARSITY_KIND[s.resolved.architecture];
          if (kind === 'penalty' && Number.isFinite(last.lambda) && last.lambda !== s.live.lambda) patch.live = { ...s.live, lambda: last.lambda };
          if (kind === 'k' && Number.isFinite(last.k) && last.k !== s.live.k) patch.live = { ...s.live, k: last.k };
        }
        useStore.setState(patch);
      }
      for (const e of msg.events) for (const line of describeEvent(e)) appendLog(line);
      return;
    }
    case 'status':
      if (msg.state !== s.runState || msg.message) appendLog(msg.message ?? `${msg.state} at step ${msg.step}`);
      useStore.setState({
        runState: msg.state, step: msg.step, totalSteps: msg.totalSteps, calibrating: null,
        ...(msg.checkpoints && msg.checkpoints.join() !== s.checkpoints.join() ? { checkpoints: msg.checkpoints } : {}),
      });
      return;
    case 'evaluated':
      useStore.setState({ evaluation: msg.metrics });
      return;
    case 'rolledBack':
      metricsBuffer.truncate(msg.step);
      useStore.setState((st) => ({ step: msg.step, splicePoints: st.splicePoints.filter((p) => p.step <= msg.step) }));
      return;
    case 'features':
      useStore.setState({ features: msg.features, featuresPending: false });
      appendLog(`feature browser: ${msg.features.rows.toLocaleString('en-US')} rows, ${msg.features.dead} dead and ${msg.features.dense} dense latents`);
      return;
    case 'latent':
      useStore.setState({ latentDetail: msg.detail, latentPending: null });
      return;
    case 'contextsExported':
      useStore.setState({ featuresPending: false });
      download('contexts.json', msg.files['contexts.json'], 'application/json');
      return;
    case 'dashboardExported':
      useStore.setState({ featuresPending: false });
      for (const [name, bytes] of Object.entries(msg.files)) download(name, bytes, 'application/json');
      return;
    case 'spliced': {
      const e = msg.evaluation;
      if (msg.step !== undefined) {
        const g = e.groups[0];
        useStore.setState((st) => ({ splicePoints: [...st.splicePoints, { step: msg.step!, loss_recovered: g.loss_recovered, loss_recovered_se: g.loss_recovered_se, predictions: e.predictions, kl: g.kl, ce: g.ce }] }));
        return;
      }
      useStore.setState({ splice: { pending: false, evaluation: e } });
      appendLog(`spliced into the model: ${describeSplice(e)}`);
      return;
    }
    case 'exported':
      // Only an Export click downloads (the files of a run being kept arrive here too).
      if (!s.exporting) return;
      useStore.setState({ exported: msg.files, exporting: false });
      appendLog(`exported ${Object.keys(msg.files).join(', ')}`);
      return;
    case 'checkpointExported': {
      useStore.setState({ checkpointExporting: null });
      const cfg = s.resolved;
      downloadFiles(`sae_${cfg?.architecture ?? 'run'}_${cfg?.d_sae ?? ''}_step${msg.step}.zip`, msg.files);
      appendLog(`exported checkpoint of step ${msg.step}`);
      return;
    }
  }
}

/** One line for the log: what auto chose and the speeds it chose by. */
function describeCalibration(c: Calibration, cached: boolean): string {
  const speeds = c.results.map((r) => `${r.backend} ${r.status === 'measured' ? `${Math.round(r.tokensPerS!).toLocaleString('en-US')} tokens/s` : r.reason}`).join(', ');
  const chose = c.fastest ? `auto backend: ${c.fastest}` : `auto backend: none measured within the limits, staying on ${useStore.getState().backend ?? 'the current one'}`;
  return `${chose} for ${c.key}${cached ? ' (measured earlier)' : ` (measured in ${(c.ms / 1000).toFixed(1)} s)`} — ${speeds}`;
}

// ---- the worker's life: start, liveness, restart --------------------------------------------------

let wasmThreads: number | undefined;
/** When the worker was last heard from (any message). */
let lastHeard = 0;
/** The worker stops answering for this long while training → it is declared down. */
const SILENCE_LIMIT_MS = 30_000;
/** Messages that built the worker's data, in order: replayed into a restarted worker. */
const dataMessages: ((requestId: string) => ToWorker)[] = [];
/** Request id → resolver, for replayed loads (resolved by 'loaded' or 'error'). */
const requestWaiters = new Map<string, () => void>();
let readyWaiter: (() => void) | null = null;
/** Callers of engineMemory() waiting for the next 'pong'. */
const memoryWaiters: ((m: EngineMemory | null) => void)[] = [];

/** The worker's tfjs memory (for the soak script and tests); null when the worker is down. */
export function engineMemory(): Promise<EngineMemory | null> {
  if (!worker) return Promise.resolve(null);
  const answer = new Promise<EngineMemory | null>((resolve) => memoryWaiters.push(resolve));
  send({ type: 'ping' });
  return answer;
}

function spawnWorker(): Promise<void> {
  const ready = new Promise<void>((resolve) => { readyWaiter = resolve; });
  const w = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
  worker = w;
  w.onmessage = (ev: MessageEvent<FromWorker>) => { if (worker === w) onMessage(ev.data); };
  w.onerror = (ev) => { if (worker === w) engineDown(`the engine worker failed: ${ev.message || 'unknown error'}`); };
  lastHeard = Date.now();
  // A restarted worker keeps the backend the user chose.
  const { backendPreference } = useStore.getState();
  send({ type: 'init', prefer: backendPreference === 'auto' ? undefined : backendPreference, threads: wasmThreads, calibrations: loadCalibrations(environmentKey(wasmThreads)) });
  return ready;
}

/** ?backend=NAME (or a choice made before a restart) names the backend; none means auto. */
export function startEngine(prefer?: BackendName, threads?: number) {
  useStore.setState({ backendPreference: prefer ?? 'auto' });
  wasmThreads = threads;
  void spawnWorker();
  watchGuidance();
  // While a run trains the worker posts every ~100 ms; a ping covers the quiet moments.
  setInterval(() => {
    const { runState, engineDown: down } = useStore.getState();
    if (!worker || down || runState !== 'running') return;
    if (Date.now() - lastHeard > SILENCE_LIMIT_MS) engineDown(`the engine worker has not answered for ${SILENCE_LIMIT_MS / 1000} s`);
    else send({ type: 'ping' });
  }, 2000);
  // For tests and the curious: what a crashed worker looks like.
  (globalThis as unknown as { __saeWorkbench?: object }).__saeWorkbench = { terminateEngine: () => engineDown('the engine worker was terminated'), crashEngine: () => send({ type: 'debugCrash' }), engineMemory };
  void refreshAutosave();
}

/** The worker is gone: say so, keep the charts, the log and the kept runs. */
function engineDown(reason: string) {
  worker?.terminate();
  worker = null;
  for (const resolve of requestWaiters.values()) resolve();
  requestWaiters.clear();
  for (const resolve of memoryWaiters.splice(0)) resolve(null);
  const s = useStore.getState();
  useStore.setState({
    engineDown: { message: reason },
    runState: s.runState === 'running' ? 'paused' : s.runState,
    dataLoading: null, loadProgress: null, featuresPending: false, latentPending: null, exporting: false, calibrating: null,
    splice: s.splice.pending ? NO_SPLICE : s.splice,
  });
  appendLog(`error: ${reason}`);
  void refreshAutosave();
}

/** A new worker with the same data (files re-read, texts re-extracted), then the autosaved run resumed. */
export async function restartEngine() {
  useStore.setState({ engineDown: null, dataLoading: 'Restarting the engine and reloading the data…' });
  await spawnWorker();
  for (const make of dataMessages) {
    const requestId = newId('replay');
    const done = new Promise<void>((resolve) => requestWaiters.set(requestId, resolve));
    send(make(requestId));
    await done;
  }
  useStore.setState({ dataLoading: null });
  await refreshAutosave();
  if (useStore.getState().autosave) await resumeRun();
  else appendLog('engine restarted; there was no autosaved run to resume');
}

/** Show the autosaved run (if any) as resumable. */
async function refreshAutosave() {
  const saved = await readAutosave(false);
  useStore.setState({ autosave: saved ? summarise(saved) : null });
}

/** Continue the autosaved run: its log comes back into the charts, the worker restores its state. */
export async function resumeRun() {
  const saved = await readAutosave();
  if (!saved) { useStore.setState({ autosave: null }); return; }
  const runId = newId('run');
  metricsBuffer.clear();
  metricsBuffer.append(saved.log.toRows());
  // The Model and Guidance panels show the resumed run's settings (a reload reset them).
  const { form, guidance } = formFromConfig(saved.config as unknown as ConfigInput);
  const s = useStore.getState();
  useStore.setState({ ...freshRun(), runId, runState: 'running', runData: runDataOf(saved.dataset), step: saved.state.meta.step, totalSteps: saved.config.steps, form: { ...s.form, ...form }, ...(guidance.length ? { guidance } : {}) });
  send({ type: 'resumeAutosave', runId });
}

export async function discardAutosave() {
  await clearAutosave();
  useStore.setState({ autosave: null });
}

export function loadSample() {
  useStore.setState({ dataLoading: 'Loading sample…', dataError: null });
  dataMessages.push((requestId) => ({ type: 'loadSample', requestId }));
  send({ type: 'loadSample', requestId: newId('sample') });
}


/**
 * Load one or several dropped files. The worker recognises each by content (activations,
 * companions, a run config, a SAELens directory or zip) and applies activations first.
 */
export function loadFiles(list: Iterable<File>, options: Record<string, FileOptions> = {}) {
  const files = [...list];
  if (!files.length) return;
  for (const f of files) droppedFiles.set(f.name, f);
  const requestId = newId('load');
  pendingLoads.set(requestId, files.map((f) => f.name).join(', '));
  const { memoryBudgetMiB } = useStore.getState();
  useStore.setState({ dataLoading: `Reading ${files.map((f) => f.name).join(', ')}…`, dataError: null, loadProgress: null });
  const sources: SourceFile[] = files.map((f) => ({ name: f.name, blob: f, options: options[f.name] }));
  const memoryBudgetBytes = Math.round(memoryBudgetMiB * 2 ** 20);
  dataMessages.push((id) => ({ type: 'load', requestId: id, files: sources, memoryBudgetBytes }));
  send({ type: 'load', requestId, files: sources, memoryBudgetBytes });
}

/** Read a dropped file again with options: which array of an .npz / .safetensors, a raw file's shape. */
export function reloadFile(name: string, options: FileOptions) {
  const file = droppedFiles.get(name);
  if (!file) return;
  useStore.setState((s) => ({ fileResults: s.fileResults.filter((r) => r.name !== name) }));
  loadFiles([file], { [name]: options });
}

/** One file (kept for callers of the single-file API). */
export const loadFile = (file: File) => loadFiles([file]);

let importEvalId: string | null = null;
let importSpliceId: string | null = null;

function describeSplice(e: SpliceEvaluation): string {
  return e.groups.map((g) => `${g.sites.length > 1 ? 'layers' : 'layer'} ${g.sites.join(', ')}: loss recovered ${formatNumber(g.loss_recovered)} ± ${formatNumber(g.loss_recovered_se)} (SE, ${e.predictions.toLocaleString('en-US')} predictions), KL ${formatNumber(g.kl)}, CE ${formatNumber(g.ce)} (clean ${formatNumber(e.ce_clean)})`).join('; ') + ` on ${e.text}`;
}

/** Run the language model over a loaded text and use its residuals as the dataset. */
export function extractActivations(text: string) {
  const { lmSites, lmIncludeBos } = useStore.getState();
  const requestId = newId('extract');
  pendingLoads.set(requestId, text);
  useStore.setState({ dataLoading: `Running the model over ${text}…`, dataError: null, loadProgress: null });
  const sites = [...lmSites].sort((a, b) => a - b);
  dataMessages.push((id) => ({ type: 'extract', requestId: id, text, sites, includeBos: lmIncludeBos }));
  send({ type: 'extract', requestId, text, sites, includeBos: lmIncludeBos });
}

/** The loaded activations with tokens, positions, document ids and vocab, as a zip of .npy files. */
export function exportDataset() {
  send({ type: 'exportDataset', requestId: newId('dataset') });
}

/** The feature browser's list for the current run. */
export function browseFeatures() {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ featuresPending: true, latentDetail: null });
  send({ type: 'features', runId });
}

/** Every latent's top contexts as contexts.json. */
export function exportContexts() {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ featuresPending: true });
  send({ type: 'exportContexts', runId });
}

/** Dashboards of `latents` in SAEDashboard's Neuronpedia feature-JSON shape. */
export function exportDashboard(latents: number[]) {
  const { runId } = useStore.getState();
  if (!runId || latents.length === 0) return;
  useStore.setState({ featuresPending: true });
  send({ type: 'exportDashboard', runId, latents });
}

/** Run id → the pending request for latents' top contexts (auto-interpretation; one at a time). */
const contextRequests = new Map<string, { resolve: (c: Record<number, LatentContext[]>) => void; reject: (e: Error) => void }>();

/** The top contexts of some latents of the current run; rejects when the run is gone or `signal` aborts. */
export function requestLatentContexts(latents: number[], signal?: AbortSignal): Promise<Record<number, LatentContext[]>> {
  const { runId } = useStore.getState();
  if (!runId) return Promise.reject(new Error('no run: train first.'));
  contextRequests.get(runId)?.reject(new Error('superseded by a newer request'));
  return new Promise((resolve, reject) => {
    const entry = {
      resolve: (c: Record<number, LatentContext[]>) => { signal?.removeEventListener('abort', onAbort); resolve(c); },
      reject: (e: Error) => { signal?.removeEventListener('abort', onAbort); reject(e); },
    };
    const onAbort = () => {
      if (contextRequests.get(runId) === entry) contextRequests.delete(runId);
      reject(Object.assign(new Error('cancelled'), { name: 'AbortError' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    contextRequests.set(runId, entry);
    send({ type: 'latentContexts', runId, latents });
  });
}

export function inspectLatent(latent: number) {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ latentPending: latent });
  send({ type: 'latent', runId, latent });
}

/** Splice the run's SAE (or the imported one) into the language model. */
export function spliceEvaluate(source: 'run' | 'imported') {
  const s = useStore.getState();
  const { site, disabledWhy } = spliceTargetOf(source, s);
  if (disabledWhy) return; // the button says why
  const text = s.spliceText || undefined;
  if (source === 'imported') {
    importSpliceId = newId('import-splice');
    useStore.setState({ importSplice: { pending: true, evaluation: null } });
    send({ type: 'spliceEvaluate', runId: importSpliceId, source, site, text });
    return;
  }
  if (!s.runId) return;
  useStore.setState({ splice: { pending: true, evaluation: null } });
  send({ type: 'spliceEvaluate', runId: s.runId, source, site, text });
}

/** Evaluate the imported SAE on the loaded activations (validation split). */
export function evaluateImported() {
  importEvalId = newId('import-eval');
  const { dataset } = useStore.getState();
  useStore.setState({ importEvaluating: true, importEvaluation: null, importEvaluationData: dataset ? runDataOf(dataset) : null });
  send({ type: 'evaluateImported', runId: importEvalId });
}

/** Continue training the imported SAE: its config goes into the form, the run starts from its weights. */
export function continueImported() {
  const { imported } = useStore.getState();
  if (!imported) return;
  const { form } = formFromConfig(imported.config as unknown as ConfigInput);
  useStore.setState((s) => ({ form: { ...s.form, ...form } }));
  train(true);
}

export function previewLabels(draft: GuidanceDraft) {
  const requestId = newId('preview');
  pendingPreviews.set(requestId, draft.id);
  useStore.setState((s) => ({ previews: { ...s.previews, [draft.id]: { pending: true } } }));
  send({ type: 'previewLabels', requestId, labels: labelSource(draft) });
}

/**
 * 'auto' measures the backends at the next Train; a name switches to that backend now (the worker
 * answers with the backend in use, and says why when it does not work).
 */
export function setBackendPreference(preference: BackendPreference) {
  useStore.setState({ backendPreference: preference });
  send({ type: 'setBackend', preference });
}

/** Run state that a new run and a reset both start from. */
function freshRun(): Partial<AppState> {
  return {
    calibrating: null,
    step: 0, evaluation: null, runError: null, exported: null, tokensPerS: 0, etaSeconds: 0, live: null, resolved: null,
    checkpoints: [], checkpointExporting: null, splice: NO_SPLICE, splicePoints: [],
    features: null, featuresPending: false, latentDetail: null, latentPending: null,
  };
}

/** Run id → the resolver of its SAELens files (asked for when a finished run is kept). */
const weightRequests = new Map<string, (files: Record<string, ArrayBuffer>) => void>();

/** The SAELens files of a run (the current one, or one the worker still holds). */
export function requestRunWeights(runId: string): Promise<Record<string, ArrayBuffer>> {
  return new Promise((resolve) => {
    weightRequests.set(runId, resolve);
    send({ type: 'export', runId });
  });
}

/** Start a run with the form's config; returns its run id. */
export function train(fromImported = false): string {
  const runId = newId('run');
  const s = useStore.getState();
  metricsBuffer.clear();
  useStore.setState({ ...freshRun(), runId, runState: 'running', runData: s.dataset ? runDataOf(s.dataset) : null });
  const st = useStore.getState(); // the form may just have been filled from an imported SAE
  send({ type: 'start', runId, config: configFromForm(st.form, s.guidance, s.dataset?.nLayers ?? 1), fromImported, lmEvalEvery: st.lm?.model ? st.lmEvalEvery : 0, spliceSite: spliceTargetOf('run', st).site });
  return runId;
}

function runCommand(type: 'pause' | 'resume' | 'stop' | 'export') {
  const { runId } = useStore.getState();
  if (runId) send({ type, runId });
}

export const pause = () => runCommand('pause');
export const resume = () => runCommand('resume');
export const stop = () => runCommand('stop');
export function exportRun() {
  useStore.setState({ exporting: true });
  runCommand('export');
}

export function exportCheckpoint(step: number) {
  const { runId } = useStore.getState();
  if (!runId) return;
  useStore.setState({ checkpointExporting: step });
  send({ type: 'exportCheckpoint', runId, step });
}

/** Forget the run (the worker keeps nothing that matters once a new run starts). */
export function reset() {
  const { runId, runState } = useStore.getState();
  if (runId && (runState === 'running' || runState === 'paused')) send({ type: 'stop', runId });
  metricsBuffer.clear();
  useStore.setState({ ...freshRun(), runId: null, runData: null, runState: 'idle', totalSteps: 0 });
}

export function updateLive(changes: Partial<LiveParams>) {
  const { runId, live } = useStore.getState();
  if (live) useStore.setState({ live: { ...live, ...changes } });
  if (runId) send({ type: 'update', runId, live: changes });
}

// ---- guidance edits during a run ----------------------------------------------------------------

const GUIDANCE_DEBOUNCE_MS = 300;
let lastSentGuidance = '[]';
let guidanceTimer: ReturnType<typeof setTimeout> | null = null;

/** The targets a running job should have now: the valid ones of the form. */
function runnableTargets(): GuidanceTarget[] {
  const s = useStore.getState();
  const dSae = s.resolved?.d_sae ?? s.form.d_sae;
  return s.guidance.filter((g) => guidanceProblem(g, s.dataset, dSae) === null).map(toTarget);
}

function sendGuidanceNow() {
  guidanceTimer = null;
  const { runId, runState, resolved } = useStore.getState();
  if (!runId || !resolved || (runState !== 'running' && runState !== 'paused')) return;
  const targets = runnableTargets();
  const json = JSON.stringify(targets);
  if (json === lastSentGuidance) return;
  lastSentGuidance = json;
  send({ type: 'guidance', runId, targets });
}

/** While a run is active, any change to the targets reaches it (debounced) at its next step. */
function watchGuidance() {
  useStore.subscribe((s, prev) => {
    if (s.guidance === prev.guidance) return;
    if (!s.runId || (s.runState !== 'running' && s.runState !== 'paused')) return;
    if (guidanceTimer) clearTimeout(guidanceTimer);
    guidanceTimer = setTimeout(sendGuidanceNow, GUIDANCE_DEBOUNCE_MS);
  });
}
