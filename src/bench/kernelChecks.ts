// Every reference check of the fused WebGPU kernels, in order (what a complete run must cover is
// src/bench/kernelCoverage.ts). One runner for both places that run them: the kernel-check page in headless Chromium
// (src/bench/kernelCheck.ts, driven by e2e/kernels.spec.ts) and Node on Dawn
// (src/bench/kernelChecks.webgpu.test.ts, on whatever Vulkan driver the machine has).
import * as tf from '@tensorflow/tfjs';
import { useFusedKernels } from '../engine/ops/webgpu/program';
import { useWebGPU, type CheckReport, type CheckResult } from './kernelCheckCommon';
import { checkDispatch, checkLeaks } from './kernelCheckDispatch';
import { checkJumpRelu } from './kernelCheckJumpRelu';
import { checkAdam, checkNormalize } from './kernelCheckParams';
import { checkSparse } from './kernelCheckSparse';
import { checkBatchTopk, checkTopk } from './kernelCheckTopk';

/**
 * Run every check on the webgpu backend. Without WebGPU, or with the fused kernels switched off,
 * the report carries an error and no results: the checks never pass by falling back.
 */
export async function runKernelChecks(): Promise<CheckReport> {
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
}
