// The memory estimate against what tfjs really holds, and the messages built on it.
//
// Calibration (tfjs cpu backend, a log step every step, a rollback copy every step, plus one held
// device copy standing in for the autosave; peak = tf.profile's peakBytes − the bytes before the
// trainer existed). Estimate vs measured peak, MiB (printed by the first tests):
//                d_in 16, d_sae 1024, batch 256     d_in 128, d_sae 2048, batch 32
//   relu         8.8 vs 8.9                          36.0 vs 38.1   (its written dense step: memory.written)
//   topk         16.6 vs 16.1                        51.0 vs 50.8
//   gated        20.1 vs 19.4                        51.4 vs 51.2
//   jumprelu     17.4 vs 16.7                        51.2 vs 51.0
// The factors come from a fit over 99 runs of all eleven variants (d_in 16–256, d_sae 1024–8192,
// batch 16–2048), every one within 3 %. tfjs-backend-wasm in Node counts the same bytes (see
// memoryBudget.ts for its heap, which runs ~15 % above them).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ConfigInput, type GuidanceTarget, type SaeConfig } from './config';
import {
  checkFits, describeOomError, estimateLine, estimateTrainingMemory, fits, formatBytes, GiB, isOomError, largestBatchThatFits,
  largestDSaeThatFits, limitsFor, limitsOfBackend, MiB, parameterCount, refusal, type BackendLimits,
} from './memoryBudget';
import { useCpu, values } from './testing';
import { Trainer, disposeSnapshot, type TrainingData } from './trainer';

beforeAll(useCpu);

function data(dIn: number, nLayers = 1, rows = 512): TrainingData {
  return {
    train: Float32Array.from(values(rows * dIn * nLayers, 7)), trainRows: rows,
    val: Float32Array.from(values(64 * dIn * nLayers, 8)), valRows: 64, dIn, nLayers,
  };
}

/** Peak bytes of a few training steps as the worker runs them (tf.profile), and the estimate. */
async function measure(input: ConfigInput, dIn: number): Promise<{ estimate: number; measured: number }> {
  // A one-token dead window: latents that missed a step are dead, so TopK's AuxK runs (on cpu and
  // wasm the trainer skips it while nothing is dead) and the peak is the worst case the estimate covers.
  const cfg = resolveConfig({ log_every: 1, steps: 100, dead_tokens_window: 1, ...input }, dIn);
  const before = tf.memory().numBytes;
  const t = new Trainer(cfg, data(dIn), 'cpu');
  t.goodSnapshotSeconds = 0; // a rollback copy at every (log) step
  t.goodStateOnDevice = true; // on the device, as on webgpu and webgl (wasm and cpu keep it as arrays)
  await t.runSteps(2);
  const autosave = t.snapshot(); // the worker's autosave holds such a copy while it reads it back
  const profile = await tf.profile(async () => { await t.runSteps(2); });
  disposeSnapshot(autosave);
  t.dispose();
  return { estimate: estimateTrainingMemory(cfg, dIn, { backend: 'cpu' }).bytes, measured: profile.peakBytes - before };
}

describe('estimateTrainingMemory', () => {
  // An activation-bound size (batch × d_sae dominates) and a parameter-bound one (d_in × d_sae).
  const sizes: [number, number, number][] = [[16, 1024, 256], [128, 2048, 32]];
  const cases = ['relu', 'topk', 'gated', 'jumprelu'].flatMap((a) => sizes.map(([dIn, dSae, batch]) => [a, dIn, dSae, batch] as const));
  it.each(cases)('%s d_in %i d_sae %i batch %i: within 30 percent of the peak tf.profile measures', async (architecture, dIn, dSae, batch) => {
    const { estimate, measured } = await measure({ architecture, d_sae: dSae, batch_size: batch, k: 16 }, dIn);
    console.info(`${architecture} d_in ${dIn} d_sae ${dSae} batch ${batch}: estimate ${(estimate / MiB).toFixed(1)} MiB, measured peak ${(measured / MiB).toFixed(1)} MiB`);
    expect(Math.abs(estimate - measured) / measured).toBeLessThan(0.3);
  });

  it('counts the parameters every variant creates', () => {
    const dIn = 8;
    const inputs: [ConfigInput, number][] = [
      [{ architecture: 'relu' }, 1], [{ architecture: 'topk', k: 4 }, 1], [{ architecture: 'batchtopk', k: 4 }, 1],
      [{ architecture: 'randomk', k: 4 }, 1], [{ architecture: 'jumprelu' }, 1], [{ architecture: 'gated' }, 1],
      [{ architecture: 'classic' }, 1], [{ architecture: 'classic', tied_weights: true }, 1], [{ architecture: 'matryoshka', k: 4 }, 1],
      [{ architecture: 'mlsae', k: 4 }, 3], [{ architecture: 'crosscoder' }, 3], [{ architecture: 'routesae', k: 4 }, 3],
    ];
    for (const [input, L] of inputs) {
      const cfg = resolveConfig({ d_sae: 32, batch_size: 16, ...input, ...(L > 1 ? { layer_start: 0, layer_end: L - 1 } : {}) }, dIn, L);
      const t = new Trainer(cfg, data(dIn, L, 64), 'cpu');
      const real = Object.values(t.params).reduce((a, v) => a + v.size, 0);
      t.dispose();
      expect(parameterCount(cfg, dIn), `${cfg.architecture}${'tied_weights' in cfg && cfg.tied_weights ? ' (tied)' : ''}`).toBe(real);
    }
  });

  it('grows with d_sae and the batch, and names the largest tensor', () => {
    const at = (d_sae: number, batch_size: number) => estimateTrainingMemory(resolveConfig({ architecture: 'topk', d_sae, batch_size, k: 8 }, 64), 64);
    expect(at(4096, 512).bytes).toBeGreaterThan(at(2048, 512).bytes);
    expect(at(2048, 1024).bytes).toBeGreaterThan(at(2048, 512).bytes);
    expect(at(2048, 4096).largestTensor).toMatchObject({ name: 'activations [4096, 2048]', bytes: 4096 * 2048 * 4 });
    expect(at(65536, 16).largestTensor).toMatchObject({ name: 'W_enc [64, 65536]', bytes: 64 * 65536 * 4 });
    // MLSAE's layers are extra rows of the latents.
    const ml = resolveConfig({ architecture: 'mlsae', d_sae: 256, batch_size: 100, k: 8, layer_start: 0, layer_end: 3 }, 16, 4);
    expect(estimateTrainingMemory(ml, 16).largestTensor.shape).toEqual([400, 256]);
  });

  it('counts the sparse step for the k-sparse variants on wasm and webgpu, unless sparse is off or a guidance target makes the step dense', () => {
    const at = (input: ConfigInput, backend?: string) => estimateTrainingMemory(resolveConfig({ architecture: 'topk', d_sae: 32_768, batch_size: 1024, k: 32, ...input }, 768), 768, { backend });
    expect(at({}, 'wasm').sparseStep).toBe(true);
    expect(at({}, 'webgpu').sparseStep).toBe(true);
    expect(at({}, 'cpu').sparseStep).toBe(false);
    expect(at({ sparse: 'off' }, 'wasm').sparseStep).toBe(false);
    expect(at({ architecture: 'relu' }, 'wasm').sparseStep).toBe(false); // dense at first: its active fraction starts high
    const base = resolveConfig({ architecture: 'topk', d_sae: 32_768, batch_size: 1024, k: 32 }, 768);
    const target: GuidanceTarget = { id: 'g0', latent: 0, method: 'mse', beta: 1, margin: 1, labels: { kind: 'regex', pattern: 'the' } };
    const guided = estimateTrainingMemory({ ...base, guidance: [target] }, 768, { backend: 'wasm' });
    expect(guided.sparseStep).toBe(false);
    expect(guided.bytes).toBeGreaterThan(2 * at({}, 'wasm').bytes);
    // GPT-2 width on wasm: the sparse TopK step fits with room to spare, in well under the dense step's memory.
    expect(fits(resolveConfig({ architecture: 'topk', d_sae: 32_768, batch_size: 1024, k: 32 }, 768), 768, limitsFor('wasm'))).toBe(true);
    expect(at({ sparse: 'off' }, 'wasm').bytes).toBeGreaterThan(1.5 * at({}, 'wasm').bytes);
  });

  it('keeps the rollback and autosave copies out of wasm memory, not out of the others', () => {
    const cfg = resolveConfig({ architecture: 'relu', d_sae: 4096, batch_size: 64 }, 64);
    const P = parameterCount(cfg, 64);
    expect(estimateTrainingMemory(cfg, 64, { backend: 'wasm' }).parts.snapshots).toBe(0);
    expect(estimateTrainingMemory(cfg, 64, { backend: 'webgpu' }).parts.snapshots).toBe(2 * (3 * P + 2 * 4096) * 4);
  });

  it('counts the autosave copy only where there is one', () => {
    const cfg = resolveConfig({ architecture: 'relu', d_sae: 4096, batch_size: 64 }, 64);
    const P = parameterCount(cfg, 64);
    const withCopy = estimateTrainingMemory(cfg, 64).bytes;
    const without = estimateTrainingMemory(cfg, 64, { autosave: false }).bytes;
    expect(withCopy - without).toBe((3 * P + 2 * 4096) * 4);
  });
});

describe('backend limits', () => {
  it('wasm: 85 % of tfjs-backend-wasm’s 4 GiB ceiling, hard (its estimate is of the heap)', () => {
    const l = limitsFor('wasm');
    expect(l.hard).toBe(true);
    expect(l.totalBytes).toBe(Math.floor(4294901760 * 0.85));
    expect(l.totalLabel).toContain('4 GiB');
  });
  it('webgpu: the smaller of the buffer limits; webgl: the texture size; both guess the total', () => {
    const gpu = limitsFor('webgpu', { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: GiB, deviceMemoryGiB: 16 });
    expect(gpu).toMatchObject({ hard: false, maxTensorBytes: GiB, totalBytes: 8 * GiB });
    expect(limitsFor('webgl', { maxTextureSize: 8192 })).toMatchObject({ hard: false, maxTextureSize: 8192 });
    expect(limitsFor('webgl').maxTextureSize).toBe(4096);
  });
  it('reads the live backend: WebGPU device limits and WebGL’s texture flag', () => {
    const device = { limits: { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 2 * GiB } };
    expect(limitsOfBackend('webgpu', { device }).maxTensorBytes).toBe(2 * GiB);
    expect(limitsOfBackend('webgl', {}, { getNumber: () => 16384 }).maxTextureSize).toBe(16384);
    expect(limitsOfBackend('wasm', tf.backend(), tf.env()).hard).toBe(true);
  });
  it('cpu: the JS heap limit, at most 4 GiB', () => {
    expect(limitsFor('cpu', { jsHeapSizeLimit: 2 * GiB }).totalBytes).toBe(2 * GiB);
    expect(limitsFor('cpu', { jsHeapSizeLimit: 16 * GiB }).totalBytes).toBe(4 * GiB);
  });
});

describe('largestDSaeThatFits', () => {
  const limits: [string, BackendLimits][] = [
    ['wasm', limitsFor('wasm')],
    ['cpu', limitsFor('cpu')],
    ['webgl 8192', limitsFor('webgl', { maxTextureSize: 8192, deviceMemoryGiB: 64 })],
    ['webgpu 1 GiB buffers', limitsFor('webgpu', { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB, deviceMemoryGiB: 64 })],
    ['webgpu small GPU', limitsFor('webgpu', { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 4 * GiB, deviceMemoryGiB: 2 })],
  ];
  const configs: [ConfigInput, number][] = [
    [{ architecture: 'topk', batch_size: 4096, k: 32 }, 512],
    [{ architecture: 'relu', batch_size: 1024 }, 64],
    [{ architecture: 'gated', batch_size: 256 }, 768],
    [{ architecture: 'jumprelu', batch_size: 64 }, 2304],
  ];
  it.each(limits)('%s: the answer fits and 256 more does not, a multiple of 256', (_name, l) => {
    for (const [input, dIn] of configs) {
      const cfg = resolveConfig({ d_sae: 1_000_000, ...input }, dIn);
      const best = largestDSaeThatFits(cfg, dIn, l);
      expect(best % 256).toBe(0);
      expect(best).toBeGreaterThan(0);
      expect(fits({ ...cfg, d_sae: best } as SaeConfig, dIn, l)).toBe(true);
      expect(fits({ ...cfg, d_sae: best + 256 } as SaeConfig, dIn, l)).toBe(false);
    }
  });

  it('is monotone: more memory never gives less, a larger batch never more', () => {
    const cfg = resolveConfig({ architecture: 'topk', d_sae: 8192, batch_size: 1024, k: 32 }, 256);
    let last = 0;
    for (const gib of [0.25, 0.5, 1, 2, 3, 4, 8, 16]) {
      const best = largestDSaeThatFits(cfg, 256, { ...limitsFor('wasm'), totalBytes: gib * GiB });
      expect(best).toBeGreaterThanOrEqual(last);
      last = best;
    }
    let prev = Infinity;
    for (const batch_size of [16, 64, 256, 1024, 4096, 16384]) {
      const best = largestDSaeThatFits({ ...cfg, batch_size }, 256, limitsFor('wasm'));
      expect(best).toBeLessThanOrEqual(prev);
      prev = best;
    }
  });

  it('is 0 when not even d_sae 256 fits (the batch is too large), and the batch helper says what does', () => {
    const cfg = resolveConfig({ architecture: 'relu', d_sae: 256, batch_size: 10_000_000 }, 64);
    expect(largestDSaeThatFits(cfg, 64, limitsFor('wasm'))).toBe(0);
    const batch = largestBatchThatFits(cfg, 64, limitsFor('wasm'));
    expect(batch % 256).toBe(0);
    expect(fits({ ...cfg, batch_size: batch }, 64, limitsFor('wasm'))).toBe(true);
    expect(fits({ ...cfg, batch_size: batch + 256 }, 64, limitsFor('wasm'))).toBe(false);
  });
});

describe('checkFits and refusal', () => {
  const big = resolveConfig({ architecture: 'topk', d_sae: 262_144, batch_size: 4096, k: 32 }, 512);

  it('says what the run needs, the limit, and the largest d_sae that fits', () => {
    const wasm = limitsFor('wasm');
    const msg = checkFits(big, 512, wasm)!;
    expect(msg).toMatch(/^d_sae 262,144 × d_in 512 \(topk, batch 4,096\) needs about [\d.]+ GiB on wasm, more than the 3\.4 GiB of wasm memory \(4 GiB at most\) a run may plan for; /);
    expect(msg).toContain(`the largest d_sae that fits is ${largestDSaeThatFits(big, 512, wasm).toLocaleString('en-US')}`);
    // Smaller runs also get the batch that would fit at their d_sae.
    const mid = resolveConfig({ architecture: 'relu', d_sae: 131_072, batch_size: 4096 }, 64);
    expect(checkFits(mid, 64, wasm)).toMatch(/the largest d_sae that fits is [\d,]+ \(or batch [\d,]+ for this d_sae\)\.$/);
    expect(checkFits(resolveConfig({ architecture: 'topk', d_sae: 2048, batch_size: 512 }, 64), 64, wasm)).toBeNull();
  });

  it('names a tensor over WebGL’s texture or WebGPU’s buffer limit', () => {
    const cfg = resolveConfig({ architecture: 'relu', d_sae: 4_194_304, batch_size: 256 }, 64);
    expect(checkFits(cfg, 64, limitsFor('webgl', { maxTextureSize: 8192, deviceMemoryGiB: 1024 }))).toMatch(/but its largest tensor, activations \[256, 4194304\], has more values than one WebGL texture of 8,192 × 8,192 holds; the largest d_sae that fits is 262,144/);
    const gpu = limitsFor('webgpu', { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB / 2, deviceMemoryGiB: 1024 });
    expect(checkFits(cfg, 64, gpu)).toMatch(/its largest tensor, .* \(4 GiB\), is over webgpu's 512 MiB limit on one buffer/);
  });

  it('refuses on hard limits and tensor limits, only warns over a guessed GPU total', () => {
    const small = limitsFor('webgpu', { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 4 * GiB, deviceMemoryGiB: 2 });
    const cfg = resolveConfig({ architecture: 'relu', d_sae: 65_536, batch_size: 4096 }, 64);
    expect(checkFits(cfg, 64, small)).toMatch(/more than about 2 GiB of GPU memory \(a guess/);
    expect(refusal(cfg, 64, small)).toBeNull();
    expect(refusal(cfg, 64, limitsFor('wasm'))).toBe(checkFits(cfg, 64, limitsFor('wasm')));
    expect(refusal(cfg, 64, limitsFor('webgpu', { maxBufferSize: 128 * MiB }))).toMatch(/over webgpu's 128 MiB limit/);
  });

  it('gives the Model panel one line, a warning when it does not fit', () => {
    expect(estimateLine(resolveConfig({ architecture: 'topk', d_sae: 512, batch_size: 512 }, 64), 64, limitsFor('wasm'))).toEqual({ text: '≈ 5.4 MiB to train on wasm', ok: true });
    const line = estimateLine(big, 512, limitsFor('wasm'));
    expect(line.ok).toBe(false);
    expect(line.text).toMatch(/^≈ [\d.]+ GiB to train on wasm: too large \(more than the 3\.4 GiB .*\); the largest d_sae that fits is [\d,]+\.$/);
    const guess = estimateLine(big, 512, limitsFor('webgpu', { maxBufferSize: 8 * GiB, maxStorageBufferBindingSize: 8 * GiB, deviceMemoryGiB: 8 }));
    expect(guess.text).toContain('probably too large');
  });
});

describe('describeOomError', () => {
  const cfg = resolveConfig({ architecture: 'relu', d_sae: 131_072, batch_size: 4096 }, 64);
  const samples: [string, unknown][] = [
    ['wasm: tfjs after a failed malloc', new WebAssembly.RuntimeError('memory access out of bounds')],
    ['wasm: emscripten abort', new Error('Aborted(OOM). Build with -sASSERTIONS for more info.')],
    ['wasm: no growth', new Error('Cannot enlarge memory arrays to size 4294967296 bytes (OOM).')],
    ['webgl: texture size', new Error('Requested texture size [16384x70000] greater than WebGL maximum on this browser / GPU [16384x16384].')],
    ['webgl: GL error', new Error('WebGL Error: OUT_OF_MEMORY')],
    ['webgl: context lost', new Error('CONTEXT_LOST_WEBGL')],
    ['webgpu: OOM error scope', Object.assign(new Error('Failed to allocate memory for buffer'), { name: 'GPUOutOfMemoryError' })],
    ['webgpu: device lost', new Error('Device is lost')],
    ['webgpu: buffer validation', new Error('Buffer size (4294967296) exceeds the max buffer size limit (1073741824).')],
    ['cpu: ArrayBuffer', new RangeError('Array buffer allocation failed')],
    ['cpu: typed array', new RangeError('Invalid typed array length: 5368709120')],
    ['js heap', 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory'],
  ];
  it.each(samples)('%s → the clear message with a size that fits', (_name, e) => {
    const msg = describeOomError(e, cfg, 64, limitsFor('wasm'));
    expect(msg).not.toBeNull();
    expect(msg).toMatch(/^Out of memory on wasm: d_sae 131,072 × d_in 64 \(relu, batch 4,096\) needs about [\d.]+ GiB, more than the 3\.4 GiB .*; the largest d_sae that fits is [\d,]+ \(or batch [\d,]+ for this d_sae\)\. \(.+\)$/);
  });

  it('suggests half the size when the estimate said it fits (another tab took the memory)', () => {
    const ok = resolveConfig({ architecture: 'relu', d_sae: 8192, batch_size: 1024 }, 64);
    const msg = describeOomError(new Error('Device is lost'), ok, 64, limitsFor('webgpu', { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB, deviceMemoryGiB: 16 }))!;
    expect(msg).toMatch(/^Out of memory on webgpu: .* that is within about 8 GiB .*; try d_sae 4,096 or batch 512/);
  });

  it('leaves other errors alone', () => {
    for (const e of [new Error('training diverged at step 3: the total loss is NaN'), new Error('Error in matMul: inner shapes (64) and (32) of Tensors with shapes 4,64 and 32,8 must match'), 'the training split is empty']) {
      expect(isOomError(e)).toBe(false);
      expect(describeOomError(e, cfg, 64, limitsFor('wasm'))).toBeNull();
    }
  });
});

describe('formatBytes', () => {
  it('rounds to a readable figure', () => {
    expect(formatBytes(9.14 * GiB)).toBe('9.1 GiB');
    expect(formatBytes(4 * GiB)).toBe('4 GiB');
    expect(formatBytes(82.4 * GiB)).toBe('82 GiB');
    expect(formatBytes(512 * MiB)).toBe('512 MiB');
    expect(formatBytes(1.25 * MiB)).toBe('1.3 MiB');
    expect(formatBytes(12 * 1024)).toBe('12 KiB');
  });
});
