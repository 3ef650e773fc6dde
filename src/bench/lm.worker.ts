// The bench page's language-model worker (`npm run bench:lm`): the backends registered as the
// engine worker registers them (webgpu and wasm imported, wasm files served by Vite), one
// benchmark per message. Separate from src/worker so the app's worker protocol stays untouched.
import '@tensorflow/tfjs'; // webgl and cpu
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { selectBackend } from '../engine/backend';
import { benchLmForward, type LmBenchResult, type LmBenchSpec } from './benchLm';
import type { BackendName } from '../engine/types';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

export interface LmBenchRequest {
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

const post = (msg: LmBenchReply) => (self as unknown as Worker).postMessage(msg);

self.onmessage = async (ev: MessageEvent<LmBenchRequest>) => {
  const req = ev.data;
  const device = await describeDevice(req.backend);
  try {
    // Only the requested backend: it must initialise and pass the engine's smoke test.
    await selectBackend({ order: [req.backend] });
    const result = await benchLmForward({ modelBytes: req.modelBytes, tokenizerBytes: req.tokenizerBytes, text: req.text }, req.spec);
    post({ requestId: req.requestId, result, device });
  } catch (e) {
    post({ requestId: req.requestId, error: e instanceof Error ? e.message : String(e), device });
  }
};

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
