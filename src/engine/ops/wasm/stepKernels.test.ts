// The small kernels of a wasm training step (assembly/kernels.ts add_row, sum_squares and adam with
// the clipping factor) against plain loops and against the tfjs ops they replace on cpu.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Adam } from '../../adam';
import { plusRow, sumOfSquares } from '../reduce';
import { useCpu, useWasm, values } from '../../testing';
import { WASM_KERNELS } from './registered';
import { kernelsRun } from '../webgpu/kernelsRun';

describe('row-vector add and sum of squares on wasm', () => {
  beforeAll(useWasm);
  afterAll(useCpu);

  it.each([[1024, 64], [7, 5], [3, 12]])('[%i, %i]: x ± v on every row, as float32 sums', (rows, d) => {
    const xv = values(rows * d, 1), vv = values(d, 2);
    const x = tf.tensor2d(xv, [rows, d]), v = tf.tensor1d(vv);
    expect(kernelsRun(() => tf.dispose([plusRow(x, v), plusRow(x, v, true)]))).toEqual([WASM_KERNELS.addRow, WASM_KERNELS.addRow]);
    const plus = plusRow(x, v).dataSync(), minus = plusRow(x, v, true).dataSync();
    const f = (a: number) => Math.fround(a);
    let wrong = 0;
    for (let i = 0; i < rows * d; i++) {
      if (plus[i] !== f(f(xv[i]) + f(vv[i % d]))) wrong++;
      if (minus[i] !== f(f(xv[i]) - f(vv[i % d]))) wrong++;
    }
    expect(wrong).toBe(0);
    tf.dispose([x, v]);
  });

  it.each([[64, 2048], [3, 5], [1, 1]])('[%i, %i]: Σ x² in float64, rounded once', (rows, d) => {
    const xv = values(rows * d, 3, 10);
    const x = tf.tensor2d(xv, [rows, d]);
    expect(kernelsRun(() => tf.dispose(sumOfSquares(x)))).toEqual([WASM_KERNELS.sumOfSquares]);
    let want = 0;
    for (const a of xv) want += Math.fround(Math.fround(a) * Math.fround(a));
    expect(sumOfSquares(x).dataSync()[0]).toBeCloseTo(Math.fround(want), 10 - Math.ceil(Math.log10(want)));
    expect(Math.abs(sumOfSquares(x).dataSync()[0] - want) / want).toBeLessThan(1e-7);
    x.dispose();
  });

  it('sums over several tensors in one call (a step’s gradients)', () => {
    const a = tf.tensor2d(values(64 * 32, 4), [64, 32]), b = tf.tensor1d(values(7, 5)), c = tf.scalar(3);
    expect(kernelsRun(() => tf.dispose(sumOfSquares(a, b, c)))).toEqual([WASM_KERNELS.sumOfSquares]);
    let want = 9;
    for (const t of [a, b]) for (const v of t.dataSync()) want += v * v;
    expect(Math.abs(sumOfSquares(a, b, c).dataSync()[0] - want) / want).toBeLessThan(1e-7);
    tf.dispose([a, b, c]);
  });
});

describe('Adam with the clipping factor on wasm', () => {
  afterAll(useCpu);

  /** Three updates of two parameters with gradients scaled by 0.37, on the active backend. */
  function run(): Float32Array[] {
    // tidy frees the initial values; each variable keeps its own reference to the data.
    const params = tf.tidy(() => ({ a: tf.variable(tf.tensor2d(values(64 * 12, 4), [64, 12])), b: tf.variable(tf.tensor1d(values(13, 5))) }));
    const adam = new Adam(params, 0.9, 0.999);
    for (let step = 0; step < 3; step++) {
      const grads = { a: tf.tensor2d(values(64 * 12, 6 + step), [64, 12]), b: tf.tensor1d(values(13, 9 + step)) };
      const scale = tf.scalar(0.37);
      adam.apply(params, grads, 1e-2, { scale, consume: true });
      scale.dispose();
    }
    const out = [params.a.dataSync().slice(), params.b.dataSync().slice()] as Float32Array[];
    tf.dispose([params.a, params.b]);
    adam.dispose();
    return out;
  }

  it('updates as tfjs’s ops do on cpu, to the last bit, and frees the gradients it consumed', async () => {
    await useCpu();
    const onCpu = run();
    await useWasm();
    const before = tf.memory().numTensors;
    const onWasm = run();
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(onWasm[0])).toEqual(Array.from(onCpu[0]));
    expect(Array.from(onWasm[1])).toEqual(Array.from(onCpu[1]));
  });
});
