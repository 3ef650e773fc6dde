// Never losing a run: a run reloaded mid-way and resumed from its autosave ends with the same
// final metrics as the run that never stopped (same seed, same batches); a killed worker is
// reported with the charts kept and restarted from the autosave on one click; a learning rate of
// 10 trips the divergence guard, which rolls back, pauses and says what to try. Every request the
// page makes in these flows goes to its own origin.
import { expect, test, type Page } from '@playwright/test';
import { chartPoints, configure, openApp, settledChartPoints } from './helpers';

const trainButton = (page: Page) => page.getByRole('button', { name: 'Train', exact: true });

/** The step the progress line shows. */
async function progressStep(page: Page): Promise<number> {
  return Number((await page.getByTestId('progress').innerText()).match(/step ([\d,]+)/)?.[1].replace(/,/g, '') ?? 0);
}

/** Record every request of the page and its workers; the test asserts they all stayed home. */
function recordRequests(page: Page): string[] {
  const urls: string[] = [];
  page.context().on('request', (r) => urls.push(r.url()));
  return urls;
}

function expectSameOrigin(urls: string[], origin: string) {
  const foreign = urls.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:') && !u.startsWith('blob:'));
  expect(foreign, 'requests to other origins').toEqual([]);
  expect(urls.length).toBeGreaterThan(0);
}

/** The step of the autosave in IndexedDB (null when there is none). */
async function autosavedStep(page: Page): Promise<number | null> {
  return page.evaluate(() => new Promise<number | null>((resolve, reject) => {
    const open = indexedDB.open('sae-workbench-autosave');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains('autosave')) { db.close(); resolve(null); return; }
      const get = db.transaction('autosave').objectStore('autosave').get('current');
      get.onsuccess = () => { db.close(); resolve(get.result ? get.result.state.meta.step : null); };
      get.onerror = () => reject(get.error);
    };
  }));
}

/** The kept runs in IndexedDB: number → final validation metrics and last logged row. */
async function keptRunMetrics(page: Page): Promise<{ number: number; metrics: Record<string, number>; first: Record<string, number>; last: Record<string, number> }[]> {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('sae-workbench');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const all = db.transaction('runs').objectStore('runs').getAll();
      all.onsuccess = () => {
        db.close();
        resolve((all.result as { number: number; metrics: Record<string, number>; rows: Record<string, number>[] }[])
          .map((r) => ({ number: r.number, metrics: r.metrics, first: r.rows[0], last: r.rows[r.rows.length - 1] }))
          .sort((a, b) => a.number - b.number));
      };
      all.onerror = () => reject(all.error);
    };
  }));
}

/** Press Train and wait until the run has been autosaved at `minStep` or later. */
async function trainUntilAutosaved(page: Page, minStep: number) {
  await trainButton(page).click();
  await expect.poll(() => autosavedStep(page), { timeout: 120_000, intervals: [250] }).toBeGreaterThanOrEqual(minStep);
}

/** Call one of the page's test hooks on the engine worker (src/app/clientEngine.ts). */
async function engineHook(page: Page, hook: 'terminateEngine' | 'crashEngine') {
  await page.evaluate((name) => (window as unknown as { __saeWorkbench: Record<string, () => void> }).__saeWorkbench[name](), hook);
}

/** Numeric fields of two metric records agree to `tol` (relative to the magnitude, or absolute near 0). */
function expectClose(got: Record<string, number>, want: Record<string, number>, tol: number, what: string) {
  const keys = Object.keys(want).filter((k) => typeof want[k] === 'number' && !/elapsed|tokens_per_s|time/.test(k));
  expect(keys.length, `${what}: numeric fields`).toBeGreaterThan(3);
  for (const k of keys) {
    const a = got[k], b = want[k];
    if (Number.isNaN(b)) { expect(Number.isNaN(a), `${what}.${k}`).toBe(true); continue; }
    expect(Math.abs(a - b), `${what}.${k}: ${a} vs ${b}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));
  }
}

// Long enough that an autosave (every 3 s) lands mid-run however fast this machine is at the time
// (the sparse TopK step trains this size at hundreds of steps a second).
const RUN = { variant: 'topk', dSae: 128, batch: 256, steps: 12_000 };

test('a run reloaded mid-way and resumed from its autosave ends with the metrics of the run that never stopped', async ({ page, baseURL }) => {
  test.setTimeout(300_000);
  const requests = recordRequests(page);
  await openApp(page);
  await configure(page, RUN);
  await page.getByLabel('Seed').fill('7');

  // The run that never stops.
  await trainButton(page).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 200_000 });
  await expect(page.getByTestId('kept-run')).toHaveCount(1);
  // A finished run leaves no autosave behind.
  await expect.poll(() => autosavedStep(page)).toBeNull();

  // The same run, interrupted by a reload once it has autosaved past step 250.
  await trainUntilAutosaved(page, 250);
  const savedAt = (await autosavedStep(page))!;
  expect(savedAt).toBeLessThan(RUN.steps);
  await page.reload();
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64');
  const offer = page.getByTestId('resume-offer');
  await expect(offer).toContainText(`topk · d_sae ${RUN.dSae}`);
  await expect(offer).toContainText(/step [\d,]+ of 12,000/);
  await page.screenshot({ path: test.info().outputPath('resume-offer.png') });
  const offeredStep = Number((await offer.innerText()).match(/step ([\d,]+) of/)![1].replace(/,/g, ''));
  expect(offeredStep).toBeGreaterThanOrEqual(savedAt);
  await offer.getByRole('button', { name: 'Resume autosaved run' }).click();
  await expect(offer).toBeHidden();
  // The Model panel shows the resumed run's settings again, not the defaults of a fresh page.
  await expect(page.getByLabel('d_sae', { exact: true })).toHaveValue(String(RUN.dSae));
  await expect(page.getByLabel('Seed')).toHaveValue('7');
  // The log so far is back in the charts at once.
  expect(await chartPoints(page, 'chart-loss')).toBeGreaterThan(0);
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 200_000 });
  await expect(page.getByTestId('kept-run')).toHaveCount(2);

  const [whole, resumed] = await keptRunMetrics(page);
  expectClose(resumed.metrics, whole.metrics, 1e-5, 'final validation metrics');
  expectClose(resumed.last, whole.last, 1e-5, 'last logged row');
  expect(resumed.last.step).toBe(RUN.steps);
  expectSameOrigin(requests, new URL(baseURL!).origin);
});

test('a killed worker is reported with the charts kept, and one click restarts it from the autosave to the end', async ({ page, baseURL }) => {
  test.setTimeout(240_000);
  const requests = recordRequests(page);
  await openApp(page);
  await configure(page, RUN);
  await trainUntilAutosaved(page, 150);
  await engineHook(page, 'terminateEngine');
  const down = page.getByTestId('engine-down');
  await expect(down).toContainText('The engine stopped: the engine worker was terminated');
  await page.screenshot({ path: test.info().outputPath('engine-down.png') });
  // The charts and the log are still on the page (and nothing more arrives).
  // Rows that arrived just before the kill may still be drawn: wait for the count to settle
  // before checking that nothing more arrives.
  const points = await settledChartPoints(page, 'chart-loss');
  expect(points).toBeGreaterThan(10);
  await page.waitForTimeout(1000);
  expect(await chartPoints(page, 'chart-loss')).toBe(points);
  await expect(page.getByRole('button', { name: 'Pause' }).or(page.getByRole('button', { name: 'Resume', exact: true }))).toBeVisible();

  await down.getByRole('button', { name: /^Restart the engine and resume from step [\d,]+$/ }).click();
  await expect(down).toBeHidden();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 200_000 });
  await expect(page.getByTestId('kept-run')).toHaveCount(1);
  const [run] = await keptRunMetrics(page);
  expect(run.last.step).toBe(RUN.steps);
  expect(Number.isFinite(run.metrics.nmse)).toBe(true);
  expectSameOrigin(requests, new URL(baseURL!).origin);
});

test('an exception nothing catches in the worker is reported, and the engine restarts from the autosave', async ({ page }) => {
  test.setTimeout(180_000);
  await openApp(page);
  await configure(page, RUN);
  await trainUntilAutosaved(page, 100);
  await engineHook(page, 'crashEngine');
  const down = page.getByTestId('engine-down');
  await expect(down).toContainText(/The engine stopped: the engine worker failed: .*a deliberate crash \(debugCrash\)/);
  await down.getByRole('button', { name: /^Restart the engine and resume from step [\d,]+$/ }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 150_000 });
  // The run is kept (stored) a moment after it is done.
  await expect(page.getByTestId('kept-run')).toHaveCount(1);
  const [run] = await keptRunMetrics(page);
  expect(run.last.step).toBe(RUN.steps);
});

test('a learning rate of 10 trips the divergence guard: rolled back, paused, told what to try; a lower rate trains on', async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  const requests = recordRequests(page);
  await openApp(page);
  await configure(page, { variant: 'relu', dSae: 128, batch: 256, steps: 3000 });
  await trainButton(page).click();
  await expect.poll(() => progressStep(page), { timeout: 60_000 }).toBeGreaterThan(100);

  const lr = page.getByRole('region', { name: /Live sliders/ }).getByLabel('Learning rate', { exact: true });
  await lr.fill('200'); // the top of the slider: 10
  const error = page.getByRole('alert').filter({ hasText: 'training diverged' });
  await expect(error).toContainText(/training diverged at step [\d,]+ \(.+\)\. Rolled back to step [\d,]+, the last healthy state, and paused\./, { timeout: 60_000 });
  await expect(error).toContainText(/Lower the learning rate \(now 10\.0; try 1\.0\)/);
  await expect(page.getByRole('button', { name: 'Resume', exact: true })).toBeVisible();
  const diverged = Number((await error.innerText()).match(/diverged at step ([\d,]+)/)![1].replace(/,/g, ''));
  const rolledTo = Number((await error.innerText()).match(/Rolled back to step ([\d,]+)/)![1].replace(/,/g, ''));
  expect(rolledTo).toBeLessThan(diverged);
  // The charts show no step past the one rolled back to.
  await expect(page.getByTestId('progress')).toContainText(`step ${rolledTo.toLocaleString('en-US')}`);
  await page.screenshot({ path: test.info().outputPath('diverged.png') });

  await lr.fill('66'); // back to a sane rate (about 1e-3)
  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await expect.poll(() => progressStep(page), { timeout: 60_000 }).toBeGreaterThan(rolledTo + 100);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(page.getByTestId('kept-run')).toHaveCount(1);
  const [run] = await keptRunMetrics(page);
  expect(Number.isFinite(run.metrics.nmse)).toBe(true);
  expect(Number.isFinite(run.last.total_loss)).toBe(true);
  // Back below where it started: the blow-up left nothing behind.
  expect(run.last.recon_loss).toBeLessThan(run.first.recon_loss);
  expectSameOrigin(requests, new URL(baseURL!).origin);
});
