// For the screenshot and bench scripts: waiting for a server, and Vite's dev server on a port (nothing to build first) and a page of
// Debian's headless Chromium on it, closed (server included) when `use` returns or throws.
import { spawn } from 'node:child_process';
import { chromium, type Page } from '@playwright/test';

/** Resolves once `url` answers 200, or throws after `ms`. */
export async function waitForUrl(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try { if ((await fetch(url)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`the server did not answer at ${url}`);
}

export async function withDevPage(port: number, viewport: { width: number; height: number }, use: (page: Page) => Promise<void>): Promise<void> {
  const server = spawn('npx', ['vite', '--port', String(port), '--strictPort'], { stdio: 'ignore', detached: true });
  try {
    await waitForUrl(`http://127.0.0.1:${port}/`, 60_000);
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
