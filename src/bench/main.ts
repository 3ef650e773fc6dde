// The page the benchmarks open in headless Chromium. It exposes two functions:
//   saeBench    — training steps inside the same engine worker the app uses (`npm run bench`);
//   saeLmBench  — the language model's forward pass in a worker of its own, lm.worker.ts, which
//                 registers the backends as the engine worker does (`npm run bench:lm`);
//   saeHfLmBench — the same for a Hugging Face model folder the worker fetches from the server
//                 (`npm run bench:lm -- --model gpt2`).
import type { BenchResult, BenchSpec } from '../engine/bench';
import type { SgemmShape, WasmSgemmRow } from '../engine/benchSgemm';
import type { LmBenchResult, LmBenchSpec } from './benchLm';
import type { FromWorker, ToWorker } from '../worker/protocol';
import type { BackendName } from '../engine/types';
import type { HfLmBenchResult, HfLmBenchSpec } from './benchHfLm';
import type { HfLmBenchReply, HfLmBenchRequest, LmBenchReply, LmBenchRequest } from './lm.worker';

// The engine worker starts on the first saeBench call (the LM bench does not need it).
let engine: Worker | null = null;
let ready: Promise<Extract<FromWorker, { type: 'ready' }>> | null = null;
let counter = 0;

function request<T extends FromWorker['type']>(msg: ToWorker, type: T, id?: string, timeoutMs = 0): Promise<Extract<FromWorker, { type: T }>> {
  const worker = (engine ??= new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' }));
  return new Promise((resolve, reject) => {
    const timer = timeoutMs > 0 ? setTimeout(() => {
      worker.removeEventListener('message', onMessage);
      reject(new Error(`no answer from the engine worker within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs) : null;
    const onMessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === type && (!id || ('requestId' in m && m.requestId === id))) {
        worker.removeEventListener('message', onMessage);
        if (timer) clearTimeout(timer);
        resolve(m as Extract<FromWorker, { type: T }>);
      }
    };
    worker.addEventListener('message', onMessage);
    worker.postMessage(msg);
  });
}

/** End the engine worker (after a timeout: a hung backend must not stall the next request). */
function dropEngine() {
  engine?.terminate();
  engine = null;
  ready = null;
}

export interface LmBenchPageRequest {
  backend: BackendName;
  /** Where the page fetches the llama2.c model, its tokenizer and the text (same origin or routed). */
  modelUrl: string;
  tokenizerUrl: string;
  textUrl: string;
  spec: LmBenchSpec;
  /** Give up (and end the worker) after this long; default 10 minutes. */
  timeoutMs?: number;
}

export interface LmBenchPageReply {
  result?: LmBenchResult;
  error?: string;
  device?: string;
}

export interface HfLmBenchPageRequest {
  backend: BackendName;
  /** The folder's files: base name → URL the worker fetches (same origin). */
  files?: Record<string, string>;
  /**
   * Or: a selector of an <input type="file"> holding the folder's files (Playwright's
   * setInputFiles), handed to the worker as File objects, read there as a dropped folder is.
   */
  input?: string;
  folder: string;
  spec: HfLmBenchSpec;
  /** Give up (and end the worker) after this long; default 10 minutes. */
  timeoutMs?: number;
}

export interface HfLmBenchPageReply {
  result?: HfLmBenchResult;
  error?: string;
  device?: string;
}

export interface BenchPageEnv {
  userAgent: string;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
  webgpu: boolean;
}

declare global {
  interface Window {
    /** Training steps on `backend` in the engine worker; `timeoutMs` (default 10 min) ends a hung worker. */
    saeBench(backend: BackendName, spec: BenchSpec, timeoutMs?: number): Promise<{ result?: BenchResult; error?: string; available?: BackendName; skipped?: Partial<Record<BackendName, string>> }>;
    saeBenchEnv(): BenchPageEnv;
    /** tfjs-wasm's matMul GFLOP/s at `shapes` in the engine worker (its wasm thread pool). */
    saeBenchSgemm(shapes: SgemmShape[], timeoutMs?: number): Promise<{ rows?: WasmSgemmRow[]; error?: string; threads?: number }>;
    saeLmBench(req: LmBenchPageRequest): Promise<LmBenchPageReply>;
    saeHfLmBench(req: HfLmBenchPageRequest): Promise<HfLmBenchPageReply>;
  }
}

window.saeBench = async (backend, spec, timeoutMs = 600_000) => {
  try {
    // Every core: the harness has no UI that needs one (the app keeps one for the page).
    ready ??= request({ type: 'init', prefer: 'wasm', threads: navigator.hardwareConcurrency || 1 }, 'ready', undefined, Math.min(timeoutMs, 120_000));
    const r = await ready;
    const requestId = `bench-${counter++}`;
    const res = await request({ type: 'bench', requestId, backend, spec }, 'benchResult', requestId, timeoutMs);
    return { result: res.result, error: res.error, available: r.backend, skipped: r.skipped };
  } catch (e) {
    dropEngine();
    return { error: e instanceof Error ? e.message : String(e) };
  }
};

window.saeBenchSgemm = async (shapes, timeoutMs = 300_000) => {
  try {
    ready ??= request({ type: 'init', prefer: 'wasm', threads: navigator.hardwareConcurrency || 1 }, 'ready', undefined, Math.min(timeoutMs, 120_000));
    await ready;
    const requestId = `sgemm-${counter++}`;
    const res = await request({ type: 'benchSgemm', requestId, shapes }, 'benchSgemmResult', requestId, timeoutMs);
    return { rows: res.rows, error: res.error, threads: navigator.hardwareConcurrency || 1 };
  } catch (e) {
    dropEngine();
    return { error: e instanceof Error ? e.message : String(e) };
  }
};

window.saeBenchEnv = () => ({
  userAgent: navigator.userAgent,
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  hardwareConcurrency: navigator.hardwareConcurrency,
  webgpu: 'gpu' in navigator,
});

const fetched = new Map<string, Promise<ArrayBuffer>>();
function fetchOnce(url: string): Promise<ArrayBuffer> {
  let p = fetched.get(url);
  if (!p) {
    p = fetch(url).then((r) => {
      if (!r.ok) throw new Error(`GET ${url}: ${r.status} ${r.statusText}`);
      return r.arrayBuffer();
    });
    fetched.set(url, p);
  }
  return p;
}

// A fresh worker per backend, ended afterwards: one backend's state (a lost WebGPU device, the
// wasm module's heap) cannot affect the next one's numbers.
window.saeLmBench = async (req) => {
  let modelBytes: Uint8Array, tokenizerBytes: Uint8Array, text: string;
  try {
    const [m, t, x] = await Promise.all([fetchOnce(req.modelUrl), fetchOnce(req.tokenizerUrl), fetchOnce(req.textUrl)]);
    modelBytes = new Uint8Array(m.slice(0));
    tokenizerBytes = new Uint8Array(t.slice(0));
    text = new TextDecoder().decode(x);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  const requestId = `lm-${counter++}`;
  const msg: LmBenchRequest = { requestId, backend: req.backend, modelBytes, tokenizerBytes, text, spec: req.spec };
  return runLmWorker<LmBenchReply>(msg, [modelBytes.buffer, tokenizerBytes.buffer], req.timeoutMs ?? 600_000);
};

// The worker reads the folder's files itself (reading them is part of the load it times).
window.saeHfLmBench = async (req) => {
  const requestId = `hf-${counter++}`;
  const files: Record<string, Blob | string> = { ...req.files };
  if (req.input) {
    const input = document.querySelector<HTMLInputElement>(req.input);
    if (!input?.files?.length) return { error: `no files in ${req.input}` };
    for (const f of input.files) files[f.name] = f;
  }
  const msg: HfLmBenchRequest = { kind: 'hf', requestId, backend: req.backend, files, folder: req.folder, spec: req.spec };
  return runLmWorker<HfLmBenchReply>(msg, [], req.timeoutMs ?? 600_000);
};

/** One request in a fresh LM worker, ended afterwards (or after `timeoutMs`). */
async function runLmWorker<R extends LmBenchReply | HfLmBenchReply>(msg: LmBenchRequest | HfLmBenchRequest, transfer: Transferable[], timeoutMs: number): Promise<Omit<R, 'requestId'>> {
  const worker = new Worker(new URL('./lm.worker.ts', import.meta.url), { type: 'module' });
  try {
    return await new Promise<Omit<R, 'requestId'>>((resolve) => {
      const timer = setTimeout(() => resolve({ error: `no answer within ${Math.round(timeoutMs / 1000)} s` } as Omit<R, 'requestId'>), timeoutMs);
      worker.onmessage = (ev: MessageEvent<R>) => {
        if (ev.data.requestId !== msg.requestId) return;
        clearTimeout(timer);
        const { requestId: _, ...reply } = ev.data;
        resolve(reply);
      };
      worker.onerror = (ev) => {
        clearTimeout(timer);
        resolve({ error: `the worker failed: ${ev.message || 'an error while loading it'}` } as Omit<R, 'requestId'>);
      };
      worker.postMessage(msg, transfer);
    });
  } finally {
    worker.terminate();
  }
}
