// Long runs: the live charts keep a bounded number of points per trace (older ones thinned), and
// keep the start of the curve and the newest point.
import { expect, test } from '@playwright/test';
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
  expect(traces).toHaveLength(6);
  const lastStep = Number((await page.getByTestId('progress').innerText()).match(/step ([\d,]+)/)![1].replace(/,/g, ''));
  for (const t of traces) {
    expect(t.n, t.name).toBeLessThanOrEqual(1200);
    expect(t.n, t.name).toBeGreaterThan(300);
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
