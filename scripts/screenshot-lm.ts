// Takes docs/language-model.png: the stories260K model, its tokenizer and two texts dropped; the
// train stories' layer-3 residuals extracted; a TopK SAE trained with loss recovered measured every
// 100 steps on the validation stories; then Evaluate. Run `npx tsx scripts/screenshot-lm.ts`: it
// starts Vite's dev server and drives Debian's headless Chromium through Playwright.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withDevPage } from './devPage';
import { configure, dropFiles } from '../e2e/helpers';

const DATA = path.resolve(import.meta.dirname, '../../shared/data/stories260k');
const file = (name: string) => ({ name, bytes: readFileSync(path.join(DATA, name)) });

await withDevPage(4181, { width: 1440, height: 1300 }, async (page) => {
  await dropFiles(page, [file('model.bin'), file('tok512.bin'), file('stories_train.txt'), file('stories_valid.txt')]);
  const panel = page.getByTestId('lm-panel');
  await panel.getByTestId('lm-model').filter({ hasText: 'parameters' }).waitFor();
  await panel.getByLabel('2', { exact: true }).uncheck();
  await panel.getByLabel('3', { exact: true }).check();
  await panel.getByRole('button', { name: 'Extract activations from stories_train.txt' }).click();
  await page.getByTestId('dataset-shape').filter({ hasText: '35,234' }).waitFor({ timeout: 120_000 });
  await panel.getByLabel('While training, every N steps (0 = off)').fill('100');
  await configure(page, { variant: 'topk', dSae: 512, batch: 1024, steps: 1000 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await page.getByTestId('progress').filter({ hasText: 'done' }).waitFor({ timeout: 600_000 });
  await page.getByRole('button', { name: 'Evaluate with the language model' }).click();
  await page.getByTestId('splice-metrics').waitFor({ timeout: 120_000 });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: 'docs/language-model.png', fullPage: true });
  console.log('wrote docs/language-model.png');
});
