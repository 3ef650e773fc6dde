// The language model in the browser: drop the stories260K checkpoint, its tokenizer and a text;
// the text's residuals become the dataset; train; splice the SAE back in for loss recovered.
// Uses ../shared/data (skipped with a message where it is absent).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { SHARED_DATA, configure, dropFiles, hasSharedData, openApp } from './helpers';

const file = (name: string) => ({ name, bytes: readFileSync(path.join(SHARED_DATA, name)) });

test('drop model, tokenizer and text → activations → train → Evaluate gives loss recovered', async ({ page }) => {
  test.skip(!hasSharedData, `${SHARED_DATA} is absent (it exists only beside the project in CI)`);
  test.setTimeout(240_000);
  await openApp(page);
  await dropFiles(page, [file('model.bin'), file('tok512.bin'), file('stories_valid.txt')]);
  const panel = page.getByTestId('lm-panel');
  await expect(panel.getByTestId('lm-model')).toContainText('260,032 parameters');
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
  await expect(result).toContainText('blocks.3.hook_resid_pre');
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
