// The timed rows of `npm run bench`, wherever a Runner runs them: step plans, the per-backend loop, the scaling sweep.
// A Runner runs one BenchSpec in Node (scripts/bench/node.ts) or in the page's engine worker
// (scripts/bench/chromium.ts); a medium-size backend that would take too long is skipped.
import type { BenchResult, BenchSpec } from '../../src/engine/bench';
import type { BackendName } from '../../src/engine/types';
import { flopsPerStep } from './flops';
import { resolveConfig } from '../../src/engine/config';
import { PROFILED, SIZES, casesFor, scalingLists, type Options, type SizeName, type Where } from './options';
import { fmt, fmtInt, log, type Row, type ScalingPoint, type Skip } from './results';

/** Run one spec where it belongs: in this process (Node) or in the page's engine worker (Chromium). */
export type Runner = (backend: BackendName, spec: BenchSpec, timeoutMs: number) => Promise<{ result?: BenchResult; error?: string }>;

/** Warm-up and timed steps for a row whose step is expected to take `estMs` (undefined: unknown). */
function stepPlan(estMs: number | undefined, opts: Options, slowPrior: boolean): Pick<BenchSpec, 'warmup' | 'minSteps' | 'steps' | 'targetMs'> {
  const est = estMs ?? (slowPrior ? 5000 : 500);
  if (est > 5000) return { warmup: 1, minSteps: 1, steps: 3, targetMs: opts.targetMs };
  if (est > 1000) return { warmup: 1, minSteps: 2, steps: 10, targetMs: opts.targetMs };
  return { warmup: 2, minSteps: 3, steps: 40, targetMs: opts.targetMs };
}

/** What Node's webgpu may spend on the gpt2 rows, estimated from its small relu step (FLOP ratio), before they are skipped. */
const GPT2_BUDGET_MS = 15 * 60_000;

/** Milliseconds a relu step of `size` (default medium) costs on a backend, estimated from its small relu step (FLOP ratio). */
function estimateFromSmall(smallRelu: Row | undefined, size: SizeName = 'medium'): number | undefined {
  if (!smallRelu?.msPerStep) return undefined;
  const m = SIZES[size], s = SIZES.small;
  return smallRelu.msPerStep * flopsPerStep('relu', m.dIn, m.dSae, m.batch) / flopsPerStep('relu', s.dIn, s.dSae, s.batch);
}

/** Every size × variant on one backend, a row each (an error row when one fails); a backend whose first row fails is skipped whole. */
export async function benchBackend(where: Where, backend: BackendName, run: Runner, opts: Options, rows: Row[], skips: Skip[]): Promise<void> {
  const slowPrior = backend === 'webgpu' || backend === 'cpu';
  const mediumBudgetMs = opts.quick ? 60_000 : 150_000;
  for (const size of opts.sizes) {
    const dims = SIZES[size];
    const smallRelu = rows.find((r) => r.where === where && r.backend === backend && r.size === 'small' && r.architecture === 'relu' && r.msPerStep);
    let est = size === 'small' ? undefined : estimateFromSmall(smallRelu);
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
    // Node's webgpu may be a real GPU: gpt2 runs there when its small step says the rows fit the budget.
    if (size === 'gpt2' && where === 'node' && backend === 'webgpu' && !opts.full) {
      est = estimateFromSmall(smallRelu, 'gpt2');
      // One warm-up and two timed steps a row (below); without a small relu row there is no estimate, and it runs.
      const total = est === undefined ? 0 : est * 3 * casesFor(size, opts.variants).length;
      if (total > GPT2_BUDGET_MS) {
        const reason = `estimated ${fmt(est! / 1000)} s/step (relu) from the small size → ~${fmt(total / 60_000)} min for ${casesFor(size, opts.variants).length} rows${smallRelu?.info?.fallbackAdapter ? ' on a software adapter' : ''}; --full runs it`;
        skips.push({ where, backend, size, reason });
        log(`${where}/${backend}/${size}: skipped — ${reason}`);
        continue;
      }
    } else if (size === 'gpt2' && backend !== 'wasm' && !opts.full) {
      const reason = 'gpt2 size: seconds per step even on wasm; cpu and the software webgpu/webgl would take many minutes a row; --full runs it';
      skips.push({ where, backend, size, reason });
      log(`${where}/${backend}/${size}: skipped — ${reason}`);
      continue;
    }
    for (const { label, architecture, k, extra } of casesFor(size, opts.variants)) {
      const sameSize = rows.find((r) => r.where === where && r.backend === backend && r.size === size && r.msPerStep);
      if (sameSize?.msPerStep) est = sameSize.msPerStep * flopsPerStep(architecture, dims.dIn, dims.dSae, dims.batch) / flopsPerStep(sameSize.architecture, dims.dIn, dims.dSae, dims.batch);
      // gpt2: seconds a step on wasm, so one warm-up and two timed steps.
      const plan = size === 'gpt2' ? { warmup: 1, minSteps: 2, steps: 2, targetMs: 0 } : stepPlan(est, opts, slowPrior);
      const config = k === undefined && extra === undefined ? undefined : resolveConfig({ architecture, d_sae: dims.dSae, batch_size: dims.batch, ...(k === undefined ? {} : { k }), ...extra }, dims.dIn);
      const spec: BenchSpec = { architecture, ...dims, ...plan, ...(config ? { config } : {}), profile: opts.profile && PROFILED.includes(architecture) };
      const expect = (est ?? 10_000) * ((plan.warmup ?? 2) + (plan.steps ?? 3) + 1);
      const first = label === casesFor(size, opts.variants)[0]?.label && size === opts.sizes[0];
      // The first row on the one-thread page also starts its engine: give up sooner if that hangs.
      const timeoutMs = where === 'chromium-1t' && first ? 90_000 : Math.min(20 * 60_000, Math.max(180_000, 3 * expect));
      const t = Date.now();
      const res = await run(backend, spec, timeoutMs);
      const row: Row = { where, backend, size, architecture, label, ...(k === undefined ? {} : { k }), ...dims };
      if (res.result) {
        const r = res.result;
        Object.assign(row, { tokensPerS: r.tokensPerS, msPerStep: r.msPerStep, meanMsPerStep: r.meanMsPerStep, stepMs: r.stepMs, steps: r.steps, warmupMs: r.warmupMs, numTensorsBefore: r.numTensorsBefore, numTensorsAfter: r.numTensorsAfter, info: r.info, profile: r.profile, sparseSteps: r.sparseSteps, activeFraction: r.activeFraction });
        if (r.backend !== backend) row.error = `ran on ${r.backend}, not ${backend}`;
      } else {
        row.error = res.error ?? 'no result';
      }
      rows.push(row);
      log(row.tokensPerS !== undefined
        ? `${where}/${backend}/${size}/${label}: ${fmtInt(row.tokensPerS)} tokens/s (${fmt(row.msPerStep, 0)} ms/step, ${row.steps} steps; numTensors ${row.numTensorsBefore} → ${row.numTensorsAfter}) in ${fmt((Date.now() - t) / 1000)} s`
        : `${where}/${backend}/${size}/${label}: ${row.error}`);
      if (!res.result && first) {
        skips.push({ where, backend, reason: `does not work here: ${row.error}` });
        return; // the backend does not work: skip its other rows
      }
    }
  }
}

/** relu at d_in 64 against batch size (d_sae 2048) and against d_sae (batch 1024); `base` is the small relu row that sizes the plans. */
export async function scalingSweep(run: Runner, backend: BackendName, base: Row, opts: Options): Promise<{ dSae: ScalingPoint[]; batch: ScalingPoint[]; dSae768: ScalingPoint[] }> {
  const { dSae: dSaeList, batch: batchList, dSae768: list768 } = scalingLists(opts);
  const targetMs = opts.quick ? 800 : 1500;
  const one = async (dSae: number, batch: number, dIn = 64): Promise<ScalingPoint> => {
    const est = (base.msPerStep ?? 500) * (dIn * dSae * batch) / (base.dIn * base.dSae * base.batch);
    const plan = dIn === 768 ? { warmup: 1, minSteps: 2, steps: 2, targetMs: 0 } : stepPlan(est, { ...opts, targetMs }, false);
    const res = await run(backend, { architecture: 'relu', dIn, dSae, batch, ...plan, steps: Math.min(plan.steps ?? 10, 15) }, Math.max(180_000, 10 * est));
    const p: ScalingPoint = { dIn, dSae, batch };
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
  // d_in 768 (when --sizes includes gpt2): toward GPT-2 width.
  const dSae768: ScalingPoint[] = [];
  for (const d of list768) dSae768.push(await one(d, 1024, 768));
  return { dSae, batch, dSae768 };
}
