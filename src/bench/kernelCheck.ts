// The kernel-check page (kernels.html): window.saeKernelCheck and window.saeKernelBench.
// It checks and times the fused WebGPU kernels (src/engine/ops/webgpu) in headless Chromium,
// driven by e2e/kernels.spec.ts and scripts/bench/kernels.ts. It runs on the page's own webgpu
// backend (no worker: nothing else shares it). Every check compares the ops as the engine calls
// them with the fused kernels on against the same ops with them switched off — the plain tfjs
// composition on the same backend — and some also against plain JS arrays.
//   saeKernelCheck() → every reference check, whether the fused kernels actually ran, and leaks;
//   saeKernelBench(shape) → ms per call, fused vs composition, for each kernel at one size.
// Without WebGPU both answer with an error and no results: they never pass by falling back.
// The runner of the checks is src/bench/kernelChecks.ts (Node runs it too). The checks are split
// by kernel family: src/bench/kernelCheckJumpRelu.ts, kernelCheckTopk.ts, kernelCheckParams.ts
// (Adam, normalisation), kernelCheckSparse.ts (the sparse ops against JS — they have no
// composition — and the sparse training steps against the dense ones) and kernelCheckDispatch.ts
// (dispatch and leaks); the timing is src/bench/kernelBench.ts; what they share is
// src/bench/kernelCheckCommon.ts.
import '@tensorflow/tfjs-backend-webgpu';
import { kernelBench } from './kernelBench';
import type { CheckReport, KernelBenchReport, KernelBenchShape } from './kernelCheckCommon';
import { runKernelChecks } from './kernelChecks';

// The report types, imported from here by scripts/bench/kernels.ts and e2e/kernels.spec.ts.
export type { CheckReport, CheckResult, KernelBenchReport, KernelBenchRow, KernelBenchShape } from './kernelCheckCommon';

declare global {
  interface Window {
    saeKernelCheck(): Promise<CheckReport>;
    saeKernelBench(shape: KernelBenchShape): Promise<KernelBenchReport>;
  }
}

window.saeKernelCheck = runKernelChecks;
window.saeKernelBench = kernelBench;
