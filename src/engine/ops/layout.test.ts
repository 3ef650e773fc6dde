// transpose2d and concatRows against plain arrays on wasm (their own kernels, in the wasm heap) and on cpu
// (tf.transpose): shapes that are and are not multiples of the block, one row, one column.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCpu, useWasm, values } from '../testing';
import { concatRows, transpose2d } from './layout';
import { kernelsRun } from './webgpu/kernelsRun';
import { WASM_KERNELS } from './wasm/registered';

const SHAPES: [number, number][] = [[1, 1], [1, 13], [13, 1], [3, 5], [8, 8], [16, 24], [17, 33], [64, 257], [300, 41], [4, 4], [1024, 65], [5, 4096], [2049, 3]];

function plainTranspose(x: number[], m: number, n: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < n; j++) for (let i = 0; i < m; i++) out.push(x[i * n + j]);
  return out;
}

describe('layout ops (transpose2d, concatRows)', () => {
  beforeAll(useWasm);
  afterAll(useCpu);

  it('on wasm runs its own kernel, equals the plain transpose exactly, passes gradients back transposed, and frees everything', () => {
    for (const [m, n] of SHAPES) {
      const xs = Array.from(Float32Array.from(values(m * n, m + 7 * n)));
      const x = tf.tensor2d(xs, [m, n]);
      const before = tf.memory().numTensors;
      let y: tf.Tensor2D | undefined;
      const names = kernelsRun(() => { y = transpose2d(x); });
      expect(names).toEqual([WASM_KERNELS.transpose]);
      expect(y!.shape).toEqual([n, m]);
      expect(Array.from(y!.dataSync())).toEqual(plainTranspose(xs, m, n));
      y!.dispose();
      // d/dx Σ transpose(x) ⊙ g = gᵀ.
      const gs = Array.from(Float32Array.from(values(m * n, 3 * m + n)));
      const g = tf.tensor2d(gs, [n, m]);
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(transpose2d(a as tf.Tensor2D), g)))(x);
      expect(Array.from(dx.dataSync())).toEqual(plainTranspose(gs, n, m));
      tf.dispose([dx, g]);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    }
  });

  it('concatRows stacks the rows and hands each input its block of the gradient, on wasm by its own kernel', () => {
    for (const [k1, k2, n] of [[3, 1, 5], [1, 4, 1], [64, 1, 257], [2, 0, 3]]) {
      const as = Array.from(Float32Array.from(values(k1 * n, k1 + n))), bs = Array.from(Float32Array.from(values(k2 * n, k2 + 2 * n)));
      const a = tf.tensor2d(as, [k1, n]), b = tf.tensor2d(bs, [k2, n]);
      const before = tf.memory().numTensors;
      const y = concatRows(a, b);
      expect(y.shape).toEqual([k1 + k2, n]);
      expect(Array.from(y.dataSync())).toEqual([...as, ...bs]);
      y.dispose();
      const gs = Array.from(Float32Array.from(values((k1 + k2) * n, 5 * n + k1)));
      const g = tf.tensor2d(gs, [k1 + k2, n]);
      let grads: tf.Tensor[] = [];
      const names = kernelsRun(() => { grads = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(concatRows(x as tf.Tensor2D, z as tf.Tensor2D), g)))([a, b]); });
      expect(Array.from(grads[0].dataSync())).toEqual(gs.slice(0, k1 * n));
      expect(Array.from(grads[1].dataSync())).toEqual(gs.slice(k1 * n));
      if (k2 > 0) expect(names.filter((k) => k === 'SaeSliceRows')).toHaveLength(2);
      expect(names).not.toContain('SplitV');
      tf.dispose([...grads, g]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([a, b]);
    }
  });

  it('on cpu is tf.transpose', async () => {
    await useCpu();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const names = kernelsRun(() => { transpose2d(x).dispose(); });
    expect(names).toEqual(['Transpose']);
    expect(Array.from(transpose2d(x).dataSync())).toEqual([1, 4, 2, 5, 3, 6]);
    await tf.setBackend('wasm');
  });
});
