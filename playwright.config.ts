import { defineConfig } from '@playwright/test';

// Browser tests run the production build (vite preview) in Debian's Chromium; Playwright never
// downloads a browser. Headless Chromium here has no GPU: WebGPU runs on a software adapter and
// WebGL on SwiftShader, so timeouts are generous.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  expect: { timeout: 60_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: 'http://127.0.0.1:4173',
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
      command: 'npx vite preview --port 4173 --strictPort',
      url: 'http://127.0.0.1:4173',
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
    {
      command: 'npx vite --port 5173 --strictPort',
      url: 'http://127.0.0.1:5173',
      reuseExistingServer: !process.env.CI,
      timeout: 60_000,
    },
  ],
});
