// For the screenshot scripts: Vite's dev server on a port (nothing to build first) and a page of
// Debian's headless Chromium on it, closed (server included) when `use` returns or throws.
import { spawn } from 'node:child_process';
import { chromium, type Page } from '@playwright/test';

export async function withDevPage(port: number, viewport: { width: number; height: number }, use: (page: Page) => Promise<void>): Promise<void> {
  const server = spawn('npx', ['vite', '--port', String(port), '--strictPort'], { stdio: 'ignore', detached: true });
  try {
    for (let i = 0; i < 300; i++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) break; } catch { /* starting */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking'] });
    try {
      const page = await browser.newPage({ viewport });
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.getByTestId('dataset-shape').waitFor({ timeout: 120_000 });
      await use(page);
    } finally {
      await browser.close();
    }
  } finally {
    if (server.pid) process.kill(-server.pid);
  }
}
