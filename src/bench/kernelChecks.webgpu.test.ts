// The fused WebGPU kernels' reference checks (src/bench/kernelChecks.ts) in Node, on Dawn over the
// machine's Vulkan driver (src/cli/nodeWebgpu.ts): on a GPU server the real GPU, here and in CI
// Mesa's software Vulkan. The same checks run in headless Chromium (e2e/kernels.spec.ts); this is
// what `scripts/gpu-check.sh` runs first on a new GPU machine.
import { describe, expect, it } from 'vitest';
import { nodeWebGPUUnavailable } from '../engine/testing';
import { runKernelChecks } from './kernelChecks';
import { missingCoverage } from './kernelCoverage';

const unavailable = await nodeWebGPUUnavailable();

describe.skipIf(unavailable !== null)('fused WebGPU kernels in Node', () => {
  it('match the tfjs compositions and plain JS, run when they should, and leak nothing', async () => {
    const report = await runKernelChecks();
    expect(report.error ?? null, 'the checks must run on WebGPU').toBeNull();
    expect(report.backend).toBe('webgpu');
    expect(report.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
    expect(missingCoverage(report.results.map((r) => r.name))).toEqual([]);
  }, 300_000);
});
