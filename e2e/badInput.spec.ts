// Bad input in the app: after a short training run on dropped activations, a representative set of
// the bad-file corpus (fixtures/bad/, scripts/make-bad-corpus.ts) is dropped file by file. Each gets
// its specific message, and the dataset summary, the trained run (progress, loss chart, validation
// metrics) and the Train button are as they were. Last, an activation file with NaN rows is loaded
// without them from the button its message comes with. (Every corpus file is tested in the workspace
// and through the CLI by the unit tests.)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { chartPoints, configure, dropFiles, npyBytes, openApp } from './helpers';

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/bad');
const manifest: { file: string; expect?: string }[] = JSON.parse(readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8'));
const corpusFile = (file: string) => ({ name: file, bytes: readFileSync(path.join(CORPUS, file)) });
const expected = (file: string) => new RegExp(manifest.find((c) => c.file === file)!.expect!);

/** What must not change when a bad file is dropped. */
async function state(page: Page) {
  return {
    dataset: await page.getByTestId('dataset-info').innerText(),
    progress: await page.getByTestId('progress').innerText(),
    lossPoints: await chartPoints(page, 'chart-loss'),
    metrics: await page.getByTestId('eval-metrics').innerText(),
    trainEnabled: await page.getByRole('button', { name: 'Train', exact: true }).isEnabled(),
  };
}

test('bad files get their own message and leave the data, the trained run and the Train button as they were', async ({ page }) => {
  test.setTimeout(90_000);
  await openApp(page);
  await dropFiles(page, [{ name: 'acts.npy', bytes: npyBytes(600, 64, (r, c) => Math.sin(r * 0.37 + c) + ((r * c) % 7) / 7) }]);
  await expect(page.getByTestId('dataset-shape')).toHaveText('600 × 64');
  await configure(page, { variant: 'topk', dSae: 64, batch: 128, steps: 30 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 60_000 });
  await expect(page.getByTestId('eval-metrics')).toBeVisible();
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(0);
  const before = await state(page);
  expect(before.trainEnabled).toBe(true);

  const alert = page.getByRole('alert').filter({ hasText: 'Could not load the file.' });
  const cases: [string, RegExp][] = [
    ['npy-truncated-data.npy', expected('npy-truncated-data.npy')],
    ['st-random.safetensors', expected('st-random.safetensors')],
    ['npz-truncated.npz', expected('npz-truncated.npz')],
    ['vocab-malformed.json', expected('vocab-malformed.json')],
    ['labels-ragged.csv', expected('labels-ragged.csv')],
    ['run_config-bad-k.json', expected('run_config-bad-k.json')],
    // The loaded activations here are 64 wide (the corpus's own baseline is 8 wide).
    ['sae-d-in-mismatch.zip', /sae-d-in-mismatch\.zip: the SAE takes d_in 16 but the loaded activations acts\.npy have rows of width 64/],
    ['model-bad-header.bin', expected('model-bad-header.bin')],
    ['tokenizer-truncated.bin', expected('tokenizer-truncated.bin')],
  ];
  for (const [file, message] of cases) {
    await dropFiles(page, [corpusFile(file)]);
    await expect(alert, file).toContainText(message);
    await expect(alert).toContainText('Everything loaded before is unchanged.');
    expect(await state(page), file).toEqual(before);
  }
  await expect(page.getByTestId('import-panel')).toHaveCount(0);
  await expect(page.getByTestId('lm-model')).toHaveCount(0);

  // A file name is text, never markup.
  await dropFiles(page, [{ name: '<b id="injected">x</b>.npy', bytes: readFileSync(path.join(CORPUS, 'npy-wrong-magic.npy')) }]);
  await expect(alert).toContainText('<b id="injected">x</b>.npy is not a NumPy .npy file');
  await expect(page.locator('#injected')).toHaveCount(0);
  expect(await state(page)).toEqual(before);

  // NaN rows: refused with their count, then loaded without them from the message's button.
  await dropFiles(page, [corpusFile('npy-nan-rows.npy')]);
  await expect(alert).toContainText(expected('npy-nan-rows.npy'));
  expect(await state(page)).toEqual(before);
  await alert.getByRole('button', { name: 'Load without the 2 rows with NaN/Inf' }).click();
  await expect(page.getByTestId('dataset-shape')).toHaveText('14 × 8');
  await expect(page.getByTestId('dataset-info')).toContainText('2 rows with NaN or Inf left out (file rows 2, 11)');
  await expect(alert).toHaveCount(0);
  // The run trained before stays as it was; the next run uses the new data.
  const after = await state(page);
  expect({ ...after, dataset: before.dataset }).toEqual(before);
});
