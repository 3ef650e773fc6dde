// Takes docs/runs.png: the Runs panel after two k sweeps (topk and batchtopk) on activations the
// stories260K model extracts from stories_train.txt in the page, so each run also has loss
// recovered (evaluated on stories_valid.txt). `npx tsx scripts/screenshot-runs.ts`.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withDevPage } from './devPage';
import { configure, dropFiles } from '../e2e/helpers';

const DATA = path.resolve(import.meta.dirname, '../../shared/data/stories260k');
const file = (rel: string) => ({ name: path.basename(rel), bytes: readFileSync(path.join(DATA, rel)) });

await withDevPage(4191, { width: 1440, height: 1000 }, async (page) => {
  await dropFiles(page, [file('model.bin'), file('tok512.bin'), file('stories_train.txt'), file('stories_valid.txt')]);
  const lm = page.getByTestId('lm-panel');
  await lm.getByTestId('lm-model').waitFor();
  await lm.getByLabel('2', { exact: true }).uncheck();
  await lm.getByLabel('3', { exact: true }).check();
  await lm.getByRole('button', { name: 'Extract activations from stories_train.txt' }).click();
  await page.getByTestId('dataset-shape').filter({ hasText: '× 64' }).filter({ hasNotText: '32,768' }).waitFor({ timeout: 300_000 });
  await lm.getByLabel('Evaluate on').selectOption('stories_valid.txt');
  const sweep = page.getByRole('group', { name: 'Sweep' });
  for (const variant of ['topk', 'batchtopk']) {
    await configure(page, { variant, dSae: 512, batch: 1024, steps: 800 });
    await sweep.getByLabel('Parameter').selectOption('k');
    await sweep.getByLabel('Values').fill('4, 8, 16, 32');
    await sweep.getByRole('button', { name: 'Run sweep' }).click();
    await page.getByTestId('sweep-status').filter({ hasText: 'done' }).waitFor({ timeout: 900_000 });
  }
  const runs = page.getByTestId('kept-run');
  await runs.nth(0).getByRole('checkbox').check();
  await runs.nth(4).getByRole('checkbox').check();
  await page.waitForTimeout(2000);
  await page.locator('.runs-panel').screenshot({ path: 'docs/runs.png' });
  console.log('wrote docs/runs.png');
});
