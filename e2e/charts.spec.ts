// Long runs: the live charts keep a bounded number of points per trace (older ones thinned), and
// keep the start of the curve and the newest point. Short runs: the step axis ends at the run's
// step count, the legends say what sets the sparsity, the L0 band follows the target in effect.
import { expect, test, type Page } from '@playwright/test';
import { chartPoints, configure, openApp, settledChartPoints } from './helpers';

test('a run logging more rows than the point budget thins its charts and keeps the ends of every curve', async ({ page }) => {
  test.setTimeout(240_000);
  await openApp(page);
  await configure(page, { variant: 'topk', dSae: 32, batch: 32, steps: 100_000 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  // 1,200 points per trace before thinning; a logged row every 10 steps.
  await expect.poll(() => chartPoints(page, 'chart-loss'), { timeout: 200_000, intervals: [2000] }).toBeGreaterThan(1500);
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByTestId('progress')).toContainText('paused');
  // The last rows sent before the pause may land after it: wait for the count to settle.
  const rows = await settledChartPoints(page, 'chart-loss');
  // The run log's new lines (the backend measurement's, "paused at …") scroll the log, not the page.
  expect(await page.evaluate(() => window.scrollY)).toBe(0);
  const traces = await page.getByTestId('chart-loss').evaluate((el) =>
    (el as unknown as { data: { name: string; x: number[]; y: (number | null)[] }[] }).data.map((t) => ({ name: t.name, n: t.x.length, first: t.x[0], last: t.x[t.x.length - 1], ascending: t.x.every((v, i) => i === 0 || v > t.x[i - 1]) })));
  // Total and reconstruction, raw and smoothed (topk has no sparsity loss: it is 0 by construction).
  expect(traces).toHaveLength(4);
  const lastStep = Number((await page.getByTestId('progress').innerText()).match(/step ([\d,]+)/)![1].replace(/,/g, ''));
  // A thinning leaves 75–150 power-of-two buckets (src/ui/charts/decimate.ts) of at least a first and a
  // last point: 150 points at the least just after one (a smooth trace keeps 2 a bucket, e.g. 294).
  for (const t of traces) {
    expect(t.n, t.name).toBeLessThanOrEqual(1200);
    expect(t.n, t.name).toBeGreaterThanOrEqual(150);
    expect(t.ascending, t.name).toBe(true);
    expect(t.first, t.name).toBe(10);
    expect(t.last, t.name).toBe(Math.floor(lastStep / 10) * 10);
  }
  expect(rows).toBeGreaterThan(1500);
  // The other charts are thinned the same way.
  const l0 = await page.getByTestId('chart-l0').evaluate((el) => (el as unknown as { data: { x: number[] }[] }).data[0].x.length);
  expect(l0).toBeLessThanOrEqual(1200);
  // The step axis grows in jumps to 1, 2 or 5 × 10ⁿ (tick labels keep their place between jumps).
  const xRange = () => page.getByTestId('chart-loss').evaluate((el) => (el as unknown as { layout: { xaxis: { range: number[] } } }).layout.xaxis.range.slice());
  const [x0, x1] = await xRange();
  expect(x0).toBe(0);
  expect(x1).toBeGreaterThanOrEqual(lastStep);
  expect([1, 2, 5]).toContain(Math.round(x1 / 10 ** Math.floor(Math.log10(x1))));
  // A zoom (drag on the plot) is kept while training goes on; a double-click gives the axis back.
  const box = (await page.getByTestId('chart-loss').locator('.nsewdrag').first().boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.up();
  const zoomed = await xRange();
  expect(zoomed[0]).toBeGreaterThan(0.2 * x1);
  expect(zoomed[1]).toBeLessThan(0.6 * x1);
  await page.getByRole('button', { name: 'Resume' }).click();
  const resumedAt = await chartPoints(page, 'chart-loss');
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(resumedAt + 20);
  expect(await xRange()).toEqual(zoomed);
  await page.getByTestId('chart-loss').locator('.nsewdrag').first().dblclick({ position: { x: box.width * 0.5, y: box.height * 0.5 } });
  await expect.poll(async () => (await xRange())[0]).toBe(0);
  await expect.poll(async () => (await xRange())[1]).toBeGreaterThanOrEqual(x1);
  await page.getByRole('button', { name: 'Pause' }).click();
  // For looking at: the thinned curves (test-results/…/charts.png).
  await page.locator('section.charts').screenshot({ path: test.info().outputPath('charts.png') });
});

type Plotted = { data: { name: string; x: number[]; y: number[] }[]; layout: { xaxis: { range: number[] }; shapes?: unknown[] }; _fullLayout: { yaxis: { _vals: { x: number; text: string }[] } } };

/** The live charts' step-axis ends, by test id. */
const stepAxisEnds = (page: Page) => page.locator('section.charts [data-testid^=chart-]').evaluateAll((els) =>
  Object.fromEntries(els.map((el) => [el.getAttribute('data-testid'), (el as unknown as Plotted).layout?.xaxis?.range?.[1]])));
const legend = (page: Page, testId: string) => page.getByTestId(testId).evaluate((el) => (el as unknown as { data: { name: string; showlegend?: boolean }[] }).data.filter((t) => t.showlegend !== false).map((t) => t.name));
/** Each y tick label of a log chart beside the value at its place (Plotly's own labels read "5" at 50). */
const logTickLabels = (page: Page, testId: string) => page.getByTestId(testId).evaluate((el) =>
  (el as unknown as Plotted)._fullLayout.yaxis._vals.filter((v) => v.text !== '').map((v) => ({ text: v.text, at: Number((10 ** v.x).toPrecision(6)) })));

test('the charts of a manual-k run: the step axis ends at the run’s steps, k legends, readable log ticks', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'topk', dSae: 64, batch: 64, steps: 300 });
  await page.getByRole('radio', { name: 'Manual' }).check();
  await page.getByLabel('Initial k').fill('8');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  // While it trains (rows of step 10 … 300): never past step 300.
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(12);
  for (const [chart, end] of Object.entries(await stepAxisEnds(page))) expect(end, chart).toBeLessThanOrEqual(300);
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', '30');
  await expect.poll(async () => Object.values(await stepAxisEnds(page))).toEqual([300, 300, 300, 300]);
  // k sets the sparsity: no sparsity loss (0 by construction), no λ, no target band; k / d_sae.
  expect(await legend(page, 'chart-loss')).toEqual(['total', 'reconstruction']);
  expect(await legend(page, 'chart-l0')).toEqual(['L0 fraction', 'k / d_sae']);
  expect(await page.getByTestId('chart-l0').evaluate((el) => (el as unknown as Plotted).layout.shapes ?? [])).toEqual([]);
  await expect(page.getByTestId('chart-lambda')).toHaveCount(0);
  const k = await page.getByTestId('chart-l0').evaluate((el) => (el as unknown as Plotted).data[1].y);
  expect(new Set(k)).toEqual(new Set([8 / 64]));
  // Every loss tick label is the value where it sits.
  const ticks = await logTickLabels(page, 'chart-loss');
  expect(ticks.length).toBeGreaterThanOrEqual(2);
  for (const t of ticks) expect(Number(t.text), JSON.stringify(t)).toBeCloseTo(t.at, 4);
});

test('the L0 band of a target run follows the target moved during the run; λ is the controller’s', async ({ page }) => {
  await openApp(page);
  await configure(page, { variant: 'relu', dSae: 64, batch: 64, steps: 2000 });
  await expect(page.getByRole('radio', { name: 'Target L0' })).toBeChecked();
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect.poll(() => chartPoints(page, 'chart-loss')).toBeGreaterThan(3);
  // Paused, so that the move arrives while the run is still going (its steps are fast).
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(page.getByTestId('progress')).toContainText('paused');
  // 120 of 200 slider steps between 0.5% and 50% (log scale): 7.92%.
  await page.getByRole('slider', { name: 'Target L0 %' }).fill('120');
  await page.getByRole('button', { name: 'Resume' }).click();
  await expect(page.getByRole('log', { name: 'Run log' })).toContainText(/target L0 → 7\.92/);
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 150_000 });
  await expect(page.getByTestId('chart-loss')).toHaveAttribute('data-points', '200');
  expect(await legend(page, 'chart-l0')).toEqual(['target L0 ±20%', 'L0 fraction']);
  expect(await legend(page, 'chart-lambda')).toEqual(['λ (controller)', 'λ in effect (after warm-up)']);
  const band = await page.getByTestId('chart-l0').evaluate((el) => (el as unknown as Plotted).data.slice(0, 3).map((t) => ({ name: t.name, x: t.x, y: t.y })));
  const target = band[2];
  expect(target.x[0]).toBe(0);
  expect(target.x[target.x.length - 1]).toBe(2000);
  expect(target.y[0]).toBeCloseTo(0.05, 6);
  expect(target.y[target.y.length - 1]).toBeCloseTo(0.0792, 6);
  expect(band[1].y[band[1].y.length - 1]).toBeCloseTo(0.0792 * 1.2, 6);
  expect(band[0].y[0]).toBeCloseTo(0.04, 6);
  await expect.poll(async () => Object.values(await stepAxisEnds(page))).toEqual([2000, 2000, 2000, 2000, 2000]);
});
