// The "auto" backend: pressing Train measures every backend at the run's size (here the software
// WebGPU adapter and SwiftShader WebGL against wasm), trains on the fastest, and shows the speeds in
// the header; a second run of the same size reuses them; a backend chosen by name measures nothing.
import { expect, test, type Page } from '@playwright/test';
import { openApp } from './helpers';

const BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'];

/** The header's table of measured speeds: backend → tokens/s (null when not measured) and its note. */
async function speedTable(page: Page) {
  const details = page.getByTestId('backend');
  if (!(await details.evaluate((d) => (d as HTMLDetailsElement).open))) await details.locator('summary').click();
  const table = page.getByRole('table', { name: 'Measured backend speeds' });
  await expect(table).toBeVisible();
  const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    backend: tr.querySelector('th')!.textContent!,
    cells: Array.from(tr.querySelectorAll('td')).map((td) => td.textContent!),
    chosen: tr.classList.contains('chosen'),
  })));
  return {
    caption: await table.locator('caption').innerText(),
    rows: rows.map((r) => ({ backend: r.backend, tokensPerS: /^[\d,]+$/.test(r.cells[0]) ? Number(r.cells[0].replace(/,/g, '')) : null, note: r.cells[1], chosen: r.chosen })),
  };
}

test('auto measures the backends at the run\'s size, trains on the fastest and shows the speeds; the same size is not measured twice', async ({ page }) => {
  test.setTimeout(90_000);
  await openApp(page);
  await expect(page.getByLabel('Backend', { exact: true })).toHaveValue('auto');
  const progress = page.getByTestId('progress');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress).toContainText(/measuring the backends for this size: \w+ \(\d of 4\)/);
  await expect(progress).toContainText(/running · step [1-9]/, { timeout: 45_000 });

  const { caption, rows } = await speedTable(page);
  expect(caption).toContain('topk · d_in 64 · d_sae 512 · batch 512');
  // Every backend has a row: a speed, or why it has none.
  expect(rows.map((r) => r.backend).sort()).toEqual([...BACKENDS].sort());
  for (const r of rows) if (r.tokensPerS === null) expect(r.note.trim(), `why ${r.backend} has no speed`).not.toBe('');
  const measured = rows.filter((r) => r.tokensPerS !== null);
  expect(measured.length).toBeGreaterThanOrEqual(1);
  const chosen = rows.filter((r) => r.chosen);
  expect(chosen).toHaveLength(1);
  expect(chosen[0].tokensPerS).toBe(Math.max(...measured.map((r) => r.tokensPerS!)));
  expect(chosen[0].note).toContain('fastest, in use');
  if (process.env.SAE_TEST_REPORT) console.info(`[calibration] ${caption}: ${rows.map((r) => `${r.backend} ${r.tokensPerS ?? r.note}`).join('; ')}`);

  // The run trains on it: the header says so, and the run goes on.
  await expect(page.getByTestId('backend').locator('summary')).toContainText(`Backend: ${chosen[0].backend}`);
  const log = page.getByRole('log', { name: 'Run log' });
  await expect(log).toContainText(`auto backend: ${chosen[0].backend} for topk d_in 64 d_sae 512 batch 512 (measured in`);
  const stepNow = async () => Number((await progress.innerText()).match(/step ([\d,]+)/)![1].replace(/,/g, ''));
  const before = await stepNow();
  await expect.poll(stepNow, { timeout: 30_000 }).toBeGreaterThan(before + 5);

  // Stop, train again at the same size: the measured speeds are reused, training starts at once.
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(progress).toContainText('stopped');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress).toContainText(/running · step [1-9]/, { timeout: 20_000 });
  await expect(log).toContainText(`auto backend: ${chosen[0].backend} for topk d_in 64 d_sae 512 batch 512 (measured earlier)`);
  expect((await speedTable(page)).caption).toContain('(earlier)');
  expect((await log.innerText()).match(/measuring the backends for/g)).toHaveLength(1);
});

test('a backend chosen by name trains at once, with nothing measured', async ({ page }) => {
  await openApp(page);
  const choice = page.getByLabel('Backend', { exact: true });
  await choice.selectOption('wasm');
  await expect(page.getByTestId('backend').locator('summary')).toContainText('Backend: wasm');
  await expect(page.getByTestId('backend').locator('summary')).toContainText('chosen');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText(/running · step [1-9]/, { timeout: 20_000 });
  // The choice is fixed while the run is active.
  await expect(choice).toBeDisabled();
  await page.getByTestId('backend').locator('summary').click();
  await expect(page.getByTestId('backend')).toContainText('nothing is measured');
  await expect(page.getByRole('table', { name: 'Measured backend speeds' })).toHaveCount(0);
  await expect(page.getByRole('log', { name: 'Run log' })).not.toContainText('measuring the backends');
});

test('Stop while the backends are measured cancels the run before it trains', async ({ page }) => {
  await openApp(page);
  const progress = page.getByTestId('progress');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress).toContainText('measuring the backends for this size');
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(progress).toContainText('stopped', { timeout: 20_000 });
  const log = page.getByRole('log', { name: 'Run log' });
  await expect(log).toContainText('stopped while measuring the backends; nothing was trained');
  await expect(log).not.toContainText('started topk');
  await expect(page.getByRole('button', { name: 'Train', exact: true })).toBeEnabled();
});

test('speeds measured once are kept by the browser: after a reload the same size trains at once', async ({ page }) => {
  test.setTimeout(120_000);
  await openApp(page);
  const progress = page.getByTestId('progress');
  const log = page.getByRole('log', { name: 'Run log' });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress).toContainText(/running · step [1-9]/, { timeout: 45_000 });
  await expect(log).toContainText(/auto backend: \w+ for topk d_in 64 d_sae 512 batch 512 \(measured in/);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(progress).toContainText('stopped');

  await page.reload();
  await expect(page.getByTestId('dataset-shape')).toBeVisible({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(progress).toContainText(/running · step [1-9]/, { timeout: 20_000 });
  await expect(log).toContainText(/auto backend: \w+ for topk d_in 64 d_sae 512 batch 512 \(measured earlier\)/);
  expect(await log.innerText()).not.toContain('measuring the backends for');
  expect((await speedTable(page)).caption).toContain('(earlier)');
});
