// `npm run bench`: how fast a full training step (forward, loss, backward, Adam, constraint) runs
// on every backend that works, against a native reference on the same machine in the same run.
//
//   1. Native reference (scripts/bench/native_step.py, NumPy, when python3 with numpy is present):
//      the same step per variant and size, and the machine's sgemm GFLOP/s (the physical ceiling).
//   2. Node (tfjs wasm, cpu; webgpu on Dawn only when asked for, --backends node:webgpu) and headless
//      Chromium, inside the app's engine Web Worker (webgpu, webgl, wasm, cpu; bench.html +
//      src/bench/main.ts): tokens/s of relu, topk, batchtopk, jumprelu and
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
//
// This file wires the parts in scripts/bench/: options.ts (the command line), native.ts (NumPy),
// node.ts and chromium.ts (where the rows run), rows.ts (the rows and the scaling sweep),
// responsiveness.ts, and report.ts (the tables, bench.json and the chart).
import os from 'node:os';
import type { Page } from '@playwright/test';
import type { BackendName } from '../src/engine/types';
import { benchChromium, benchOneThread, closeChromium, noChromium, openChromium, pageRunner } from './bench/chromium';
import { nativeReference, nativeRows } from './bench/native';
import { nodeRunner, nodeWasmMatmul, prepareNodeWebgpu } from './bench/node';
import { parseArgs, type Options } from './bench/options';
import { backendLabel, deriveColumns, formatReport, writeResults } from './bench/report';
import { measureResponsiveness, type ResponsivenessResult } from './bench/responsiveness';
import { fmtInt, loadNote, log, type BenchOutcome, type Row, type ScalingResult, type Skip } from './bench/results';
import { benchBackend, scalingSweep } from './bench/rows';

/** The scaling sweep on the best backend by small-size relu tokens/s, or null and a skip saying why not. */
async function scalingOnBest(opts: Options, rows: Row[], skips: Skip[], page: Page | null): Promise<ScalingResult | null> {
  if (!opts.scaling) {
    skips.push({ where: 'scaling', backend: '-', reason: 'scaling skipped (--no-scaling)' });
    return null;
  }
  // Not on a software webgpu adapter in Node: its figures are for correctness, not speed.
  const relu = (size: string) => rows.filter((r) => (r.where === 'node' || r.where === 'chromium') && r.size === size && r.architecture === 'relu' && r.tokensPerS && !r.error && !r.info?.fallbackAdapter);
  // The small size picks the backend; with --sizes gpt2 alone, the gpt2 relu rows do.
  const candidates = relu('small').length ? relu('small') : relu('gpt2');
  const best = candidates.sort((a, b) => (b.tokensPerS ?? 0) - (a.tokensPerS ?? 0))[0];
  if (!best) {
    skips.push({ where: 'scaling', backend: '-', reason: 'no small-size relu row to pick the best backend from (run with relu and the small size; rows on a software webgpu adapter do not count)' });
    return null;
  }
  const run = best.where === 'node' ? nodeRunner : best.where === 'chromium' && page ? pageRunner(page) : null;
  if (!run) {
    skips.push({ where: 'scaling', backend: best.backend, reason: 'the browser is gone' });
    return null;
  }
  log(`scaling: best backend ${best.where} ${best.backend} (${fmtInt(best.tokensPerS)} tokens/s at the small size)`);
  const s = await scalingSweep(run, best.backend as BackendName, best, opts);
  return { where: best.where, backend: best.backend, label: `${best.where} ${backendLabel(best)}`, ...s };
}

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
  const native = await nativeReference(opts, skips);
  // tfjs-wasm's matrix-product speed at the same shapes (Node, its threads), to set the ratios in scale.
  const wasmMatmul = await nodeWasmMatmul(opts, native, notes);
  if (native) rows.push(...nativeRows(native));

  // 2. Node; its webgpu only where Dawn found an adapter (else a skip says why).
  const nodeWebgpu = await prepareNodeWebgpu(opts, skips);
  for (const backend of opts.node) {
    if (backend !== 'webgpu' || nodeWebgpu?.adapter) await benchBackend('node', backend, nodeRunner, opts, rows, skips);
  }

  // 3. Chromium: the engine worker through bench.html; the scaling sweep and the app measurement
  // may need it afterwards, so the browser stays open until the end.
  const chromium = noChromium();
  let responsiveness: ResponsivenessResult | null = null;
  let scaling: ScalingResult | null = null;
  try {
    if (opts.chromium.length > 0 || opts.responsiveness) await openChromium(chromium, opts, notes, skips);
    await benchChromium(chromium, opts, native, rows, skips, notes);
    await benchOneThread(chromium, opts, rows, skips, notes);

    // 4. Scaling on the best backend by small-size relu tokens/s.
    scaling = await scalingOnBest(opts, rows, skips, chromium.page);
    if (chromium.page) { await chromium.page.close(); chromium.page = null; } // ends the bench worker before the app measurement

    // 5. Responsiveness of the app.
    const { browser, server } = chromium;
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
    await closeChromium(chromium);
  }

  deriveColumns(rows, native);
  const outcome: BenchOutcome = {
    opts, date, seconds: (Date.now() - started) / 1000, loadStart, loadEnd: loadNote(), loadAtStart,
    chromiumVersion: chromium.version, chromiumEnv: chromium.env, native, wasmMatmul, chromiumWasmMatmul: chromium.wasmMatmul,
    nodeWebgpu, rows, skips, scaling, responsiveness, notes,
  };
  console.log(formatReport(outcome));
  await writeResults(outcome);
  return 0;
}
