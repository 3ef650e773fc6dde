// `npm run bench`: how fast a full training step (forward, loss, backward, Adam, constraint) runs
// on every backend that works, against a native reference on the same machine in the same run.
//
//   1. Native reference (scripts/bench/native_step.py, NumPy, when python3 with numpy is present):
//      the same step per variant and size, and the machine's sgemm GFLOP/s (the physical ceiling).
//   2. Node (tfjs wasm, cpu) and headless Chromium, inside the app's engine Web Worker (webgpu, webgl,
//      wasm, cpu; bench.html + src/bench/main.ts): tokens/s of relu, topk, batchtopk, jumprelu and
//      gated at two sizes, small (d_in 64, d_sae 2048, batch 1024) and medium (d_in 512, d_sae 4096,
//      batch 512); ratio to native, achieved GFLOP/s (scripts/bench/flops.ts) and its fraction of the
//      ceiling, tf.memory().numTensors before → after the timed steps.
//   3. A per-op profile (tf.profile, kernels summed by name) of one relu and one topk step per backend and size.
//   4. Scaling of the best backend (small-size relu tokens/s): tokens/s against d_sae and batch size,
//      with native alongside; chart in docs/bench-scaling.svg.
//   5. Responsiveness of the real app while it trains (scripts/bench/responsiveness.ts).
//
// Prints Markdown tables (stdout; progress on stderr) and writes bench-results/bench.json.
// Not a test: it asserts nothing. `npm run bench -- --help` lists the options.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from '@playwright/test';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { nodeCores, useNodeWasmThreads } from '../src/cli/nodeBackend';
import { benchTrainingSteps, type BackendInfo, type BenchResult, type BenchSpec, type StepProfile } from '../src/engine/bench';
import type { Architecture } from '../src/engine/config';
import type { BackendName } from '../src/engine/types';
import { FLOPS_FORMULA, flopsPerStep } from './bench/flops';
import { formatResponsiveness, measureResponsiveness, type ResponsivenessResult } from './bench/responsiveness';
import { wasmSgemm, type WasmSgemmRow } from '../src/engine/benchSgemm';
import { buildApp, CHROMIUM, CHROMIUM_ARGS, launchChromium, startPreview, type Preview } from './bench/server';
import { scalingSvg, type Series } from './bench/svg';

/** chromium-1t: the same page served without cross-origin isolation (--one-thread): wasm on one thread. */
type Where = 'node' | 'chromium' | 'chromium-1t';
type SizeName = 'small' | 'medium';
const SIZES: Record<SizeName, { dIn: number; dSae: number; batch: number }> = {
  small: { dIn: 64, dSae: 2048, batch: 1024 },
  medium: { dIn: 512, dSae: 4096, batch: 512 },
};
const VARIANTS: Architecture[] = ['relu', 'topk', 'batchtopk', 'jumprelu', 'gated'];
const NODE_BACKENDS: BackendName[] = ['wasm', 'cpu'];
const CHROMIUM_BACKENDS: BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];
const SCALING_D_SAE = [512, 1024, 2048, 4096, 8192, 16384];
const SCALING_BATCH = [128, 256, 512, 1024, 2048, 4096];
const PROFILED: Architecture[] = ['relu', 'topk'];
const NATIVE_SCRIPT = 'scripts/bench/native_step.py';

const HELP = `npm run bench -- [options]
  --quick                 small size only, ~1 s per row, fewer scaling points, 10 s responsiveness
  --sizes small,medium    sizes to run (default both)
  --variants relu,topk,…  variants (default relu,topk,batchtopk,jumprelu,gated)
  --backends LIST         e.g. wasm,webgl or node:wasm,chromium:webgpu (a plain name means every
                          environment that has it; default: node wasm,cpu and chromium webgpu,webgl,wasm,cpu)
  --node-only / --browser-only
  --node-threads N        wasm threads in Node (default: every core; 1 = the package's one-thread build)
  --full                  also run the combinations skipped as too slow (medium on cpu / software webgpu)
  --target-seconds S      time each row for about S seconds (default 3; --quick 1)
  --no-native             skip the NumPy reference      --no-profile        skip the per-op profiles
  --no-scaling            skip the scaling sweep        --no-responsiveness skip the app measurement
  --resp-seconds S        seconds of training the responsiveness measurement watches (default 20)
  --one-thread            also run Chromium wasm served without cross-origin isolation (port+1): the
                          single-threaded wasm build, to show what the thread pool is worth
  --no-build              serve dist/ as it is instead of building the current source
  --port N                vite preview port (default 4191; --one-thread uses the next one too)
  --out FILE              JSON output (default bench-results/bench.json)
  --svg FILE              scaling chart (default docs/bench-scaling.svg)`;

interface Options {
  quick: boolean;
  sizes: SizeName[];
  variants: Architecture[];
  node: BackendName[];
  chromium: BackendName[];
  full: boolean;
  targetMs: number;
  native: boolean;
  profile: boolean;
  scaling: boolean;
  responsiveness: boolean;
  respSeconds: number;
  build: boolean;
  oneThread: boolean;
  nodeThreads: number;
  port: number;
  out: string;
  svg: string;
}

function positiveInt(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

function parseArgs(args: string[]): Options | null {
  if (args.includes('--help') || args.includes('-h')) { console.log(HELP); return null; }
  const value = (name: string) => { const i = args.indexOf(`--${name}`); return i >= 0 && i + 1 < args.length ? args[i + 1] : undefined; };
  const list = (name: string) => value(name)?.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set(['--quick', '--sizes', '--variants', '--backends', '--node-only', '--browser-only', '--full', '--target-seconds', '--no-native', '--no-profile',
    '--no-scaling', '--scaling', '--no-responsiveness', '--resp-seconds', '--no-build', '--one-thread', '--node-threads', '--port', '--out', '--svg']);
  args.forEach((a, i) => {
    if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}\n${HELP}`);
    if (!a.startsWith('--') && !(i > 0 && ['--sizes', '--variants', '--backends', '--target-seconds', '--resp-seconds', '--node-threads', '--port', '--out', '--svg'].includes(args[i - 1]))) throw new Error(`unexpected argument ${a}\n${HELP}`);
  });
  const quick = args.includes('--quick');
  const sizes = (list('sizes') ?? (quick ? ['small'] : ['small', 'medium'])) as SizeName[];
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`unknown size ${s}; use small, medium`);
  const variants = (list('variants') ?? VARIANTS) as Architecture[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}; use ${VARIANTS.join(', ')}`);
  let node = [...NODE_BACKENDS], chromium = [...CHROMIUM_BACKENDS];
  const backends = list('backends');
  if (backends) {
    node = []; chromium = [];
    for (const b of backends) {
      const [env, name] = b.includes(':') ? b.split(':') : ['', b];
      if (![...CHROMIUM_BACKENDS].includes(name as BackendName)) throw new Error(`unknown backend ${b}; use webgpu, webgl, wasm, cpu, optionally prefixed node: or chromium:`);
      if ((env === '' || env === 'node') && NODE_BACKENDS.includes(name as BackendName)) node.push(name as BackendName);
      if (env === '' || env === 'chromium') chromium.push(name as BackendName);
      if (env === 'node' && !NODE_BACKENDS.includes(name as BackendName)) throw new Error(`${name} is not available in Node (wasm, cpu are)`);
    }
  }
  if (args.includes('--node-only')) chromium = [];
  if (args.includes('--browser-only')) node = [];
  return {
    quick, sizes, variants, node, chromium,
    full: args.includes('--full'),
    targetMs: 1000 * Number(value('target-seconds') ?? (quick ? 1 : 3)),
    native: !args.includes('--no-native'),
    profile: !args.includes('--no-profile'),
    scaling: !args.includes('--no-scaling'),
    responsiveness: !args.includes('--no-responsiveness') && !args.includes('--node-only'),
    respSeconds: Number(value('resp-seconds') ?? (quick ? 10 : 20)),
    build: !args.includes('--no-build'),
    oneThread: args.includes('--one-thread') && !args.includes('--node-only'),
    nodeThreads: positiveInt(value('node-threads') ?? String(nodeCores()), '--node-threads'),
    port: Number(value('port') ?? 4191),
    out: value('out') ?? path.join('bench-results', 'bench.json'),
    svg: value('svg') ?? path.join('docs', 'bench-scaling.svg'),
  };
}

// ---- results -------------------------------------------------------------------------------------

interface Row {
  where: Where | 'native';
  backend: string;
  size: SizeName;
  architecture: Architecture;
  dIn: number;
  dSae: number;
  batch: number;
  tokensPerS?: number;
  msPerStep?: number;
  steps?: number;
  /** Mean and each timed step (ms/step above is their median). */
  meanMsPerStep?: number;
  stepMs?: number[];
  warmupMs?: number[];
  numTensorsBefore?: number;
  numTensorsAfter?: number;
  /** GFLOP/s of the step's matrix products (flops.ts) and as a fraction of the sgemm ceiling. */
  gflops?: number;
  ceilingFraction?: number;
  /** tokens/s ÷ native tokens/s of the same variant and size. */
  nativeRatio?: number;
  info?: BackendInfo;
  profile?: StepProfile;
  error?: string;
}

interface Skip { where: string; backend: string; size?: string; architecture?: string; reason: string }

interface ScalingPoint { dIn: number; dSae: number; batch: number; tokensPerS?: number; msPerStep?: number; error?: string }

interface NativeReport {
  info: Record<string, unknown>;
  sgemm: { shapes: { shape: string; m: number; k: number; n: number; gflops: number }[]; ceilingGflops: number; square1024Gflops: number };
  rows: { variant: Architecture; size: SizeName; dIn: number; dSae: number; batch: number; steps: number; msPerStep: number; meanMsPerStep: number; tokensPerS: number }[];
  /** The same with one BLAS thread. */
  sgemm1?: { ceilingGflops: number; square1024Gflops: number };
  scaling?: { variant: string; dSae: { dSae: number; batch: number; tokensPerS: number; msPerStep: number }[]; batch: { dSae: number; batch: number; tokensPerS: number; msPerStep: number }[] };
  seconds: number;
}

const fmtInt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : Math.round(v).toLocaleString('en-US'));
const fmt = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));
const log = (s: string) => console.error(s);

function loadNote(): string {
  const [one, five] = os.loadavg();
  return `load average ${one.toFixed(2)} (1 min), ${five.toFixed(2)} (5 min) on ${os.cpus().length} cores`;
}

// ---- native reference ------------------------------------------------------------------------------

function numpyMissing(): string | null {
  const r = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) return `python3 is not available (${r.error.message})`;
  if (r.status !== 0) return `python3 has no numpy (${(r.stderr || '').trim().split('\n').pop()})`;
  return null;
}

/** The sgemm ceiling with one BLAS thread (what a single-threaded backend could reach at best). */
function singleThreadSgemm(): { ceilingGflops: number; square1024Gflops: number } | null {
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  const r = spawnSync('python3', [NATIVE_SCRIPT, '--sgemm', '--json', '--sizes', 'small'], { encoding: 'utf8', env, timeout: 120_000 });
  if (r.status !== 0) return null;
  try { return (JSON.parse(r.stdout) as NativeReport).sgemm; } catch { return null; }
}

function runNative(opts: Options): Promise<NativeReport> {
  const args = [NATIVE_SCRIPT, '--json', '--sizes', opts.sizes.join(','), '--variants', opts.variants.join(','), '--target-seconds', String(Math.max(0.5, opts.targetMs / 1000 * 0.7))];
  if (opts.scaling) args.push('--scaling', '--scaling-d-sae', scalingLists(opts).dSae.join(','), '--scaling-batch', scalingLists(opts).batch.join(','));
  return new Promise((resolve, reject) => {
    const p = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const lines = err.split('\n');
      err = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) log(l);
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code !== 0) { reject(new Error(`native_step.py exited ${code}: ${err}`)); return; }
      try { resolve(JSON.parse(out) as NativeReport); } catch (e) { reject(e); }
    });
  });
}

// ---- engine rows -----------------------------------------------------------------------------------

/** How Node's wasm rows ran: "2 threads" or "one thread". */
function nodeWasmThreads(rows: Row[]): string {
  const n = rows.find((r) => r.where === 'node' && r.backend === 'wasm' && r.info)?.info?.threadsCount ?? 1;
  return n > 1 ? `${n} threads` : 'one thread';
}

/** Run one spec where it belongs: in this process (Node) or in the page's engine worker (Chromium). */
type Runner = (backend: BackendName, spec: BenchSpec, timeoutMs: number) => Promise<{ result?: BenchResult; error?: string }>;

const nodeRunner: Runner = async (backend, spec) => {
  try {
    if (tf.getBackend() !== backend) {
      if (!(await tf.setBackend(backend))) return { error: `backend ${backend} failed to initialise` };
      await tf.ready();
    }
    return { result: await benchTrainingSteps(spec) };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
};

function pageRunner(page: Page): Runner {
  return async (backend, spec, timeoutMs) => {
    try {
      return await page.evaluate(([b, s, t]) => window.saeBench(b as BackendName, s as BenchSpec, t as number), [backend, spec, timeoutMs] as const);
    } catch (e) {
      return { error: e instanceof Error ? e.message.split('\n')[0] : String(e) };
    }
  };
}

/** Warm-up and timed steps for a row whose step is expected to take `estMs` (undefined: unknown). */
function stepPlan(estMs: number | undefined, opts: Options, slowPrior: boolean): Pick<BenchSpec, 'warmup' | 'minSteps' | 'steps' | 'targetMs'> {
  const est = estMs ?? (slowPrior ? 5000 : 500);
  if (est > 5000) return { warmup: 1, minSteps: 1, steps: 3, targetMs: opts.targetMs };
  if (est > 1000) return { warmup: 1, minSteps: 2, steps: 10, targetMs: opts.targetMs };
  return { warmup: 2, minSteps: 3, steps: 40, targetMs: opts.targetMs };
}

/** Seconds medium costs on a backend, estimated from its small relu step (FLOP ratio). */
function mediumEstimate(smallRelu: Row | undefined): number | undefined {
  if (!smallRelu?.msPerStep) return undefined;
  const m = SIZES.medium, s = SIZES.small;
  return smallRelu.msPerStep * flopsPerStep('relu', m.dIn, m.dSae, m.batch) / flopsPerStep('relu', s.dIn, s.dSae, s.batch);
}

async function benchBackend(where: Where, backend: BackendName, run: Runner, opts: Options, rows: Row[], skips: Skip[]): Promise<void> {
  const slowPrior = backend === 'webgpu' || backend === 'cpu';
  const mediumBudgetMs = opts.quick ? 60_000 : 150_000;
  for (const size of opts.sizes) {
    const dims = SIZES[size];
    const smallRelu = rows.find((r) => r.where === where && r.backend === backend && r.size === 'small' && r.architecture === 'relu' && r.msPerStep);
    let est = size === 'small' ? undefined : mediumEstimate(smallRelu);
    if (size === 'medium' && est !== undefined && !opts.full) {
      const plan = stepPlan(est, opts, slowPrior);
      const perRow = est * ((plan.warmup ?? 2) + (plan.minSteps ?? 2));
      const total = perRow * opts.variants.length;
      if (total > mediumBudgetMs) {
        const reason = `estimated ${fmt(est / 1000)} s/step from the small size (×${fmt(flopsPerStep('relu', dims.dIn, dims.dSae, dims.batch) / flopsPerStep('relu', 64, 2048, 1024), 0)} FLOPs) → ~${fmt(total / 60_000)} min for ${opts.variants.length} variants; --full runs it`;
        skips.push({ where, backend, size, reason });
        log(`${where}/${backend}/${size}: skipped — ${reason}`);
        continue;
      }
    }
    for (const architecture of opts.variants) {
      const sameSize = rows.find((r) => r.where === where && r.backend === backend && r.size === size && r.msPerStep);
      if (sameSize?.msPerStep) est = sameSize.msPerStep * flopsPerStep(architecture, dims.dIn, dims.dSae, dims.batch) / flopsPerStep(sameSize.architecture, dims.dIn, dims.dSae, dims.batch);
      const plan = stepPlan(est, opts, slowPrior);
      const spec: BenchSpec = { architecture, ...dims, ...plan, profile: opts.profile && PROFILED.includes(architecture) };
      const expect = (est ?? 10_000) * ((plan.warmup ?? 2) + (plan.steps ?? 3) + 1);
      const first = architecture === opts.variants[0] && size === opts.sizes[0];
      // The first row on the one-thread page also starts its engine: give up sooner if that hangs.
      const timeoutMs = where === 'chromium-1t' && first ? 90_000 : Math.min(20 * 60_000, Math.max(180_000, 3 * expect));
      const t = Date.now();
      const res = await run(backend, spec, timeoutMs);
      const row: Row = { where, backend, size, architecture, ...dims };
      if (res.result) {
        const r = res.result;
        Object.assign(row, { tokensPerS: r.tokensPerS, msPerStep: r.msPerStep, meanMsPerStep: r.meanMsPerStep, stepMs: r.stepMs, steps: r.steps, warmupMs: r.warmupMs, numTensorsBefore: r.numTensorsBefore, numTensorsAfter: r.numTensorsAfter, info: r.info, profile: r.profile });
        if (r.backend !== backend) row.error = `ran on ${r.backend}, not ${backend}`;
      } else {
        row.error = res.error ?? 'no result';
      }
      rows.push(row);
      log(row.tokensPerS !== undefined
        ? `${where}/${backend}/${size}/${architecture}: ${fmtInt(row.tokensPerS)} tokens/s (${fmt(row.msPerStep, 0)} ms/step, ${row.steps} steps; numTensors ${row.numTensorsBefore} → ${row.numTensorsAfter}) in ${fmt((Date.now() - t) / 1000)} s`
        : `${where}/${backend}/${size}/${architecture}: ${row.error}`);
      if (!res.result && first) {
        skips.push({ where, backend, reason: `does not work here: ${row.error}` });
        return; // the backend does not work: skip its other rows
      }
    }
  }
}

// ---- scaling ------------------------------------------------------------------------------------------

function scalingLists(opts: Options): { dSae: number[]; batch: number[] } {
  return opts.quick ? { dSae: [512, 2048, 8192], batch: [256, 1024, 4096] } : { dSae: SCALING_D_SAE, batch: SCALING_BATCH };
}

async function scalingSweep(run: Runner, backend: BackendName, base: Row, opts: Options): Promise<{ dSae: ScalingPoint[]; batch: ScalingPoint[] }> {
  const { dSae: dSaeList, batch: batchList } = scalingLists(opts);
  const targetMs = opts.quick ? 800 : 1500;
  const one = async (dSae: number, batch: number): Promise<ScalingPoint> => {
    const est = (base.msPerStep ?? 500) * (dSae * batch) / (2048 * 1024);
    const plan = stepPlan(est, { ...opts, targetMs }, false);
    const res = await run(backend, { architecture: 'relu', dIn: 64, dSae, batch, ...plan, steps: Math.min(plan.steps ?? 10, 15) }, Math.max(180_000, 10 * est));
    const p: ScalingPoint = { dIn: 64, dSae, batch };
    if (res.result) Object.assign(p, { tokensPerS: res.result.tokensPerS, msPerStep: res.result.msPerStep });
    else p.error = res.error;
    log(`scaling ${base.where}/${backend} relu d_sae ${dSae} batch ${batch}: ${p.tokensPerS !== undefined ? `${fmtInt(p.tokensPerS)} tokens/s` : p.error}`);
    return p;
  };
  // Batch sizes first: the largest d_sae is the likeliest to run out of memory.
  const batch: ScalingPoint[] = [];
  for (const b of batchList) batch.push(await one(2048, b));
  const dSae: ScalingPoint[] = [];
  for (const d of dSaeList) dSae.push(await one(d, 1024));
  return { dSae, batch };
}

// ---- printing ------------------------------------------------------------------------------------------

function backendLabel(r: Row): string {
  const i = r.info;
  if (!i) return r.backend;
  if (r.backend === 'wasm') return `wasm (SIMD ${i.simd ? 'on' : 'off'}, threads ${i.threads ? `on ×${i.threadsCount}` : 'off'})`;
  return r.backend;
}

function mainTable(rows: Row[], native: NativeReport | null): string {
  const lines = [
    '| size | variant | where | backend | tokens/s | ms/step | × native | GFLOP/s | % of sgemm ceiling | numTensors before → after | steps |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ];
  const sizes = [...new Set(rows.map((r) => r.size))];
  for (const size of sizes) {
    for (const v of VARIANTS) {
      const group = rows.filter((r) => r.size === size && r.architecture === v);
      if (!group.length) continue;
      const dims = SIZES[size];
      const sizeLabel = `${size} (${dims.dIn}/${dims.dSae}/${dims.batch})`;
      for (const r of group) {
        if (r.tokensPerS === undefined) {
          lines.push(`| ${sizeLabel} | ${v} | ${r.where} | ${r.backend} | — | — | — | — | — | ${r.error ?? ''} | |`);
          continue;
        }
        const tensors = r.where === 'native' ? 'n/a' : `${r.numTensorsBefore} → ${r.numTensorsAfter}${r.numTensorsBefore === r.numTensorsAfter ? '' : ' ⚠ LEAK'}`;
        const ratio = r.where === 'native' ? '1' : native ? fmt(r.nativeRatio, 3) : 'n/a';
        lines.push(`| ${sizeLabel} | ${v} | ${r.where} | ${r.where === 'native' ? r.backend : backendLabel(r)} | ${fmtInt(r.tokensPerS)} | ${fmt(r.msPerStep, r.msPerStep! < 100 ? 1 : 0)} | ${ratio} | ${fmt(r.gflops, 2)} | ${r.ceilingFraction === undefined ? 'n/a' : `${fmt(100 * r.ceilingFraction, 1)}%`} | ${tensors} | ${r.steps ?? ''} |`);
      }
    }
  }
  return lines.join('\n');
}

function profileTables(rows: Row[]): string {
  const out: string[] = [];
  for (const r of rows.filter((x) => x.profile)) {
    const p = r.profile!;
    const head = `${r.where} ${backendLabel(r)} · ${r.architecture} · ${r.size}`;
    if (p.error) { out.push(`**${head}**: profile failed: ${p.error}`, ''); continue; }
    const clock = r.backend === 'webgl' && r.info?.kernelTimer === false ? ' (no GPU timer query here: tfjs syncs after each kernel and times it on the CPU clock, which slows the profiled step)' : '';
    out.push(`**${head}** — profiled step ${fmt(p.wallMs, 0)} ms wall (timed step ${fmt(r.msPerStep, 0)} ms), ${p.kernelCount} kernels, ${p.timed ? `kernel time ${fmt(p.kernelMs, 0)} ms${clock}` : 'no kernel timings from this backend: ordered by output size'}`);
    out.push('');
    if (p.timed) {
      out.push('| kernel | calls | ms | % of kernel time | MB written |', '| --- | ---: | ---: | ---: | ---: |');
      for (const k of p.kernels.slice(0, 10)) out.push(`| ${k.name} | ${k.count} | ${fmt(k.totalMs, 1)} | ${fmt((100 * (k.totalMs ?? 0)) / (p.kernelMs || 1), 1)}% | ${fmt(k.bytesAdded / 2 ** 20, 1)} |`);
    } else {
      out.push('| kernel | calls | M elements written | MB added |', '| --- | ---: | ---: | ---: |');
      for (const k of p.kernels.slice(0, 10)) out.push(`| ${k.name} | ${k.count} | ${fmt(k.outputElements / 1e6, 2)} | ${fmt(k.bytesAdded / 2 ** 20, 1)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

function scalingTable(label: string, engine: ScalingPoint[], native: { dSae: number; batch: number; tokensPerS: number }[] | undefined, key: 'dSae' | 'batch'): string {
  const lines = [`| ${key === 'dSae' ? 'd_sae' : 'batch'} | ${label} tokens/s | ms/step | native tokens/s | × native |`, '| ---: | ---: | ---: | ---: | ---: |'];
  engine.forEach((p) => {
    const n = native?.find((q) => q.dSae === p.dSae && q.batch === p.batch)?.tokensPerS;
    lines.push(`| ${p[key]} | ${p.tokensPerS !== undefined ? fmtInt(p.tokensPerS) : `— (${p.error})`} | ${fmt(p.msPerStep, 0)} | ${fmtInt(n)} | ${p.tokensPerS && n ? fmt(p.tokensPerS / n, 3) : '—'} |`);
  });
  return lines.join('\n');
}

/** Issue 9's targets against this run's figures. */
function targetsTable(rows: Row[], resp: ResponsivenessResult | null, haveNative: boolean): string {
  const lines = ['| target | this run | met |', '| --- | --- | --- |'];
  const best = (where: Where, size: SizeName, v: Architecture) => rows
    .filter((r) => r.where === where && r.size === size && r.architecture === v && r.nativeRatio !== undefined && !r.error)
    .sort((a, b) => (b.nativeRatio ?? 0) - (a.nativeRatio ?? 0))[0];
  if (haveNative) {
    for (const [where, size, goal] of [['chromium', 'small', 0.5], ['node', 'small', 0.5], ['chromium', 'medium', 0.3], ['node', 'medium', 0.3]] as [Where, SizeName, number][]) {
      const per = VARIANTS.map((v) => [v, best(where, size, v)] as const).filter(([, r]) => r);
      if (!per.length) continue;
      const text = per.map(([v, r]) => `${v} ${fmt(r!.nativeRatio, 2)}× (${r!.backend})`).join(', ');
      lines.push(`| ${where}, ${size}, best backend ≥ ${goal}× native | ${text} | ${per.every(([, r]) => (r!.nativeRatio ?? 0) >= goal) ? 'yes' : 'no'} |`);
    }
  }
  if (resp) {
    lines.push(`| main thread: no task longer than 50 ms while training | longest ${fmt(resp.longTasks.maxMs, 0)} ms, ${resp.longTasks.over50ms} over 50 ms | ${resp.longTasks.supported && resp.longTasks.over50ms === 0 ? 'yes' : 'no'} |`);
    const late = resp.slider.map((x) => x.stepsLate);
    lines.push(`| slider change used within 1 step | ${late.map((l) => (l === null ? 'never' : `${l} step${l === 1 ? '' : 's'}`)).join(', ')} late | ${late.every((l) => l !== null && l <= 1) ? 'yes' : 'no'} |`);
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

// ---- main -------------------------------------------------------------------------------------------------

export async function main(args: string[]): Promise<number> {
  let opts: Options | null;
  try { opts = parseArgs(args); } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    return 2;
  }
  if (!opts) return 0;
  const started = Date.now();
  const date = new Date().toISOString();
  const loadStart = loadNote();
  const loadAtStart = os.loadavg()[0];
  log(`bench: ${opts.sizes.join(', ')} × ${opts.variants.join(', ')}; node [${opts.node.join(', ')}], chromium [${opts.chromium.join(', ')}]; ${loadStart}`);
  const rows: Row[] = [];
  const skips: Skip[] = [];
  const notes: string[] = [];

  // 1. Native reference, first, while nothing else of ours runs.
  let native: NativeReport | null = null;
  if (opts.native) {
    const missing = numpyMissing();
    if (missing) {
      skips.push({ where: 'native', backend: 'numpy', reason: `native reference skipped: ${missing}` });
      log(`native reference skipped: ${missing}`);
    } else {
      try {
        native = await runNative(opts);
        const one = singleThreadSgemm();
        if (one) native.sgemm1 = one;
        log(`sgemm with one BLAS thread: ${fmt(one?.ceilingGflops)} GFLOP/s`);
      } catch (e) {
        const reason = `native reference failed: ${e instanceof Error ? e.message : String(e)}`;
        skips.push({ where: 'native', backend: 'numpy', reason });
        log(reason);
      }
    }
  } else {
    skips.push({ where: 'native', backend: 'numpy', reason: 'native reference skipped (--no-native)' });
  }
  // tfjs-wasm's matrix-product speed at the same shapes (Node, its threads), to set the ratios in scale.
  let wasmMatmul: WasmSgemmRow[] | null = null;
  let chromiumWasmMatmul: { rows: WasmSgemmRow[]; threads: number } | null = null;
  if (opts.node.includes('wasm')) useNodeWasmThreads(opts.nodeThreads);
  if (native && opts.node.includes('wasm')) {
    try { wasmMatmul = await wasmSgemm(native.sgemm.shapes); } catch (e) { notes.push(`wasm matMul timing failed: ${e instanceof Error ? e.message : String(e)}`); }
  }
  if (native) {
    for (const n of native.rows) rows.push({ where: 'native', backend: `numpy ${native.info.numpy ?? ''} (${String(native.info.blas ?? 'BLAS')})`.trim(), size: n.size, architecture: n.variant, dIn: n.dIn, dSae: n.dSae, batch: n.batch, tokensPerS: n.tokensPerS, msPerStep: n.msPerStep, meanMsPerStep: n.meanMsPerStep, steps: n.steps });
  }

  // 2. Node.
  if (opts.node.length) {
    for (const backend of opts.node) await benchBackend('node', backend, nodeRunner, opts, rows, skips);
  }

  // 3. Chromium: the engine worker through bench.html; the scaling sweep and the app measurement
  // may need it afterwards, so the browser stays open until the end.
  let browser: Browser | null = null;
  let server: Preview | null = null;
  let page: Page | null = null;
  let chromiumEnv: Record<string, unknown> | null = null;
  let chromiumVersion = '';
  let responsiveness: ResponsivenessResult | null = null;
  let scaling: { where: string; backend: string; label: string; dSae: ScalingPoint[]; batch: ScalingPoint[] } | null = null;
  try {
    const needBrowser = opts.chromium.length > 0 || opts.responsiveness;
    if (needBrowser) {
      try {
        const built = await buildApp({ useDist: !opts.build });
        notes.push(`app: ${built.note} (${built.outDir})`);
        log(built.note);
        server = await startPreview(opts.port, built.outDir);
        browser = await launchChromium();
        chromiumVersion = browser.version();
      } catch (e) {
        const reason = `headless Chromium unavailable: ${e instanceof Error ? e.message : String(e)}`;
        skips.push({ where: 'chromium', backend: '*', reason });
        log(reason);
      }
    }
    if (browser && server && opts.chromium.length) {
      page = await browser.newPage();
      await page.goto(`${server.url}/bench.html`);
      await page.waitForFunction(() => typeof window.saeBench === 'function', null, { timeout: 60_000 });
      chromiumEnv = await page.evaluate(() => window.saeBenchEnv()) as unknown as Record<string, unknown>;
      for (const backend of opts.chromium) await benchBackend('chromium', backend, pageRunner(page), opts, rows, skips);
      // The same matMul timings in the engine worker, on the wasm thread pool.
      if (native && opts.chromium.includes('wasm')) {
        const shapes = native.sgemm.shapes.map(({ shape, m, k, n }) => ({ shape, m, k, n }));
        const r = await page.evaluate((sh) => window.saeBenchSgemm(sh), shapes);
        if (r.rows) chromiumWasmMatmul = { rows: r.rows, threads: r.threads ?? 1 };
        else notes.push(`Chromium wasm matMul timing failed: ${r.error}`);
      }
    }

    // Chromium wasm once more, served without cross-origin isolation (no SharedArrayBuffer: one thread).
    if (opts.oneThread && browser && server) {
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

    // 4. Scaling on the best backend by small-size relu tokens/s.
    if (opts.scaling) {
      const candidates = rows.filter((r) => (r.where === 'node' || r.where === 'chromium') && r.size === 'small' && r.architecture === 'relu' && r.tokensPerS && !r.error);
      const best = candidates.sort((a, b) => (b.tokensPerS ?? 0) - (a.tokensPerS ?? 0))[0];
      if (!best) {
        skips.push({ where: 'scaling', backend: '-', reason: 'no small-size relu row to pick the best backend from (run with relu and the small size)' });
      } else {
        const run = best.where === 'node' ? nodeRunner : best.where === 'chromium' && page ? pageRunner(page) : null;
        if (!run) skips.push({ where: 'scaling', backend: best.backend, reason: 'the browser is gone' });
        else {
          log(`scaling: best backend ${best.where} ${best.backend} (${fmtInt(best.tokensPerS)} tokens/s at the small size)`);
          const s = await scalingSweep(run, best.backend as BackendName, best, opts);
          scaling = { where: best.where, backend: best.backend, label: `${best.where} ${backendLabel(best)}`, ...s };
        }
      }
    } else {
      skips.push({ where: 'scaling', backend: '-', reason: 'scaling skipped (--no-scaling)' });
    }
    if (page) { await page.close(); page = null; } // ends the bench worker before the app measurement

    // 5. Responsiveness of the app.
    if (opts.responsiveness && browser && server) {
      try {
        responsiveness = await measureResponsiveness({ baseUrl: server.url, browser, seconds: opts.respSeconds, log });
      } catch (e) {
        const reason = `responsiveness measurement failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
        skips.push({ where: 'responsiveness', backend: '-', reason });
        log(reason);
      }
    } else if (!opts.responsiveness) {
      skips.push({ where: 'responsiveness', backend: '-', reason: 'responsiveness skipped (--no-responsiveness or --node-only)' });
    }
  } finally {
    if (page) await page.close().catch(() => undefined);
    if (browser) await browser.close().catch(() => undefined);
    server?.stop();
  }

  // Derived columns.
  const ceiling = native?.sgemm.ceilingGflops;
  for (const r of rows) {
    if (r.msPerStep === undefined) continue;
    r.gflops = flopsPerStep(r.architecture, r.dIn, r.dSae, r.batch) / (r.msPerStep / 1000) / 1e9;
    if (ceiling) r.ceilingFraction = r.gflops / ceiling;
    const n = rows.find((x) => x.where === 'native' && x.size === r.size && x.architecture === r.architecture);
    if (n?.tokensPerS && r.tokensPerS) r.nativeRatio = r.tokensPerS / n.tokensPerS;
  }
  const seconds = (Date.now() - started) / 1000;
  const loadEnd = loadNote();

  // Print.
  const out: string[] = [];
  const nodeWasm = rows.find((r) => r.where === 'node' && r.backend === 'wasm' && r.info);
  const chromeWasm = rows.find((r) => r.where === 'chromium' && r.backend === 'wasm' && r.info);
  const webgl = rows.find((r) => r.backend === 'webgl' && r.info?.renderer);
  const webgpu = rows.find((r) => r.backend === 'webgpu' && r.info?.adapter);
  out.push(`## Training-step benchmark (${date})`, '');
  out.push(`Machine: ${os.cpus()[0]?.model ?? '?'} × ${os.cpus().length}; Node ${process.version}; tfjs ${tf.version.tfjs}; Chromium ${chromiumVersion || 'not run'}${chromiumEnv ? ` (cross-origin isolated: ${chromiumEnv.crossOriginIsolated ? 'yes' : 'no'})` : ''}.`);
  out.push(`At the start: ${loadStart}; at the end: ${loadEnd}. Timings are medians of individually synced steps.`);
  if (native && loadAtStart > 0.5 * os.cpus().length) { // at the start, before the bench itself adds load
    out.push(`⚠ The machine was busy with other work when the bench started. Multi-threaded native BLAS slows far more under contention than single-threaded wasm, so the ratios to native are optimistic in this run; compare runs made on an idle machine.`);
  }
  if (nodeWasm) out.push(`Node wasm: SIMD ${nodeWasm.info?.simd ? 'on' : 'off'}, threads ${nodeWasm.info?.threads ? `on (${nodeWasm.info.threadsCount})` : 'off (--node-threads 1)'}.`);
  if (chromeWasm) out.push(`Chromium wasm: SIMD ${chromeWasm.info?.simd ? 'on' : 'off'}, threads ${chromeWasm.info?.threads ? `on (${chromeWasm.info.threadsCount})` : `off${chromeWasm.info?.crossOriginIsolated === false ? ' (the page is not cross-origin isolated: no SharedArrayBuffer)' : ''}`}.`);
  if (webgl) out.push(`WebGL renderer: ${webgl.info?.renderer}.`);
  if (webgpu) out.push(`WebGPU adapter: ${webgpu.info?.adapter} (kernel timestamps ${webgpu.info?.kernelTimer ? 'available' : 'unavailable'}).`);
  if (native) {
    const ni = native.info;
    out.push(`Native reference: NumPy ${ni.numpy} with ${ni.blas ?? 'BLAS'} (${ni.blasThreads ?? ni.OPENBLAS_NUM_THREADS ?? `up to ${ni.cpus}`} threads), float32, hand-written backward (scripts/bench/native_step.py). sgemm ceiling ${fmt(native.sgemm.ceilingGflops)} GFLOP/s (best of the shapes below; ${fmt(native.sgemm1?.ceilingGflops)} GFLOP/s with one thread, the most a single-threaded backend can reach).`);
  }
  out.push(`${FLOPS_FORMULA}.`, '');
  out.push(mainTable(rows, native), '');
  const targets = targetsTable(rows, responsiveness, native !== null);
  if (targets) out.push('Targets of issue 9:', '', targets, '');
  if (skips.length) {
    out.push('Skipped:', '');
    for (const s of skips) out.push(`- ${[s.where, s.backend, s.size, s.architecture].filter((x) => x && x !== '-').join(' / ')}: ${s.reason}`);
    out.push('');
  }
  if (native) {
    const wasm = new Map((wasmMatmul ?? []).map((w) => [w.shape, w]));
    const inBrowser = new Map((chromiumWasmMatmul?.rows ?? []).map((w) => [w.shape, w]));
    const t = chromiumWasmMatmul?.threads ?? 0;
    out.push(`sgemm (float32 NumPy matmul, best of several), and tfjs-wasm's matMul at the same shapes in Node (${nodeWasmThreads(rows)}) and in Chromium's engine worker (${t ? `${t}-thread pool` : 'not run'}) —`,
      'with the right operand reused, and fresh each call as in training (XNNPACK repacks it). wasm ÷ NumPy bounds what a wasm step dominated by that product can reach:', '',
      '| shape | m × k × n | NumPy GFLOP/s | Node wasm, reused | Node wasm, fresh | Chromium wasm, reused | Chromium wasm, fresh | best wasm fresh ÷ NumPy |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of native.sgemm.shapes) {
      const w = wasm.get(s.shape), c = inBrowser.get(s.shape);
      const fresh = Math.max(w?.freshGflops ?? 0, c?.freshGflops ?? 0);
      out.push(`| ${s.shape} | ${s.m} × ${s.k} × ${s.n} | ${fmt(s.gflops)} | ${w ? fmt(w.reusedGflops) : '—'} | ${w ? fmt(w.freshGflops) : '—'} | ${c ? fmt(c.reusedGflops) : '—'} | ${c ? fmt(c.freshGflops) : '—'} | ${fresh ? (fresh / s.gflops).toFixed(2) : '—'} |`);
    }
    out.push('');
  }
  if (scaling) {
    out.push(`### Scaling: relu on the best backend, ${scaling.label}`, '');
    out.push('tokens/s against d_sae (d_in 64, batch 1024):', '', scalingTable(scaling.label, scaling.dSae, native?.scaling?.dSae, 'dSae'), '');
    out.push('tokens/s against batch size (d_in 64, d_sae 2048):', '', scalingTable(scaling.label, scaling.batch, native?.scaling?.batch, 'batch'), '');
  }
  // Repeatability: the scaling sweeps repeat the small relu configuration (d_sae 2048, batch 1024).
  if (scaling) {
    const again = (pts: { dSae: number; batch: number; tokensPerS?: number }[] | undefined) => (pts ?? []).filter((p) => p.dSae === 2048 && p.batch === 1024 && p.tokensPerS).map((p) => p.tokensPerS!);
    const first = rows.find((r) => r.where === scaling!.where && r.backend === scaling!.backend && r.size === 'small' && r.architecture === 'relu')?.tokensPerS;
    const nFirst = rows.find((r) => r.where === 'native' && r.size === 'small' && r.architecture === 'relu')?.tokensPerS;
    const e = [...again(scaling.dSae), ...again(scaling.batch)];
    const n = [...again(native?.scaling?.dSae), ...again(native?.scaling?.batch)];
    const spread = (a: number | undefined, b: number[]) => (a && b.length ? `${fmtInt(a)} in the main pass, ${b.map(fmtInt).join(' and ')} in the scaling sweep (${b.map((x) => `${x >= a ? '+' : ''}${fmt((100 * (x - a)) / a, 0)}%`).join(', ')})` : 'n/a');
    out.push(`Repeatability (small relu measured again in the sweep; the machine is shared): ${scaling.label} ${spread(first, e)}; native ${spread(nFirst, n)}.`, '');
  }
  const prof = profileTables(rows);
  if (prof) out.push('### Per-op profile of one step (tf.profile; kernels summed by name, top 10)', '', prof);
  if (responsiveness) out.push('### Responsiveness', '', formatResponsiveness(responsiveness), '');
  out.push(`Whole bench: ${fmt(seconds / 60)} min.`);
  if (notes.length) out.push('', ...notes.map((n) => `Note: ${n}`));
  console.log(out.join('\n'));

  // Files.
  await mkdir(path.dirname(opts.out), { recursive: true });
  await writeFile(opts.out, JSON.stringify({
    date, seconds, options: opts, machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, tfjs: tf.version.tfjs, chromium: chromiumVersion, chromiumArgs: CHROMIUM_ARGS, chromiumPath: CHROMIUM, chromiumEnv, loadStart, loadEnd },
    sizes: SIZES, flopsFormula: FLOPS_FORMULA, native, wasmMatmul, chromiumWasmMatmul, rows, skips, scaling, responsiveness, notes,
  }, null, 2));
  log(`wrote ${opts.out}`);
  if (scaling) {
    const series = (key: 'dSae' | 'batch'): Series[] => {
      const s: Series[] = [{ label: `${scaling!.label} (tfjs)`, color: '#1f6feb', points: scaling![key].filter((p) => p.tokensPerS).map((p) => ({ x: p[key], y: p.tokensPerS! })) }];
      const n = native?.scaling?.[key];
      if (n) s.push({ label: `NumPy native reference (${native?.info.blas ?? 'BLAS'})`, color: '#d1242f', dashed: true, points: n.map((p) => ({ x: p[key], y: p.tokensPerS })) });
      return s;
    };
    const svg = scalingSvg([
      { title: 'relu step: tokens/s vs d_sae', xLabel: 'd_sae (d_in 64, batch 1024)', series: series('dSae') },
      { title: 'relu step: tokens/s vs batch size', xLabel: 'batch size (d_in 64, d_sae 2048)', series: series('batch') },
    ], `npm run bench, ${date.slice(0, 10)}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}`);
    await mkdir(path.dirname(opts.svg), { recursive: true });
    await writeFile(opts.svg, svg);
    log(`wrote ${opts.svg}`);
  }
  return 0;
}
