// The fused WebGPU kernels must leave every other backend alone: they are registered for 'webgpu'
// only, loading them does not load the webgpu backend, and off webgpu the ops run their tfjs
// compositions (no kernel of ours is dispatched). Their numerics are checked in the browser
// (e2e/kernels.spec.ts), where WebGPU exists.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam } from '../../adam';
import { useCpu } from '../../testing';
import { normalizeDecoderRows } from '../../variants/linear';
import { batchTopkMask, batchTopkRelu } from '../batchTopk';
import { heavisideMeanL0 } from '../heaviside';
import { jumpRelu } from '../jumprelu';
import { topkMask, topkRelu } from '../topk';
import { kernelsRun } from './kernelsRun';
import { setFusedKernelsEnabled, useFusedKernels } from './program';

const OUR_KERNELS = ['SaeJumpReluForward', 'SaeJumpReluGradPre', 'SaeThresholdGrad', 'SaeHeavisideColumns', 'SaeTopkRows', 'SaeBatchTopk', 'SaeKeptReluGrad', 'SaeAdamMoment', 'SaeAdamParam', 'SaeNormalizeRows'];

beforeAll(useCpu);

describe('fused WebGPU kernels off webgpu', () => {
  it('are registered for webgpu only, without loading the webgpu backend', () => {
    for (const name of OUR_KERNELS) {
      expect(tf.getKernel(name, 'webgpu'), name).toBeDefined();
      for (const other of ['cpu', 'wasm', 'webgl']) expect(tf.getKernel(name, other), `${name} on ${other}`).toBeUndefined();
    }
    expect(tf.findBackendFactory('webgpu')).toBeNull();
  });

  it('are not used on cpu, even when switched on', () => {
    expect(useFusedKernels()).toBe(false);
    const was = setFusedKernelsEnabled(true);
    try {
      expect(useFusedKernels()).toBe(false);
    } finally {
      setFusedKernelsEnabled(was);
    }
  });

  it('leave every op on its tfjs composition', () => {
    const z = tf.tensor2d([0.3, -0.2, 0.5, 0.1, 0.9, 0.05, -0.4, 0.25], [2, 4]);
    const theta = tf.tensor1d([0.2, 0.1, 0.4, 0.3]);
    const dy = tf.onesLike(z);
    const p = { W_dec: tf.variable(tf.tensor2d([3, 4, 0, 0], [2, 2])) };
    const adam = new Adam(p, 0.9, 0.999);
    const names = kernelsRun(() => {
      tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => jumpRelu(a as tf.Tensor2D, b as tf.Tensor1D, 0.1))([z, theta], dy));
      tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, 0.1))([z, theta]));
      tf.dispose([tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 2))(z, dy), topkMask(z, 2)]);
      tf.dispose([tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, 2))(z, dy), batchTopkMask(z, 2)]);
      adam.apply(p, { W_dec: dy.slice([0, 0], [2, 2]) }, 1e-3);
      normalizeDecoderRows(p);
    });
    expect(names.filter((n) => n.startsWith('Sae'))).toEqual([]);
    expect(names).toContain('TopK');
    expect(names).toContain('Sqrt');
    adam.dispose();
    tf.dispose([z, theta, dy, p.W_dec]);
  });
});
