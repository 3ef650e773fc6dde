// Responsiveness of the real app (index.html, not the bench harness) in headless Chromium while it
// trains: the longest main-thread task and the tasks over 50 ms (PerformanceObserver 'longtask',
// installed before the app loads), frames per second (requestAnimationFrame on the main thread) and
// chart redraws per second (the charts' data-points attribute changes on every redraw), and how soon
// a live slider change is used: the worker applies pending changes at the start of a step and logs
// them as events ("step A: lr → …" in the run log, src/app/clientRun.ts describeEvent), so a change
// made while the UI showed step B is used from step A on (A − B steps late).
//
// Invoked by `npm run bench` (scripts/bench.ts) and runnable alone:
//   npx tsx scripts/bench/responsiveness.ts [--seconds 20] [--port 4192] [--backend wasm|webgl|…]
//                                           [--variant relu] [--d-sae 2048] [--batch 1024] [--no-build]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, Page } from '@playwright/test';
import { buildApp, launchChromium, startPreview } from './server';

export interface ResponsivenessOptions {
  /** Where the built app is served, e.g. http://127.0.0.1:4191 */
  baseUrl: string;
  browser: Browser;
  /** Seconds of training measured (default 20). */
  seconds?: number;
  /** Force a backend (?backend=…); default: the app's own choice. */
  backend?: string;
  variant?: string;
  dSae?: number;
  batch?: number;
  log?: (s: string) => void;
}

export interface SliderChange {
  /** Learning rate set. */
  value: string;
  /** Step the progress line showed when the slider moved. */
  uiStep: number;
  /** Step at which the worker applied it (the log's "step A: lr → …"); null when never logged. */
  appliedAtStep: number | null;
  /** appliedAtStep − uiStep. */
  stepsLate: number | null;
  /** From the change to the run log line (logs arrive with the metric rows, every log_every steps). */
  msToLog: number | null;
  /** From the change until the progress line showed step A + 1 (the first step that used it done). */
  msToFirstStepShown: number | null;
}

export interface ResponsivenessResult {
  backend: string;
  variant: string;
  dSae: number;
  batch: number;
  seconds: number;
  steps: { start: number; end: number; perSecond: number };
  uiTokensPerS: string;
  longTasks: { supported: boolean; count: number; over50ms: number; maxMs: number; totalMs: number; blockingMs: number; longestFive: { ms: number; atS: number }[] };
  frames: { count: number; fps: number; maxGapMs: number };
  charts: { redraws: number; perSecond: number; perChartPerSecond: number; byChart: Record<string, number> };
  /** Plotly calls timed by the app (performance measures "<chart>: <what>"), by kind, in the window. */
  draws: { kind: string; count: number; meanMs: number; maxMs: number }[];
  slider: SliderChange[];
  notes: string[];
}

/**
 * Installed with page.addInitScript: runs in the page before any of the app's scripts. Plain
 * JavaScript in a string: a function would be serialised with the helpers tsx adds (__name).
 */
const INSTRUMENT = `(() => {
  const rec = { longtasks: [], frames: [], points: [], logs: [], progress: [] };
  window.__benchResp = rec;
  try {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) rec.longtasks.push([e.startTime, e.duration]); })
      .observe({ type: 'longtask', buffered: true });
  } catch (e) { rec.longtaskError = String(e); }
  const frame = (t) => { rec.frames.push(t); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  let lastStep = -1;
  new MutationObserver((muts) => {
    const t = performance.now();
    for (const m of muts) {
      if (m.type === 'attributes' && m.attributeName === 'data-points') {
        rec.points.push([t, m.target.getAttribute('data-testid') || '?', m.target.getAttribute('data-points') || '']);
      } else if (m.type === 'childList') {
        m.addedNodes.forEach((n) => {
          if (n.nodeName === 'LI' && n.parentElement && n.parentElement.getAttribute('role') === 'log') rec.logs.push([t, n.textContent || '']);
        });
      }
    }
    const el = document.querySelector('[data-testid=progress]');
    const m = /step ([0-9,]+)/.exec(el ? el.textContent : '');
    if (m) {
      const step = Number(m[1].replace(/,/g, ''));
      if (step !== lastStep) { lastStep = step; rec.progress.push([t, step]); }
    }
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['data-points'] });
})();`;

interface Rec { longtasks: [number, number][]; frames: number[]; points: [number, string, string][]; logs: [number, string][]; progress: [number, number][]; longtaskError?: string }

/** Move the "Learning rate" slider to position `pos` (0…200) in one task, and say what the UI showed then. */
async function moveLrSlider(page: Page, pos: number): Promise<{ t: number; uiStep: number }> {
  return page.evaluate((p) => {
    const label = [...document.querySelectorAll('label')].find((l) => l.textContent?.trim() === 'Learning rate');
    const input = label ? document.getElementById(label.htmlFor) as HTMLInputElement | null : null;
    if (!input) throw new Error('no "Learning rate" slider (is a run active?)');
    const text = document.querySelector('[data-testid=progress]')?.textContent ?? '';
    const uiStep = Number(/step ([\d,]+)/.exec(text)?.[1].replace(/,/g, '') ?? NaN);
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, String(p));
    const t = performance.now();
    input.dispatchEvent(new Event('input', { bubbles: true }));
    return { t, uiStep };
  }, pos);
}

const rec = (page: Page) => page.evaluate(() => (window as unknown as { __benchResp: Rec }).__benchResp);

export async function measureResponsiveness(opts: ResponsivenessOptions): Promise<ResponsivenessResult> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const seconds = opts.seconds ?? 20;
  const variant = opts.variant ?? 'relu';
  const dSae = opts.dSae ?? 2048;
  const batch = opts.batch ?? 1024;
  const notes: string[] = [];
  const context = await opts.browser.newContext({ viewport: { width: 1440, height: 1000 } });
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => notes.push(`page error: ${e.message}`));
    await page.addInitScript({ content: INSTRUMENT });
    await page.goto(`${opts.baseUrl}/${opts.backend ? `?backend=${opts.backend}` : ''}`);
    // The built-in sample loads on its own at start (e2e/helpers.ts openApp).
    await page.getByTestId('dataset-shape').waitFor({ timeout: 120_000 });
    await page.waitForFunction(() => !/starting/.test(document.querySelector('[data-testid=backend]')?.textContent ?? 'starting'), null, { timeout: 120_000 });
    const backend = (await page.getByTestId('backend').innerText()).replace(/\s+/g, ' ').trim();
    await page.getByLabel('Variant').selectOption(variant);
    await page.getByLabel('d_sae', { exact: true }).fill(String(dSae));
    await page.getByLabel('Batch size', { exact: true }).fill(String(batch));
    await page.getByLabel('Steps', { exact: true }).fill('1000000');
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await page.waitForFunction(() => /running · step [1-9]/.test(document.querySelector('[data-testid=progress]')?.textContent ?? ''), null, { timeout: 180_000 });
    log(`responsiveness: training ${variant} d_sae ${dSae} batch ${batch} in the app (${backend}) for ${seconds} s ...`);
    const t0 = await page.evaluate(() => performance.now());
    // Three learning-rate changes, at a quarter, half and three quarters of the window.
    const positions = [64, 70, 62];
    const changes: { t: number; uiStep: number; pos: number }[] = [];
    for (let i = 0; i < positions.length; i++) {
      const at = t0 + ((i + 1) / (positions.length + 1)) * seconds * 1000;
      const now = await page.evaluate(() => performance.now());
      if (at > now) await page.waitForTimeout(at - now);
      changes.push({ ...(await moveLrSlider(page, positions[i])), pos: positions[i] });
    }
    const end = t0 + seconds * 1000;
    const nowEnd = await page.evaluate(() => performance.now());
    if (end > nowEnd) await page.waitForTimeout(end - nowEnd);
    // Give the last change's log line time to arrive (it comes with the next metric rows).
    let r = await rec(page);
    const lastChange = changes[changes.length - 1];
    for (let i = 0; i < 100 && !r.logs.some(([t, text]) => t > lastChange.t && /lr → /.test(text)); i++) {
      await page.waitForTimeout(200);
      r = await rec(page);
    }
    const uiTokensPerS = (await page.getByTestId('progress').innerText()).replace(/\s+/g, ' ').trim();
    const measures = await page.evaluate(() => performance.getEntriesByType('measure').map((m) => [m.startTime, m.name, m.duration] as [number, string, number]));
    await page.getByRole('button', { name: 'Stop', exact: true }).click().catch(() => notes.push('could not press Stop'));

    const inWindow = (t: number) => t >= t0 && t <= end;
    const windowTasks = r.longtasks.filter(([t]) => inWindow(t));
    const tasks = windowTasks.map(([, d]) => d);
    const frames = r.frames.filter(inWindow);
    let maxGap = 0;
    for (let i = 1; i < frames.length; i++) maxGap = Math.max(maxGap, frames[i] - frames[i - 1]);
    const points = r.points.filter(([t]) => inWindow(t));
    const byChart: Record<string, number> = {};
    for (const [, id] of points) byChart[id] = (byChart[id] ?? 0) + 1;
    const stepAt = (t: number) => { let s = 0; for (const [pt, step] of r.progress) if (pt <= t) s = step; return s; };
    const slider: SliderChange[] = changes.map((c, i) => {
      const next = changes[i + 1]?.t ?? Infinity;
      const line = r.logs.find(([t, text]) => t > c.t && t < next + 60_000 && /lr → /.test(text));
      const applied = line ? Number(/^step ([\d,]+):/.exec(line[1])?.[1].replace(/,/g, '') ?? NaN) : null;
      const shown = applied !== null ? r.progress.find(([t, step]) => t > c.t && step >= applied + 1) : undefined;
      const value = line ? /lr → ([^,]+)/.exec(line[1])?.[1] ?? '?' : '?';
      return {
        value,
        uiStep: c.uiStep,
        appliedAtStep: applied,
        stepsLate: applied !== null ? applied - c.uiStep : null,
        msToLog: line ? line[0] - c.t : null,
        msToFirstStepShown: shown ? shown[0] - c.t : null,
      };
    });
    // Draw kinds: a live chart's first rows / appends / thinned re-sends, and the static charts.
    const drawKinds = new Map<string, number[]>();
    for (const [t, name, d] of measures) {
      if (!inWindow(t) || !/: (first rows|append|thinned|draw)$/.test(name)) continue;
      const kind = name.endsWith(': draw') ? 'static chart draw' : `live chart ${name.split(': ')[1]}`;
      drawKinds.set(kind, [...(drawKinds.get(kind) ?? []), d]);
    }
    const draws = [...drawKinds].map(([kind, ds]) => ({ kind, count: ds.length, meanMs: ds.reduce((a, b) => a + b, 0) / ds.length, maxMs: Math.max(...ds) }));
    const startStep = stepAt(t0), endStep = stepAt(end);
    const charts = Object.keys(byChart).length;
    if (r.longtaskError) notes.push(`long tasks not observable: ${r.longtaskError}`);
    return {
      backend, variant, dSae, batch, seconds,
      steps: { start: startStep, end: endStep, perSecond: (endStep - startStep) / seconds },
      uiTokensPerS,
      longTasks: {
        supported: !r.longtaskError,
        count: tasks.length,
        over50ms: tasks.filter((d) => d > 50).length,
        maxMs: tasks.length ? Math.max(...tasks) : 0,
        totalMs: tasks.reduce((a, b) => a + b, 0),
        blockingMs: tasks.reduce((a, d) => a + Math.max(0, d - 50), 0),
        longestFive: [...windowTasks].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([t, d]) => ({ ms: d, atS: (t - t0) / 1000 })),
      },
      frames: { count: frames.length, fps: frames.length / seconds, maxGapMs: maxGap },
      charts: { redraws: points.length, perSecond: points.length / seconds, perChartPerSecond: charts ? points.length / charts / seconds : 0, byChart },
      draws,
      slider,
      notes,
    };
  } finally {
    await context.close();
  }
}

export function formatResponsiveness(r: ResponsivenessResult): string {
  const f = (v: number, d = 0) => v.toFixed(d);
  const lines = [
    `Responsiveness of the app (index.html) in headless Chromium while training ${r.variant}, d_sae ${r.dSae}, batch ${r.batch}, for ${r.seconds} s on ${r.backend}`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| steps trained (UI) | ${r.steps.start} → ${r.steps.end} (${f(r.steps.perSecond, 2)} steps/s; progress line: ${r.uiTokensPerS}) |`,
    `| longest main-thread task | ${r.longTasks.supported ? `${f(r.longTasks.maxMs)} ms` : 'not observable'} |`,
    `| tasks > 50 ms | ${r.longTasks.over50ms} (blocking time ${f(r.longTasks.blockingMs)} ms; longest: ${r.longTasks.longestFive.map((d) => `${f(d.ms)} ms at ${f(d.atS, 1)} s`).join(', ') || '—'}) |`,
    `| frames (requestAnimationFrame) | ${f(r.frames.fps, 1)} fps, longest gap ${f(r.frames.maxGapMs)} ms |`,
    `| chart redraws (data-points changes) | ${r.charts.redraws} in ${r.seconds} s = ${f(r.charts.perSecond, 1)}/s over ${Object.keys(r.charts.byChart).length} charts (${f(r.charts.perChartPerSecond, 2)}/s per chart) |`,
    ...r.draws.map((d) => `| ${d.kind} (Plotly, timed by the app) | ${d.count}× mean ${f(d.meanMs, 1)} ms, longest ${f(d.maxMs, 1)} ms |`),
    ...r.slider.map((s, i) => `| slider change ${i + 1} (lr → ${s.value}) | ${s.appliedAtStep === null ? `never logged (UI at step ${s.uiStep})` : `changed at step ${s.appliedAtStep} while the UI showed step ${s.uiStep} (${s.stepsLate} step${s.stepsLate === 1 ? '' : 's'} late); step ${s.appliedAtStep + 1} shown after ${s.msToFirstStepShown === null ? '?' : f(s.msToFirstStepShown)} ms, logged after ${s.msToLog === null ? '?' : f(s.msToLog)} ms`} |`),
  ];
  if (r.notes.length) lines.push('', ...r.notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined;
}

async function standalone(args: string[]): Promise<number> {
  const port = Number(arg(args, 'port') ?? 4192);
  const { outDir, note } = await buildApp({ useDist: args.includes('--no-build') });
  console.error(note);
  const server = await startPreview(port, outDir);
  const browser = await launchChromium();
  try {
    const r = await measureResponsiveness({
      baseUrl: server.url, browser,
      seconds: Number(arg(args, 'seconds') ?? 20),
      backend: arg(args, 'backend'),
      variant: arg(args, 'variant'),
      dSae: arg(args, 'd-sae') ? Number(arg(args, 'd-sae')) : undefined,
      batch: arg(args, 'batch') ? Number(arg(args, 'batch')) : undefined,
    });
    console.log(formatResponsiveness(r));
    await mkdir('bench-results', { recursive: true });
    await writeFile(path.join('bench-results', 'responsiveness.json'), JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2));
    return 0;
  } finally {
    await browser.close();
    server.stop();
  }
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === pathToFileURL(fileURLToPath(import.meta.url)).href) {
  standalone(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
}
