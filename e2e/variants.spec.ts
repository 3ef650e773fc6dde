// Every architecture in the UI: each single-layer variant trains on the built-in sample; a
// multi-layer file trains RouteSAE with its routing chart; a guidance target from a token rule
// gains its chart and a validation AUROC; target-L0 mode shows the λ trajectory.
import { expect, test, type Browser, type Page } from '@playwright/test';
import { chartPoints, configure, dropFiles, npy3Bytes, npyBytes, npyInt32Bytes, openApp } from './helpers';

const SCREENSHOTS = '/work/notes';
const SINGLE_LAYER = ['relu', 'topk', 'batchtopk', 'randomk', 'jumprelu', 'gated', 'classic', 'matryoshka'] as const;
const PENALTY = new Set(['relu', 'jumprelu', 'gated', 'classic']);
/** Steps per variant (each takes a few seconds here; lower one if it gets slow on this 2-core machine). */
const STEPS: Record<(typeof SINGLE_LAYER)[number], number> = {
  relu: 300, topk: 300, batchtopk: 300, randomk: 300, jumprelu: 300, gated: 300, classic: 300, matryoshka: 300,
};

/** A deterministic generator for test data (mulberry32). */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function newPage(browser: Browser): Promise<Page> {
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${process.env.E2E_PORT ?? 4173}`, viewport: { width: 1440, height: 1000 }, acceptDownloads: true });
  return context.newPage();
}

async function trainToEnd(page: Page, steps: number, timeout = 150_000) {
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText(new RegExp(`done · step [\\d,]+ / ${steps.toLocaleString('en-US')}`), { timeout });
  await expect(page.getByTestId('eval-metrics')).toBeVisible({ timeout: 60_000 });
}

async function evalValue(page: Page, name: string): Promise<number> {
  const text = await page.getByTestId('eval-metrics').innerText();
  const m = new RegExp(`(?:^|\\s)${name}\\s+(-?[\\d.]+(?:e[+-]?\\d+)?|NaN|-?Infinity)`).exec(text);
  return m ? Number(m[1]) : NaN;
}

test.describe.serial('each single-layer variant trains on the sample', () => {
  let page: Page;
  test.beforeAll(async ({ browser }) => {
    page = await newPage(browser);
    await openApp(page);
  });
  test.afterAll(async () => { await page.context().close(); });

  for (const variant of SINGLE_LAYER) {
    test(variant, async () => {
      const started = Date.now();
      await configure(page, { variant, dSae: 128, batch: 256, steps: STEPS[variant] });
      await expect(page.getByTestId('variant-description')).not.toBeEmpty();
      await trainToEnd(page, STEPS[variant]);
      expect(await chartPoints(page, 'chart-loss')).toBeGreaterThan(0);
      expect(await chartPoints(page, 'chart-l0')).toBeGreaterThan(0);
      expect(await chartPoints(page, 'chart-dead')).toBeGreaterThan(0);
      const nmse = await evalValue(page, 'nmse');
      expect(Number.isFinite(nmse), `validation nmse of ${variant} is ${nmse}`).toBe(true);
      if (PENALTY.has(variant)) expect(await chartPoints(page, 'chart-lambda')).toBeGreaterThan(0);
      else await expect(page.getByTestId('chart-lambda')).toHaveCount(0);
      await expect(page.getByTestId('chart-route')).toHaveCount(0);
      if (process.env.SAE_TEST_REPORT) console.info(`${variant}: ${STEPS[variant]} steps, nmse ${nmse}, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
  }
});

/** An [L, N, d] file with structure: two active features per row, stronger in deeper layers. */
function multiLayerFile(): Buffer {
  const L = 4, N = 600, d = 16, F = 24;
  const rand = rng(1);
  const dirs = Array.from({ length: F }, () => Array.from({ length: d }, () => rand() * 2 - 1));
  const amp = Array.from({ length: N }, () => [rand(), rand()]);
  return npy3Bytes(L, N, d, (l, r, c) => {
    const j1 = r % F, j2 = (r * 7 + 3) % F;
    return (1 + 0.5 * l) * (amp[r][0] * dirs[j1][c] + amp[r][1] * dirs[j2][c]) + 0.2 * l * Math.cos(c + l);
  });
}

test.describe.serial('a multi-layer [L, N, d] file', () => {
  let page: Page;
  test.beforeAll(async ({ browser }) => {
    page = await newPage(browser);
    await openApp(page);
  });
  test.afterAll(async () => { await page.context().close(); });

  test('loads with its layers; multi-layer variants are enabled only then', async () => {
    await expect(page.getByRole('option', { name: /RouteSAE/ })).toBeDisabled(); // the one-layer sample
    await dropFiles(page, [{ name: 'layers.npy', bytes: multiLayerFile() }]);
    await expect(page.getByTestId('dataset-shape')).toHaveText('600 × 4 layers × 16');
    await expect(page.getByRole('option', { name: /RouteSAE/ })).toBeEnabled();
    // Single-layer variants train on one chosen layer.
    await page.getByLabel('Variant').selectOption('topk');
    await expect(page.getByLabel('Layer', { exact: true })).toHaveValue('2');
  });

  test('RouteSAE shows the routing share per layer', async () => {
    await configure(page, { variant: 'routesae', dSae: 64, batch: 128, steps: 100 });
    await expect(page.getByLabel('First layer')).toHaveValue('1');
    await expect(page.getByLabel('Last layer')).toHaveValue('3');
    await trainToEnd(page, 100);
    await expect.poll(() => chartPoints(page, 'chart-route')).toBeGreaterThan(0);
    await expect(page.getByTestId('chart-route')).toContainText('Routing share');
    await expect(page.getByTestId('chart-route')).toContainText('layer 1');
    await expect(page.getByTestId('chart-route')).toContainText('layer 3');
    await page.screenshot({ path: `${SCREENSHOTS}/ui-routesae.png`, fullPage: true });
  });

  for (const [variant, title] of [['crosscoder', 'Decoder norm share'], ['mlsae', 'L0 per layer']] as const) {
    test(`${variant} shows its per-layer chart`, async () => {
      await configure(page, { variant, dSae: 64, batch: 128, steps: 100 });
      await page.getByLabel('First layer').fill('0');
      await trainToEnd(page, 100);
      await expect.poll(() => chartPoints(page, 'chart-route')).toBeGreaterThan(0);
      await expect(page.getByTestId('chart-route')).toContainText(title);
      await expect(page.getByTestId('chart-route')).toContainText('layer 0');
    });
  }
});

test('a guidance target from a token rule: preview, live chart and validation AUROC', async ({ page }) => {
  await openApp(page);
  // A vocab where half the pieces start with a capital; activations carry a direction on those rows.
  const vocab = [' Lily', ' Tom', ' Max', ' Sue', 'The', ' Anna', ' Ben', ' Mia', ' the', ' and', ' a', ' dog', ' ran', ' to', 'ing', ' big'];
  const capital = vocab.map((p) => /^ ?[A-Z]/.test(p));
  const N = 1000, d = 16;
  const rand = rng(7);
  const tokens = Array.from({ length: N }, () => Math.floor(rand() * vocab.length));
  const noise = Array.from({ length: N * d }, () => rand() * 2 - 1);
  const acts = npyBytes(N, d, (r, c) => 0.5 * noise[r * d + c] + (capital[tokens[r]] ? (c < 4 ? 1.5 : 0) : (c >= 12 ? 1 : 0)));
  await dropFiles(page, [
    { name: 'vocab.json', bytes: Buffer.from(JSON.stringify(vocab)) },
    { name: 'tokens.npy', bytes: npyInt32Bytes(tokens) },
    { name: 'acts.npy', bytes: acts },
  ]);
  await expect(page.getByTestId('dataset-shape')).toHaveText('1,000 × 16');
  await expect(page.getByTestId('companions')).toContainText('tokens.npy');
  await expect(page.getByTestId('companions')).toContainText('vocab.json');

  await configure(page, { variant: 'topk', dSae: 64, batch: 128, steps: 1500 });
  await page.getByRole('button', { name: 'Add target' }).click();
  const target = page.getByRole('group', { name: 'Guidance target g0' });
  await target.getByLabel('Labels', { exact: true }).selectOption('regex');
  await target.getByLabel('Token regex').fill('^ ?[A-Z]');
  await target.getByRole('button', { name: 'Preview' }).click();
  const positives = capital.length ? tokens.filter((t) => capital[t]).length : 0;
  await expect(page.getByTestId('preview-g0')).toContainText(`${positives.toLocaleString('en-US')} of 1,000 rows positive`);
  await expect(page.getByTestId('preview-g0')).toContainText(/e\.g\. ' ?[A-Z]/);

  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect.poll(() => chartPoints(page, 'chart-guidance-g0')).toBeGreaterThan(2);
  // β is live: the whole target list goes to the run, which logs the targets now in effect.
  await page.getByRole('slider', { name: /Guidance β g0/ }).fill('170');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/step [1-9]\d*: guidance → g0: latent 0 ← token matches \/\^ \?\[A-Z\]\/, contrastive β 17\.8 margin 1/);
  await page.screenshot({ path: `${SCREENSHOTS}/ui-guidance-live.png`, fullPage: true });
  await expect(page.getByTestId('progress')).toContainText('done · step 1,500 / 1,500', { timeout: 150_000 });
  const auroc = Number(await page.getByTestId('eval-guidance-g0').locator('td').nth(2).innerText());
  expect(auroc).toBeGreaterThan(0.5);
  expect(auroc).toBeLessThanOrEqual(1);
  await page.screenshot({ path: `${SCREENSHOTS}/ui-guidance.png`, fullPage: true });
});

test('a labels file guides a latent; a target added mid-run gets its own chart', async ({ page }) => {
  await openApp(page);
  const N = 600, d = 16;
  const rand = rng(3);
  const y = Array.from({ length: N }, () => (rand() < 0.2 ? 1 : 0));
  const noise = Array.from({ length: N * d }, () => rand() * 2 - 1);
  await dropFiles(page, [
    { name: 'is_name.csv', bytes: Buffer.from(`label\n${y.join('\n')}\n`) },
    { name: 'acts.npy', bytes: npyBytes(N, d, (r, c) => 0.5 * noise[r * d + c] + (y[r] && c < 3 ? 2 : 0)) },
  ]);
  const pct = ((100 * y.filter(Boolean).length) / N).toFixed(1);
  await expect(page.getByTestId('companions')).toContainText(`is_name.csv · 600 rows, ${pct}% positive`);
  await configure(page, { variant: 'relu', dSae: 32, batch: 64, steps: 3000 });
  await page.getByRole('button', { name: 'Add target' }).click();
  const g0 = page.getByRole('group', { name: 'Guidance target g0' });
  await expect(g0.getByLabel('Labels file')).toHaveValue('is_name.csv');
  await g0.getByRole('button', { name: 'Preview' }).click();
  await expect(page.getByTestId('preview-g0')).toContainText(`${y.filter(Boolean).length} of 600 rows positive (${pct}%)`);
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect.poll(() => chartPoints(page, 'chart-guidance-g0')).toBeGreaterThan(0);
  // A second target while the run trains: the whole list goes to the run at its next step.
  await page.getByRole('button', { name: 'Add target' }).click();
  const g1 = page.getByRole('group', { name: 'Guidance target g1' });
  await g1.getByLabel('Latent').fill('5');
  await g1.getByLabel('Method').selectOption('mse');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/guidance → g0: latent 0 ← labels is_name\.csv.*; g1: latent 5 ← labels is_name\.csv, mse β 1/);
  await expect.poll(() => chartPoints(page, 'chart-guidance-g1')).toBeGreaterThan(0);
  // Removing g0 stops it; its chart keeps the history.
  await g0.getByRole('button', { name: 'Remove g0' }).click();
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/guidance → g1: latent 5/);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('eval-guidance-g1')).toBeVisible();
  await expect(page.getByTestId('eval-guidance-g0')).toHaveCount(0);
  await expect(page.getByTestId('chart-guidance-g0')).toBeVisible();
});

test('target-L0 mode on ReLU shows the λ trajectory, the target slider reaches the run, checkpoints download', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'relu', dSae: 128, batch: 256, steps: 100000 });
  await page.getByText('Advanced').click();
  await page.getByLabel('Checkpoint every N steps').fill('50');
  await expect(page.getByRole('radio', { name: 'Target L0' })).toBeChecked();
  await expect(page.getByLabel('Initial λ')).toBeVisible();
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect.poll(() => chartPoints(page, 'chart-lambda')).toBeGreaterThan(2);
  await page.getByRole('slider', { name: 'Target L0 %' }).fill('150');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/step \d+: target L0 → [\d.]+%/);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('progress')).toContainText('stopped');
  // The worker keeps the five most recent checkpoints (multiples of 50).
  const button = page.getByRole('button', { name: /^checkpoint step \d+$/ }).first();
  const step = Number((await button.innerText()).match(/\d+/)![0]);
  expect(step % 50).toBe(0);
  const checkpoint = page.waitForEvent('download');
  await button.click();
  expect((await checkpoint).suggestedFilename()).toMatch(new RegExp(`step_?${step}\\.zip$`));
});
