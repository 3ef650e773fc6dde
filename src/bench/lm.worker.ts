// The bench page's language-model worker (`npm run bench:lm`): the backends registered as the
// engine worker registers them (webgpu and wasm imported, wasm files served by Vite), one
// benchmark per message: the llama2.c model from bytes the page sends (LmBenchRequest), or a
// Hugging Face folder whose files the page hands over as File objects (or URLs), which the worker
// reads itself (HfLmBenchRequest), so that reading the files is part of its load time, as it is
// for a folder dropped into the app. Separate from src/worker so the app's worker protocol
// stays untouched.
import '@tensorflow/tfjs'; // webgl and cpu
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { selectBackend } from '../engine/backend';
import { benchLmForward, type LmBenchResult, type LmBenchSpec } from './benchLm';
import { benchHfForward, type HfLmBenchResult, type HfLmBenchSpec, type MemorySample } from './benchHfLm';
import type { BackendName } from '../engine/types';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

export interface LmBenchRequest {
  kind?: 'llama2c';
  requestId: string;
  backend: BackendName;
  modelBytes: Uint8Array;
  tokenizerBytes: Uint8Array;
  text: string;
  spec: LmBenchSpec;
}

export interface LmBenchReply {
  requestId: string;
  result?: LmBenchResult;
  error?: string;
  /** What runs the backend: the WebGPU adapter or the WebGL renderer, when known. */
  device?: string;
}

/** A Hugging Face folder's benchmark: `files` by base name, each a File / Blob or a same-origin URL. */
export interface HfLmBenchRequest {
  kind: 'hf';
  requestId: string;
  backend: BackendName;
  files: Record<string, Blob | string>;
  folder: string;
  spec: HfLmBenchSpec;
}

export interface HfLmBenchReply {
  requestId: string;
  result?: HfLmBenchResult;
  error?: string;
  device?: string;
}

const post = (msg: LmBenchReply | HfLmBenchReply) => (self as unknown as Worker).postMessage(msg);

self.onmessage = async (ev: MessageEvent<LmBenchRequest | HfLmBenchRequest>) => {
  const req = ev.data;
  let device = await describeDevice(req.backend);
  try {
    // Only the requested backend: it must initialise and pass the engine's smoke test.
    await selectBackend({ order: [req.backend] });
    // The Hugging Face rows say how many threads wasm runs (this worker does not lift tfjs-wasm's
    // cap of hardwareConcurrency / 2, so 1 on a 2-core machine, as the app's engine worker uses by default there).
    if (req.kind === 'hf' && req.backend === 'wasm') {
      const threads = getThreadsCount();
      device = `${threads} thread${threads === 1 ? '' : 's'}${self.crossOriginIsolated ? '' : ', not cross-origin isolated'}`;
    }
    const result = req.kind === 'hf'
      ? await benchHfForward({ read: () => readFiles(req.files), memory: workerMemory, memorySource: MEMORY_SOURCE, folder: req.folder }, req.spec)
      : await benchLmForward({ modelBytes: req.modelBytes, tokenizerBytes: req.tokenizerBytes, text: req.text }, req.spec);
    post({ requestId: req.requestId, result, device } as LmBenchReply | HfLmBenchReply);
  } catch (e) {
    post({ requestId: req.requestId, error: e instanceof Error ? e.message : String(e), device });
  }
};

/** Blob.arrayBuffer(), as the app reads a dropped file; URLs are fetched (bypassing the HTTP cache). */
async function readFiles(files: Record<string, Blob | string>): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  await Promise.all(Object.entries(files).map(async ([name, src]) => {
    if (typeof src !== 'string') { out.set(name, new Uint8Array(await src.arrayBuffer())); return; }
    const r = await fetch(src, { cache: 'no-store' });
    if (!r.ok) throw new Error(`GET ${src}: ${r.status} ${r.statusText}`);
    out.set(name, new Uint8Array(await r.arrayBuffer()));
  }));
  return out;
}

/** Chromium's non-standard performance.memory (the JS heap; ArrayBuffer contents are outside it), where the worker has it. */
const perfMemory = (performance as Performance & { memory?: { usedJSHeapSize: number; totalJSHeapSize: number } }).memory;
const MEMORY_SOURCE = perfMemory
  ? 'performance.memory (usedJSHeapSize / totalJSHeapSize) + tf.memory().numBytes + the wasm heap'
  : 'tf.memory().numBytes + the wasm heap (performance.memory is not available in this worker)';

function workerMemory(): MemorySample {
  const m = (performance as Performance & { memory?: { usedJSHeapSize: number; totalJSHeapSize: number } }).memory;
  return m ? { jsHeapUsed: m.usedJSHeapSize, jsHeapTotal: m.totalJSHeapSize } : {};
}

async function describeDevice(backend: BackendName): Promise<string | undefined> {
  try {
    if (backend === 'webgpu') {
      const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
      if (!gpu) return 'navigator.gpu is missing';
      const adapter = (await gpu.requestAdapter()) as { isFallbackAdapter?: boolean; info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean } } | null;
      if (!adapter) return 'no WebGPU adapter';
      const i = adapter.info ?? {};
      const name = [i.vendor, i.architecture, i.description].filter(Boolean).join(' ') || 'unnamed adapter';
      return `${name}${(i.isFallbackAdapter ?? adapter.isFallbackAdapter) ? ' (software fallback adapter)' : ''}`;
    }
    if (backend === 'webgl') {
      const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
      if (!gl) return 'no WebGL2 context';
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      return String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    }
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : String(e)})`;
  }
  return undefined;
}
