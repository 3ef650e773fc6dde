// A model too large for the backend: the Model panel says so as it is typed, and Train is refused
// at once with the size that fits — no frozen tab, no lost device — and the page trains again.
import { expect, test } from '@playwright/test';
import { configure, dropFile, npyBytes, openApp } from './helpers';

test('a too-large d_sae is refused quickly with the size that fits, and the page stays usable', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'topk', dSae: 128, batch: 256, steps: 30 });
  await expect(page.getByTestId('memory-estimate')).toHaveText(/^≈ [\d.]+ MiB to train on (wasm|webgl|webgpu|cpu)$/);

  await page.getByLabel('d_sae', { exact: true }).fill('4194304');
  await expect(page.getByTestId('memory-estimate')).toContainText(/GiB to train on \w+: (probably )?too large .*the largest d_sae that fits is [\d,]+/);
  const t0 = Date.now();
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText(/d_sae 4,194,304 × d_in 64 \(topk, batch 256\) needs about [\d.]+ GiB on \w+.*the largest d_sae that fits is [\d,]+/, { timeout: 15_000 });
  expect(Date.now() - t0).toBeLessThan(15_000);
  await expect(page.getByTestId('progress')).toContainText('idle');
  await expect(page.getByRole('button', { name: 'Train', exact: true })).toBeEnabled();

  // The suggested size trains (kept small here so the test is quick: anything at or below it fits).
  const suggested = Number((await alert.innerText()).match(/the largest d_sae that fits is ([\d,]+)/)![1].replace(/,/g, ''));
  expect(suggested).toBeGreaterThanOrEqual(256);
  await page.getByLabel('d_sae', { exact: true }).fill(String(Math.min(suggested, 256)));
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 30 / 30', { timeout: 120_000 });
});

test('a GPT-2-width TopK SAE (d_in 768, d_sae 32,768, batch 1,024) trains in the page on wasm, in the memory its estimate said', async ({ page }) => {
  test.setTimeout(420_000);
  await openApp(page, '?backend=wasm');
  // 2,048 rows of width 768: a smooth signal with a few directions, enough for a few steps.
  await dropFile(page, 'gpt2-width.npy', npyBytes(2048, 768, (r, c) => Math.sin(0.37 * r + 1.3 * c) + 0.5 * Math.cos(0.11 * r * ((c % 7) + 1))));
  await expect(page.getByTestId('dataset-shape')).toHaveText('2,048 × 768');
  await configure(page, { variant: 'topk', dSae: 32768, batch: 1024, steps: 6 });
  await page.getByRole('radio', { name: 'Manual' }).check();
  await page.getByLabel('Initial k').fill('32');
  const estimate = page.getByTestId('memory-estimate');
  await expect(estimate).toHaveText(/^≈ [\d.]+ GiB to train on wasm$/);
  const estimated = Number((await estimate.innerText()).match(/≈ ([\d.]+) GiB/)![1]) * 2 ** 30;

  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 6 / 6', { timeout: 360_000 });
  // wasm's memory only grows: its size now is the high-water mark of the run and its evaluation.
  const memory = await page.evaluate(() => (window as unknown as { __saeWorkbench: { engineMemory(): Promise<{ wasmMemoryBytes?: number } | null> } }).__saeWorkbench.engineMemory());
  const used = memory?.wasmMemoryBytes ?? 0;
  console.info(`d_sae 32,768 × d_in 768, batch 1,024 on wasm: estimated ${(estimated / 2 ** 30).toFixed(2)} GiB, wasm memory ${(used / 2 ** 30).toFixed(2)} GiB`);
  expect(Math.abs(estimated - used) / used).toBeLessThan(0.15);
});
