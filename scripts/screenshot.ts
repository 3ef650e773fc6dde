// Takes docs/screenshot.png of the built app mid-training (run `npx vite build` first, then
// `npx tsx scripts/screenshot.ts`). Used for the README; not a test.
import { spawn } from 'node:child_process';
import { chromium } from '@playwright/test';

const port = 4178;
const server = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort'], { stdio: 'ignore', detached: true });
try {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) break; } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.getByTestId('dataset-shape').waitFor();
  await page.getByLabel('Variant').selectOption(process.argv[2] ?? 'jumprelu');
  await page.getByLabel('Steps', { exact: true }).fill(process.argv[3] ?? '400');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  const minPoints = Number(process.argv[4] ?? 15);
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid=chart-loss]')?.getAttribute('data-points')) >= n, minPoints, { timeout: 300_000 });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: 'docs/screenshot.png', fullPage: true });
  await browser.close();
} finally {
  if (server.pid) process.kill(-server.pid);
}
