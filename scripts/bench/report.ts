// The report of `npm run bench`: the derived columns, the Markdown tables on stdout, bench.json and the chart.
// Tables: main, issue 9's targets, sgemm, scaling, repeatability, per-op profiles, responsiveness;
// files: bench-results/bench.json (--out) and docs/bench-scaling.svg (--svg).
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { adapterLabel } from '../../src/cli/nodeWebgpu';
import type { Architecture } from '../../src/engine/config';
import { FLOPS_FORMULA, flopsPerStep } from './flops';
import { DENSE_SUFFIX, SIZES, VARIANTS, type SizeName, type Where } from './options';
import { formatResponsiveness, type ResponsivenessResult } from './responsiveness';
import { fmt, fmtInt, log, type BenchOutcome, type NativeReport, type NodeWebgpu, type Row, type ScalingPoint } from './results';
import { CHROMIUM, CHROMIUM_ARGS } from './server';
import { scalingSvg, type Series } from './svg';

/** What rows on a software (fallback) webgpu adapter are good for. */
const SOFTWARE = 'software adapter: correctness only, not speed';

/** How Node's wasm rows ran: "2 threads" or "one thread". */
function nodeWasmThreads(rows: Row[]): string {
  const n = rows.find((r) => r.where === 'node' && r.backend === 'wasm' && r.info)?.info?.threadsCount ?? 1;
  return n > 1 ? `${n} threads` : 'one thread';
}

export function backendLabel(r: Row): string {
  const i = r.info;
  if (!i) return r.backend;
  const step = stepLabel(r);
  const ours = i.kernelThreads === undefined ? '' : `; our kernels ×${i.kernelThreads}${i.kernelFma ? ', FMA' : ''}`;
  if (r.backend === 'wasm') return `wasm (SIMD ${i.simd ? 'on' : 'off'}, threads ${i.threads ? `on ×${i.threadsCount}` : 'off'}${ours})${step}`;
  // Node's webgpu: the adapter is named once above the tables (formatReport); a software one is flagged on every row.
  if (r.where === 'node' && r.backend === 'webgpu') return `webgpu on Dawn${i.fallbackAdapter ? ` (${SOFTWARE})` : ''}${step}`;
  return `${r.backend}${step}`;
}

/** Whether the timed steps were sparse (ops/sparse.ts), and the active fraction where it was read. */
function stepLabel(r: Row): string {
  const parts: string[] = [];
  if (r.sparseSteps && r.steps) parts.push(r.sparseSteps === r.steps ? 'sparse step' : `sparse ${r.sparseSteps} of ${r.steps} steps`);
  if (r.activeFraction !== undefined) parts.push(`L0 ${fmt(100 * r.activeFraction, 1)}%`);
  return parts.length ? `, ${parts.join(', ')}` : '';
}

function mainTable(rows: Row[], native: NativeReport | null): string {
  const lines = [
    '| size | variant | where | backend | tokens/s | ms/step | × native | × NumPy sparse TopK | GFLOP/s | % of sgemm ceiling | numTensors before → after | steps |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ];
  const sizes = [...new Set(rows.map((r) => r.size))];
  for (const size of sizes) {
    const labels = [...new Set(VARIANTS.flatMap((v) => rows.filter((r) => r.size === size && r.architecture === v).map((r) => r.label ?? v)))];
    for (const v of labels) {
      const group = rows.filter((r) => r.size === size && (r.label ?? r.architecture) === v);
      if (!group.length) continue;
      const dims = SIZES[size];
      const sizeLabel = `${size} (${dims.dIn}/${dims.dSae}/${dims.batch})`;
      for (const r of group) {
        if (r.tokensPerS === undefined) {
          lines.push(`| ${sizeLabel} | ${v} | ${r.where} | ${r.backend} | — | — | — | — | — | — | ${r.error ?? ''} | |`);
          continue;
        }
        const tensors = r.where === 'native' ? 'n/a' : `${r.numTensorsBefore} → ${r.numTensorsAfter}${r.numTensorsBefore === r.numTensorsAfter ? '' : ' ⚠ LEAK'}`;
        const ratio = r.where === 'native' && !r.sparse ? '1' : native ? fmt(r.nativeRatio, 3) : 'n/a';
        const sparseRatio = r.sparseRatio === undefined ? '—' : fmt(r.sparseRatio, 3);
        // A sparse step does far fewer FLOPs than the dense products flops.ts counts: no GFLOP/s for it.
        const sparse = Boolean(r.sparseSteps) || (r.where === 'native' && r.sparse);
        const gflops = sparse ? 'sparse' : fmt(r.gflops, 2);
        const ceiling = sparse || r.ceilingFraction === undefined ? 'n/a' : `${fmt(100 * r.ceilingFraction, 1)}%`;
        lines.push(`| ${sizeLabel} | ${v} | ${r.where} | ${r.where === 'native' ? r.backend : backendLabel(r)} | ${fmtInt(r.tokensPerS)} | ${fmt(r.msPerStep, r.msPerStep! < 100 ? 1 : 0)} | ${ratio} | ${sparseRatio} | ${gflops} | ${ceiling} | ${tensors} | ${r.steps ?? ''} |`);
      }
    }
  }
  return lines.join('\n');
}

/** "23 % (21–30 %)": the median step's share outside the products, and the range over the profiled steps. */
function outsideText(o: { median: number; min: number; max: number }): string {
  return `${fmt(100 * o.median, 0)} % (${fmt(100 * o.min, 0)}–${fmt(100 * o.max, 0)} %)`;
}

function profileTables(rows: Row[]): string {
  const out: string[] = [];
  for (const r of rows.filter((x) => x.profile)) {
    const p = r.profile!;
    const head = `${r.where} ${backendLabel(r)} · ${r.architecture} · ${r.size}`;
    if (p.error) { out.push(`**${head}**: profile failed: ${p.error}`, ''); continue; }
    const clock = r.backend === 'webgl' && r.info?.kernelTimer === false ? ' (no GPU timer query here: tfjs syncs after each kernel and times it on the CPU clock, which slows the profiled step)' : '';
    const steps = p.steps ?? 1;
    const outside = p.outsideProducts ? `, ${outsideText(p.outsideProducts)} of it outside the matrix products` : '';
    out.push(`**${head}** — ${steps} profiled step${steps === 1 ? '' : 's'}: ${fmt(p.wallMs, 0)} ms wall each (median; timed step ${fmt(r.msPerStep, 0)} ms), ${fmt(p.kernelCount, 0)} kernels, ${p.timed ? `kernel time ${fmt(p.kernelMs, 0)} ms${outside}${clock}` : 'no kernel timings from this backend: ordered by output size'}`);
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
function targetsTable(allRows: Row[], resp: ResponsivenessResult | null, haveNative: boolean): string {
  const lines = ['| target | this run | met |', '| --- | --- | --- |'];
  // Rows on a software webgpu adapter are for correctness only: no target is judged on them.
  const rows = allRows.filter((r) => !r.info?.fallbackAdapter);
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
    // Issue 23's: at GPT-2 width, TopK k 32 at least the NumPy dense step, JumpReLU at L0 1–5 % 0.7 of it.
    for (const where of ['node', 'chromium'] as Where[]) {
      for (const [label, goal] of [['topk', 1], ['jumprelu', 0.7]] as const) {
        const r = rows.find((x) => x.where === where && x.size === 'gpt2' && x.label === label && x.nativeRatio !== undefined && !x.error);
        if (!r) continue;
        const l0 = r.activeFraction === undefined ? '' : `, L0 ${fmt(100 * r.activeFraction, 1)}%`;
        lines.push(`| ${where}, gpt2, ${label}${label === 'topk' ? ' k 32' : ' at L0 1–5 %'} ≥ ${goal}× NumPy dense | ${fmt(r.nativeRatio, 2)}× (${r.backend}${r.sparseSteps ? ', sparse step' : ''}${l0}) | ${(r.nativeRatio ?? 0) >= goal && (label !== 'jumprelu' || (r.activeFraction !== undefined && r.activeFraction >= 0.01 && r.activeFraction <= 0.05)) ? 'yes' : 'no'} |`);
      }
    }
  }
  // Issue 23's: at small and medium sizes, at most a quarter of a step's kernel time outside the
  // matrix products (the median profiled step; bench.ts PRODUCT_KERNELS).
  for (const where of ['node', 'chromium'] as Where[]) {
    for (const size of ['small', 'medium'] as SizeName[]) {
      const profiled = rows.filter((x) => x.where === where && x.size === size && x.profile?.outsideProducts && !x.error && (x.label ?? x.architecture) === x.architecture);
      if (!profiled.length) continue;
      const text = profiled.map((x) => `${x.architecture} ${outsideText(x.profile!.outsideProducts!)} (${x.backend})`).join(', ');
      lines.push(`| ${where}, ${size}: time outside the matrix products ≤ 25 % | ${text} | ${profiled.every((x) => x.profile!.outsideProducts!.median <= 0.25) ? 'yes' : 'no'} |`);
    }
  }
  if (resp) {
    lines.push(`| main thread: no task longer than 50 ms while training | longest ${fmt(resp.longTasks.maxMs, 0)} ms, ${resp.longTasks.over50ms} over 50 ms | ${resp.longTasks.supported && resp.longTasks.over50ms === 0 ? 'yes' : 'no'} |`);
    const late = resp.slider.map((x) => x.stepsLate);
    lines.push(`| slider change used within 1 step | ${late.map((l) => (l === null ? 'never' : `${l} step${l === 1 ? '' : 's'}`)).join(', ')} late | ${late.every((l) => l !== null && l <= 1) ? 'yes' : 'no'} |`);
  }
  return lines.length > 2 ? lines.join('\n') : '';
}

/** The columns computed from the timings: GFLOP/s, the fraction of the sgemm ceiling, the ratio to native. */
export function deriveColumns(rows: Row[], native: NativeReport | null): void {
  const ceiling = native?.sgemm.ceilingGflops;
  for (const r of rows) {
    if (r.msPerStep === undefined) continue;
    r.gflops = flopsPerStep(r.architecture, r.dIn, r.dSae, r.batch) / (r.msPerStep / 1000) / 1e9;
    if (ceiling) r.ceilingFraction = r.gflops / ceiling;
    // A dense comparison row (options.ts DENSE_SUFFIX) is set against the native row of its variant.
    const label = (r.label ?? r.architecture).replace(new RegExp(`${DENSE_SUFFIX}$`), '');
    const same = (x: Row) => x.where === 'native' && x.size === r.size && x.architecture === r.architecture && (x.label ?? x.architecture) === label;
    const n = rows.find((x) => same(x) && !x.sparse);
    if (n?.tokensPerS && r.tokensPerS) r.nativeRatio = r.tokensPerS / n.tokensPerS;
    const sp = rows.find((x) => same(x) && x.sparse);
    if (sp?.tokensPerS && r.tokensPerS) r.sparseRatio = r.tokensPerS / sp.tokensPerS;
  }
}

/** What the report says of Node's webgpu: its adapter, whether its figures mean anything for speed, or why it did not run. */
export function nodeWebgpuLines(w: NodeWebgpu | null, row: Row | undefined): string[] {
  if (!w) return [];
  // The whole message (what is missing, the fix) is in the skips.
  if (!w.adapter) return [`Node webgpu (Dawn): not run — ${(w.error ?? 'no adapter').split(/\.\s/)[0].replace(/\.$/, '')} (under Skipped: why, and the fix).`];
  const timer = row?.info ? ` Kernel timestamps ${row.info.kernelTimer ? 'available: the profiles time each kernel on the device' : 'unavailable: the profiles list kernels without times, and give no share outside the products'}.` : '';
  const lines = [`Node webgpu adapter (Dawn): ${w.label ?? adapterLabel(w.adapter)}.${timer}`];
  if (w.adapter.fallback) lines.push(`⚠ Node's webgpu rows ran on a software adapter (the CPU emulating a GPU): correctness only, not speed. Their tokens/s and ratios say nothing of a GPU; they show whether each step runs, whether it leaks tensors, and which kernels its time goes to. No target below is judged on them.`);
  return lines;
}

/** The Markdown report printed on stdout. */
export function formatReport(o: BenchOutcome): string {
  const { date, seconds, loadStart, loadEnd, loadAtStart, chromiumVersion, chromiumEnv, native, wasmMatmul, chromiumWasmMatmul, nodeWebgpu, rows, skips, scaling, responsiveness, notes } = o;
  const out: string[] = [];
  const nodeWasm = rows.find((r) => r.where === 'node' && r.backend === 'wasm' && r.info);
  const chromeWasm = rows.find((r) => r.where === 'chromium' && r.backend === 'wasm' && r.info);
  const webgl = rows.find((r) => r.backend === 'webgl' && r.info?.renderer);
  const webgpu = rows.find((r) => r.where !== 'node' && r.backend === 'webgpu' && r.info?.adapter);
  const nodeGpu = rows.find((r) => r.where === 'node' && r.backend === 'webgpu' && r.info);
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
  out.push(...nodeWebgpuLines(nodeWebgpu, nodeGpu));
  if (native) {
    const ni = native.info;
    out.push(`OpenBLAS kernels that ran in the reference: ${ni.blasCore ?? 'unknown'} (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its environment).`);
    if (native.sparseCheck) out.push(`Sparse TopK step (decoder forward a gather-sum of the k selected rows, ∂W_dec/∂W_enc scatter-adds over them) against the dense step, d_in ${native.sparseCheck.dIn}/d_sae ${native.sparseCheck.dSae}/batch ${native.sparseCheck.batch}, k ${native.sparseCheck.k}, float32: max relative error of loss and gradients ${native.sparseCheck.maxRelErr.toExponential(2)} (${native.sparseCheck.ok ? 'within' : 'NOT within'} ${native.sparseCheck.tol}).`);
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
    if (scaling.dSae768?.length) out.push('tokens/s against d_sae at d_in 768 (batch 1024, toward GPT-2 width):', '', scalingTable(scaling.label, scaling.dSae768, native?.scaling?.dSae768, 'dSae'), '');
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
  return out.join('\n');
}

/** bench-results/bench.json (--out) and, after a scaling sweep, its chart (--svg). */
export async function writeResults(o: BenchOutcome): Promise<void> {
  const { opts, date, seconds, loadStart, loadEnd, chromiumVersion, chromiumEnv, native, wasmMatmul, chromiumWasmMatmul, nodeWebgpu, rows, skips, scaling, responsiveness, notes } = o;
  await mkdir(path.dirname(opts.out), { recursive: true });
  await writeFile(opts.out, JSON.stringify({
    date, seconds, options: opts, machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, tfjs: tf.version.tfjs, chromium: chromiumVersion, chromiumArgs: CHROMIUM_ARGS, chromiumPath: CHROMIUM, chromiumEnv, loadStart, loadEnd },
    sizes: SIZES, flopsFormula: FLOPS_FORMULA, native, wasmMatmul, chromiumWasmMatmul, nodeWebgpu, rows, skips, scaling, responsiveness, notes,
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
}
