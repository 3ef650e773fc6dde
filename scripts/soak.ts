// Soak test (not in CI): train in headless Chromium for a long time while the live sliders move
// every few seconds, and print memory once a minute — the page's JS heap, the engine worker's JS
// heap and tfjs memory (tensors, bytes), DOM nodes, rows charted, log lines. A leak shows as a
// figure that keeps climbing. The first half is warm-up: bounded buffers fill there (the run log's
// 200 lines, the charts' 1,200 points per curve, about 20 minutes at the default size), so the
// verdict looks at the second half: "flat" when tensors are constant after the first minute, and
// the heaps and tfjs bytes stay within 10 % of their half-way value and trend less than 5 % per
// 10 minutes. The drift from minute 1 is printed too.
//
//   npx tsx scripts/soak.ts [--minutes 30] [--backend wasm|webgl|webgpu|cpu] [--build]
//                           [--every 3] [--port 4495] [--out /tmp/soak-report.json]
//                           [--variant jumprelu] [--d-sae 2048] [--batch 512]
//   npx tsx scripts/soak.ts --report /tmp/soak-report.json     (the summary of a saved run)
//
// It serves dist/ with `vite preview` (run `npm run build` first, or pass --build).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { chromium, type Browser, type Page } from '@playwright/test';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const minutes = Number(arg('minutes', '30'));
const backend = arg('backend', '');
const every = Number(arg('every', '3'));
const port = Number(arg('port', '4495'));
const out = arg('out', '/tmp/soak-report.json');
const variant = arg('variant', 'jumprelu');
const dSae = Number(arg('d-sae', '2048'));
const batch = Number(arg('batch', '512'));
/** `--sliders off` trains without moving them (to tell a slider leak from a training one). */
const sliders = arg('sliders', 'on') !== 'off';
if (!(minutes > 0) || !(every > 0)) throw new Error('--minutes and --every must be positive numbers');

if (flag('build')) {
  const b = spawnSync('npx', ['vite', 'build'], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('vite build failed');
}
if (!existsSync('dist/index.html')) throw new Error('dist/ is missing: run `npm run build` first, or pass --build');

/** One line of the table. */
interface Sample {
  minute: number;
  step: number;
  stepsPerS: number;
  /** Main thread JS heap after a GC (bytes). */
  pageHeap: number;
  /** Engine worker's JS heap after a GC (bytes), when it can be read. */
  workerHeap: number | null;
  numTensors: number;
  numBytes: number;
  numBytesInGPU: number | null;
  domNodes: number;
  chartPoints: number;
  logLines: number;
  sliderMoves: number;
  state: string;
}

/** Sliders to move: name, range of values the soak picks from (log-uniform), slider min/max (LivePanel). */
const SLIDERS: { name: string; lo: number; hi: number; min: number; max: number; only?: string }[] = [
  { name: 'Learning rate', lo: 2e-4, hi: 3e-3, min: 1e-5, max: 10 },
  { name: 'Target L0 %', lo: 1, hi: 10, min: 0.5, max: 50 },
  { name: 'Sparsity λ', lo: 0.01, hi: 1, min: 1e-4, max: 100 },
  { name: 'Bandwidth', lo: 0.01, hi: 0.2, min: 1e-4, max: 1, only: 'jumprelu' },
  { name: 'Threshold', lo: 0.01, hi: 0.5, min: 1e-4, max: 10 },
];
/** Position (0…200) of a log slider for a value, as LiveSlider maps it. */
const position = (v: number, min: number, max: number) => Math.round(((Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * 200);

const fmtMiB = (b: number | null) => (b === null ? '—' : (b / 2 ** 20).toFixed(1));

async function sample(page: Page, minute: number, prev: { step: number; t: number } | null, moves: number): Promise<Sample> {
  const progress = (await page.getByTestId('progress').innerText()).replace(/\s+/g, ' ');
  const step = Number(progress.match(/step ([\d,]+)/)?.[1].replace(/,/g, '') ?? 0);
  const state = progress.split(' ')[0] ?? '';
  const t = Date.now();
  const page_ = await page.evaluate(async () => {
    // Read the heap right after the collection, before awaiting anything: the page goes on
    // rendering during an await, and what it allocates then would count as retained.
    (globalThis as { gc?: () => void }).gc?.();
    const perf = performance as Performance & { memory?: { usedJSHeapSize: number } };
    const heap = perf.memory?.usedJSHeapSize ?? 0;
    const mem = await (window as unknown as { __saeWorkbench: { engineMemory(): Promise<{ numTensors: number; numBytes: number; numBytesInGPU?: number } | null> } }).__saeWorkbench.engineMemory();
    return {
      heap,
      mem,
      domNodes: document.getElementsByTagName('*').length,
      chartPoints: Number(document.querySelector('[data-testid=chart-loss]')?.getAttribute('data-points') ?? 0),
      logLines: document.querySelector('[role=log]')?.childElementCount ?? 0,
    };
  });
  const workerHeap = await workerHeapUsed();
  const stepsPerS = prev ? (step - prev.step) / Math.max(1e-3, (t - prev.t) / 1000) : 0;
  return {
    minute, step, stepsPerS, pageHeap: page_.heap, workerHeap,
    numTensors: page_.mem?.numTensors ?? -1, numBytes: page_.mem?.numBytes ?? -1, numBytesInGPU: page_.mem?.numBytesInGPU ?? null,
    domNodes: page_.domNodes, chartPoints: page_.chartPoints, logLines: page_.logLines, sliderMoves: moves, state,
  };
}

/**
 * The engine worker's JS heap after a GC, through the DevTools protocol (workers have no
 * performance.memory): attach to the worker target once, then collect garbage and read the heap.
 */
let workerCall: ((method: string) => Promise<Record<string, number> | undefined>) | null = null;
async function attachWorker(browser: Browser): Promise<void> {
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const target = targetInfos.find((t) => t.type === 'worker' && t.url.includes('engine.worker'));
  if (!target) return;
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
  let id = 0;
  const waiting = new Map<number, (r: Record<string, number> | undefined) => void>();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message) as { id?: number; result?: Record<string, number> };
    if (m.id !== undefined) { waiting.get(m.id)?.(m.result); waiting.delete(m.id); }
  });
  workerCall = (method) => new Promise((resolve) => {
    const i = ++id;
    waiting.set(i, resolve);
    void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: i, method, params: {} }) }).catch(() => resolve(undefined));
    setTimeout(() => { if (waiting.delete(i)) resolve(undefined); }, 30_000);
  });
}
async function workerHeapUsed(): Promise<number | null> {
  if (!workerCall) return null;
  await workerCall('HeapProfiler.collectGarbage');
  return (await workerCall('Runtime.getHeapUsage'))?.usedSize ?? null;
}

const HEADER = 'min   step      steps/s  page heap MiB  worker heap MiB  tensors  tfjs MiB  DOM nodes  rows chrt  log lines  slider moves  state';
function line(s: Sample): string {
  return [
    String(s.minute).padEnd(5), String(s.step).padEnd(9), s.stepsPerS.toFixed(2).padEnd(8), fmtMiB(s.pageHeap).padEnd(14), fmtMiB(s.workerHeap).padEnd(16),
    String(s.numTensors).padEnd(8), fmtMiB(s.numBytes).padEnd(9), String(s.domNodes).padEnd(10), String(s.chartPoints).padEnd(10),
    String(s.logLines).padEnd(10), String(s.sliderMoves).padEnd(13), s.state,
  ].join(' ');
}

async function main() {
  const server = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort'], { stdio: 'ignore', detached: true });
  const stopServer = () => { try { if (server.pid) process.kill(-server.pid); } catch { /* gone */ } };
  process.on('SIGINT', () => { stopServer(); process.exit(130); });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-precise-memory-info', '--js-flags=--expose-gc', '--disable-background-networking'],
  });
  const samples: Sample[] = [];
  let backendUsed = '?';
  try {
    for (let i = 0; i < 150; i++) {
      try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) break; } catch { /* starting */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/${backend ? `?backend=${backend}` : ''}`);
    await page.getByTestId('dataset-shape').waitFor();
    await page.waitForFunction(() => !/starting/.test(document.querySelector('[data-testid=backend]')?.textContent ?? 'starting'), null, { timeout: 120_000 });
    backendUsed = (await page.getByTestId('backend').innerText()).replace(/\s+/g, ' ');
    await attachWorker(browser).catch((e) => console.log(`(the worker's heap cannot be read: ${e instanceof Error ? e.message : String(e)})`));
    await page.getByLabel('Variant').selectOption(variant);
    await page.getByLabel('d_sae', { exact: true }).fill(String(dSae));
    await page.getByLabel('Batch size', { exact: true }).fill(String(batch));
    await page.getByLabel('Steps', { exact: true }).fill('10000000');
    const estimate = await page.getByTestId('memory-estimate').innerText().catch(() => '(no estimate line)');
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await page.waitForFunction(() => /running · step [1-9]/.test(document.querySelector('[data-testid=progress]')?.textContent ?? ''), null, { timeout: 120_000 });
    console.log(`soak: ${minutes} min, ${variant} d_sae ${dSae} batch ${batch}, ${sliders ? `sliders every ${every} s` : 'sliders still'}; backend ${backendUsed}; Model panel: ${estimate}`);
    console.log(HEADER);

    const start = Date.now();
    let nextSample = start + 60_000;
    let moves = 0, resumes = 0;
    let prev: { step: number; t: number } | null = null;
    const first = await sample(page, 0, null, 0);
    samples.push(first);
    console.log(line(first));
    prev = { step: first.step, t: Date.now() };
    while (Date.now() - start < minutes * 60_000) {
      await page.waitForTimeout(every * 1000);
      // Move one or two sliders to random values in safe ranges.
      for (const s of SLIDERS.filter((s) => sliders && (!s.only || s.only === variant)).sort(() => Math.random() - 0.5).slice(0, 2)) {
        const slider = page.getByRole('slider', { name: s.name });
        if (!(await slider.count())) continue;
        const v = 10 ** (Math.log10(s.lo) + Math.random() * (Math.log10(s.hi) - Math.log10(s.lo)));
        await slider.fill(String(position(v, s.min, s.max)));
        moves++;
      }
      // A diverged run pauses (rolled back): resume it, and count it.
      const resume = page.getByRole('button', { name: 'Resume', exact: true });
      if (await resume.isVisible().catch(() => false) && await resume.isEnabled().catch(() => false)) { await resume.click(); resumes++; }
      if (Date.now() >= nextSample) {
        const s = await sample(page, Math.round((Date.now() - start) / 60_000), prev, moves);
        samples.push(s);
        console.log(line(s));
        prev = { step: s.step, t: Date.now() };
        nextSample += 60_000;
      }
    }
    const info = { backendUsed, resumes, errors, estimate };
    const { result, flat, why } = summarise(samples, info);
    writeFileSync(out, JSON.stringify({ backend: backendUsed, estimate, variant, dSae, batch, every, samples, info, summary: result, verdict: flat ? 'flat' : 'not flat', why, resumes, errors }, null, 2));
    console.log(`report: ${out}`);
  } finally {
    await browser.close();
    stopServer();
  }
}

function summarise(samples: Sample[], info: { backendUsed: string; resumes: number; errors: string[]; estimate: string }) {
  const a = samples[1] ?? samples[0];
  const z = samples[samples.length - 1];
  // The second half: from the sample nearest half-way (after warm-up) to the end.
  const late = samples.filter((s) => s.minute >= Math.max(1, Math.round(z.minute / 2)));
  const h = late[0] ?? a;
  const driftFrom = (from: Sample, among: Sample[], get: (s: Sample) => number | null) => {
    const base = get(from);
    if (base === null || base <= 0) return null;
    return Math.max(...among.map((s) => { const v = get(s); return v === null ? 0 : Math.abs(v - base) / base; }));
  };
  const figures: [string, (s: Sample) => number | null, (v: number | null) => string][] = [
    ['page heap MiB', (s) => s.pageHeap, fmtMiB],
    ['worker heap MiB', (s) => s.workerHeap, fmtMiB],
    ['tfjs tensors', (s) => s.numTensors, String],
    ['tfjs MiB', (s) => s.numBytes, fmtMiB],
    ['DOM nodes', (s) => s.domNodes, String],
    ['rows charted', (s) => s.chartPoints, String],
    ['log lines', (s) => s.logLines, String],
  ];
  // Least-squares slope over the second half, per 10 minutes.
  const slope = (get: (s: Sample) => number | null) => {
    const pts = late.map((s) => [s.minute, get(s)] as const).filter((p): p is readonly [number, number] => p[1] !== null);
    if (pts.length < 3) return null;
    const mx = pts.reduce((t, p) => t + p[0], 0) / pts.length, my = pts.reduce((t, p) => t + p[1], 0) / pts.length;
    const sxx = pts.reduce((t, p) => t + (p[0] - mx) ** 2, 0);
    return sxx > 0 ? (10 * pts.reduce((t, p) => t + (p[0] - mx) * (p[1] - my), 0)) / sxx : null;
  };
  console.log(`\nsummary (minute ${a.minute} → ${h.minute} → ${z.minute}; drift = largest distance from the first value, relative to it; trend = slope over minutes ${h.minute}–${z.minute} per 10 min):`);
  const result: Record<string, { first: number | null; halfway: number | null; last: number | null; maxDrift: number | null; lateDrift: number | null; lateTrendPer10Min: number | null }> = {};
  for (const [name, get, fmt] of figures) {
    const d = driftFrom(a, samples.slice(1), get);
    const ld = driftFrom(h, late, get);
    const t = slope(get);
    result[name] = { first: get(a), halfway: get(h), last: get(z), maxDrift: d, lateDrift: ld, lateTrendPer10Min: t };
    const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)} %`).padStart(7);
    const trend = t === null ? '—' : name.includes('MiB') ? `${t >= 0 ? '+' : ''}${(t / 2 ** 20).toFixed(2)} MiB` : `${t >= 0 ? '+' : ''}${t.toFixed(1)}`;
    console.log(`  ${name.padEnd(16)} ${fmt(get(a)).padStart(7)} → ${fmt(get(h)).padStart(7)} → ${fmt(get(z)).padStart(7)}   drift from minute ${a.minute} ${pct(d)}   second half: drift ${pct(ld)}, trend ${trend}`);
  }
  const tensorsFlat = samples.slice(1).every((s) => s.numTensors === a.numTensors);
  const steady = (name: string) => {
    const r = result[name];
    if (r.lateDrift === null) return true;
    return r.lateDrift < 0.1 && Math.abs(r.lateTrendPer10Min ?? 0) < 0.05 * (r.halfway ?? 1);
  };
  const names = ['page heap MiB', 'worker heap MiB', 'tfjs MiB'];
  const flat = tensorsFlat && names.every(steady);
  const why = [
    tensorsFlat ? null : 'tensor count changed after minute 1',
    ...names.map((n) => (steady(n) ? null : `${n}: second-half drift ${(100 * (result[n].lateDrift ?? 0)).toFixed(1)} %, trend ${(((result[n].lateTrendPer10Min ?? 0) / (result[n].halfway || 1)) * 100).toFixed(1)} % per 10 min`)),
  ].filter(Boolean);
  console.log(`  steps: ${z.step.toLocaleString('en-US')} in ${z.minute} min; slider moves ${z.sliderMoves}; resumed after divergence ${info.resumes}×; page errors ${info.errors.length}`);
  console.log(`verdict: ${flat ? 'flat' : `NOT flat (${why.join('; ')})`}`);
  return { result, flat, why };
}

const saved = arg('report', '');
if (saved) {
  const r = JSON.parse(readFileSync(saved, 'utf8')) as { samples: Sample[]; backend: string; estimate: string; resumes: number; errors: string[] };
  console.log(HEADER);
  for (const smp of r.samples) console.log(line(smp));
  summarise(r.samples, { backendUsed: r.backend, resumes: r.resumes ?? 0, errors: r.errors ?? [], estimate: r.estimate });
} else {
  await main();
}
