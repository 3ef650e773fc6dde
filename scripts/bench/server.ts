// The bench's own build of the app and its `vite preview` server, and headless Chromium.
//
// The bench builds into a private directory (node_modules/.cache/sae-bench/dist), not dist/, so it
// measures the current source and never empties a dist/ that someone's e2e run is serving. When the
// build fails (e.g. a file mid-edit) it waits and retries once, then falls back to dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Browser } from '@playwright/test';
import { waitForUrl } from '../devPage';

export const BENCH_DIST = 'node_modules/.cache/sae-bench/dist';
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

function run(cmd: string, args: string[], quiet: boolean): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { output += d.toString(); if (!quiet) process.stderr.write(d); });
    p.on('exit', (code) => resolve({ code, output }));
    p.on('error', (e) => resolve({ code: -1, output: String(e) }));
  });
}

/**
 * Build the app for the bench. Returns the directory to serve and what happened, in words.
 * `useDist` skips the build and serves dist/ as it is.
 */
export async function buildApp(opts: { useDist?: boolean; log?: (s: string) => void } = {}): Promise<{ outDir: string; note: string }> {
  const log = opts.log ?? ((s: string) => console.error(s));
  if (opts.useDist) {
    if (!existsSync('dist/index.html')) throw new Error('dist/ is missing: run `npm run build` first (or drop --no-build)');
    return { outDir: 'dist', note: 'served dist/ as built (--no-build)' };
  }
  for (let attempt = 1; attempt <= 2; attempt++) {
    log(`building the app into ${BENCH_DIST} (vite build${attempt > 1 ? ', second attempt' : ''}) ...`);
    const t = Date.now();
    const r = await run('npx', ['vite', 'build', '--outDir', BENCH_DIST, '--emptyOutDir', '--logLevel', 'warn'], true);
    if (r.code === 0 && existsSync(`${BENCH_DIST}/index.html`)) return { outDir: BENCH_DIST, note: `built the current source in ${((Date.now() - t) / 1000).toFixed(0)} s` };
    log(`the build failed:\n${r.output.split('\n').slice(-15).join('\n')}`);
    if (attempt === 1) { log('waiting 60 s (a file may be mid-edit) ...'); await new Promise((res) => setTimeout(res, 60_000)); }
  }
  if (existsSync('dist/index.html')) return { outDir: 'dist', note: 'the build failed twice; served the existing dist/ instead' };
  throw new Error('the app cannot be built and there is no dist/');
}

export interface Preview {
  url: string;
  outDir: string;
  stop(): void;
}

/**
 * `vite preview` of `outDir` on `port` (strict), stopped by stop() (its process group, by PID).
 * The app is served cross-origin isolated (wasm threads); `unisolated` turns that off
 * (scripts/bench/vite.unisolated.config.ts).
 */
export async function startPreview(port: number, outDir: string, unisolated = false): Promise<Preview> {
  const config = unisolated ? ['--config', 'scripts/bench/vite.unisolated.config.ts'] : [];
  const server: ChildProcess = spawn('npx', ['vite', 'preview', ...config, '--port', String(port), '--strictPort', '--outDir', outDir], {
    stdio: 'ignore', detached: true, env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' },
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try { if (server.pid) process.kill(-server.pid); } catch { /* already gone */ }
  };
  try {
    await waitForUrl(`http://127.0.0.1:${port}/bench.html`, 60_000);
  } catch (e) {
    stop();
    throw e;
  }
  return { url: `http://127.0.0.1:${port}`, outDir, stop };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
  const { chromium } = await import('@playwright/test');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}
