import { defineConfig } from '@playwright/test';

// Browser tests run the production build (vite preview) in Debian's Chromium; Playwright never
// downloads a browser. Headless Chromium here has no GPU: WebGPU runs on a software adapter and
// WebGL on SwiftShader, so timeouts are generous.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Ports can be moved (E2E_PORT, E2E_DEV_PORT) so two checkouts can run their suites side by side.
const port = Number(process.env.E2E_PORT ?? 4173);
const devPort = Number(process.env.E2E_DEV_PORT ?? 5173);

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    acceptDownloads: true,
    viewport: { width: 1440, height: 1000 },
    launchOptions: {
      executablePath: chromium,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    },
  },
  // The production build (what most tests use) and the dev server that `npm start` runs.
  webServer: [
    {
      command: `npx vite preview --port ${port} --strictPort`,
      url: `http://127.0.0.1:${port}`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
    {
      command: `npx vite --port ${devPort} --strictPort`,
      url: `http://127.0.0.1:${devPort}`,
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
  ],
});
