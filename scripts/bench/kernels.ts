// `npx tsx scripts/bench/kernels.ts`: each fused WebGPU kernel (src/engine/ops/webgpu) against the
// tfjs composition it replaces, on the webgpu backend of headless Chromium (here the SwiftShader
// software adapter), at the bench's two sizes: small (batch 1024, d_sae 2048, d_in 64) and medium
// (batch 512, d_sae 4096, d_in 512), k = 32.
//
// Builds the app into its own directory (not dist/, which an e2e run may be serving), serves it
// with `vite preview` on port 4391, and drives kernels.html (src/bench/kernelCheck.ts) with
// Playwright: first the reference checks (a kernel that is wrong has no speed worth reporting),
// then the timings. Prints a table (ms per call of the kernel and of the composition, speed-up)
// and writes bench-results/kernels.json. The target is a speed-up of at least 2× per kernel.
//
// Options: --no-build (serve dist/ as built), --port N (default 4391), --iterations N (samples per
// kernel and path, default 5), --sizes small,medium.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import type { CheckReport, KernelBenchReport, KernelBenchShape } from '../../src/bench/kernelCheck';
import { launchChromium, startPreview, type Preview } from './server';

const OUT_DIR = 'node_modules/.cache/sae-kernels/dist';
const SIZES = {
  small: { batch: 1024, dSae: 2048, dIn: 64 },
  medium: { batch: 512, dSae: 4096, dIn: 512 },
} as const;
type SizeName = keyof typeof SIZES;
const K = 32;
const TARGET = 2;

const log = (s: string) => console.error(s);

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function build(): Promise<string> {
  if (process.argv.includes('--no-build')) {
    if (!existsSync('dist/kernels.html')) throw new Error('dist/kernels.html is missing: run `npm run build` first (or drop --no-build)');
    return 'dist';
  }
  log(`building the app into ${OUT_DIR} ...`);
  const t = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn('npx', ['vite', 'build', '--outDir', OUT_DIR, '--emptyOutDir', '--logLevel', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', resolve);
    p.on('error', () => resolve(-1));
  });
  if (code !== 0 || !existsSync(`${OUT_DIR}/kernels.html`)) throw new Error('vite build failed');
  log(`built in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  return OUT_DIR;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

async function main() {
  const port = Number(option('--port') ?? 4391);
  const iterations = Number(option('--iterations') ?? 5);
  const sizes = (option('--sizes') ?? 'small,medium').split(',') as SizeName[];
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`unknown size ${s}; use small, medium`);
  const started = Date.now();
  const outDir = await build();
  let server: Preview | null = null;
  const browser = await launchChromium();
  try {
    server = await startPreview(port, outDir);
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(`${server.url}/kernels.html`);
    await page.waitForFunction(() => typeof window.saeKernelBench === 'function', null, { timeout: 120_000 });

    log('reference checks ...');
    const check: CheckReport = await page.evaluate(() => window.saeKernelCheck());
    if (check.error) throw new Error(`the kernel checks could not run: ${check.error}`);
    const failed = check.results.filter((r) => !r.ok);
    log(`${check.results.length - failed.length} of ${check.results.length} checks pass on ${check.backend} (${check.adapter})`);
    for (const f of failed) log(`  FAIL ${f.name}: ${f.detail}`);

    const results: { size: SizeName; shape: KernelBenchShape; report: KernelBenchReport }[] = [];
    for (const size of sizes) {
      const shape: KernelBenchShape = { ...SIZES[size], k: K, iterations };
      log(`timing at ${size} (batch ${shape.batch}, d_sae ${shape.dSae}, d_in ${shape.dIn}, k ${K}) ...`);
      const t = Date.now();
      const report: KernelBenchReport = await page.evaluate((s) => window.saeKernelBench(s), shape);
      if (report.error) throw new Error(`the ${size} timings failed: ${report.error}`);
      log(`  ${((Date.now() - t) / 1000).toFixed(0)} s`);
      results.push({ size, shape, report });
    }

    const adapter = results[0]?.report.adapter ?? check.adapter;
    console.log(`\nFused WebGPU kernels vs the tfjs compositions they replace — ${adapter}, Chromium ${browser.version()}`);
    console.log('ms per call (median); speed-up = composition / kernel; target ≥ 2×\n');
    console.log('| size | kernel | ms kernel | ms composition | speed-up | |');
    console.log('|---|---|---:|---:|---:|---|');
    const below: string[] = [];
    for (const { size, report } of results) {
      for (const r of report.rows) {
        const ok = r.speedup >= TARGET;
        if (!ok) below.push(`${size} ${r.kernel} (${r.speedup.toFixed(2)}×)`);
        console.log(`| ${size} | ${r.kernel} | ${fmt(r.fusedMs)} | ${fmt(r.compositionMs)} | ${r.speedup.toFixed(1)}× | ${ok ? '' : 'below 2×'}${r.note ? ` ${r.note}` : ''} |`);
      }
    }
    console.log(`\n${check.results.length - failed.length}/${check.results.length} reference checks pass.${below.length ? ` Below 2×: ${below.join(', ')}.` : ' Every kernel is at least 2× faster.'}`);

    await mkdir('bench-results', { recursive: true });
    const json = {
      date: new Date().toISOString(),
      chromium: browser.version(),
      backend: check.backend,
      adapter,
      k: K,
      target: TARGET,
      timing: 'median ms per call; each sample is several calls then one readback of one value (queue.onSubmittedWorkDone resolves early on the software adapter); composition and kernel sampled alternately',
      checks: { passed: check.results.length - failed.length, total: check.results.length, failed },
      sizes: results.map(({ size, shape, report }) => ({ size, batch: shape.batch, dSae: shape.dSae, dIn: shape.dIn, rows: report.rows.map((r) => ({ ...r, meetsTarget: r.speedup >= TARGET })) })),
      belowTarget: below,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    await writeFile('bench-results/kernels.json', JSON.stringify(json, null, 2) + '\n');
    log(`wrote bench-results/kernels.json (${json.seconds} s in all)`);
    if (failed.length) process.exitCode = 1;
  } finally {
    await browser.close();
    server?.stop();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
