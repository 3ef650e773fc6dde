// Window.saeKernelBench of kernels.html: ms per call of each fused kernel vs its composition.
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../engine/adam';
import { batchTopkRelu } from '../engine/ops/batchTopk';
import { heavisideMeanL0 } from '../engine/ops/heaviside';
import { jumpRelu } from '../engine/ops/jumprelu';
import { topkRelu } from '../engine/ops/topk';
import { normalizeDecoderRows } from '../engine/variants/linear';
import { BANDWIDTH, normals, useWebGPU, withFusedAsync, type KernelBenchReport, type KernelBenchRow, type KernelBenchShape } from './kernelCheckCommon';

/**
 * Wait until the GPU has run everything submitted so far, by reading back one value of `t` (a
 * mapAsync completes only after all earlier work on the queue). Not queue.onSubmittedWorkDone():
 * on the SwiftShader adapter it resolved long before the work finished (ten 1 GFLOP matmuls
 * "done" in 4 ms, each taking 1.2 s when read back).
 */
async function gpuDone(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]));
  await one.data();
  one.dispose();
}

type BenchResult = tf.Tensor | tf.Tensor[] | void;

const SAMPLE_MS = 250;
const SLOW_CALL_MS = 2000;

interface Timed {
  run: () => BenchResult;
  /** The tensor to read back after a sample (default: the first output of `run`). */
  probe?: () => tf.Tensor;
}

/**
 * Median ms per call of the composition and of the fused path, sampled alternately so that both
 * see the same load on the machine. One sample is `repeat` calls back to back (each result
 * disposed), then one readback of the last result: `repeat` is chosen per path after a warm-up
 * call so that a sample takes ≥ SAMPLE_MS, which keeps the fixed cost of the readback (a few ms)
 * out of the per-call figure of fast kernels. A path stops after `iterations` samples, or after
 * two once it has used `budgetMs` (a composition that takes seconds per call).
 */
async function timePair(composition: Timed, fused: Timed, iterations: number, budgetMs: number): Promise<{ compositionMs: number; fusedMs: number }> {
  const sample = (t: Timed, on: boolean, repeat: number) => withFusedAsync(on, async () => {
    const t0 = performance.now();
    for (let i = 0; i < repeat; i++) {
      const r = t.run();
      if (i === repeat - 1) await gpuDone(t.probe?.() ?? (Array.isArray(r) ? r[0] : (r as tf.Tensor)));
      if (r) tf.dispose(r);
    }
    return (performance.now() - t0) / repeat;
  });
  const paths = [{ t: composition, on: false }, { t: fused, on: true }].map((p) => ({ ...p, samples: [] as number[], repeat: 1, spent: 0 }));
  for (const p of paths) {
    // The first call compiles the shaders and allocates buffers. Next to a call of seconds that
    // is noise, so such a call counts as a sample; otherwise a second call sets `repeat`.
    const first = await sample(p.t, p.on, 1);
    p.spent += first;
    if (first > SLOW_CALL_MS) { p.samples.push(first); continue; }
    const single = await sample(p.t, p.on, 1);
    p.spent += single;
    p.repeat = Math.max(1, Math.min(20, Math.ceil(SAMPLE_MS / Math.max(single, 1e-3))));
  }
  const done = (p: (typeof paths)[number]) => p.samples.length >= iterations || (p.samples.length >= 2 && p.spent >= budgetMs);
  while (!paths.every(done)) {
    for (const p of paths) {
      if (done(p)) continue;
      const ms = await sample(p.t, p.on, p.repeat);
      p.samples.push(ms);
      p.spent += ms * p.repeat;
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { compositionMs: median(paths[0].samples), fusedMs: median(paths[1].samples) };
}

/** Time every kernel (or shape.only) at one size; without WebGPU an error and no rows. */
export async function kernelBench(shape: KernelBenchShape): Promise<KernelBenchReport> {
  const { adapter, error } = await useWebGPU();
  if (error) return { backend: 'unavailable', adapter, rows: [], error };
  const { batch: B, dSae: n, dIn: d, k, iterations } = shape;
  const budget = shape.budgetMs ?? 8000;
  const want = (name: string) => !shape.only || shape.only.includes(name);
  const rows: KernelBenchRow[] = [];
  const z = tf.tensor2d(normals(B * n, 1, 0.3), [B, n]);
  const dy = tf.tensor2d(normals(B * n, 2), [B, n]);
  const theta = tf.tensor1d(Float32Array.from({ length: n }, (_, j) => 0.05 + 0.3 * ((j * 7919) % 97) / 97));
  const both = async (kernel: string, run: () => tf.Tensor | tf.Tensor[] | void, note?: string) => {
    if (!want(kernel)) return;
    const { compositionMs, fusedMs } = await timePair({ run }, { run }, iterations, budget);
    rows.push({ kernel, fusedMs, compositionMs, speedup: compositionMs / fusedMs, note });
  };
  try {
    const grads2 = (op: (a: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D) => () => tf.grads((a: tf.Tensor, b: tf.Tensor) => op(a as tf.Tensor2D, b as tf.Tensor1D))([z, theta], dy);
    await both('jumprelu forward', () => jumpRelu(z, theta, BANDWIDTH));
    await both('jumprelu forward+backward', grads2((a, b) => jumpRelu(a, b, BANDWIDTH)), 'tf.grads of the op (∂z, ∂θ)');
    await both('heaviside L0 forward', () => heavisideMeanL0(z, theta, BANDWIDTH), 'the mean count per row of z > θ (a scalar)');
    await both('heaviside L0 forward+backward', () => tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta]), 'tf.grads of the op (∂θ; ∂z is zero)');
    await both('topk forward', () => topkRelu(z, k));
    await both('topk forward+backward', () => tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, k))(z, dy));
    await both('batchtopk forward', () => batchTopkRelu(z, k));
    await both('batchtopk forward+backward', () => tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, k))(z, dy));
    if (want('adam') || want('normalize')) {
      const params = (seed: number) => ({
        W_enc: tf.variable(tf.tensor2d(normals(d * n, seed, 0.1), [d, n])),
        b_enc: tf.variable(tf.zeros([n])),
        W_dec: tf.variable(tf.tensor2d(normals(n * d, seed + 1, 0.1), [n, d])),
        b_dec: tf.variable(tf.zeros([d])),
      });
      const grads = { W_enc: tf.tensor2d(normals(d * n, 5, 1e-3), [d, n]), b_enc: tf.tensor1d(normals(n, 6, 1e-3)), W_dec: tf.tensor2d(normals(n * d, 7, 1e-3), [n, d]), b_dec: tf.tensor1d(normals(d, 8, 1e-3)) };
      const fusedParams = params(3), plainParams = params(3);
      const fusedAdam = new Adam(fusedParams, 0.9, 0.999), plainAdam = new Adam(plainParams, 0.9, 0.999);
      if (want('adam')) {
        const { compositionMs, fusedMs } = await timePair(
          { run: () => plainAdam.apply(plainParams, grads, 1e-3), probe: () => plainParams.W_enc },
          { run: () => fusedAdam.apply(fusedParams, grads, 1e-3), probe: () => fusedParams.W_enc },
          iterations, budget,
        );
        rows.push({ kernel: 'adam', fusedMs, compositionMs, speedup: compositionMs / fusedMs, note: 'one update of W_enc, b_enc, W_dec, b_dec' });
      }
      if (want('normalize')) {
        const { compositionMs, fusedMs } = await timePair(
          { run: () => normalizeDecoderRows(plainParams), probe: () => plainParams.W_dec },
          { run: () => normalizeDecoderRows(fusedParams), probe: () => fusedParams.W_dec },
          iterations, budget,
        );
        rows.push({ kernel: 'normalize', fusedMs, compositionMs, speedup: compositionMs / fusedMs, note: `W_dec [${n}, ${d}]` });
      }
      fusedAdam.dispose(); plainAdam.dispose();
      tf.dispose([...Object.values(fusedParams), ...Object.values(plainParams), ...Object.values(grads)]);
    }
  } catch (e) {
    return { backend: tf.getBackend(), adapter, rows, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
  } finally {
    tf.dispose([z, dy, theta]);
  }
  return { backend: tf.getBackend(), adapter, rows };
}
