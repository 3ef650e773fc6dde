// The language-model check page (lm-check.html): window.saeLmCheck(backend, fixtures) runs Hugging
// Face model folders (fixtures/hf, read by src/io/hfModel.ts) through the engine's transformer on
// one tfjs backend of the page, and compares every TransformerLens hook and the logits with the
// hidden states the fixture script's independent NumPy forward wrote to reference.safetensors.
// It is the browser side of src/engine/lm/hfModels.test.ts (cpu and wasm in Node), for the GPU
// backends the app picks in a browser (webgl, webgpu), driven by e2e/hfForward.spec.ts.
//
// The backend is started here on the page itself (no worker: nothing else shares it), as the
// engine starts one (src/engine/backend.ts: initialise, then the numerical smoke test); the page
// never falls back to another one — the report says which backend actually ran and the spec
// insists on it. wasm runs one thread, as in the Node test: its .wasm files come from the build
// (as src/worker/backendChoice.ts serves them), and the page does not start pthread workers.
import * as tf from '@tensorflow/tfjs'; // webgl and cpu
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { tryBackend } from '../engine/backend';
import { siteName } from '../engine/lm/hooks';
import { perHeadAttention, TransformerModel } from '../engine/lm/transformer';
import type { BackendName } from '../engine/types';
import { parseHfModel } from '../io/hfModel';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

/** One fixture folder: base name → bytes (or the bytes in base64, as Playwright hands them over). */
export interface LmCheckFixture {
  name: string;
  files: Record<string, Uint8Array | string>;
}

export interface LmCheckFixtureResult {
  name: string;
  /** Worst |ours − reference| per hook name (blocks.L.hook_*) and for "logits". */
  worst: Record<string, number>;
  /** Largest |reference| per key, for scale. */
  scale: Record<string, number>;
  /** Reference hooks (blocks.*) the forward gave no value for. */
  missing: string[];
  /** Keys whose values are not all finite in our forward. */
  nonFinite: string[];
  nLayers: number;
  parallelResidual: boolean;
  /** How attention ran ('per_head' on wasm / cpu, 'batched' on the GPU backends). */
  attention: 'per_head' | 'batched';
  /** Tensors before the model was built and after it and every output were disposed. */
  tensorsBefore: number;
  tensorsAfter: number;
  ms: number;
  error?: string;
}

export interface LmCheckReport {
  requested: string;
  /** tf.getBackend() while the fixtures ran (must equal `requested`). */
  backend: string;
  /** The WebGPU adapter or WebGL renderer, when known. */
  device: string;
  /** webgl: whether it renders to float32 textures (tfjs falls back to float16 without). */
  float32?: boolean;
  results: LmCheckFixtureResult[];
  /** Set when the backend did not start: no results then, never a fallback. */
  error?: string;
}

declare global {
  interface Window {
    saeLmCheck(backend: BackendName, fixtures: LmCheckFixture[]): Promise<LmCheckReport>;
  }
}

window.saeLmCheck = async (backend, fixtures) => {
  const started = await useBackend(backend);
  const report: LmCheckReport = { requested: backend, backend: tf.getBackend() ?? '', device: await describeDevice(backend), results: [] };
  if (backend === 'webgl') report.float32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
  if (started) return { ...report, error: started };
  if (report.backend !== backend) return { ...report, error: `tfjs runs on ${report.backend}, not ${backend}` };
  for (const fixture of fixtures) report.results.push(await checkFixture(fixture));
  return report;
};

/** Start `name` as the engine does (initialise + smoke test); null when it runs, else why not. */
async function useBackend(name: BackendName): Promise<string | null> {
  if (!(name in tf.engine().registryFactory)) return `the ${name} backend is not registered in this page`;
  if (name === 'webgpu' && !(navigator as Navigator & { gpu?: unknown }).gpu) return 'WebGPU is not available in this browser (navigator.gpu is missing)';
  // One wasm thread: no pthread workers from this page (see the header).
  if (name === 'wasm') tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const why = await tryBackend(name, 60_000);
  return why ? `the ${name} backend did not start: ${why}` : null;
}

async function describeDevice(name: BackendName): Promise<string> {
  try {
    if (name === 'webgpu' && tf.getBackend() === 'webgpu') {
      const info = (tf.backend() as WebGPUBackend).adapterInfo as unknown as Record<string, unknown> | undefined;
      return info ? ['vendor', 'architecture', 'description'].map((k) => info[k]).filter(Boolean).join(' / ') || 'unknown adapter' : 'unknown adapter';
    }
    if (name === 'webgl') {
      const gl = document.createElement('canvas').getContext('webgl2');
      if (!gl) return 'no webgl2 context';
      const ext = gl.getExtension('WEBGL_debug_renderer_info');
      return String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    }
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : String(e)})`;
  }
  return name;
}

function bytesOf(v: Uint8Array | string): Uint8Array {
  if (typeof v !== 'string') return v;
  const bin = atob(v);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

interface RefTensor { dtype: string; shape: number[]; data: Float32Array | Int32Array }

/** reference.safetensors by hand: its F32 hidden states and its I32 tokens (which the float reader refuses). */
function readReference(bytes: Uint8Array): Record<string, RefTensor> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out: Record<string, RefTensor> = {};
  for (const [key, e] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    // A copy: the data is not 4-byte aligned in general (8 + header length).
    const raw = bytes.slice(8 + len + e.data_offsets[0], 8 + len + e.data_offsets[1]);
    if (e.dtype === 'F32') out[key] = { dtype: e.dtype, shape: e.shape, data: new Float32Array(raw.buffer) };
    else if (e.dtype === 'I32') out[key] = { dtype: e.dtype, shape: e.shape, data: new Int32Array(raw.buffer) };
    else throw new Error(`reference.safetensors: ${key} is ${e.dtype}; expected F32 or I32`);
  }
  return out;
}

async function checkFixture(fixture: LmCheckFixture): Promise<LmCheckFixtureResult> {
  const t0 = performance.now();
  const result: LmCheckFixtureResult = {
    name: fixture.name, worst: {}, scale: {}, missing: [], nonFinite: [], nLayers: 0, parallelResidual: false,
    attention: perHeadAttention() ? 'per_head' : 'batched', tensorsBefore: tf.memory().numTensors, tensorsAfter: -1, ms: 0,
  };
  let model: TransformerModel | null = null;
  const outputs: tf.Tensor[] = [];
  try {
    const files = new Map(Object.entries(fixture.files).map(([k, v]) => [k, bytesOf(v)]));
    const refBytes = files.get('reference.safetensors');
    if (!refBytes) throw new Error(`${fixture.name} has no reference.safetensors`);
    files.delete('reference.safetensors');
    const ref = readReference(refBytes);
    const tokens = ref.tokens;
    if (!tokens || tokens.dtype !== 'I32' || tokens.shape.length !== 2) throw new Error(`${fixture.name}: reference.safetensors has no I32 [B, T] tokens`);
    const [B, T] = tokens.shape;

    const hf = parseHfModel(files, fixture.name);
    model = new TransformerModel(hf.weights);
    const L = model.config.nLayers;
    result.nLayers = L;
    result.parallelResidual = hf.weights.arch.parallelResidual;
    const sites = model.sites();
    const out = model.forward(tokens.data as Int32Array, B, T, { capture: sites });
    if (out.logits) outputs.push(out.logits);
    outputs.push(...out.captured.values());

    const compare = async (key: string, t: tf.Tensor | undefined) => {
      const want = ref[key];
      if (!want) throw new Error(`${fixture.name}: reference.safetensors has no ${key}`);
      if (!t) { result.missing.push(key); return; }
      const got = await t.data();
      if (got.length !== want.data.length) throw new Error(`${fixture.name} ${key}: ${got.length} values, the reference has ${want.data.length}`);
      let worst = 0, scale = 0, finite = true;
      for (let i = 0; i < got.length; i++) {
        if (!Number.isFinite(got[i])) finite = false;
        worst = Math.max(worst, Math.abs(got[i] - want.data[i]));
        scale = Math.max(scale, Math.abs(want.data[i]));
      }
      if (!finite) { result.nonFinite.push(key); worst = Infinity; }
      result.worst[key] = worst;
      result.scale[key] = scale;
    };
    // Every site under its TransformerLens name, and resid_post of each block (= the next resid_pre).
    for (const site of sites) await compare(siteName(site, L), out.captured.get(site));
    for (let l = 0; l < L - 1; l++) await compare(`blocks.${l}.hook_resid_post`, out.captured.get(l + 1));
    await compare('logits', out.logits);
    // Every hook the reference holds (resid_mid only where the blocks are sequential).
    for (const key of Object.keys(ref)) if (key.startsWith('blocks.') && !(key in result.worst) && !result.missing.includes(key)) result.missing.push(key);
  } catch (e) {
    result.error = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
  } finally {
    tf.dispose(outputs);
    model?.dispose();
    result.tensorsAfter = tf.memory().numTensors;
    result.ms = Math.round(performance.now() - t0);
  }
  return result;
}
