// The feature browser on real activations with their tokens and vocab (../shared/data; skipped with
// a message where it is absent): browse, open a latent, see its contexts with shaded tokens.
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { SHARED_DATA, configure, dropRealActivations, hasSharedData, openApp } from './helpers';

test('browse the latents of a run on real activations; a latent shows shaded token contexts', async ({ page }) => {
  test.skip(!hasSharedData, `${SHARED_DATA} is absent (it exists only beside the project in CI)`);
  test.setTimeout(180_000);
  await openApp(page);
  await dropRealActivations(page);
  await configure(page, { variant: 'topk', dSae: 256, batch: 512, steps: 200 });
  // One guidance target (latent 0 ← capitalised tokens), to find it in the browser afterwards.
  await page.getByRole('button', { name: 'Add target' }).click();
  const target = page.getByRole('group', { name: 'Guidance target g0' });
  await target.getByLabel('Labels', { exact: true }).selectOption('regex');
  await target.getByLabel('Token regex').fill('^ ?[A-Z]');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.getByTestId('progress')).toContainText('done', { timeout: 120_000 });
  // The training analysis: statistics table, verdicts, CSV and a chart PNG.
  const analysis = page.getByTestId('analysis-panel');
  await expect(analysis.getByRole('table', { name: 'Training statistics' })).toContainText('total_loss');
  await expect(analysis.getByTestId('verdict-total_loss')).toContainText(/CV \d/);
  await expect(analysis.getByTestId('verdict-sparsity')).toContainText('target');
  const csv = page.waitForEvent('download');
  await analysis.getByRole('button', { name: 'Download statistics CSV' }).click();
  const csvText = readFileSync(await (await csv).path(), 'utf8');
  expect(csvText.split('\n')[0]).toBe(',Initial,Final,Min,Max,Mean,Std,Change,Change (%)');
  expect(csvText).toContain('sparsity_l0,');
  const png = page.waitForEvent('download');
  await analysis.getByTestId('chart-loss-rate').hover();
  await analysis.getByTestId('chart-loss-rate').locator('[data-title^="Download plot"]').first().click();
  expect((await png).suggestedFilename()).toMatch(/\.png$/);

  const panel = page.getByTestId('features-panel');
  await panel.getByRole('button', { name: 'Browse features' }).click();
  await expect(panel).toContainText('35,234 rows', { timeout: 60_000 });
  await expect(panel.getByTestId('density-histogram')).toBeVisible();
  const list = panel.getByRole('table', { name: 'Latents' });
  await expect(list.getByRole('row')).toHaveCount(51); // header + a page of 50
  // Sorted by density: the first latent is the most frequent one.
  await list.getByRole('row').nth(1).getByRole('button').click();
  const contexts = panel.getByTestId('latent-contexts');
  await expect(contexts.getByRole('listitem')).toHaveCount(20, { timeout: 60_000 });
  const top = contexts.locator('.tok.top').first();
  await expect(top).toHaveAttribute('style', /background/);
  expect(Number(await top.getAttribute('data-activation'))).toBeGreaterThan(0);
  await expect(panel.getByTestId('activation-histogram')).toBeVisible();
  await expect(panel.getByRole('table', { name: 'Decoder neighbours' }).getByRole('row')).toHaveCount(11);
  // Every latent's contexts as JSON.
  const json = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download contexts JSON' }).click();
  const exported = JSON.parse(readFileSync(await (await json).path(), 'utf8'));
  expect(exported.d_sae).toBe(256);
  expect(exported.latents).toHaveLength(256);
  const busy = exported.latents.find((l: { density: number }) => l.density > 0);
  expect(busy.contexts[0].tokens[busy.contexts[0].max_index]).toEqual(expect.any(String));
  expect(busy.contexts[0].values[busy.contexts[0].max_index]).toBeCloseTo(busy.max_activation, 4);
  // The open latent's dashboard in SAEDashboard's feature JSON (no language model: no logit fields).
  const npJson = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Neuronpedia JSON', exact: true }).click();
  const dashboard = JSON.parse(readFileSync(await (await npJson).path(), 'utf8'));
  const open = Number(/Latent (\d+)/.exec((await panel.getByTestId('latent-detail').locator('h3').textContent()) ?? '')![1]);
  expect(dashboard.features).toHaveLength(1);
  const feature = dashboard.features[0];
  expect(feature.feature_index).toBe(open);
  expect(feature.activations).toHaveLength(20);
  expect(feature.activations[0].tokens.length).toBe(feature.activations[0].values.length);
  expect(feature.freq_hist_data_bar_heights).toHaveLength(50);
  expect(feature.freq_hist_data_bar_values).toHaveLength(50);
  expect(feature.freq_hist_data_bar_heights.reduce((a: number, b: number) => a + b, 0)).toBe(Math.round(feature.frac_nonzero * 35_234));
  expect(feature.logits_hist_data_bar_heights).toEqual([]);
  // Search: dead latents only — as many rows as the header counts dead latents (at most a page).
  const dead = Number(/(\d+) dead/.exec((await panel.textContent()) ?? '')![1]);
  await panel.getByLabel(/^Find/).fill('dead');
  await expect(list.getByRole('row')).toHaveCount(1 + Math.min(dead, 50));
  await panel.getByLabel(/^Find/).fill('dense');
  await expect(list.getByRole('row').nth(1)).toContainText('dense');
  // The guidance target: flagged, found by 'guided' or its id, first when sorted by target.
  for (const q of ['guided', 'g0']) {
    await panel.getByLabel(/^Find/).fill(q);
    await expect(list.getByRole('row')).toHaveCount(2);
    await expect(list.getByRole('row').nth(1).getByRole('cell').first()).toHaveText('0');
    await expect(list.getByRole('row').nth(1).locator('.flag.guided')).toHaveText('g0');
  }
  await panel.getByLabel(/^Find/).fill('');
  await panel.getByLabel('Sort by').selectOption('guidance');
  await expect(list.getByRole('row').nth(1).getByRole('cell').first()).toHaveText('0');
});
