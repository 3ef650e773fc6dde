// Benchmark (`npm run bench:lm`), two models (--model stories|gpt2|all, default all):
//   stories — tokens/s of the llama2.c language model's forward pass over the validation stories of
//     ../shared/data/stories260k, batched as the app batches it, on every backend that works in
//     Node (wasm, cpu) and in headless Chromium inside a Web Worker (webgpu, webgl, wasm, cpu;
//     src/bench/lm.worker.ts). Two passes per backend: to the logits, and the activation
//     extraction to one residual site. Both sides run src/bench/benchLm.ts.
//   gpt2 — a GPT-2-small-shaped Hugging Face folder with random weights, written at bench time into
//     node_modules/.cache/bench-lm-gpt2 (reused while its description matches): load time (read,
//     parseHfModel, new TransformerModel), peak memory, and tokens/s to layer 8 and to the logits
//     over seeded random-token documents, in Node (wasm; cpu with --gpt2-cpu), in a Chromium worker
//     (wasm and webgl; webgpu, over 2 minutes on the software adapter, with --gpt2-chromium) and in NumPy
//     (scripts/bench-lm/). Both tfjs sides run src/bench/benchHfLm.ts.
// Prints Markdown tables and writes bench-results/bench-lm.json (a run of one model keeps the other
// model's part of the file). Not a test: it asserts nothing.
//
//   npm run bench:lm [-- --model stories|gpt2|all] [--node-only | --browser-only] [--data <dir>]
//                    [--site <n>] [--gpt2-site <n>] [--gpt2-docs <n>] [--gpt2-cpu]
//                    [--gpt2-chromium wasm,webgl,webgpu] [--gpt2-timeout <s>] [--no-numpy]
//
// The browser side serves a production build of the app (bench.html) with `vite preview`, as
// `npm run bench` does, but built into node_modules/.cache/bench-lm-dist (rebuilt when src/ is
// newer) so that a concurrent `vite preview` of dist/ (the e2e tests) is never disturbed.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs'; // registers cpu
import '@tensorflow/tfjs-backend-wasm';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { useNodeWasmThreads } from '../src/cli/nodeBackend';
import { selectBackend } from '../src/engine/backend';
import { benchLmForward, type LmBenchResult, type LmBenchSpec } from '../src/bench/benchLm';
import type { LmBenchPageReply } from '../src/bench/main';
import type { BackendName } from '../src/engine/types';
import type { Browser } from '@playwright/test';
import { waitForUrl } from './devPage';
import { ensureGpt2Folder } from './bench-lm/gpt2Folder';
import { benchChromiumGpt2, benchNodeGpt2, compareWithNumpy, gpt2SpecFor, gpt2Tables, logGpt2, numpyGpt2, type Gpt2Options, type Gpt2Probe, type Gpt2Row } from './bench-lm/gpt2Bench';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_DATA = path.resolve(ROOT, '../shared/data/stories260k');
const FILES = { model: 'model.bin', tokenizer: 'tok512.bin', text: 'stories_valid.txt' } as const;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const PORT = 4181;
const OUT_DIR = path.join(ROOT, 'node_modules/.cache/bench-lm-dist');
const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/**
 * Timed passes per backend (after one warm-up pass of each kind), chosen so each backend takes
 * under about a minute on a 2-core machine without a GPU. The software backends time a subset of
 * the stories (every k-th one, `maxTokens`): measured there, one pass over all 9,486 tokens takes
 * ~30 s on cpu, ~25 s on webgl (SwiftShader) and ~150 s on webgpu (SwiftShader's fallback
 * adapter), plus as much again for the warm-up.
 */
function specFor(backend: string, site: number): LmBenchSpec {
  switch (backend) {
    case 'cpu': return { site, maxPasses: 2, budgetMs: 6_000, maxTokens: 1_000 };
    case 'webgl': return { site, maxPasses: 2, budgetMs: 6_000, maxTokens: 2_500 };
    case 'webgpu': return { site, maxPasses: 2, budgetMs: 6_000, maxTokens: 600 };
    default: return { site, maxPasses: 5, budgetMs: 10_000 };
  }
}

interface Row {
  where: 'node' | 'chromium';
  backend: string;
  result?: LmBenchResult;
  /** What runs it in the browser: WebGPU adapter, WebGL renderer. */
  device?: string;
  seconds?: number;
  note?: string;
}

async function benchNode(rows: Row[], input: Input, site: number) {
  useNodeWasmThreads(); // every core, as the CLI runs it
  for (const backend of ['wasm', 'cpu'] as const) {
    const t0 = Date.now();
    try {
      await selectBackend({ order: [backend] });
      const result = await benchLmForward(input, specFor(backend, site));
      const threads = backend === 'wasm' ? getThreadsCount() : 1;
      rows.push({ where: 'node', backend, result, seconds: (Date.now() - t0) / 1000, ...(backend === 'wasm' ? { note: `${threads} thread${threads === 1 ? '' : 's'}` } : {}) });
    } catch (e) {
      rows.push({ where: 'node', backend, note: e instanceof Error ? e.message : String(e) });
    }
    log(rows[rows.length - 1]);
  }
}

/** Newest modification time of the files under `dir` (what the build depends on). */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function buildIsCurrent(): boolean {
  const page = path.join(OUT_DIR, 'bench.html');
  if (!existsSync(page)) return false;
  const built = statSync(page).mtimeMs;
  const inputs = [newest(path.join(ROOT, 'src')), ...['bench.html', 'index.html', 'vite.config.ts', 'package.json'].map((f) => statSync(path.join(ROOT, f)).mtimeMs)];
  return Math.max(...inputs) < built;
}

/** The bench page built and served by `vite preview`, and a headless Chromium, for `use`. */
async function withBenchBrowser(use: (browser: Browser, base: string) => Promise<void>): Promise<void> {
  if (!buildIsCurrent()) {
    console.error(`building the bench page into ${path.relative(ROOT, OUT_DIR)} ...`);
    await run('npx', ['vite', 'build', '--outDir', OUT_DIR, '--emptyOutDir', '--logLevel', 'warn']);
  }
  const server: ChildProcess = spawn('npx', ['vite', 'preview', '--port', String(PORT), '--strictPort', '--outDir', OUT_DIR], { cwd: ROOT, stdio: 'ignore', detached: true });
  try {
    const base = `http://127.0.0.1:${PORT}`;
    await waitForUrl(`${base}/bench.html`, 30_000);
    const { chromium } = await import('@playwright/test');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      await use(browser, base);
    } finally {
      await browser.close();
    }
  } finally {
    if (server.pid) process.kill(-server.pid);
  }
}

async function benchChromium(rows: Row[], data: string, site: number) {
  if (!existsSync(CHROMIUM)) { rows.push({ where: 'chromium', backend: '-', note: `no Chromium at ${CHROMIUM}` }); return; }
  await withBenchBrowser(async (browser, base) => {
    {
      const page = await browser.newPage();
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`  [page ${m.type()}] ${m.text()}`); });
      // The data files are served to the page from Node (they live outside the project).
      await page.route(`${base}/__lm-data/*`, (route) => {
        const name = decodeURIComponent(new URL(route.request().url()).pathname.split('/').pop()!);
        if (!(Object.values(FILES) as string[]).includes(name)) return route.fulfill({ status: 404 });
        return route.fulfill({ status: 200, body: readFileSync(path.join(data, name)), contentType: 'application/octet-stream' });
      });
      await page.goto(`${base}/bench.html`);
      await page.waitForFunction(() => typeof window.saeLmBench === 'function');
      for (const backend of ['webgpu', 'webgl', 'wasm', 'cpu'] as BackendName[]) {
        const t0 = Date.now();
        const req = {
          backend,
          modelUrl: `/__lm-data/${FILES.model}`,
          tokenizerUrl: `/__lm-data/${FILES.tokenizer}`,
          textUrl: `/__lm-data/${FILES.text}`,
          spec: specFor(backend, site),
          timeoutMs: 180_000,
        };
        let res: LmBenchPageReply;
        try {
          res = await page.evaluate((r) => window.saeLmBench(r), req);
        } catch (e) {
          res = { error: e instanceof Error ? e.message : String(e) };
        }
        rows.push({ where: 'chromium', backend, result: res.result, device: res.device, note: res.error, seconds: (Date.now() - t0) / 1000 });
        log(rows[rows.length - 1]);
      }
    }
  });
}


function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function log(r: Row) {
  const head = `${r.where}/${r.backend}:`;
  const x = r.result;
  console.error(x
    ? `${head} full ${fmt(x.full.tokensPerS)} tokens/s (${fmt(x.full.msPerPass)} ms/pass × ${x.full.passes}, warm-up ${fmt(x.full.warmupMs)} ms), extract to site ${x.site} ${fmt(x.extract.tokensPerS)} tokens/s (${fmt(x.extract.msPerPass)} ms/pass × ${x.extract.passes}), ${x.tokens} tokens in ${x.batches} batch(es), numTensors ${x.numTensorsBefore} → ${x.numTensorsAfter} [${r.seconds?.toFixed(0)} s]${r.device ? ` — ${r.device}` : ''}`
    : `${head} ${r.note}${r.device ? ` — ${r.device}` : ''}`);
}

function table(rows: Row[], site: number, input: Input): string {
  const lines = [
    `llama2.c ${input.describe}: forward pass over ${input.name}, batched as planBatches does (tokens/s counts BOS, not padding; numTensors with the model loaded, before the warm-up → after the timed passes)`,
    '',
    `| where | backend | tokens/s full pass | tokens/s extraction to site ${site} | ms per pass (full / extraction) | timed passes | numTensors | notes |`,
    '| --- | --- | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of rows) {
    const x = r.result;
    if (!x) { lines.push(`| ${r.where} | ${r.backend} | — | — | — | — | — | ${(r.note ?? '').replace(/\|/g, '\\|').replace(/\s+/g, ' ')}${r.device ? ` (${r.device})` : ''} |`); continue; }
    const notes = [
      x.documents < x.documentsInText ? `${x.documents} of ${x.documentsInText} stories (${fmt(x.tokens)} tokens)` : `${fmt(x.tokens)} tokens`,
      `${x.batches} batch${x.batches === 1 ? '' : 'es'} ≤ ${fmt(x.batchTokenBudget)} tokens, ${x.attention.replace('_', '-')} attention`,
      r.device,
      r.note,
    ].filter(Boolean).join('; ');
    const leak = x.numTensorsAtEnd !== x.numTensorsAtStart ? ` (left ${x.numTensorsAtEnd - x.numTensorsAtStart} after dispose)` : '';
    lines.push(`| ${r.where} | ${r.backend} | ${fmt(x.full.tokensPerS)} | ${fmt(x.extract.tokensPerS)} | ${fmt(x.full.msPerPass)} / ${fmt(x.extract.msPerPass)} | ${x.full.passes} / ${x.extract.passes} | ${x.numTensorsBefore} → ${x.numTensorsAfter}${leak} | ${notes} |`);
  }
  return lines.join('\n');
}

interface Input { modelBytes: Uint8Array; tokenizerBytes: Uint8Array; text: string; name: string; describe: string }

function argValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

const MODELS = ['stories', 'gpt2', 'all'] as const;
const GPT2_DIR = path.join(ROOT, 'node_modules/.cache/bench-lm-gpt2');
const RESULTS = path.join(ROOT, 'bench-results', 'bench-lm.json');

export async function main(args: string[]): Promise<number> {
  const model = argValue(args, '--model') ?? 'all';
  if (!(MODELS as readonly string[]).includes(model)) {
    console.error(`--model ${model}: expected one of ${MODELS.join(', ')}`);
    return 2;
  }
  // A run of one model keeps the other's results in the file.
  let out: Record<string, unknown> = {};
  if (existsSync(RESULTS)) {
    try {
      const previous = JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>;
      if (model === 'stories' && previous.gpt2) out = { gpt2: previous.gpt2 };
      if (model === 'gpt2') out = Object.fromEntries(Object.entries(previous).filter(([k]) => k !== 'gpt2'));
    } catch { /* a damaged file is replaced */ }
  }
  if (model !== 'gpt2') {
    const stories = await benchStories(args);
    if (!stories && model === 'stories') return 0;
    if (stories) out = { ...out, ...stories };
  }
  if (model !== 'stories') out.gpt2 = await benchGpt2(args);
  await mkdir(path.dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, JSON.stringify(out, null, 2));
  console.error(`wrote ${path.relative(process.cwd(), RESULTS)}`);
  return 0;
}

/** The stories260K part: its rows and table (null when the data is missing). */
async function benchStories(args: string[]): Promise<Record<string, unknown> | null> {
  const data = path.resolve(argValue(args, '--data') ?? process.env.SAE_LM_DATA ?? DEFAULT_DATA);
  const site = Number(argValue(args, '--site') ?? 3);
  const missing = Object.values(FILES).filter((f) => !existsSync(path.join(data, f)));
  if (missing.length) {
    console.log(`bench:lm skipped: ${data} lacks ${missing.join(', ')} (the stories260k model, its tokenizer and the validation stories live beside the project in ../shared/data/stories260k; point --data or SAE_LM_DATA at a copy).`);
    return null;
  }
  const input: Input = {
    modelBytes: new Uint8Array(readFileSync(path.join(data, FILES.model))),
    tokenizerBytes: new Uint8Array(readFileSync(path.join(data, FILES.tokenizer))),
    text: readFileSync(path.join(data, FILES.text), 'utf8'),
    name: FILES.text,
    describe: path.basename(data),
  };
  const rows: Row[] = [];
  if (!args.includes('--browser-only')) await benchNode(rows, input, site);
  if (!args.includes('--node-only')) {
    try {
      await benchChromium(rows, data, site);
    } catch (e) {
      rows.push({ where: 'chromium', backend: '-', note: e instanceof Error ? e.message : String(e) });
      log(rows[rows.length - 1]);
    }
  }
  const first = rows.find((r) => r.result)?.result;
  if (first) input.describe = `${path.basename(data)} (dim ${first.model.dim}, ${first.model.nLayers} layers, ${first.model.nHeads}/${first.model.nKvHeads} heads, vocab ${first.model.vocabSize}, ${fmt(first.model.parameters)} parameters)`;
  console.log(table(rows, site, input));
  return { data, text: FILES.text, site, date: new Date().toISOString(), specs: Object.fromEntries(['webgpu', 'webgl', 'wasm', 'cpu'].map((b) => [b, specFor(b, site)])), rows };
}

/** The GPT-2-small-shaped part (scripts/bench-lm/gpt2Bench.ts): its rows and tables. */
async function benchGpt2(args: string[]): Promise<Record<string, unknown>> {
  const o: Gpt2Options = {
    site: Number(argValue(args, '--gpt2-site') ?? 8),
    documents: Number(argValue(args, '--gpt2-docs') ?? 8),
    docTokens: 128,
    seed: 1,
    nodeCpu: args.includes('--gpt2-cpu'),
    chromium: (argValue(args, '--gpt2-chromium') ?? 'wasm,webgl').split(',').filter(Boolean) as BackendName[],
    timeoutMs: argValue(args, '--gpt2-timeout') ? Number(argValue(args, '--gpt2-timeout')) * 1000 : undefined,
    numpy: !args.includes('--no-numpy'),
  };
  const started = Date.now();
  const loadBefore = os.loadavg();
  const folder = await ensureGpt2Folder(GPT2_DIR);
  console.error(folder.reused
    ? `gpt2: reusing ${path.relative(ROOT, folder.dir)} (${(folder.bytes / 1e6).toFixed(0)} MB)`
    : `gpt2: wrote ${path.relative(ROOT, folder.dir)} (${(folder.bytes / 1e6).toFixed(0)} MB, ${folder.parameters.toLocaleString('en-US')} parameters) in ${folder.generatedSeconds.toFixed(1)} s`);
  const rows: Gpt2Row[] = [];
  const probes = new Map<Gpt2Row, Gpt2Probe>();
  if (!args.includes('--browser-only')) {
    useNodeWasmThreads();
    await benchNodeGpt2(rows, folder, o, probes);
  }
  let reference: Gpt2Probe | null = null;
  if (o.numpy) {
    const wasm = rows.find((r) => r.result?.backend === 'wasm')?.result;
    reference = await numpyGpt2(rows, folder, o, wasm?.batchTokenBudget ?? 512, wasm?.model.vocabSize ?? 50257);
  }
  if (!args.includes('--node-only')) {
    if (!existsSync(CHROMIUM)) {
      rows.push({ where: 'chromium', backend: '-', note: `no Chromium at ${CHROMIUM}` });
      logGpt2(rows[rows.length - 1]);
    } else {
      try {
        await withBenchBrowser((browser, base) => benchChromiumGpt2(browser, base, folder, rows, o, probes));
      } catch (e) {
        rows.push({ where: 'chromium', backend: '-', note: e instanceof Error ? e.message : String(e) });
        logGpt2(rows[rows.length - 1]);
      }
    }
  }
  compareWithNumpy(probes, reference);
  console.log('');
  console.log(gpt2Tables(rows, folder, o));
  const seconds = (Date.now() - started) / 1000;
  const loadAfter = os.loadavg();
  console.log(`\n(${seconds.toFixed(0)} s; load average ${loadBefore[0].toFixed(1)} before, ${loadAfter[0].toFixed(1)} after, on ${os.availableParallelism()} cores)`);
  return {
    date: new Date().toISOString(),
    folder: { dir: path.relative(ROOT, folder.dir), bytes: folder.bytes, parameters: folder.parameters, seed: folder.seed, reused: folder.reused, generatedSeconds: folder.generatedSeconds },
    options: o,
    specs: Object.fromEntries(['wasm', 'cpu', 'webgl', 'webgpu'].map((b) => [b, gpt2SpecFor(b, o)])),
    machine: { cpus: os.cpus()[0]?.model, cores: os.availableParallelism(), memoryBytes: os.totalmem(), loadAverageBefore: loadBefore, loadAverageAfter: loadAfter },
    seconds,
    rows,
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
