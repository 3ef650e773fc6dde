// The engine's home in the browser: a module Web Worker that owns the data, the tfjs backend and
// the run. It talks to the page only through the typed messages of protocol.ts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { selectBackend } from '../engine/backend';
import { benchTrainingSteps } from '../engine/bench';
import { COMMON_DEFAULTS, ConfigError, resolveConfig } from '../engine/config';
import { DivergenceError, Trainer, type EvalDetails } from '../engine/trainer';
import { datasetFromNpy, computeStats, splitDataset, type Dataset } from '../data/dataset';
import { makeSyntheticDataset } from '../data/synthetic';
import { buildRunExport } from '../io/runExport';
import type { BackendName, DatasetInfo, FromWorker, MetricRow, RunState, ToWorker } from './protocol';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

const post = (msg: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(msg, transfer);

let backend: BackendName | null = null;
let dataset: Dataset | null = null;
let run: {
  id: string;
  trainer: Trainer;
  state: RunState;
  rows: MetricRow[];
  datasetName: string;
  /** Settles when the training loop has returned (so the trainer may be evaluated or disposed). */
  loopDone: Promise<void>;
  lastEval?: EvalDetails;
} | null = null;

/** Time budget of one uninterrupted slice of training before the worker reads its mailbox. */
const SLICE_MS = 100;

async function init(prefer?: BackendName) {
  const choice = await selectBackend({
    prefer,
    precheck: {
      webgpu: async () => {
        const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        if (!gpu) return 'navigator.gpu is missing (WebGPU not enabled in this browser)';
        const adapter = (await gpu.requestAdapter()) as { isFallbackAdapter?: boolean; info?: { isFallbackAdapter?: boolean } } | null;
        if (!adapter) return 'no WebGPU adapter';
        const software = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
        if (software && prefer !== 'webgpu') return 'only a software (fallback) WebGPU adapter, far slower than wasm on this CPU; force it with ?backend=webgpu';
        return null;
      },
      webgl: async () => {
        const renderer = webglRenderer();
        if (renderer && /swiftshader|llvmpipe|software/i.test(renderer) && prefer !== 'webgl') {
          return `software WebGL renderer (${renderer}), several times slower than wasm on this CPU; force it with ?backend=webgl`;
        }
        return null;
      },
    },
  });
  backend = choice.backend;
  post({ type: 'ready', backend: choice.backend, skipped: choice.skipped });
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

function describe(ds: Dataset): DatasetInfo {
  const stats = computeStats(ds.data, ds.rows, ds.dIn);
  const valRows = Math.max(ds.rows >= 2 ? 1 : 0, Math.round(ds.rows * COMMON_DEFAULTS.val_fraction)); // the default split
  return {
    name: ds.name,
    rows: ds.rows,
    dIn: ds.dIn,
    dtype: ds.dtype,
    trainRows: ds.rows - valRows,
    valRows,
    stats: { mean: stats.mean, std: stats.std, meanNorm: stats.meanNorm, min: stats.min, max: stats.max },
    synthetic: ds.groundTruth !== undefined,
    description: ds.description,
  };
}

function fail(e: unknown, ids: { runId?: string; requestId?: string }, hint?: string) {
  const message = e instanceof Error ? e.message : String(e);
  post({ type: 'error', ...ids, message, hint });
}

async function start(runId: string, input: Record<string, unknown>) {
  if (!dataset) throw new Error('no data is loaded; load the sample or drop an .npy file first.');
  const old = run;
  run = null;
  if (old) {
    old.state = 'stopped';
    await old.loopDone;
    old.trainer.dispose();
  }
  const cfg = resolveConfig(input, dataset.dIn);
  const split = splitDataset(dataset, cfg.val_fraction, cfg.seed);
  const trainer = new Trainer(cfg, { ...split, groundTruth: dataset.groundTruth }, backend ?? tf.getBackend());
  run = { id: runId, trainer, state: 'running', rows: [], datasetName: dataset.name, loopDone: Promise.resolve() };
  post({ type: 'started', runId, config: cfg, live: trainer.liveParams });
  run.loopDone = loop(run);
}

async function loop(r: NonNullable<typeof run>) {
  const { trainer } = r;
  while (r.state === 'running' && !trainer.done) {
    const sliceStart = performance.now();
    try {
      while (r.state === 'running' && !trainer.done && performance.now() - sliceStart < SLICE_MS) {
        await trainer.runSteps(1);
      }
    } catch (e) {
      r.state = 'paused';
      flush(r);
      const hint = e instanceof DivergenceError ? 'Lower the learning rate or λ with the sliders, then Resume, or Reset and train again.' : undefined;
      fail(e, { runId: r.id }, hint);
      post({ type: 'status', runId: r.id, state: 'paused', step: trainer.stepCount, totalSteps: trainer.totalSteps, message: 'paused: training diverged' });
      return;
    }
    flush(r);
    // Yield so that pause / update / stop messages are handled between slices.
    await new Promise((res) => setTimeout(res, 0));
  }
  if (run !== r) return;
  if (trainer.done && r.state === 'running') {
    r.state = 'done';
    await finish(r);
  }
}

function flush(r: NonNullable<typeof run>) {
  const rows = r.trainer.takeRows();
  const events = r.trainer.takeEvents();
  r.rows.push(...rows);
  if (rows.length || events.length) post({ type: 'metrics', runId: r.id, rows, events });
  post({ type: 'status', runId: r.id, state: r.state, step: r.trainer.stepCount, totalSteps: r.trainer.totalSteps });
}

async function finish(r: NonNullable<typeof run>) {
  post({ type: 'status', runId: r.id, state: r.state, step: r.trainer.stepCount, totalSteps: r.trainer.totalSteps });
  r.lastEval = await r.trainer.evaluate();
  post({ type: 'evaluated', runId: r.id, metrics: r.lastEval.metrics });
}

async function exportRun(r: NonNullable<typeof run>) {
  r.lastEval ??= await r.trainer.evaluate();
  const files = buildRunExport({
    tensors: await r.trainer.exportTensors(),
    saelens: r.trainer.saelensConfig(),
    dIn: r.trainer.data.dIn,
    config: r.trainer.currentConfig(),
    rows: r.rows,
    firingFraction: r.lastEval.firingFraction,
    datasetName: r.datasetName,
  });
  const buffers: Record<string, ArrayBuffer> = {};
  for (const [name, bytes] of Object.entries(files)) {
    buffers[name] = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  post({ type: 'exported', runId: r.id, files: buffers }, Object.values(buffers));
}

async function handle(msg: ToWorker) {
  switch (msg.type) {
    case 'init':
      return init(msg.prefer);
    case 'loadSample': {
      dataset = makeSyntheticDataset();
      return post({ type: 'dataset', requestId: msg.requestId, info: describe(dataset) });
    }
    case 'load': {
      try {
        const next = datasetFromNpy(msg.buffer, msg.name);
        dataset = next; // only replaced once the new file has parsed
        return post({ type: 'dataset', requestId: msg.requestId, info: describe(next) });
      } catch (e) {
        return fail(e, { requestId: msg.requestId }, 'The data already loaded is unchanged.');
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
    case 'start':
      try {
        return await start(msg.runId, msg.config as Record<string, unknown>);
      } catch (e) {
        return fail(e, { runId: msg.runId }, e instanceof ConfigError ? 'Fix the highlighted setting and press Train again.' : undefined);
      }
    default: {
      if (!run || run.id !== msg.runId) return; // a late message for an old run
      const r = run;
      switch (msg.type) {
        case 'update':
          r.trainer.update(msg.live);
          return;
        case 'pause':
          if (r.state === 'running') r.state = 'paused';
          return post({ type: 'status', runId: r.id, state: r.state, step: r.trainer.stepCount, totalSteps: r.trainer.totalSteps });
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
  handle(ev.data).catch((e) => fail(e, {}));
};
