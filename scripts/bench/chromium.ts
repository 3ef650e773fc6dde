// The Chromium side of `npm run bench`: the bench's build of the app, headless Chromium and bench.html.
// bench.html's engine worker (src/bench/main.ts; the worker the app uses) runs the training steps
// and the wasm matMul timings; --one-thread serves the same page without cross-origin isolation.
// The browser stays open for the scaling sweep and the app measurement (scripts/bench.ts).
import type { Browser, Page } from '@playwright/test';
import type { BenchSpec } from '../../src/engine/bench';
import type { WasmSgemmRow } from '../../src/engine/benchSgemm';
import type { BackendName } from '../../src/engine/types';
import type { Options } from './options';
import { log, type NativeReport, type Row, type Skip } from './results';
import { benchBackend, type Runner } from './rows';
import { buildApp, launchChromium, startPreview, type Preview } from './server';

/** Runs a spec in the engine worker of a bench.html page. */
export function pageRunner(page: Page): Runner {
  return async (backend, spec, timeoutMs) => {
    try {
      return await page.evaluate(([b, s, t]) => window.saeBench(b as BackendName, s as BenchSpec, t as number), [backend, spec, timeoutMs] as const);
    } catch (e) {
      return { error: e instanceof Error ? e.message.split('\n')[0] : String(e) };
    }
  };
}

/** The browser, its server and the bench page: null until opened, or when opening failed. */
export interface Chromium {
  browser: Browser | null;
  server: Preview | null;
  page: Page | null;
  version: string;
  /** window.saeBenchEnv() of bench.html (whether it is cross-origin isolated, …). */
  env: Record<string, unknown> | null;
  /** tfjs-wasm's matMul at the sgemm shapes in the engine worker, on its thread pool. */
  wasmMatmul: { rows: WasmSgemmRow[]; threads: number } | null;
}

export const noChromium = (): Chromium => ({ browser: null, server: null, page: null, version: '', env: null, wasmMatmul: null });

/** Builds the app, serves it and launches Chromium; when that fails, one skip for all of Chromium. */
export async function openChromium(c: Chromium, opts: Options, notes: string[], skips: Skip[]): Promise<void> {
  try {
    const built = await buildApp({ useDist: !opts.build });
    notes.push(`app: ${built.note} (${built.outDir})`);
    log(built.note);
    c.server = await startPreview(opts.port, built.outDir);
    c.browser = await launchChromium();
    c.version = c.browser.version();
  } catch (e) {
    const reason = `headless Chromium unavailable: ${e instanceof Error ? e.message : String(e)}`;
    skips.push({ where: 'chromium', backend: '*', reason });
    log(reason);
  }
}

/** The Chromium rows of every chosen backend in bench.html's engine worker, then its wasm matMul timings. */
export async function benchChromium(c: Chromium, opts: Options, native: NativeReport | null, rows: Row[], skips: Skip[], notes: string[]): Promise<void> {
  if (!c.browser || !c.server || !opts.chromium.length) return;
  const page = await c.browser.newPage();
  c.page = page;
  await page.goto(`${c.server.url}/bench.html`);
  await page.waitForFunction(() => typeof window.saeBench === 'function', null, { timeout: 60_000 });
  c.env = await page.evaluate(() => window.saeBenchEnv()) as unknown as Record<string, unknown>;
  for (const backend of opts.chromium) await benchBackend('chromium', backend, pageRunner(page), opts, rows, skips);
  // The same matMul timings in the engine worker, on the wasm thread pool.
  if (native && opts.chromium.includes('wasm')) {
    const shapes = native.sgemm.shapes.map(({ shape, m, k, n }) => ({ shape, m, k, n }));
    const r = await page.evaluate((sh) => window.saeBenchSgemm(sh), shapes);
    if (r.rows) c.wasmMatmul = { rows: r.rows, threads: r.threads ?? 1 };
    else notes.push(`Chromium wasm matMul timing failed: ${r.error}`);
  }
}

/** Chromium wasm once more, served without cross-origin isolation (no SharedArrayBuffer: one thread). */
export async function benchOneThread(c: Chromium, opts: Options, rows: Row[], skips: Skip[], notes: string[]): Promise<void> {
  const { browser, server } = c;
  if (!opts.oneThread || !browser || !server) return;
  let coi: Preview | null = null;
  let coiPage: Page | null = null;
  try {
    coi = await startPreview(opts.port + 1, server.outDir, true);
    coiPage = await browser.newPage();
    const workerErrors: string[] = [];
    coiPage.on('console', (m) => { if (m.type() === 'error' && workerErrors.length < 3) workerErrors.push(m.text().slice(0, 240)); });
    await coiPage.goto(`${coi.url}/bench.html`);
    await coiPage.waitForFunction(() => typeof window.saeBench === 'function', null, { timeout: 60_000 });
    const env = await coiPage.evaluate(() => window.saeBenchEnv());
    notes.push(`--one-thread: bench.html served without COOP/COEP on port ${opts.port + 1}: crossOriginIsolated ${env.crossOriginIsolated}`);
    await benchBackend('chromium-1t', 'wasm', pageRunner(coiPage), opts, rows, skips);
    const failed = skips.find((k) => k.where === 'chromium-1t');
    if (failed && workerErrors.length) failed.reason += `; the page logged: ${[...new Set(workerErrors.map((e) => e.replace(/blob:\S+/g, 'blob:…')))].join(' | ')}`;
  } catch (e) {
    skips.push({ where: 'chromium-1t', backend: 'wasm', reason: `unisolated (one-thread) run failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` });
  } finally {
    await coiPage?.close().catch(() => undefined);
    coi?.stop();
  }
}

/** Closes the page, the browser and the server, whatever failed before. */
export async function closeChromium(c: Chromium): Promise<void> {
  if (c.page) await c.page.close().catch(() => undefined);
  if (c.browser) await c.browser.close().catch(() => undefined);
  c.server?.stop();
}
