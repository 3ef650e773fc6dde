// A model too large for the backend: the Model panel says so as it is typed, and Train is refused
// at once with the size that fits — no frozen tab, no lost device — and the page trains again.
import { expect, test } from '@playwright/test';
import { configure, openApp } from './helpers';

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
