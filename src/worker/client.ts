// The page's side of the worker protocol: sends typed messages, and turns the worker's messages
// into store updates. Messages of an old run (a different runId) are ignored.
import type { LiveParams } from '../engine/config';
import { metricsBuffer } from '../store/metricsBuffer';
import { appendLog, configFromForm, useStore } from '../store/store';
import { formatNumber } from '../ui/format';
import type { BackendName, FromWorker, LiveEvent, ToWorker } from './protocol';

let worker: Worker | null = null;
let counter = 0;
const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${counter++}`;

function send(msg: ToWorker, transfer: Transferable[] = []) {
  worker?.postMessage(msg, transfer);
}

function describeEvent(e: LiveEvent): string {
  const parts = Object.entries(e.changes).map(([k, v]) => `${k} → ${formatNumber(v as number)}`);
  return `step ${e.step}: ${parts.join(', ')}`;
}

function onMessage(msg: FromWorker) {
  const s = useStore.getState();
  switch (msg.type) {
    case 'ready':
      useStore.setState({ backend: msg.backend, skipped: msg.skipped });
      appendLog(`backend: ${msg.backend}`);
      return;
    case 'dataset':
      useStore.setState({ dataset: msg.info, dataLoading: null, dataError: null });
      appendLog(`loaded ${msg.info.name}: ${msg.info.rows.toLocaleString('en-US')} × ${msg.info.dIn}`);
      return;
    case 'error':
      if (msg.requestId) {
        useStore.setState({ dataLoading: null, dataError: { message: msg.message, hint: msg.hint } });
      } else if (!msg.runId || msg.runId === s.runId) {
        useStore.setState({ runError: { message: msg.message, hint: msg.hint }, exporting: false });
      }
      appendLog(`error: ${msg.message}`);
      return;
    case 'benchResult':
      return;
  }
  if (msg.runId !== s.runId) return; // a message of an older run
  switch (msg.type) {
    case 'started':
      useStore.setState({ resolved: msg.config, live: msg.live, totalSteps: msg.config.steps, runState: 'running' });
      appendLog(`started ${msg.config.architecture}: d_sae ${msg.config.d_sae}, batch ${msg.config.batch_size}, ${msg.config.steps} steps`);
      return;
    case 'metrics': {
      metricsBuffer.append(msg.rows);
      const last = msg.rows[msg.rows.length - 1];
      if (last) {
        const remaining = Math.max(0, s.totalSteps - last.step);
        const rate = last.tokens_per_s / Math.max(1, s.resolved?.batch_size ?? 1);
        useStore.setState({ tokensPerS: last.tokens_per_s, etaSeconds: rate > 0 ? remaining / rate : 0 });
      }
      for (const e of msg.events) appendLog(describeEvent(e));
      return;
    }
    case 'status':
      if (msg.state !== s.runState) appendLog(msg.message ?? `${msg.state} at step ${msg.step}`);
      useStore.setState({ runState: msg.state, step: msg.step, totalSteps: msg.totalSteps });
      return;
    case 'evaluated':
      useStore.setState({ evaluation: msg.metrics });
      return;
    case 'exported':
      useStore.setState({ exported: msg.files, exporting: false });
      appendLog(`exported ${Object.keys(msg.files).join(', ')}`);
      return;
  }
}

export function startEngine(prefer?: BackendName) {
  worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (ev: MessageEvent<FromWorker>) => onMessage(ev.data);
  worker.onerror = (ev) => {
    useStore.setState({ runError: { message: `the engine worker failed: ${ev.message || 'unknown error'}`, hint: 'Reload the page to restart it.' } });
  };
  send({ type: 'init', prefer });
}

export function loadSample() {
  useStore.setState({ dataLoading: 'Loading sample…', dataError: null });
  send({ type: 'loadSample', requestId: newId('sample') });
}

export async function loadFile(file: File) {
  if (!file.name.toLowerCase().endsWith('.npy')) {
    useStore.setState({ dataError: { message: `${file.name} is not an .npy file.`, hint: 'Save activations with numpy.save("acts.npy", array) as float32 [N, d].' } });
    return;
  }
  useStore.setState({ dataLoading: `Reading ${file.name}…`, dataError: null });
  const buffer = await file.arrayBuffer();
  send({ type: 'load', requestId: newId('load'), name: file.name, buffer }, [buffer]);
}

export function train() {
  const runId = newId('run');
  metricsBuffer.clear();
  useStore.setState({ runId, runState: 'running', step: 0, evaluation: null, runError: null, exported: null, tokensPerS: 0, etaSeconds: 0, live: null });
  send({ type: 'start', runId, config: configFromForm(useStore.getState().form) });
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

/** Forget the run (the worker keeps nothing that matters once a new run starts). */
export function reset() {
  const { runId, runState } = useStore.getState();
  if (runId && (runState === 'running' || runState === 'paused')) send({ type: 'stop', runId });
  metricsBuffer.clear();
  useStore.setState({ runId: null, runState: 'idle', step: 0, totalSteps: 0, evaluation: null, runError: null, exported: null, live: null, resolved: null, tokensPerS: 0, etaSeconds: 0 });
}

export function updateLive(changes: Partial<LiveParams>) {
  const { runId, live } = useStore.getState();
  if (live) useStore.setState({ live: { ...live, ...changes } });
  if (runId) send({ type: 'update', runId, live: changes });
}
