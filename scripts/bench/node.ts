// The Node side of `npm run bench`: tfjs in this process runs the training steps and times wasm's matMul.
// The backends are wasm (with its thread pool, src/cli/nodeBackend.ts) and cpu; the matMul timings
// are at the native reference's sgemm shapes.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { useNodeWasmThreads } from '../../src/cli/nodeBackend';
import { benchTrainingSteps } from '../../src/engine/bench';
import { wasmSgemm, type WasmSgemmRow } from '../../src/engine/benchSgemm';
import type { Options } from './options';
import type { NativeReport } from './results';
import type { Runner } from './rows';

/** Runs a spec in this process, switching tfjs to its backend first. */
export const nodeRunner: Runner = async (backend, spec) => {
  try {
    if (tf.getBackend() !== backend) {
      if (!(await tf.setBackend(backend))) return { error: `backend ${backend} failed to initialise` };
      await tf.ready();
    }
    return { result: await benchTrainingSteps(spec) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
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
    try { wasmMatmul = await wasmSgemm(native.sgemm.shapes); } catch (e) { notes.push(`wasm matMul timing failed: ${e instanceof Error ? e.message : String(e)}`); }
  }
  return wasmMatmul;
}
