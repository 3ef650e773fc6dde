// The kernel-check page (kernels.html): window.saeKernelCheck and window.saeKernelBench.
// It checks and times the fused WebGPU kernels (src/engine/ops/webgpu) in headless Chromium,
// driven by e2e/kernels.spec.ts and scripts/bench/kernels.ts. It runs on the page's own webgpu
// backend (no worker: nothing else shares it). Every check compares the ops as the engine calls
// them with the fused kernels on against the same ops with them switched off — the plain tfjs
// composition on the same backend — and some also against plain JS arrays.
//   saeKernelCheck() → every reference check, whether the fused kernels actually ran, and leaks;
//   saeKernelBench(shape) → ms per call, fused vs composition, for each kernel at one size.
// Without WebGPU both answer with an error and no results: they never pass by falling back.
// The checks are split by kernel family: src/bench/kernelCheckJumpRelu.ts, kernelCheckTopk.ts,
// kernelCheckParams.ts (Adam, normalisation), kernelCheckSparse.ts (the sparse ops against JS —
// they have no composition — and the sparse training steps against the dense ones) and kernelCheckDispatch.ts (dispatch and leaks); the
// timing is src/bench/kernelBench.ts; what they share is src/bench/kernelCheckCommon.ts.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { useFusedKernels } from '../engine/ops/webgpu/program';
import { kernelBench } from './kernelBench';
import { useWebGPU, type CheckReport, type CheckResult, type KernelBenchReport, type KernelBenchShape } from './kernelCheckCommon';
import { checkDispatch, checkLeaks } from './kernelCheckDispatch';
import { checkJumpRelu } from './kernelCheckJumpRelu';
import { checkAdam, checkNormalize } from './kernelCheckParams';
import { checkSparse } from './kernelCheckSparse';
import { checkBatchTopk, checkTopk } from './kernelCheckTopk';

// The report types, imported from here by scripts/bench/kernels.ts and e2e/kernels.spec.ts.
export type { CheckReport, CheckResult, KernelBenchReport, KernelBenchRow, KernelBenchShape } from './kernelCheckCommon';

declare global {
  interface Window {
    saeKernelCheck(): Promise<CheckReport>;
    saeKernelBench(shape: KernelBenchShape): Promise<KernelBenchReport>;
  }
}

window.saeKernelCheck = async () => {
  const { adapter, error } = await useWebGPU();
  if (error) return { backend: 'unavailable', adapter, results: [], error };
  const results: CheckResult[] = [];
  if (!useFusedKernels()) return { backend: tf.getBackend(), adapter, results, error: 'the fused kernels are switched off on webgpu' };
  try {
    for (const check of [checkDispatch, checkJumpRelu, checkTopk, checkBatchTopk, checkAdam, checkNormalize, checkSparse, checkLeaks]) await check(results);
  } catch (e) {
    return { backend: tf.getBackend(), adapter, results, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
  }
  return { backend: tf.getBackend(), adapter, results };
};

window.saeKernelBench = kernelBench;
