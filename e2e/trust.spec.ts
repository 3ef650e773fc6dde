// Figures that must say what they are of: the target a run is judged against (none in manual mode,
// the one in effect after a slider moved it), which data the shown run and the frontier are of, and
// what the page is doing before the first step.
import { expect, test, type Page } from '@playwright/test';
import { chartPoints, configure, dropFile, npyBytes, openApp } from './helpers';

const keptRuns = (page: Page) => page.getByTestId('kept-run');
const progress = (page: Page) => page.getByTestId('progress');

/** A small random-looking [rows, 64] .npy (another dataset than the sample). */
const otherData = (rows: number) => npyBytes(rows, 64, (r, c) => Math.sin(r * 12.9898 + c * 78.233) * 2);

async function trainToEnd(page: Page, kept: number) {
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress(page)).toContainText('done', { timeout: 150_000 });
  await expect(keptRuns(page)).toHaveCount(kept, { timeout: 60_000 });
}

test('the first Train says it is measuring the backends, for how long, and disabled buttons look disabled', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'topk', steps: 200 });
  const train = page.getByRole('button', { name: 'Train', exact: true });
  await train.click();
  // A fresh browser has no measured speeds: auto measures each backend before the first step.
  await expect(progress(page)).toContainText(/measuring the backends for this size: \w+ \(\d of \d\) · \d+ s/);
  await expect(page.getByTestId('calibrating-hint')).toContainText('the fastest trains the run');
  // The disabled Train button is grey, not a faded accent colour.
  await expect(train).toBeDisabled();
  const colours = await train.evaluate((el) => { const s = getComputedStyle(el); return { bg: s.backgroundColor, opacity: s.opacity }; });
  expect(colours.bg).not.toBe('rgb(31, 78, 121)');
  expect(colours.opacity).toBe('1');
  await expect(progress(page)).toContainText('done', { timeout: 150_000 });
});

test('a target moved during the run is the target of every verdict and of the kept run', async ({ page }) => {
  await openApp(page, '?backend=wasm');
  await configure(page, { variant: 'topk', dSae: 128, batch: 256, steps: 400 });
  await expect(page.getByRole('radio', { name: 'Target L0' })).toBeChecked();
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(2);
  await page.getByRole('slider', { name: 'Target L0 %' }).fill('700');
  const log = page.getByRole('log', { name: 'Run log' });
  await expect(log).toContainText(/target L0 → [\d.]+%/);
  const moved = Number((await log.innerText()).match(/target L0 → ([\d.]+)%/)![1]);
  expect(moved).not.toBeCloseTo(5, 1);
  await expect(progress(page)).toContainText('done', { timeout: 150_000 });
  await expect(keptRuns(page)).toHaveCount(1, { timeout: 60_000 });
  const percentIn = async (testId: string, re: RegExp) => Number((await page.getByTestId(testId).innerText()).match(re)![1]);
  // Metrics, the training analysis and the kept run all use the moved target, not the 5% it began with.
  expect(await percentIn('target-status', /L0 target ([\d.]+)%/)).toBeCloseTo(moved, 2);
  await expect(page.getByTestId('target-status')).toContainText('moved during the run');
  expect(await percentIn('verdict-sparsity', /against the target ([\d.e-]+)/) * 100).toBeCloseTo(moved, 2);
  await expect(page.getByTestId('verdict-sparsity')).toContainText('moved: 5% →');
  const label = await keptRuns(page).first().innerText();
  expect(Number(label.match(/target L0 ([\d.]+)%/)![1])).toBeCloseTo(moved, 2);
  expect(label).toContain('(moved from 5%)');
});

test('new data after a run: the shown results say which data they are of, and what reads the loaded rows waits', async ({ page }) => {
  await openApp(page, '?backend=wasm');
  await configure(page, { variant: 'topk', dSae: 128, batch: 256, steps: 100 });
  await page.getByRole('radio', { name: 'Manual' }).check();
  await page.getByLabel('Initial k').fill('5');
  await trainToEnd(page, 1);
  await expect(page.getByTestId('run-data')).toHaveText('Run on sample (synthetic) (32,768 × 64)');
  // No features were browsed yet: the button does not promise "0 latents".
  await expect(page.getByTestId('interpret-panel').getByRole('button', { name: /^Interpret/ })).toHaveText('Interpret latents');
  // FVE is signed: its relative change would mean nothing.
  const fveRow = page.getByRole('table', { name: 'Training statistics' }).getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'fve', exact: true }) });
  await expect(fveRow.getByRole('cell').last()).toHaveText('—');

  await dropFile(page, 'other.npy', otherData(3000));
  await expect(page.getByTestId('dataset-shape')).toHaveText('3,000 × 64');
  const notice = page.getByTestId('run-data');
  await expect(notice).toContainText('trained on sample (synthetic) (32,768 × 64) — not on the loaded other.npy (3,000 × 64)');
  await expect(page.getByRole('button', { name: 'Browse features' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Browse features' })).toHaveAttribute('title', /trained on sample \(synthetic\)/);
  await notice.getByRole('button', { name: "Clear the last run's results" }).click();
  await expect(progress(page)).toContainText('idle');
  await expect(page.getByTestId('run-data')).toHaveCount(0);
  await expect(page.getByTestId('eval-metrics')).toHaveCount(0);
  await expect(keptRuns(page)).toHaveCount(1);

  // Data loaded while a run trains: the run goes on with its own.
  await configure(page, { variant: 'topk', dSae: 128, batch: 256, steps: 100000 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress(page)).toContainText('running · step');
  await dropFile(page, 'third.npy', otherData(2000));
  await expect(page.getByTestId('dataset-shape')).toHaveText('2,000 × 64');
  await expect(page.getByTestId('run-data')).toContainText('This run continues on its own data, other.npy (3,000 × 64)');
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText('the run continues on its own data (other.npy (3,000 × 64)); third.npy (2,000 × 64) is for the next run');
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(keptRuns(page)).toHaveCount(2, { timeout: 60_000 });
  // The stopped run is kept under its own data, not the data loaded while it trained.
  await expect(keptRuns(page).first()).toContainText('other.npy (3,000 × 64)');
});

test('the frontier compares runs of one data; the runs table names each run\'s whole data', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 720 });
  await openApp(page, '?backend=wasm');
  await configure(page, { variant: 'topk', dSae: 128, batch: 256, steps: 60 });
  await trainToEnd(page, 1);
  await dropFile(page, 'other.npy', otherData(3000));
  await expect(page.getByTestId('dataset-shape')).toHaveText('3,000 × 64');
  await trainToEnd(page, 2);
  await trainToEnd(page, 3);
  await expect(keptRuns(page).nth(0)).toContainText('other.npy (3,000 × 64)');
  await expect(keptRuns(page).nth(2)).toContainText('sample (synthetic) (32,768 × 64)');
  // The loaded data's two runs, not the sample's.
  await expect(page.getByTestId('frontier-nmse')).toHaveAttribute('data-points', '2');
  const choice = page.getByLabel(/Frontier of the runs on/);
  await expect(choice.locator('option')).toHaveText(['other.npy (3,000 × 64) — 2 runs', 'sample (synthetic) (32,768 × 64) — 1 run']);
  await choice.selectOption({ label: 'sample (synthetic) (32,768 × 64) — 1 run' });
  await expect(page.getByTestId('frontier-nmse')).toHaveAttribute('data-points', '1');
  // At 1,280 px the actions stay inside the table's box.
  const table = await page.getByRole('table', { name: 'Kept runs' }).boundingBox();
  const del = await page.getByRole('button', { name: 'Delete run 1' }).boundingBox();
  expect(del!.x + del!.width).toBeLessThanOrEqual(table!.x + table!.width + 0.5);
  const scroller = await page.locator('.runs-panel .table-scroll').boundingBox();
  expect(table!.width).toBeLessThanOrEqual(scroller!.width + 0.5);
});
