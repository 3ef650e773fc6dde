// The engine worker's life seen from the page (start, liveness, crash, restart), its backend, and the dispatch of its replies.
// Every message of the worker comes through onMessage, which hands it to the topic that asked for
// it: data (src/app/clientData.ts), the run (clientRun.ts), the feature browser
// (clientFeatures.ts), exports (clientExports.ts), splices and the imported SAE (clientSplice.ts).
// Messages of an old run (a different runId) are ignored.
import type { Calibration } from '../engine/calibrate';
import type { BackendName } from '../engine/types';
import { environmentKey, loadCalibrations, saveCalibration } from '../store/calibrationCache';
import { NO_SPLICE, appendLog, useStore, type AppState } from '../store/store';
import { dataMessages, onDataReply, onLoadError } from './clientData';
import { onDatasetExported, onRunExportReply, resolveRunWeights } from './clientExports';
import { onFeaturesError, onFeaturesReply, onLatentContexts } from './clientFeatures';
import { link, newId, send } from './clientLink';
import { onRunError, onRunReply, refreshAutosave, resumeRun, watchGuidance } from './clientRun';
import { onImportedReply, onSpliceError, onSpliceReply } from './clientSplice';
import type { BackendPreference, EngineMemory, FromWorker } from '../worker/protocol';

let wasmThreads: number | undefined;
/** When the worker was last heard from (any message). */
let lastHeard = 0;
/** The worker stops answering for this long while training → it is declared down. */
const SILENCE_LIMIT_MS = 30_000;
/** Request id → resolver, for replayed loads (resolved by 'loaded' or 'error'). */
const requestWaiters = new Map<string, () => void>();
let readyWaiter: (() => void) | null = null;
/** Callers of engineMemory() waiting for the next 'pong'. */
const memoryWaiters: ((m: EngineMemory | null) => void)[] = [];

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
    case 'progress':
    case 'labelsPreview':
      return onDataReply(msg);
    case 'error':
      // The first topic whose request failed shows the error; the log always does.
      if (!onLoadError(msg) && !onSpliceError(msg, s) && !onFeaturesError(msg, s)) onRunError(msg, s);
      appendLog(`error: ${msg.message}`);
      return;
    case 'benchResult':
    case 'benchSgemmResult':
      return;
    case 'pong':
      for (const resolve of memoryWaiters.splice(0)) resolve(msg.memory);
      return;
    case 'latentContexts':
      return onLatentContexts(msg);
    case 'datasetExported':
      return onDatasetExported(msg);
  }
  if (onImportedReply(msg)) return;
  if (msg.type === 'exported') resolveRunWeights(msg);
  if (msg.runId !== s.runId) return; // a message of an older run
  switch (msg.type) {
    case 'calibrating':
    case 'calibrated':
      return onCalibration(msg, s);
    case 'started':
    case 'metrics':
    case 'status':
    case 'evaluated':
    case 'rolledBack':
      return onRunReply(msg, s);
    case 'features':
    case 'latent':
      return onFeaturesReply(msg);
    case 'spliced':
      return onSpliceReply(msg);
    case 'contextsExported':
    case 'dashboardExported':
    case 'exported':
    case 'checkpointExported':
      return onRunExportReply(msg, s);
  }
}

/** Auto backend choice at the start of a run: the progress of measuring, then what it chose. */
function onCalibration(msg: Extract<FromWorker, { type: 'calibrating' | 'calibrated' }>, s: AppState) {
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
  }
}

/** One line for the log: what auto chose and the speeds it chose by. */
function describeCalibration(c: Calibration, cached: boolean): string {
  const speeds = c.results.map((r) => `${r.backend} ${r.status === 'measured' ? `${Math.round(r.tokensPerS!).toLocaleString('en-US')} tokens/s` : r.reason}`).join(', ');
  const chose = c.fastest ? `auto backend: ${c.fastest}` : `auto backend: none measured within the limits, staying on ${useStore.getState().backend ?? 'the current one'}`;
  return `${chose} for ${c.key}${cached ? ' (measured earlier)' : ` (measured in ${(c.ms / 1000).toFixed(1)} s)`} — ${speeds}`;
}

/**
 * 'auto' measures the backends at the next Train; a name switches to that backend now (the worker
 * answers with the backend in use, and says why when it does not work).
 */
export function setBackendPreference(preference: BackendPreference) {
  useStore.setState({ backendPreference: preference });
  send({ type: 'setBackend', preference });
}

/** The worker's tfjs memory (for the soak script and tests); null when the worker is down. */
export function engineMemory(): Promise<EngineMemory | null> {
  if (!link.worker) return Promise.resolve(null);
  const answer = new Promise<EngineMemory | null>((resolve) => memoryWaiters.push(resolve));
  send({ type: 'ping' });
  return answer;
}

function spawnWorker(): Promise<void> {
  const ready = new Promise<void>((resolve) => { readyWaiter = resolve; });
  const w = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' });
  link.worker = w;
  w.onmessage = (ev: MessageEvent<FromWorker>) => { if (link.worker === w) onMessage(ev.data); };
  w.onerror = (ev) => { if (link.worker === w) engineDown(`the engine worker failed: ${ev.message || 'unknown error'}`); };
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
    if (!link.worker || down || runState !== 'running') return;
    if (Date.now() - lastHeard > SILENCE_LIMIT_MS) engineDown(`the engine worker has not answered for ${SILENCE_LIMIT_MS / 1000} s`);
    else send({ type: 'ping' });
  }, 2000);
  // For tests and the curious: what a crashed worker looks like.
  (globalThis as unknown as { __saeWorkbench?: object }).__saeWorkbench = { terminateEngine: () => engineDown('the engine worker was terminated'), crashEngine: () => send({ type: 'debugCrash' }), engineMemory };
  void refreshAutosave();
}

/** The worker is gone: say so, keep the charts, the log and the kept runs. */
function engineDown(reason: string) {
  link.worker?.terminate();
  link.worker = null;
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
