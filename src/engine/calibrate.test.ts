// calibrateBackends on the two backends Node has (wasm and cpu), timed for real: both measured at
// the run's size, the one with more tokens/s chosen and left active, no tensor left behind. A fake
// slow backend (the cpu kernels behind reads that take seconds, as a software GPU adapter's do)
// shows the limits at work: it is recorded as too slow within the limit instead of holding the
// calibration up for its whole step time.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useNodeWasmFiles } from '../cli/nodeBackend';
import type { BackendName } from './types';
import { PRODUCTS_PER_STEP, calibrateBackends, calibrationKey, type BackendMeasurement } from './calibrate';
import { resolveConfig } from './config';
import { useCpu } from './testing';

const SLOW = 'slowcpu' as BackendName; // a name only this test registers
const READ_DELAY_MS = 2500;

/** The cpu backend whose async reads (the step's sync) take READ_DELAY_MS once `fastReads` reads are done. */
function registerSlowBackend(fastReads: number) {
  class SlowCpu extends MathBackendCPU {
    private reads = 0;
    override async read(dataId: object) {
      if (this.reads++ >= fastReads) await new Promise((r) => setTimeout(r, READ_DELAY_MS));
      return super.read(dataId);
    }
  }
  if (SLOW in tf.engine().registryFactory) tf.removeBackend(SLOW);
  tf.registerBackend(SLOW, () => new SlowCpu(), 0);
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (tf.getKernel(k.kernelName, SLOW)) tf.unregisterKernel(k.kernelName, SLOW);
    tf.registerKernel({ ...k, backendName: SLOW });
  }
}

/** The cpu backend whose products (BatchMatMul) each take at least `delayMs` longer; counts them. */
function registerSlowProducts(delayMs: number) {
  const products = { count: 0 };
  if (SLOW in tf.engine().registryFactory) tf.removeBackend(SLOW);
  tf.registerBackend(SLOW, () => new MathBackendCPU(), 0);
  for (const k of tf.getKernelsForBackend('cpu')) {
    if (tf.getKernel(k.kernelName, SLOW)) tf.unregisterKernel(k.kernelName, SLOW);
    const kernel = k.kernelName === 'BatchMatMul'
      ? { ...k, backendName: SLOW, kernelFunc: (args: Parameters<typeof k.kernelFunc>[0]) => {
        products.count++;
        const until = performance.now() + delayMs;
        while (performance.now() < until) { /* a slow product */ }
        return k.kernelFunc(args);
      } }
      : { ...k, backendName: SLOW };
    tf.registerKernel(kernel as tf.KernelConfig);
  }
  return products;
}

const argmax = (results: BackendMeasurement[]) =>
  results.filter((r) => r.status === 'measured').reduce<BackendMeasurement | null>((best, r) => (best && best.tokensPerS! >= r.tokensPerS! ? best : r), null)?.backend ?? null;

describe('calibrateBackends', () => {
  beforeAll(() => useNodeWasmFiles());
  afterEach(useCpu);
  afterAll(() => { if (SLOW in tf.engine().registryFactory) tf.removeBackend(SLOW); });

  it('times a real step on wasm and cpu, keeps the one with more tokens/s active, frees every tensor', async () => {
    await useCpu();
    const before = tf.memory().numTensors;
    const spec = { architecture: 'topk' as const, dIn: 64, dSae: 512, batch: 256 };
    const seen: string[] = [];
    // No probe: both are stepped (the probe would rule cpu out after one product; tested below).
    const cal = await calibrateBackends(['wasm', 'cpu'], spec, { probeFirst: false, onProgress: (p) => seen.push(`${p.backend} ${p.index + 1}/${p.total}`) });
    console.info(`[calibrate] ${cal.key}: ${cal.results.map((r) => `${r.backend} ${Math.round(r.tokensPerS ?? 0)} tokens/s (${r.steps} steps, first ${Math.round(r.firstStepMs ?? 0)} ms)`).join(', ')}; ${Math.round(cal.ms)} ms`);
    expect(seen).toEqual(['wasm 1/2', 'cpu 2/2']);
    expect(cal.results.map((r) => [r.backend, r.status])).toEqual([['wasm', 'measured'], ['cpu', 'measured']]);
    for (const r of cal.results) {
      expect(r.steps).toBeGreaterThanOrEqual(2);
      expect(r.tokensPerS).toBeGreaterThan(0);
      expect(Number.isFinite(r.tokensPerS)).toBe(true);
      // tokens/s is the batch over the median timed step.
      expect(r.tokensPerS! * r.msPerStep! / 1000).toBeCloseTo(spec.batch, 6);
    }
    expect(cal.fastest).toBe(argmax(cal.results));
    expect(tf.getBackend()).toBe(cal.fastest);
    expect(cal.key).toBe(calibrationKey(spec));
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);

  it("times the run's own config (its k), multi-layer rows included", async () => {
    const config = resolveConfig({ architecture: 'mlsae', d_sae: 128, batch_size: 64, k: 8, sparsity_mode: 'manual' }, 16, 3);
    const before = tf.memory().numTensors;
    const cal = await calibrateBackends(['cpu'], { architecture: 'mlsae', dIn: 16, dSae: 128, batch: 64, nLayers: 3, config });
    expect(cal.results[0].status, cal.results[0].reason).toBe('measured');
    expect(cal.key).toContain('×3');
    expect(tf.memory().numTensors).toBe(before);
    // A config that does not match the spec is refused, not silently measured at another size.
    const other = await calibrateBackends(['cpu'], { architecture: 'mlsae', dIn: 16, dSae: 256, batch: 64, nLayers: 3, config });
    expect(other.results[0].status).toBe('failed');
    expect(other.results[0].reason).toMatch(/does not match/);
    expect(other.fastest).toBeNull();
  }, 60_000);

  it('gives up a backend whose first step overruns its limit, records it as too slow, and picks another', async () => {
    registerSlowBackend(1); // the smoke test's read is fast; the first step's sync takes 2.5 s
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const cal = await calibrateBackends([SLOW, 'cpu'], { architecture: 'relu', dIn: 16, dSae: 64, batch: 32 }, { maxFirstStepMs: 300, targetMs: 200 });
    const ms = performance.now() - t0;
    const slow = cal.results[0];
    expect(slow.status).toBe('too slow');
    expect(slow.reason).toBe('too slow: > 0.30 s/first step');
    expect(slow.msPerStep).toBeGreaterThanOrEqual(300);
    expect(slow.tokensPerS).toBeLessThanOrEqual(32 / 0.3);
    expect(ms).toBeLessThan(READ_DELAY_MS);
    expect(cal.fastest).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('gives up a backend whose timed step overruns its limit', async () => {
    registerSlowBackend(2); // smoke test and warm-up fast, then 2.5 s per step
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    const cal = await calibrateBackends([SLOW], { architecture: 'relu', dIn: 16, dSae: 64, batch: 32 }, { maxStepMs: 250 });
    expect(performance.now() - t0).toBeLessThan(READ_DELAY_MS);
    expect(cal.results[0]).toMatchObject({ backend: SLOW, status: 'too slow', reason: 'too slow: > 0.25 s/step' });
    // Nothing measured: the backend active before stays active.
    expect(cal.fastest).toBeNull();
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.memory().numTensors).toBe(before);
    // The given-up step's read ends later, on freed tensors: it fails quietly (an unhandled
    // rejection would fail this file) and changes nothing.
    await new Promise((r) => setTimeout(r, READ_DELAY_MS + 200));
    expect(tf.memory().numTensors).toBe(before);
  }, 60_000);

  it('rules out, after one product, a backend whose products alone are slower than the fastest step, without stepping it', async () => {
    const products = registerSlowProducts(200);
    const before = tf.memory().numTensors;
    const spec = { architecture: 'relu' as const, dIn: 16, dSae: 64, batch: 32 };
    const t0 = performance.now();
    const cal = await calibrateBackends(['cpu', SLOW], spec, { targetMs: 100 });
    const ms = performance.now() - t0;
    const [cpu, slow] = cal.results;
    expect(cpu.status).toBe('measured');
    expect(cpu.msPerStep!).toBeLessThan(200); // the premise: a tiny cpu step is far under one slow product
    expect(slow.status, slow.reason).toBe('too slow');
    // Probed only: the smoke test's product, a warm-up product and a timed one; no step (a step
    // makes at least four, its warm-up step as many again).
    expect(products.count).toBe(3);
    // The bound is PRODUCTS_PER_STEP products of ≥ 200 ms each, stated in the reason.
    expect(slow.msPerStep!).toBeGreaterThanOrEqual(PRODUCTS_PER_STEP * 195);
    expect(slow.reason).toMatch(/^too slow: one \[32×16\]·\[16×64\] product takes 2\d\d ms, so its step \(4 or more\) ≥ [\d,]+ ms against cpu's [\d.]+ ms$/);
    expect(ms).toBeLessThan(3000);
    expect(cal.fastest).toBe('cpu');
    expect(tf.memory().numTensors).toBe(before);

    // The same backend with products as fast as cpu's: probed, then stepped as before.
    const fast = registerSlowProducts(0);
    const again = await calibrateBackends(['cpu', SLOW], spec, { targetMs: 100 });
    expect(again.results.map((r) => [r.backend, r.status])).toEqual([['cpu', 'measured'], [SLOW, 'measured']]);
    expect(fast.count).toBeGreaterThan(3 + 2 * PRODUCTS_PER_STEP);
  }, 60_000);

  it('records unavailable and skipped candidates with their reasons, and stops when aborted', async () => {
    const cal = await calibrateBackends(['nosuch' as BackendName, 'wasm', 'cpu'], { architecture: 'relu', dIn: 16, dSae: 64, batch: 32 }, {
      targetMs: 100,
      skip: { cpu: (soFar) => (soFar.some((r) => r.backend === 'wasm' && r.status === 'measured') ? 'wasm, the same CPU, was measured' : null) },
    });
    expect(cal.results.map((r) => [r.backend, r.status, r.reason])).toEqual([
      ['nosuch', 'failed', 'not available in this environment'],
      ['wasm', 'measured', undefined],
      ['cpu', 'skipped', 'wasm, the same CPU, was measured'],
    ]);
    expect(cal.fastest).toBe('wasm');

    await useCpu();
    const abort = new AbortController();
    const run = calibrateBackends(['wasm', 'cpu'], { architecture: 'relu', dIn: 16, dSae: 64, batch: 32 }, {
      targetMs: 100, signal: abort.signal, onProgress: (p) => { if (p.index === 0) abort.abort(); },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(tf.getBackend()).toBe('cpu');
  }, 60_000);
});
