// The Node side of `npm run bench`: tfjs in this process runs the training steps and times wasm's matMul.
// The backends are wasm (with its thread pool, src/cli/nodeBackend.ts) and cpu, and webgpu when asked
// for (--backends node:webgpu): tfjs's webgpu backend on Dawn (src/cli/nodeWebgpu.ts) and whatever
// Vulkan driver the machine has — a GPU, or a software adapter whose figures are for correctness only.
// The matMul timings are at the native reference's sgemm shapes.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { useNodeWasmThreads } from '../../src/cli/nodeBackend';
import { adapterLabel, adapterName, registerNodeWebGPU } from '../../src/cli/nodeWebgpu';
import { benchTrainingSteps } from '../../src/engine/bench';
import { wasmSgemm, type WasmSgemmRow } from '../../src/engine/benchSgemm';
import type { Options } from './options';
import { log, type NativeReport, type NodeWebgpu, type Skip } from './results';
import type { Runner } from './rows';

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Registers Node's webgpu backend when opts.node asks for it (null when it does not). When Dawn
 * finds no adapter the reason is returned and recorded as a skip: the other backends still run.
 */
export async function prepareNodeWebgpu(opts: Options, skips: Skip[]): Promise<NodeWebgpu | null> {
  if (!opts.node.includes('webgpu')) return null;
  try {
    const adapter = await registerNodeWebGPU();
    const label = adapterLabel(adapter);
    log(`node webgpu adapter: ${label}`);
    return { adapter, label };
  } catch (e) {
    const error = message(e);
    skips.push({ where: 'node', backend: 'webgpu', reason: `does not work here: ${error}` });
    log(`node webgpu: ${error}`);
    return { error };
  }
}

/** Runs a spec in this process, switching tfjs to its backend first. */
export const nodeRunner: Runner = async (backend, spec) => {
  try {
    // Registered by prepareNodeWebgpu already (registerNodeWebGPU registers once); here for a runner used alone.
    const adapter = backend === 'webgpu' ? await registerNodeWebGPU() : null;
    if (tf.getBackend() !== backend) {
      if (!(await tf.setBackend(backend))) return { error: `backend ${backend} failed to initialise` };
      await tf.ready();
    }
    const result = await benchTrainingSteps(spec);
    // tfjs's backend keeps only the adapter's vendor and architecture: the row gets Dawn's description
    // too (its name, without the note on what kind it is) and, apart, whether it is a software adapter,
    // which the report labels correctness-only.
    if (adapter) Object.assign(result.info, { adapter: adapterName(adapter), fallbackAdapter: adapter.fallback });
    return { result };
  } catch (e) {
    return { error: message(e) };
  }
};

/**
 * tfjs-wasm's matrix-product speed at the sgemm shapes (Node, its threads), to set the ratios to
 * native in scale. Sets Node's wasm thread count first, which the Node rows then run with.
 */
export async function nodeWasmMatmul(opts: Options, native: NativeReport | null, notes: string[]): Promise<WasmSgemmRow[] | null> {
  let wasmMatmul: WasmSgemmRow[] | null = null;
  if (opts.node.includes('wasm')) useNodeWasmThreads(opts.nodeThreads);
  if (native && opts.node.includes('wasm')) {
    try { wasmMatmul = await wasmSgemm(native.sgemm.shapes); } catch (e) { notes.push(`wasm matMul timing failed: ${message(e)}`); }
  }
  return wasmMatmul;
}
