// Files in and out: activations, a .safetensors file and a tokens + vocab pair dropped at once are
// recognised by content; a raw file asks for its shape; the exported zip imports back (inspect,
// evaluate, continue training) with the same tensors.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { configure, dropFiles, npyBytes, npyInt32Bytes, openApp } from './helpers';

const N = 600, d = 64;

/** A safetensors file (per its spec) with document ids and positions as I32 tensors. */
function metaSafetensors(): Buffer {
  const docs = Int32Array.from({ length: N }, (_, r) => Math.floor(r / 50));
  const pos = Int32Array.from({ length: N }, (_, r) => 1 + (r % 50));
  const header = JSON.stringify({ doc_ids: { dtype: 'I32', shape: [N], data_offsets: [0, 4 * N] }, positions: { dtype: 'I32', shape: [N], data_offsets: [4 * N, 8 * N] } });
  const buf = Buffer.alloc(8 + header.length + 8 * N);
  buf.writeBigUInt64LE(BigInt(header.length), 0);
  buf.write(header, 8, 'utf8');
  Buffer.from(docs.buffer).copy(buf, 8 + header.length);
  Buffer.from(pos.buffer).copy(buf, 8 + header.length + 4 * N);
  return buf;
}

test('an .npy, a .safetensors and a tokens + vocab pair dropped at once; the exported zip imports back', async ({ page }) => {
  test.setTimeout(120_000);
  await openApp(page);
  // Rows at a document start (position 1) get a 12× norm: the outlier warning must find them.
  const acts = npyBytes(N, d, (r, c) => (Math.sin(r * 0.37 + c) + ((r * c) % 7) / 7) * (r % 50 === 0 ? 12 : 1));
  const tokens = npyInt32Bytes(Array.from({ length: N }, (_, r) => (r * 5) % 20));
  const vocab = Buffer.from(JSON.stringify(Array.from({ length: 20 }, (_, i) => `tok${i}`)));
  await dropFiles(page, [
    { name: 'vocab.json', bytes: vocab }, { name: 'meta.safetensors', bytes: metaSafetensors() },
    { name: 'ids.npy', bytes: tokens }, { name: 'resid.npy', bytes: acts },
  ]);
  await expect(page.getByTestId('dataset-shape')).toHaveText('600 × 64');
  const companions = page.getByTestId('companions');
  await expect(companions).toContainText('ids.npy · 600 ids');
  await expect(companions).toContainText('vocab.json · 20 pieces');
  await expect(companions).toContainText('12 documents');
  await expect(companions).toContainText('meta.safetensors:positions');
  await expect(page.getByTestId('outlier-warning')).toContainText('12 outlier rows');
  await expect(page.getByTestId('outlier-warning')).toContainText('12 of them are the first position');
  await expect(page.getByTestId('norm-histogram')).toBeVisible();
  await expect(page.getByTestId('per-dim-chart')).toBeVisible();

  // Train on whole documents without the outliers, then export.
  await page.getByLabel('Split validation by').selectOption('document');
  await page.getByLabel(/leave out the 12 outlier rows/).check();
  await configure(page, { variant: 'topk', dSae: 128, batch: 128, steps: 60 });
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 60_000 });
  const zip = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export SAELens' }).click();
  const zipPath = await (await zip).path();
  await expect(page.getByRole('list', { name: 'Exported files' })).toContainText('train_with_saelens.py');
  const weights = page.waitForEvent('download');
  await page.getByRole('button', { name: 'sae_weights.safetensors' }).click();
  const exportedWeights = readFileSync(await (await weights).path());

  // Import the zip back: the panel shows it, evaluation gives metrics, training continues from it.
  await dropFiles(page, [{ name: 'sae_topk_128.zip', bytes: readFileSync(zipPath) }]);
  const panel = page.getByTestId('import-panel');
  await expect(panel).toBeVisible();
  await expect(page.getByTestId('import-size')).toHaveText('d_in 64 → d_sae 128');
  await expect(panel).toContainText('run_config.json of the workbench run');
  await expect(page.getByTestId('density-histogram')).toBeVisible();
  await page.getByRole('button', { name: 'Evaluate on loaded data' }).click();
  await expect(page.getByTestId('import-evaluation')).toContainText('NMSE');
  // The figures say which data they were measured on.
  await expect(page.getByTestId('import-evaluation-data')).toHaveText('On the validation rows of resid.npy (600 × 64)');
  await page.getByRole('button', { name: 'Continue training' }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 60_000 });
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText('started topk: d_sae 128');

  // The panel lists exactly the exported tensors (byte-identical re-export is a unit test per variant).
  const headerLen = Number(exportedWeights.readBigUInt64LE(0));
  const header = JSON.parse(exportedWeights.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { shape: number[] }>;
  const table = page.getByRole('table', { name: 'Imported tensors' });
  for (const [name, t] of Object.entries(header)) await expect(table).toContainText(`${name}[${t.shape.join(', ')}]F32`);
  await expect(table.locator('tbody tr')).toHaveCount(Object.keys(header).length);
});

test('a raw .f32 file asks for its shape; a wrong shape says what would fit', async ({ page }) => {
  await openApp(page);
  const raw = Buffer.alloc(300 * 32 * 4);
  for (let i = 0; i < 300 * 32; i++) raw.writeFloatLE(Math.cos(i * 0.1), 4 * i);
  await dropFiles(page, [{ name: 'acts.f32', bytes: raw }]);
  const form = page.getByTestId('raw-shape-acts.f32');
  await expect(form).toContainText('38,400 bytes');
  await form.getByLabel('width d').fill('32');
  await expect(form).toContainText('300 rows × 32');
  await form.getByRole('button', { name: 'Read' }).click();
  await expect(page.getByTestId('dataset-shape')).toHaveText('300 × 32');
  // The sample is replaced, nothing else breaks; a broken .safetensors leaves it in place.
  const broken = Buffer.alloc(64);
  broken.writeBigUInt64LE(10_000n, 0);
  broken.write('{"x":', 8);
  await dropFiles(page, [{ name: 'broken.safetensors', bytes: broken }]);
  await expect(page.getByRole('alert')).toContainText('broken.safetensors declares a 10,000-byte header but the file is 64 bytes');
  await expect(page.getByTestId('dataset-shape')).toHaveText('300 × 32');
});
