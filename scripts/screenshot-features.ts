// Takes docs/analysis.png and docs/features.png: the training analysis and the feature browser after a TopK run on the real stories260K layer-3
// activations with their tokens, document ids and vocab. `npx tsx scripts/screenshot-features.ts`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withDevPage } from './devPage';
import { configure, dropFiles } from '../e2e/helpers';

const DATA = path.resolve(import.meta.dirname, '../../shared/data/stories260k');
const file = (rel: string) => ({ name: path.basename(rel), bytes: readFileSync(path.join(DATA, rel)) });

await withDevPage(4183, { width: 1440, height: 1000 }, async (page) => {
  await dropFiles(page, [file('train/resid_l3.npy'), file('train/tokens.npy'), file('train/doc_ids.npy'), file('vocab.json')]);
  await page.getByTestId('dataset-shape').filter({ hasText: '35,234' }).waitFor({ timeout: 120_000 });
  await configure(page, { variant: 'topk', dSae: 512, batch: 1024, steps: 1000 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await page.getByTestId('progress').filter({ hasText: 'done' }).waitFor({ timeout: 600_000 });
  await page.getByTestId('analysis-panel').getByTestId('chart-l0-histogram').waitFor();
  await page.waitForTimeout(1500);
  await page.getByTestId('analysis-panel').screenshot({ path: 'docs/analysis.png' });
  console.log('wrote docs/analysis.png');
  const panel = page.getByTestId('features-panel');
  await panel.getByRole('button', { name: 'Browse features' }).click();
  await panel.getByTestId('density-histogram').waitFor({ timeout: 120_000 });
  await panel.getByLabel('Sort by').selectOption('max');
  await panel.getByRole('table', { name: 'Latents' }).getByRole('row').nth(3).getByRole('button').click();
  await panel.getByTestId('latent-contexts').waitFor({ timeout: 120_000 });
  await page.waitForTimeout(1500);
  await panel.screenshot({ path: 'docs/features.png' });
  console.log('wrote docs/features.png');
});
