// Benchmark: tokens/s of full training steps for each variant at a fixed size (d_in 64,
// d_sae 2048, batch 1024) on every backend that works in Node and in headless Chromium (inside
// the app's Web Worker), with tf.memory().numTensors before/after the timed steps.
// Prints a Markdown table and writes bench-results/bench.json. Not a test: it asserts nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ARCHITECTURES, MULTI_LAYER } from '../src/engine/config';

// Multi-layer variants need [L, N, d] data; the fixed-size benchmark is single-layer.
const SINGLE_LAYER = ARCHITECTURES.filter((a) => !MULTI_LAYER.includes(a));
import { benchTrainingSteps, type BenchResult, type BenchSpec } from '../src/engine/bench';
import { useNodeWasmFiles } from '../src/cli/nodeBackend';
import type { BackendName } from '../src/worker/protocol';
import { waitForUrl } from './devPage';

const SIZE = { dIn: 64, dSae: 2048, batch: 1024 };
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface Row { where: 'node' | 'chromium'; backend: string; architecture: string; tokensPerS?: number; msPerStep?: number; numTensorsBefore?: number; numTensorsAfter?: number; note?: string }

function stepsFor(backend: string): number {
  // Slow software paths get fewer timed steps so the whole bench stays within minutes.
  return backend === 'webgpu' ? 2 : backend === 'cpu' ? 3 : 5;
}

async function benchNode(rows: Row[]) {
  useNodeWasmFiles();
  for (const backend of ['wasm', 'cpu'] as const) {
    if (!(await tf.setBackend(backend))) { rows.push({ where: 'node', backend, architecture: '-', note: 'failed to initialise' }); continue; }
    await tf.ready();
    for (const architecture of SINGLE_LAYER) {
      const spec: BenchSpec = { architecture, ...SIZE, steps: stepsFor(backend) };
      const r = await benchTrainingSteps(spec);
      rows.push({ where: 'node', ...r });
      log(rows[rows.length - 1]);
    }
  }
}


async function benchChromium(rows: Row[]) {
  if (!existsSync(CHROMIUM)) { rows.push({ where: 'chromium', backend: '-', architecture: '-', note: `no Chromium at ${CHROMIUM}` }); return; }
  if (!existsSync('dist/bench.html')) {
    console.error('building the app (dist/ missing) ...');
    await run('npx', ['vite', 'build']);
  }
  const port = 4179;
  const server: ChildProcess = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort'], { stdio: 'ignore', detached: true });
  try {
    await waitForUrl(`http://127.0.0.1:${port}/bench.html`, 30_000);
    const { chromium } = await import('@playwright/test');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/bench.html`);
    for (const backend of ['webgpu', 'webgl', 'wasm', 'cpu'] as BackendName[]) {
      for (const architecture of SINGLE_LAYER) {
        const spec: BenchSpec = { architecture, ...SIZE, steps: stepsFor(backend) };
        const res = await page.evaluate(([b, s]) => window.saeBench(b as BackendName, s as BenchSpec), [backend, spec] as const);
        if (res.result) rows.push({ where: 'chromium', ...(res.result as BenchResult) });
        else rows.push({ where: 'chromium', backend, architecture, note: res.error });
        log(rows[rows.length - 1]);
        if (!res.result) break; // the backend does not work here; skip its other variants
      }
    }
    await browser.close();
  } finally {
    if (server.pid) process.kill(-server.pid);
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

function log(r: Row) {
  console.error(r.tokensPerS !== undefined
    ? `${r.where}/${r.backend}/${r.architecture}: ${Math.round(r.tokensPerS)} tokens/s (${r.msPerStep?.toFixed(0)} ms/step), numTensors ${r.numTensorsBefore} → ${r.numTensorsAfter}`
    : `${r.where}/${r.backend}/${r.architecture}: ${r.note}`);
}

function table(rows: Row[]): string {
  const lines = [
    `Training step, d_in ${SIZE.dIn}, d_sae ${SIZE.dSae}, batch ${SIZE.batch} (tokens/s; numTensors before → after the timed steps)`,
    '',
    '| where | backend | variant | tokens/s | ms/step | numTensors |',
    '| --- | --- | --- | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    lines.push(r.tokensPerS !== undefined
      ? `| ${r.where} | ${r.backend} | ${r.architecture} | ${Math.round(r.tokensPerS).toLocaleString('en-US')} | ${r.msPerStep?.toFixed(0)} | ${r.numTensorsBefore} → ${r.numTensorsAfter} |`
      : `| ${r.where} | ${r.backend} | ${r.architecture} | — | — | ${r.note ?? ''} |`);
  }
  return lines.join('\n');
}

export async function main(args: string[]): Promise<number> {
  const rows: Row[] = [];
  if (!args.includes('--browser-only')) await benchNode(rows);
  if (!args.includes('--node-only')) await benchChromium(rows);
  const md = table(rows);
  console.log(md);
  await mkdir('bench-results', { recursive: true });
  await writeFile(path.join('bench-results', 'bench.json'), JSON.stringify({ size: SIZE, date: new Date().toISOString(), rows }, null, 2));
  return 0;
}
