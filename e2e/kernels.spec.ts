// The fused WebGPU kernels (src/engine/ops/webgpu) against the plain tfjs compositions they
// replace, on the webgpu backend of headless Chromium (the SwiftShader software adapter here):
// kernels.html runs every reference check (src/bench/kernelCheck.ts) and reports each one. The
// page refuses to run without WebGPU, so a missing adapter fails here rather than passing on a
// fallback backend.
import { expect, test, type Page } from '@playwright/test';
import type { CheckReport, KernelBenchReport } from '../src/bench/kernelCheck';
import { missingCoverage } from '../src/bench/kernelCoverage';

async function openKernelPage(page: Page) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // A WGSL program that fails to compile only warns in the console (its output is garbage, which
  // the checks catch too); fail with the compiler's message instead.
  page.on('console', (m) => { if (/Error while parsing WGSL|Invalid ShaderModule/.test(m.text())) errors.push(m.text()); });
  await page.goto('/kernels.html');
  await page.waitForFunction(() => typeof window.saeKernelCheck === 'function', null, { timeout: 60_000 });
  return errors;
}

test('fused WebGPU kernels match the tfjs compositions and plain JS, run when they should, and leak nothing', async ({ page }) => {
  const errors = await openKernelPage(page);
  const report: CheckReport = await page.evaluate(() => window.saeKernelCheck());
  expect(report.error ?? null, 'the checks must run on WebGPU').toBeNull();
  expect(report.backend).toBe('webgpu');
  expect(errors).toEqual([]);

  const failed = report.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);
  expect(failed).toEqual([]);

  // Every kernel family, the dispatch and the sparse steps through the Trainer (src/bench/kernelCoverage.ts).
  expect(missingCoverage(report.results.map((r) => r.name))).toEqual([]);
});

test('the kernel timing harness runs both paths on WebGPU', async ({ page }) => {
  const errors = await openKernelPage(page);
  // Tiny shapes and one sample each: this checks the harness, not the speed (scripts/bench/kernels.ts).
  const report: KernelBenchReport = await page.evaluate(() => window.saeKernelBench({ batch: 32, dSae: 256, dIn: 16, k: 8, iterations: 1, budgetMs: 0 }));
  expect(report.error ?? null).toBeNull();
  expect(report.backend).toBe('webgpu');
  expect(errors).toEqual([]);
  expect(report.rows.map((r) => r.kernel)).toEqual([
    'jumprelu forward', 'jumprelu forward+backward', 'heaviside L0 forward', 'heaviside L0 forward+backward',
    'topk forward', 'topk forward+backward', 'batchtopk forward', 'batchtopk forward+backward', 'adam', 'normalize',
  ]);
  for (const r of report.rows) {
    expect(r.fusedMs).toBeGreaterThan(0);
    expect(r.compositionMs).toBeGreaterThan(0);
  }
});
