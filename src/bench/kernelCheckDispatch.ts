// The checks across kernel families: the fused path runs our kernels, and nothing leaks.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { Adam } from '../engine/adam';
import { batchTopkMask, batchTopkRelu } from '../engine/ops/batchTopk';
import { heavisideMeanL0 } from '../engine/ops/heaviside';
import { jumpRelu } from '../engine/ops/jumprelu';
import { topkMask, topkRelu } from '../engine/ops/topk';
import { kernelsRun } from '../engine/ops/webgpu/kernelsRun';
import { normalizeDecoderRows } from '../engine/variants/linear';
import { BANDWIDTH, fact, normals, read, withFused, type CheckResult } from './kernelCheckCommon';

/** The fused path must really dispatch our kernels (not silently run the composition). */
export async function checkDispatch(out: CheckResult[]) {
  const z = tf.tensor2d(normals(16 * 300, 5), [16, 300]), theta = tf.fill([300], 0.2) as tf.Tensor1D, dy = tf.onesLike(z);
  // [name, kernels that must run, the op, composition kernels it may still run]
  const expectations: [string, string[], () => tf.Tensor | tf.Tensor[], string[]?][] = [
    ['jumprelu', ['SaeJumpReluForward', 'SaeJumpReluGradPre', 'SaeThresholdGrad'], () => tf.grads((a: tf.Tensor, b: tf.Tensor) => jumpRelu(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta], dy)],
    // Count (forward) and window (∂θ) column sums; the L0 adds up its [d_sae] column counts with
    // tfjs's Sum (a scalar from d_sae values).
    ['heaviside L0', ['SaeHeavisideColumns', 'SaeHeavisideColumns'], () => tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta]), ['Sum']],
    ['topk', ['SaeTopkRows', 'SaeKeptReluGrad'], () => tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 8))(z, dy)],
    ['topk mask', ['SaeTopkRows'], () => topkMask(z, 8)],
    ['batchtopk', ['SaeBatchTopk', 'SaeKeptReluGrad'], () => tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, 8))(z, dy)],
    ['batchtopk mask', ['SaeBatchTopk'], () => batchTopkMask(z, 8)],
  ];
  // Kernels of the compositions that must not appear on the fused path.
  const replaced = ['TopK', 'Greater', 'GreaterEqual', 'LogicalAnd', 'Sum', 'Sqrt', 'Square'];
  for (const [name, kernels, f, allowed = []] of expectations) {
    const names = kernelsRun(() => tf.dispose(f()));
    // A kernel listed twice must run (at least) twice.
    const missing = kernels.filter((k) => names.filter((n) => n === k).length < kernels.filter((n) => n === k).length);
    const stray = names.filter((k) => replaced.includes(k) && !allowed.includes(k));
    out.push(fact(`${name} runs its fused kernels`, missing.length === 0 && stray.length === 0, `kernels: ${names.join(', ')}`));
  }
  const p = { W_dec: tf.variable(tf.tensor2d(normals(20 * 8, 6), [20, 8])) };
  const normNames = kernelsRun(() => normalizeDecoderRows(p));
  out.push(fact('normalize runs its fused kernel', normNames.includes('SaeNormalizeRows') && !normNames.some((k) => replaced.includes(k)), `kernels: ${normNames.join(', ')}`));
  const adam = new Adam(p, 0.9, 0.999);
  const g = { W_dec: tf.onesLike(p.W_dec) };
  const adamNames = kernelsRun(() => adam.apply(p, g, 1e-3));
  out.push(fact('adam runs its fused kernels', adamNames.filter((k) => k.startsWith('SaeAdam')).length === 3 && !adamNames.some((k) => replaced.includes(k)), `kernels: ${adamNames.join(', ')}`));
  // Switched off (what every other backend runs): none of ours, the composition's instead.
  const offNames = kernelsRun(() => withFused(false, () => tf.dispose(tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 8))(z, dy))));
  out.push(fact('switched off: the composition runs', !offNames.some((k) => k.startsWith('Sae')) && offNames.includes('TopK'), `kernels: ${offNames.join(', ')}`));
  adam.dispose();
  tf.dispose([z, theta, dy, p.W_dec, g.W_dec]);
}

/** tf.memory().numTensors and the backend's live buffers must stay flat across repeated calls. */
export async function checkLeaks(out: CheckResult[]) {
  const z = tf.tensor2d(normals(32 * 200, 9), [32, 200]), theta = tf.fill([200], 0.2) as tf.Tensor1D, dy = tf.onesLike(z);
  const p = { W_dec: tf.variable(tf.tensor2d(normals(200 * 16, 10), [200, 16])), b: tf.variable(tf.zeros([200])) };
  const adam = new Adam(p, 0.9, 0.999);
  const grads = { W_dec: tf.onesLike(p.W_dec), b: tf.onesLike(p.b) };
  const runs: [string, () => void][] = [
    ['jumprelu', () => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => jumpRelu(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta], dy))],
    ['heaviside L0', () => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta]))],
    ['topk', () => tf.dispose([tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 8))(z, dy), topkMask(z, 8)])],
    ['batchtopk', () => tf.dispose([tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, 8))(z, dy), batchTopkMask(z, 8)])],
    ['adam', () => adam.apply(p, grads, 1e-3)],
    ['normalize', () => normalizeDecoderRows(p)],
  ];
  const backend = tf.backend() as WebGPUBackend;
  for (const [name, run] of runs) {
    run();
    await tf.ready();
    const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
    for (let i = 0; i < 5; i++) run();
    await read(z); // let the backend retire what it freed
    const after = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
    out.push(fact(`${name} leaks nothing`, after.tensors === before.tensors && after.buffers === before.buffers,
      `tensors ${before.tensors} → ${after.tensors}, backend buffers ${before.buffers} → ${after.buffers} over 5 more calls`));
  }
  adam.dispose();
  tf.dispose([z, theta, dy, p.W_dec, p.b, grads.W_dec, grads.b]);
}
