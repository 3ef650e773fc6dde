// `npm start` serves the app from Vite's dev server: the worker and its dependencies must load
// there too (they are bundled differently than in the production build).
import { expect, test } from '@playwright/test';

test('the dev server of `npm start` opens with the sample and trains', async ({ page }) => {
  await page.goto(`http://127.0.0.1:${process.env.E2E_DEV_PORT ?? 5173}/`);
  await expect(page.getByTestId('dataset-shape')).toHaveText('32,768 × 64', { timeout: 90_000 });
  await expect(page.getByTestId('backend')).toContainText('wasm', { timeout: 90_000 });
  await page.getByLabel('Steps', { exact: true }).fill('30');
  await page.getByLabel('d_sae', { exact: true }).fill('64');
  await page.getByRole('button', { name: 'Train' }).click();
  await expect(page.getByTestId('progress')).toContainText('done · step 30 / 30', { timeout: 120_000 });
});
