// The GPT-2-small-shaped part of `npm run bench:lm` (`--model gpt2` or `all`): a random-weight
// Hugging Face folder made at bench time (./gpt2Folder.ts), loaded and run by src/bench/benchHfLm.ts
// in Node (wasm; cpu on request) and in a headless-Chromium worker (wasm, webgl; webgpu on request),
// and the same forward in NumPy (./gpt2_numpy.py). Each tfjs row's document-0 residual and logits
// are compared with NumPy's. Load time (read / parseHfModel / new TransformerModel), peak memory and
// tokens/s to layer `site` and to the logits.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from '@playwright/test';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../../src/engine/backend';
import { planBatches } from '../../src/engine/lm/batching';
import { benchHfForward, randomDocuments, type HfLmBenchResult, type HfLmBenchSpec, type HfPassTiming, type MemorySample } from '../../src/bench/benchHfLm';
import type { HfLmBenchPageReply, HfLmBenchPageRequest } from '../../src/bench/main';
import type { BackendName } from '../../src/engine/types';
import type { Gpt2Folder } from './gpt2Folder';
import { sampleChromiumMemory, type ProcPeaks } from './procMemory';

const NUMPY_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'gpt2_numpy.py');

export interface Gpt2Options {
  /** Residual site of the extraction pass (8: blocks.8.hook_resid_pre). */
  site: number;
  documents: number;
  docTokens: number;
  seed: number;
  /** Node's cpu backend (~35 s per 128 tokens to layer 8 and ~70 s to the logits on the 2-core machine): off unless asked. */
  nodeCpu: boolean;
  /** The Chromium worker's backends, in order (webgl and webgpu are software adapters without a GPU). */
  chromium: BackendName[];
  /** Give up a Chromium backend after this long (default per backend: CHROMIUM_TIMEOUT_MS). */
  timeoutMs?: number;
  /** The NumPy reference row (off with --no-numpy). */
  numpy: boolean;
}

export interface Gpt2Row {
  where: 'node' | 'chromium' | 'native';
  backend: string;
  result?: Omit<HfLmBenchResult, 'probe'>;
  /** NumPy's figures (the native row). */
  numpy?: NumpyResult;
  /** Largest |tfjs − NumPy| over document 0's last-token residual at the site and its logits. */
  vsNumpy?: { residual: number; logits: number };
  /** Chromium processes' resident memory, sampled from /proc while the request ran. */
  procMemory?: ProcPeaks;
  device?: string;
  seconds?: number;
  note?: string;
}

interface NumpyResult {
  numpy: string;
  blas?: string;
  loadMs: number;
  documents: number;
  tokens: number;
  batches: number;
  site: number;
  extract: HfPassTiming;
  full: HfPassTiming;
  maxRssBytes: number;
}

export type Gpt2Probe = NonNullable<HfLmBenchResult['probe']>;
type Probe = Gpt2Probe;

/**
 * Per backend: 8 documents of 128 tokens (two 512-token batches, as batchTokenBudget plans them for
 * GPT-2) on wasm; one document, no warm-up, one pass on the slow ones. Chosen so that the whole
 * `--model gpt2` run stays under ~10 minutes on a 2-core machine without a GPU.
 */
export function gpt2SpecFor(backend: string, o: Gpt2Options): HfLmBenchSpec {
  const base = { site: o.site, documents: o.documents, docTokens: o.docTokens, seed: o.seed, kinds: ['extract', 'full'] as HfLmBenchSpec['kinds'] };
  switch (backend) {
    case 'cpu': return { ...base, maxPasses: 1, budgetMs: 0, maxDocuments: 1, noWarmup: true };
    case 'webgl': return { ...base, maxPasses: 1, budgetMs: 0, maxDocuments: 1, noWarmup: true, probe: true };
    case 'webgpu': return { ...base, maxPasses: 1, budgetMs: 0, maxDocuments: 1, noWarmup: true, probe: true };
    default: return { ...base, maxPasses: 3, budgetMs: 20_000, probe: true };
  }
}

/** Give-up time per Chromium backend: a software GPU backend that needs longer is reported as skipped (--gpt2-timeout overrides). */
const CHROMIUM_TIMEOUT_MS: Record<string, number> = { webgl: 150_000, webgpu: 150_000, wasm: 300_000 };

const nodeMemory = (): MemorySample => {
  const m = process.memoryUsage();
  return { rss: m.rss, maxRss: process.resourceUsage().maxRSS * 1024, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
};
const NODE_MEMORY_SOURCE = 'process.memoryUsage() (rss, heapUsed, heapTotal, external, arrayBuffers) at each step and process.resourceUsage().maxRSS (the process\'s peak RSS so far) + tf.memory().numBytes + the wasm heap';

function strip(result: HfLmBenchResult): { result: Omit<HfLmBenchResult, 'probe'>; probe?: Probe } {
  const { probe, ...rest } = result;
  return { result: rest, probe };
}

export async function benchNodeGpt2(rows: Gpt2Row[], folder: Gpt2Folder, o: Gpt2Options, probes: Map<Gpt2Row, Probe>): Promise<void> {
  const backends = o.nodeCpu ? (['wasm', 'cpu'] as const) : (['wasm'] as const);
  for (const backend of backends) {
    const t0 = Date.now();
    try {
      await selectBackend({ order: [backend] });
      const r = await benchHfForward({
        read: async () => new Map([
          ['config.json', new Uint8Array(readFileSync(folder.files.config))],
          ['model.safetensors', new Uint8Array(readFileSync(folder.files.weights))],
        ]),
        memory: nodeMemory,
        memorySource: NODE_MEMORY_SOURCE,
        cpuSeconds: () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; },
        folder: 'gpt2-random',
      }, gpt2SpecFor(backend, o));
      const { result, probe } = strip(r);
      const threads = backend === 'wasm' ? getThreadsCount() : 1;
      const row: Gpt2Row = { where: 'node', backend, result, seconds: (Date.now() - t0) / 1000, note: backend === 'wasm' ? `${threads} thread${threads === 1 ? '' : 's'}` : 'after the wasm row in the same process: maxRSS is that run\'s peak if higher' };
      rows.push(row);
      if (probe) probes.set(row, probe);
    } catch (e) {
      rows.push({ where: 'node', backend, note: e instanceof Error ? e.message : String(e), seconds: (Date.now() - t0) / 1000 });
    }
    logGpt2(rows[rows.length - 1]);
  }
  if (!o.nodeCpu) {
    rows.push({ where: 'node', backend: 'cpu', note: 'skipped: ~35 s per 128 tokens to layer 8 and ~70 s to the logits on the 2-core machine (measured 3.7–3.8 / 1.7–1.9 tokens/s); --gpt2-cpu runs one 128-token document' });
    logGpt2(rows[rows.length - 1]);
  }
}

/** Each backend in a fresh browser context (a renderer process of its own, so its memory peak is its own). */
export async function benchChromiumGpt2(browser: Browser, base: string, folder: Gpt2Folder, rows: Gpt2Row[], o: Gpt2Options, probes: Map<Gpt2Row, Probe>): Promise<void> {
  for (const backend of o.chromium) {
    const t0 = Date.now();
    const context = await browser.newContext();
    const sampler = sampleChromiumMemory();
    let row: Gpt2Row;
    try {
      const page = await context.newPage();
      page.on('console', (m) => { if ((m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/favicon.ico')) console.error(`  [page ${m.type()}] ${m.text()}${m.location().url ? ` (${m.location().url})` : ''}`); });
      await page.goto(`${base}/bench.html`);
      await page.waitForFunction(() => typeof window.saeHfLmBench === 'function');
      // The folder's files as File objects of an <input type="file"> (Playwright hands the local
      // paths to Chromium; nothing is copied through the protocol), read in the worker as a dropped
      // folder is read in the app.
      await page.evaluate(() => {
        const input = Object.assign(document.createElement('input'), { type: 'file', multiple: true, id: 'gpt2-folder', hidden: true });
        document.body.append(input);
      });
      await page.setInputFiles('#gpt2-folder', [folder.files.config, folder.files.weights]);
      const timeoutMs = o.timeoutMs ?? CHROMIUM_TIMEOUT_MS[backend] ?? 300_000;
      const req: HfLmBenchPageRequest = { backend, input: '#gpt2-folder', folder: 'gpt2-random', spec: gpt2SpecFor(backend, o), timeoutMs };
      let res: HfLmBenchPageReply;
      try {
        res = await page.evaluate((r) => window.saeHfLmBench(r), req);
      } catch (e) {
        res = { error: e instanceof Error ? e.message : String(e) };
      }
      const procMemory = sampler.stop() ?? undefined;
      const seconds = (Date.now() - t0) / 1000;
      if (res.result) {
        const { result, probe } = strip(res.result);
        row = { where: 'chromium', backend, result, device: res.device, procMemory, seconds };
        if (probe) probes.set(row, probe);
      } else {
        const timedOut = /no answer within/.test(res.error ?? '');
        row = { where: 'chromium', backend, device: res.device, procMemory, seconds, note: timedOut ? `skipped: ${res.error} (this backend's limit, --gpt2-timeout; its smallest run, one 128-token document, did not finish)` : res.error };
      }
    } finally {
      sampler.stop();
      await context.close();
    }
    rows.push(row);
    logGpt2(row);
  }
  if (!o.chromium.includes('webgpu')) {
    rows.push({ where: 'chromium', backend: 'webgpu', note: 'skipped: over 2 minutes on the software adapter (SwiftShader\'s fallback adapter, 2026-12-06: one 128-token document took 63 s to layer 8 and 184 s to the logits, 0.7–2 tokens/s); --gpt2-chromium wasm,webgl,webgpu --gpt2-timeout 600 runs it' });
    logGpt2(rows[rows.length - 1]);
  }
  if (!o.chromium.includes('cpu')) {
    rows.push({ where: 'chromium', backend: 'cpu', note: 'not run: Node\'s cpu backend needs ~35 s per 128 tokens to layer 8 (--gpt2-chromium …,cpu runs it)' });
    logGpt2(rows[rows.length - 1]);
  }
}

function numpyMissing(): Promise<string | null> {
  return new Promise((resolve) => {
    const p = spawn('python3', ['-c', 'import numpy'], { stdio: 'ignore', env: numpyEnv() });
    p.on('error', (e) => resolve(`python3 is not available (${e.message})`));
    p.on('exit', (code) => resolve(code === 0 ? null : 'python3 has no numpy'));
  });
}

/** OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some machines for another BLAS) are left out: OpenBLAS picks its own kernels. */
function numpyEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** The NumPy reference over the same documents in the same batches (those the wasm rows ran). */
export async function numpyGpt2(rows: Gpt2Row[], folder: Gpt2Folder, o: Gpt2Options, batchTokenBudget: number, vocab: number): Promise<Probe | null> {
  const missing = await numpyMissing();
  if (missing) {
    rows.push({ where: 'native', backend: 'numpy', note: `skipped: ${missing}` });
    logGpt2(rows[rows.length - 1]);
    return null;
  }
  const docs = randomDocuments(o.seed, o.documents, o.docTokens, vocab);
  const batches = planBatches(docs.map((d) => d.length), batchTokenBudget);
  const docsFile = path.join(folder.dir, `documents-${o.seed}-${o.documents}x${o.docTokens}.json`);
  await writeFile(docsFile, JSON.stringify({ documents: docs.map((d) => Array.from(d)), batches }));
  const t0 = Date.now();
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn('python3', [NUMPY_SCRIPT, '--folder', folder.dir, '--documents', docsFile, '--site', String(o.site), '--passes', '2', '--budget', '10'], { stdio: ['ignore', 'pipe', 'pipe'], env: numpyEnv() });
      let stdout = '', stderr = '';
      p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      p.on('error', reject);
      p.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`gpt2_numpy.py exited ${code}: ${stderr.trim().split('\n').pop()}`))));
    });
    const { probe, ...numpy } = JSON.parse(out) as NumpyResult & { probe: Probe };
    rows.push({ where: 'native', backend: 'numpy', numpy, seconds: (Date.now() - t0) / 1000, note: `NumPy ${numpy.numpy}${numpy.blas ? `, ${numpy.blas}` : ''}, float32, BLAS threads: NumPy's default (${os.availableParallelism()} cores)` });
    logGpt2(rows[rows.length - 1]);
    return probe;
  } catch (e) {
    rows.push({ where: 'native', backend: 'numpy', note: e instanceof Error ? e.message : String(e), seconds: (Date.now() - t0) / 1000 });
    logGpt2(rows[rows.length - 1]);
    return null;
  }
}

/** Each tfjs row's largest difference from NumPy on document 0's last token. */
export function compareWithNumpy(probes: Map<Gpt2Row, Probe>, reference: Probe | null): void {
  if (!reference) return;
  const maxAbs = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  for (const [row, p] of probes) row.vsNumpy = { residual: maxAbs(p.residual, reference.residual), logits: maxAbs(p.logits, reference.logits) };
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const gb = (n: number | undefined) => (n === undefined ? '—' : n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${Math.round(n / 1e6)} MB`);
const sec = (ms: number) => (ms / 1000).toFixed(1);
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

function timingOf(r: Gpt2Row): { extract?: HfPassTiming; full?: HfPassTiming } {
  return r.result ?? r.numpy ?? {};
}

/**
 * CPU cores the work kept busy on average (of os.availableParallelism()): from the process's own
 * CPU time over the timed passes (Node, NumPy), or for Chromium from the renderer's and GPU
 * process's CPU time over the whole request (/proc; SwiftShader runs in the GPU process).
 * Well under the core count on an idle machine means other processes took the rest.
 */
function coresBusy(p?: HfPassTiming): number | undefined {
  if (p?.cpuS !== undefined) return p.cpuS / ((p.msPerPass * p.passes) / 1000);
  return undefined;
}

function chromiumCores(r: Gpt2Row): number | undefined {
  const m = r.procMemory;
  if (!m || m.seconds <= 0) return undefined;
  return ((m.cpuSByType.renderer ?? 0) + (m.cpuSByType['gpu-process'] ?? 0)) / m.seconds;
}

function coresCell(r: Gpt2Row, t: { extract?: HfPassTiming; full?: HfPassTiming }): string {
  const c = chromiumCores(r);
  if (c !== undefined) return `${c.toFixed(1)} (whole request)`;
  const e = coresBusy(t.extract), f = coresBusy(t.full);
  return e === undefined && f === undefined ? '—' : `${e?.toFixed(1) ?? '—'} / ${f?.toFixed(1) ?? '—'}`;
}

export function logGpt2(r: Gpt2Row): void {
  const head = `gpt2 ${r.where}/${r.backend}:`;
  const t = timingOf(r);
  if (!t.extract && !t.full) { console.error(`${head} ${r.note}${r.device ? ` — ${r.device}` : ''}`); return; }
  const x = r.result;
  const load = x ? `load ${sec(x.load.totalMs)} s (read ${sec(x.load.readMs)}, parse ${sec(x.load.parseMs)}, build ${sec(x.load.buildMs)}), ` : r.numpy ? `load ${sec(r.numpy.loadMs)} s, ` : '';
  const pass = (name: string, p?: HfPassTiming) => (p ? `${name} ${fmt(p.tokensPerS, 1)} tokens/s (${fmt(p.msPerPass)} ms/pass × ${p.passes}, warm-up ${fmt(p.warmupMs)} ms)` : `${name} —`);
  const mem = x ? `, peak ${Object.entries(x.memory.forward).map(([k, v]) => `${k} ${gb(Math.max(v, x.memory.load[k] ?? 0))}`).join(', ')}` : '';
  const proc = r.procMemory ? `, renderer RSS ≤ ${gb(r.procMemory.byType.renderer)}, GPU process ≤ ${gb(r.procMemory.byType['gpu-process'])}` : '';
  console.error(`${head} ${load}${pass(`to layer ${x?.site ?? r.numpy?.site}`, t.extract)}, ${pass('to the logits', t.full)}${mem}${proc}, CPU cores busy ${coresCell(r, t)} [${r.seconds?.toFixed(0)} s]${r.device ? ` — ${r.device}` : ''}`);
}

function memoryCell(r: Gpt2Row, phase: 'load' | 'forward'): string {
  const x = r.result;
  if (!x) return r.numpy && phase === 'forward' ? `maxRSS ${gb(r.numpy.maxRssBytes)} (whole run)` : '—';
  const m = x.memory[phase];
  const parts: string[] = [];
  if (m.maxRss !== undefined) parts.push(`peak RSS ${gb(m.maxRss)}`);
  if (m.heapUsed !== undefined) parts.push(`heap ${gb(m.heapUsed)}`);
  if (m.arrayBuffers !== undefined) parts.push(`arrayBuffers ${gb(m.arrayBuffers)}`);
  if (m.jsHeapUsed !== undefined) parts.push(`JS heap ${gb(m.jsHeapUsed)}`);
  parts.push(`tf ${gb(m.tfBytes)}`);
  if (m.wasmHeap !== undefined) parts.push(`wasm heap ${gb(m.wasmHeap)}`);
  return parts.join(', ');
}

export function gpt2Tables(rows: Gpt2Row[], folder: Gpt2Folder, o: Gpt2Options): string {
  const first = rows.find((r) => r.result)?.result;
  const m = first?.model;
  const title = `GPT-2-small-shaped random model (${m ? `${m.modelType}, d_model ${m.dim}, ${m.nLayers} layers, ${m.nHeads} heads, vocab ${fmt(m.vocabSize)}, context ${m.seqLen}, ${fmt(m.parameters)} parameters, ${m.dtypes.join('/')}, ${gb(m.fileBytes)} of files` : '124M parameters'}; seed ${folder.seed}${folder.reused ? ', cached folder reused' : `, written in ${folder.generatedSeconds.toFixed(1)} s`}): ${o.documents} random-token documents of ${o.docTokens} tokens (seed ${o.seed}), batched as planBatches does; extraction = forward to blocks.${o.site}.hook_resid_pre (until ${o.site}, capture [${o.site}]) with the residuals read back; full = to the logits`;
  const lines = [
    title,
    '',
    `| where | backend | tokens/s to layer ${o.site} | tokens/s to the logits | tokens/s, fastest pass (layer ${o.site} / logits) | ms per pass (layer ${o.site} / logits) | timed passes | warm-up batch ms | CPU cores busy (of ${os.availableParallelism()}) | numTensors | notes |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
  ];
  for (const r of rows) {
    const t = timingOf(r);
    if (!t.extract && !t.full) { lines.push(`| ${r.where} | ${r.backend} | — | — | — | — | — | — | — | — | ${cell(`${r.note ?? ''}${r.device ? ` (${r.device})` : ''}`)} |`); continue; }
    const x = r.result;
    const tokens = x ? x.tokens : r.numpy!.tokens;
    const notes = [
      x ? `${x.documents} document${x.documents === 1 ? '' : 's'} (${fmt(tokens)} tokens), ${x.batches} batch${x.batches === 1 ? '' : 'es'} ≤ ${fmt(x.batchTokenBudget)} tokens, ${x.attention.replace('_', '-')} attention` : `${r.numpy!.documents} documents (${fmt(tokens)} tokens), ${r.numpy!.batches} batches`,
      r.vsNumpy ? `max |Δ| vs NumPy ${r.vsNumpy.residual.toExponential(1)} (layer ${o.site}), ${r.vsNumpy.logits.toExponential(1)} (logits)` : undefined,
      x && t.extract && t.extract.warmupMs === 0 ? 'no warm-up: the pass includes kernel set-up' : undefined,
      r.device,
      r.note,
    ].filter(Boolean).join('; ');
    const leak = x && x.numTensorsAtEnd !== x.numTensorsAtStart ? ` (left ${x.numTensorsAtEnd - x.numTensorsAtStart} after dispose)` : '';
    const warm = [t.extract?.warmupMs, t.full?.warmupMs].map((v) => (v ? fmt(v) : '—')).join(' / ');
    const fastest = (p?: HfPassTiming) => (p ? fmt(tokens / (p.fastestMsPerPass / 1000), 1) : '—');
    lines.push(`| ${r.where} | ${r.backend} | ${fmt(t.extract?.tokensPerS, 1)} | ${fmt(t.full?.tokensPerS, 1)} | ${fastest(t.extract)} / ${fastest(t.full)} | ${fmt(t.extract?.msPerPass)} / ${fmt(t.full?.msPerPass)} | ${t.extract?.passes ?? '—'} / ${t.full?.passes ?? '—'} | ${warm} | ${coresCell(r, t)} | ${x ? `${x.numTensorsBefore} → ${x.numTensorsAfter}${leak}` : '—'} | ${cell(notes)} |`);
  }
  lines.push(
    '',
    'Load (reading the files, parseHfModel, new TransformerModel with its tensors made) and peak memory (GB = 10⁹ bytes; Node: sampled at every step and maxRSS; Chromium: the worker\'s own figures at every step, and the renderer and GPU processes\' RSS sampled from /proc every 200 ms over the whole request)',
    '',
    '| where | backend | load s (read / parse / build) | peak memory while loading | peak memory while running | Chromium processes (RSS peak) |',
    '| --- | --- | ---: | --- | --- | --- |',
  );
  for (const r of rows) {
    const x = r.result;
    if (!x && !r.numpy) continue;
    const load = x ? `${sec(x.load.totalMs)} (${sec(x.load.readMs)} / ${sec(x.load.parseMs)} / ${sec(x.load.buildMs)})` : `${sec(r.numpy!.loadMs)} (np.fromfile + views)`;
    const proc = r.procMemory ? `renderer ${gb(r.procMemory.byType.renderer)}, GPU process ${gb(r.procMemory.byType['gpu-process'])}, all ${gb(r.procMemory.total)}` : '—';
    lines.push(`| ${r.where} | ${r.backend} | ${load} | ${cell(memoryCell(r, 'load'))} | ${cell(memoryCell(r, 'forward'))} | ${proc} |`);
  }
  const sources = [...new Set(rows.map((r) => r.result ? `${r.where}: ${r.result.memory.source}` : null).filter(Boolean))];
  if (sources.length) lines.push('', `Memory figures: ${sources.join('; ')}.`);
  return lines.join('\n');
}
