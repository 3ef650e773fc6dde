// The engine worker's tfjs backend: which one starts (wasm with threads when the page is
// cross-origin isolated, GPU backends only on real hardware), the user's preference, and "auto",
// which measures the candidates at a run's size before it starts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { setKernelThreadSpawner } from '../engine/ops/wasm/kernelModule';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { BACKEND_ORDER, selectBackend, tryBackend } from '../engine/backend';
import { calibrateBackends, calibrationKey, skipCpuOnceWasmMeasured, type Calibration } from '../engine/calibrate';
import type { SaeConfig } from '../engine/config';
import type { TrainingData } from '../engine/trainer';
import type { BackendName } from '../engine/types';
import { post } from './port';
import type { BackendPreference } from './protocol';

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

/** A backend that has not started within this long is given up (see selectBackend). */
const BACKEND_START_TIMEOUT_MS = 45_000;
let wasmThreadsOff = false;

/**
 * Settles when init has chosen the start-up backend. Messages are handled as they arrive, so a
 * Train pressed while the backends are still starting waits here: a run (and a calibration, which
 * switches backends) must not race selectBackend.
 */
let resolveInitialised = () => {};
export const initialised = new Promise<void>((resolve) => { resolveInitialised = resolve; });

/** A helper thread of the engine's wasm kernels: a worker started from the script's text. */
function blobKernelThread(script: string) {
  const worker = new Worker(URL.createObjectURL(new Blob([script], { type: 'text/javascript' })));
  return { postMessage: (m: unknown) => worker.postMessage(m), terminate: () => worker.terminate() };
}

export async function init(prefer?: BackendName, threads?: number) {
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
  const threadCount = Math.max(1, Math.min(threads ?? LOGICAL_CORES - 1, 8));
  setThreadsCount(threadCount);
  // The engine's own wasm kernels (src/engine/ops/wasm/) run on as many threads, on tfjs's heap.
  setKernelThreadSpawner(blobKernelThread, threadCount);
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

/** The preference from the page: a named backend is started now (and kept only if it works); never while a run is active. */
export async function setPreference(next: BackendPreference, runActive: boolean) {
  if (calibrating || runActive) {
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
export async function autoBackend(runId: string, cfg: SaeConfig, data: TrainingData) {
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
          cpu: skipCpuOnceWasmMeasured,
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


/** The backend runs train on: the one started, else tfjs's current one. */
export function currentBackend(): string {
  return backend ?? tf.getBackend();
}

/** Whether auto chooses the backend when a run starts. */
export function autoChooses(): boolean {
  return preference === 'auto';
}

/** Stop measuring the backends for `runId` (it was stopped before it started); true when it was measuring. */
export function abortCalibration(runId: string): boolean {
  if (calibrating?.runId !== runId) return false;
  calibrating.abort.abort();
  return true;
}

/** Speeds measured by earlier sessions in this browser: the same sizes are not measured again. */
export function rememberCalibrations(list: readonly (Calibration | null | undefined)[]): void {
  for (const c of list) if (c && typeof c.key === 'string') calibrations.set(c.key, c);
}
