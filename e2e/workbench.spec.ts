// The used-by flow on the production build, in Debian's headless Chromium.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { SHARED_DATA, chartPoints, configure, dropFile, hasSharedData, npyBytes, openApp, settledChartPoints } from './helpers';

test('opens with the sample loaded and trains with live charts and validation metrics', async ({ page }) => {
  await openApp(page);
  await expect(page.getByTestId('dataset-info')).toContainText('planted');
  // Enough steps that the run is still going when Pause is clicked: the sparse TopK step trains the
  // sample at thousands of steps a second.
  await configure(page, { variant: 'topk', steps: 6000 });
  await page.getByRole('radio', { name: 'Manual' }).check(); // k is derived from the target L0 otherwise
  await page.getByLabel('Initial k').fill('8');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(2);
  const early = await chartPoints(page, 'chart-loss');
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(early);
  expect(await chartPoints(page, 'chart-l0')).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByTestId('progress')).toContainText('paused');
  // The last rows sent before the pause may land after it: wait for the count to settle.
  const pausedAt = await settledChartPoints(page, 'chart-loss');
  await page.waitForTimeout(1500);
  expect(await chartPoints(page, 'chart-loss')).toBe(pausedAt);
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(pausedAt);
  await expect(page.getByTestId('eval-metrics')).toBeVisible({ timeout: 150_000 });
  await expect(page.getByTestId('eval-metrics')).toContainText('feature recovery');
  await expect(page.getByTestId('progress')).toContainText('done · step 6,000 / 6,000');
  // Manual k: no target to judge against, the L0 is a plain figure.
  await expect(page.getByTestId('l0-plain')).toContainText('no target');
  await expect(page.getByTestId('target-status')).toHaveCount(0);
  await expect(page.getByTestId('verdict-sparsity')).toHaveCount(0);
});

test('a dropped .npy replaces the data, and a corrupt file shows an error while the app keeps working', async ({ page }) => {
  await openApp(page);
  await dropFile(page, 'small.npy', npyBytes(300, 16, (r, c) => Math.sin(r * 0.37 + c) + (c % 3)));
  await expect(page.getByTestId('dataset-shape')).toHaveText('300 × 16');
  await expect(page.getByTestId('dataset-info')).toContainText('small.npy');

  const random = Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 97 + 13) % 256));
  await dropFile(page, 'bad.npy', random);
  await expect(page.getByRole('alert')).toContainText('not a NumPy .npy file');
  await expect(page.getByTestId('dataset-shape')).toHaveText('300 × 16'); // unchanged

  const truncated = npyBytes(300, 16, () => 1).subarray(0, 1000);
  await dropFile(page, 'truncated.npy', truncated);
  await expect(page.getByRole('alert')).toContainText('truncated');
  await expect(page.getByTestId('dataset-shape')).toHaveText('300 × 16');

  // Still trains on the data that was kept.
  await configure(page, { variant: 'relu', dSae: 32, batch: 64, steps: 40 });
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 40 / 40', { timeout: 120_000 });
});

test('real activations from ../shared/data load through the file picker', async ({ page }) => {
  test.skip(!hasSharedData, `no real activations at ${SHARED_DATA} (only present beside the project in CI)`);
  await openApp(page);
  await page.getByLabel('Activation file (.npy)').setInputFiles(path.join(SHARED_DATA, 'valid/resid_l3.npy'));
  await expect(page.getByTestId('dataset-shape')).toHaveText('9,461 × 64');
  await expect(page.getByTestId('dataset-info')).toContainText('float32');
  await configure(page, { variant: 'topk', dSae: 256, batch: 256, steps: 60 });
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 60 / 60', { timeout: 150_000 });
  await expect(page.getByTestId('eval-metrics')).toContainText('fve');
});

test('bandwidth and threshold sliders change the running JumpReLU job, and the export parses', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'jumprelu', steps: 100000 });
  await page.getByRole('button', { name: 'Train' }).click();
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(1);
  await page.getByRole('slider', { name: 'Bandwidth' }).fill('150');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/step \d+: bandwidth → 0\.\d+/);
  await page.getByRole('slider', { name: 'Threshold' }).fill('120');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/step \d+: threshold → \d/);
  // The threshold slider sets every θ: the logged mean θ follows it.
  const shown = Number(await page.getByRole('slider', { name: 'Threshold' }).getAttribute('aria-valuetext'));
  await expect.poll(async () => Number((await page.getByRole('table', { name: 'Latest training metrics' }).innerText()).match(/mean θ\s+([\d.e+-]+)/)?.[1])).toBeGreaterThan(shown * 0.5);

  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('progress')).toContainText('stopped');
  const zipDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export SAELens' }).click();
  expect((await zipDownload).suggestedFilename()).toBe('sae_jumprelu_128.zip');

  const weights = page.waitForEvent('download');
  await page.getByRole('button', { name: 'sae_weights.safetensors' }).click();
  const bytes = readFileSync(await (await weights).path());
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8'));
  expect(header.W_enc.shape).toEqual([64, 128]);
  expect(header.W_dec.shape).toEqual([128, 64]);
  expect(header.b_enc.shape).toEqual([128]);
  expect(header.b_dec.shape).toEqual([64]);
  expect(header.threshold.shape).toEqual([128]);
  expect(header.W_enc.dtype).toBe('F32');
  expect(bytes.length).toBe(8 + headerLen + 4 * (64 * 128 * 2 + 128 * 2 + 64));

  const cfg = page.waitForEvent('download');
  await page.getByRole('button', { name: 'cfg.json' }).click();
  const cfgJson = JSON.parse(readFileSync(await (await cfg).path(), 'utf8'));
  expect(cfgJson).toMatchObject({ architecture: 'jumprelu', d_in: 64, d_sae: 128, dtype: 'float32' });
  expect(cfgJson.metadata.sae_lens_version).toMatch(/^6\./);

  const log = page.waitForEvent('download');
  await page.getByRole('button', { name: 'log.csv' }).click();
  const csv = readFileSync(await (await log).path(), 'utf8');
  expect(csv.split('\n')[0]).toMatch(/^step,total_loss,recon_loss,sparsity_loss,sparsity_l0,/);
  // The slider changes are in the log: bandwidth column takes the new value.
  const rows = csv.trim().split('\n').slice(1).map((l) => l.split(','));
  const bwCol = csv.split('\n')[0].split(',').indexOf('bandwidth');
  expect(new Set(rows.map((r) => r[bwCol])).size).toBeGreaterThan(1);
});

for (const backend of ['webgpu', 'webgl']) {
  test(`the ${backend} code path runs (software renderer here) when asked for`, async ({ page }) => {
    await page.goto(`/?backend=${backend}`);
    await expect(page.getByTestId('backend')).toContainText(backend, { timeout: 60_000 });
    await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
    await configure(page, { variant: 'jumprelu', dSae: 64, batch: 64, steps: 20 });
    await page.getByRole('button', { name: 'Train' }).click();
    await expect(page.getByTestId('progress')).toContainText('done · step 20 / 20', { timeout: 150_000 });
    await expect(page.getByRole('heading', { name: `Validation (20 steps, ${backend})` })).toBeVisible();
  });
}

test('by default a software GPU renderer is skipped with its reason shown', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('backend')).toContainText('wasm', { timeout: 60_000 });
  await page.getByTestId('backend').locator('summary').click();
  const reasons = await page.getByRole('list', { name: 'Skipped backends' }).innerText();
  expect(reasons).toMatch(/webgpu: .*software/);
  expect(reasons).toMatch(/webgl: software WebGL renderer/);
});

test('the page is cross-origin isolated: wasm runs a thread pool of every core but the page\'s, or all with ?threads', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('backend')).toContainText('wasm', { timeout: 60_000 });
  const { isolated, cores } = await page.evaluate(() => ({ isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency }));
  expect(isolated).toBe(true);
  const summary = page.getByTestId('backend').locator('summary');
  if (cores > 2) await expect(summary).toContainText(`(SIMD, ${cores - 1} threads)`);
  else if (cores === 2) await expect(summary).toContainText('(SIMD, 1 thread: the page keeps the other core (?threads=2 uses both))');
  if (cores > 1) {
    await page.goto(`/?threads=${cores}`);
    await expect(summary).toContainText(`(SIMD, ${cores} threads)`, { timeout: 60_000 });
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect(page.getByTestId('progress')).toContainText(/step [1-9]/, { timeout: 60_000 });
  }
});

test('served without cross-origin isolation, wasm falls back to one thread and says why', async ({ page, baseURL }) => {
  // The same build behind a proxy that drops the COOP/COEP headers (as a plain static host would).
  await page.route('**/*', async (route) => {
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers['cross-origin-opener-policy'];
    delete headers['cross-origin-embedder-policy'];
    await route.fulfill({ response, headers });
  });
  await page.goto(baseURL!);
  await expect(page.getByTestId('backend').locator('summary')).toContainText('(SIMD, 1 thread: the page is not cross-origin isolated)', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText(/step [1-9]/, { timeout: 60_000 });
});
