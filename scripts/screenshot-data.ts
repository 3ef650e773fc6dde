// Takes docs/data-panel.png (the real stories260K activations with tokens, document ids, positions
// and vocab, plus BOS-like rows so the outlier report shows) and docs/import-panel.png (an exported
// SAE dropped back in and evaluated). Run `npx tsx scripts/screenshot-data.ts`: it starts Vite's dev
// server (nothing to build first) and drives Debian's headless Chromium through Playwright.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { withDevPage } from './devPage';
import { dropFiles } from '../e2e/helpers';
import { parseNpy, writeNpy } from '../src/io/npy';

const DATA = path.resolve(import.meta.dirname, '../../shared/data/stories260k');

await withDevPage(4179, { width: 1440, height: 1200 }, async (page) => {
  // The shared files drop BOS rows; put the BOS residual back in front of each story (12.2 ≈ 1.8×
  // the mean norm at layer 3, per the data README) so the outlier report has what real dumps have.
  const read = (f: string) => new Uint8Array(readFileSync(path.join(DATA, f)));
  const acts = parseNpy(read('train/resid_l3.npy').buffer as ArrayBuffer);
  const docs = parseNpy(read('train/doc_ids.npy').buffer as ArrayBuffer).data as Int32Array;
  const data = Float32Array.from(acts.data as Float32Array);
  const d = acts.shape[1];
  const bos = new Float32Array(d).map((_, j) => (j % 2 ? 1 : -1) * 12.22 / Math.sqrt(d));
  for (let r = 0; r < docs.length; r++) if (r === 0 || docs[r] !== docs[r - 1]) data.set(bos, r * d);
  await dropFiles(page, [
    { name: 'resid_l3.npy', bytes: writeNpy(data, acts.shape) },
    { name: 'tokens.npy', bytes: read('train/tokens.npy') },
    { name: 'doc_ids.npy', bytes: read('train/doc_ids.npy') },
    { name: 'positions.npy', bytes: read('train/positions.npy') },
    { name: 'vocab.json', bytes: read('vocab.json') },
  ]);
  await page.getByTestId('outlier-warning').waitFor({ timeout: 120_000 });
  await page.waitForTimeout(1500);
  await page.locator('section[aria-labelledby=data-title]').screenshot({ path: 'docs/data-panel.png' });

  await page.getByLabel('Steps', { exact: true }).fill('150');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await page.getByTestId('progress').filter({ hasText: 'done' }).waitFor({ timeout: 300_000 });
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export SAELens' }).click();
  const zip = readFileSync(await (await download).path() as string);
  await dropFiles(page, [{ name: 'sae_topk.zip', bytes: zip }]);
  await page.getByRole('button', { name: 'Evaluate on loaded data' }).click();
  await page.getByTestId('import-evaluation').waitFor({ timeout: 120_000 });
  await page.waitForTimeout(1000);
  await page.getByTestId('import-panel').screenshot({ path: 'docs/import-panel.png' });
});
