// The language model in the browser: drop the stories260K checkpoint, its tokenizer and a text;
// the text's residuals become the dataset; train; splice the SAE back in for loss recovered.
// Uses ../shared/data (skipped with a message where it is absent).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { SHARED_DATA, configure, dropFiles, hasSharedData, openApp } from './helpers';

const file = (name: string) => ({ name, bytes: readFileSync(path.join(SHARED_DATA, name)) });

/** The app with the stories260K model, its tokenizer and the validation text dropped; its panel. */
async function openWithModel(page: Page) {
  test.skip(!hasSharedData, `${SHARED_DATA} is absent (it exists only beside the project in CI)`);
  test.setTimeout(240_000);
  await openApp(page);
  await dropFiles(page, [file('model.bin'), file('tok512.bin'), file('stories_valid.txt')]);
  const panel = page.getByTestId('lm-panel');
  await expect(panel.getByTestId('lm-model')).toContainText('260,032 parameters');
  return panel;
}

test('drop model, tokenizer and text → activations → train → Evaluate gives loss recovered', async ({ page }) => {
  const panel = await openWithModel(page);
  await expect(panel).toContainText('tok512.bin: 512 pieces');
  await expect(panel.getByRole('list', { name: 'Texts' })).toContainText('9,486 tokens');
  // Layer 2 is the default (the middle of 5 blocks); record layer 3 instead, as the reference files do.
  await panel.getByLabel('2', { exact: true }).uncheck();
  await panel.getByLabel('3', { exact: true }).check();
  await panel.getByRole('button', { name: 'Extract activations from stories_valid.txt' }).click();
  await expect(page.getByTestId('dataset-shape')).toHaveText('9,461 × 64', { timeout: 60_000 });
  await expect(page.getByTestId('companions')).toContainText('25 documents');
  await expect(page.getByLabel('Split validation by')).toHaveValue('document');

  const download = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download activations (.npy zip)' }).click();
  expect((await download).suggestedFilename()).toMatch(/\.zip$/);

  // Loss recovered every 50 steps while training, charted beside NMSE.
  await panel.getByLabel('While training, every N steps (0 = off)').fill('50');
  await configure(page, { variant: 'topk', dSae: 256, batch: 256, steps: 150 });
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
  await expect(page.getByTestId('chart-loss-recovered')).toHaveAttribute('data-points', /^[23]$/);
  await page.getByRole('button', { name: 'Evaluate with the language model' }).click();
  const result = page.getByTestId('splice-metrics');
  await expect(result).toBeVisible({ timeout: 120_000 });
  const recovered = Number(await result.getByTestId('loss-recovered').textContent());
  expect(recovered).toBeGreaterThan(0.5);
  expect(recovered).toBeLessThanOrEqual(1);
  await expect(result).toContainText('validation documents of stories_valid.txt');
  await expect(result.getByTestId('splice-hook')).toHaveText('blocks.3.hook_resid_pre');
  // 10% of 25 documents: a thousand-odd predictions, so the figure carries its standard error and
  // the hint that it is noisy.
  await expect(result.getByTestId('loss-recovered-se')).toHaveText(/^± 0\.\d+$/);
  const predictions = Number((await result.getByTestId('splice-predictions').textContent())!.replace(/[^\d]/g, ''));
  expect(predictions).toBeGreaterThan(100);
  expect(predictions).toBeLessThan(5000);
  await expect(result.getByTestId('splice-few')).toContainText('loss recovered is noisy');
  // The periodic points carry ± one standard error as error bars.
  const errorBars = await page.getByTestId('chart-loss-recovered').evaluate((el) => ((el as unknown as { data: { error_y?: { array: number[] } }[] }).data[0].error_y?.array ?? []));
  expect(errorBars.length).toBeGreaterThanOrEqual(2);
  for (const se of errorBars) expect(se).toBeGreaterThan(0);
});

// Activations from a file do not say which layer of the model they came from: nothing is assumed
// (no layer 0 by default); Evaluate waits until the layer is chosen, and the result names it.
test('activations from a file: Evaluate waits for the model layer to be chosen, then splices there', async ({ page }) => {
  const panel = await openWithModel(page);
  await dropFiles(page, [{ name: 'resid_l3.npy', bytes: readFileSync(path.join(SHARED_DATA, 'train/resid_l3.npy')) }]);
  await expect(page.getByTestId('dataset-shape')).toHaveText('35,234 × 64');
  const layer = panel.getByLabel('Model layer of the loaded activations');
  await expect(layer).toHaveValue('');
  await expect(layer.locator('option:checked')).toHaveText('choose…');

  await configure(page, { variant: 'topk', dSae: 256, batch: 256, steps: 100 });
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
  const evaluate = page.getByRole('button', { name: 'Evaluate with the language model' });
  await expect(evaluate).toBeDisabled();
  await expect(evaluate).toHaveAttribute('title', /^choose the model layer of the loaded activations first/);

  await layer.selectOption('3');
  await expect(evaluate).toBeEnabled();
  await evaluate.click();
  const result = page.getByTestId('splice-metrics');
  await expect(result).toBeVisible({ timeout: 120_000 });
  await expect(result.getByTestId('splice-hook')).toHaveText('blocks.3.hook_resid_pre');
  await expect(result.getByTestId('splice-predictions')).toHaveText('9,436 predictions');
  await expect(result.getByTestId('loss-recovered-se')).toHaveText(/^± 0\.\d+$/);
  await expect(result.getByTestId('splice-few')).toHaveCount(0);
  expect(Number(await result.getByTestId('loss-recovered').textContent())).toBeGreaterThan(0.5);
});

// The GPU backends run attention as batched matmuls (wasm runs it head by head): their residuals
// must be the reference's too. The Data panel's mean ± std of the extracted layer-3 rows is the
// reference's (stats.json: −0.03283 ± 0.8563 on the validation stories).
for (const backend of ['webgl', 'webgpu'] as const) {
  test(`the ${backend} backend extracts the reference activations`, async ({ page }) => {
    test.skip(!hasSharedData, `${SHARED_DATA} is absent (it exists only beside the project in CI)`);
    test.setTimeout(240_000);
    await openApp(page, `?backend=${backend}`);
    await expect(page.getByTestId('backend')).toContainText(backend);
    await dropFiles(page, [file('model.bin'), file('tok512.bin'), file('stories_valid.txt')]);
    const panel = page.getByTestId('lm-panel');
    await expect(panel.getByTestId('lm-model')).toContainText('260,032 parameters');
    await panel.getByLabel('2', { exact: true }).uncheck();
    await panel.getByLabel('3', { exact: true }).check();
    await panel.getByRole('button', { name: 'Extract activations from stories_valid.txt' }).click();
    await expect(page.getByTestId('dataset-shape')).toHaveText('9,461 × 64', { timeout: 180_000 });
    await expect(page.getByTestId('dataset-info')).toContainText('-0.03283 ± 0.8563');
  });
}
