// Comparing runs: a finished run is kept with its final metrics and weights, also across a reload
// (IndexedDB); a three-point sweep on the real activations (../shared/data, skipped with a message
// where absent) trains three runs and draws three points on the L0-vs-NMSE frontier.
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { SHARED_DATA, configure, dropRealActivations, hasSharedData, openApp } from './helpers';

const keptRuns = (page: Page) => page.getByTestId('kept-run');

test('a finished run is kept with its metrics and weights, and is still there after a reload', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'topk', dSae: 64, batch: 256, steps: 120 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
  await expect(keptRuns(page)).toHaveCount(1);
  // 120 steps logged every 10 (the default) are 12 rows; the last of them may reach the chart in
  // a redraw turn after "done", so wait for all of them rather than reading the count once.
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', '12');
  // A fixed smoothing window re-plots the loss chart from the rows already logged.
  await page.getByLabel(/^Loss smoothing window/).fill('5');
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', '12');
  const row = keptRuns(page).first();
  await expect(row).toContainText('#1 · topk · d_sae 64');
  const before = await row.innerText();

  await page.reload();
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  await expect(keptRuns(page)).toHaveCount(1);
  expect(await keptRuns(page).first().innerText()).toBe(before);

  // Its weights come back from IndexedDB: the zip is a SAELens directory.
  const download = page.waitForEvent('download');
  await keptRuns(page).first().getByRole('button', { name: 'zip' }).click();
  const zip = await download;
  expect(zip.suggestedFilename()).toBe('sae_topk_64_run1.zip');
  const bytes = readFileSync(await zip.path());
  expect(bytes.subarray(0, 2).toString('latin1')).toBe('PK');
  expect(bytes.includes(Buffer.from('sae_weights.safetensors'))).toBe(true);

  // Overlay its curve, then delete it.
  await keptRuns(page).first().getByRole('checkbox').check();
  await expect(page.getByTestId('overlay-chart')).toBeVisible();
  await page.getByRole('button', { name: 'Delete run 1' }).click();
  await expect(keptRuns(page)).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  await expect(page.getByText('Finished runs are kept here')).toBeVisible();
});

test('a three-point sweep over d_sae on real activations gives three points on the frontier', async ({ page }) => {
  test.skip(!hasSharedData, `${SHARED_DATA} is absent (it exists only beside the project in CI)`);
  test.setTimeout(240_000);
  await openApp(page);
  await dropRealActivations(page);
  await configure(page, { variant: 'topk', dSae: 128, batch: 512, steps: 150 });
  const sweep = page.getByRole('group', { name: 'Sweep' });
  await sweep.getByLabel('Parameter').selectOption('d_sae');
  await sweep.getByLabel('Values').fill('64, 128, 256');
  await sweep.getByRole('button', { name: 'Run sweep' }).click();
  await expect(page.getByTestId('sweep-status')).toContainText('done: 3 runs kept', { timeout: 200_000 });
  await expect(keptRuns(page)).toHaveCount(3);
  for (const d of [64, 128, 256]) await expect(keptRuns(page).filter({ hasText: `d_sae ${d} ·` })).toHaveCount(1);
  await expect(page.getByTestId('frontier-nmse')).toHaveAttribute('data-points', '3');
  // More latents at the same target L0 fraction: L0 grows with d_sae, NMSE falls.
  const l0s = await keptRuns(page).evaluateAll((rows) => rows.map((r) => Number(r.children[3].textContent)));
  expect(new Set(l0s).size).toBe(3);
  // The form is back to the value it had before the sweep.
  await expect(page.getByLabel('d_sae', { exact: true })).toHaveValue('128');
});
