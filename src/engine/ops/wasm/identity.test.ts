// The sharing Identity on wasm (identity.ts): a clone is no second buffer, and each of the two
// tensors lives on while the other is disposed, with the same values.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../../testing';

beforeAll(useWasm);

describe('Identity on wasm', () => {
  it('a clone shares the buffer, and its values stay intact after either is disposed', () => {
    const values = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i));
    const x = tf.tensor2d(values, [64, 64]);
    const buffers = tf.memory().numDataBuffers;
    const y = tf.clone(x);
    // One buffer for both (tfjs's byte count counts each tensor, so it is no measure of sharing).
    expect(y.dataId).toBe(x.dataId);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    x.dispose();
    expect(y.dataSync()).toEqual(values);
    const z = tf.clone(y);
    y.dispose();
    expect(z.dataSync()).toEqual(values);
    // An op on the clone writes a fresh output; the clone itself is unchanged.
    const w = tf.mul(z, 2);
    expect(z.dataSync()).toEqual(values);
    expect(w.dataSync()[1]).toBeCloseTo(2 * Math.sin(1), 6);
    tf.dispose([z, w]);
    expect(tf.memory().numDataBuffers).toBe(buffers - 1);
  });

  it('a variable assigned a clone keeps its value when the source is disposed', () => {
    const v = tf.variable(tf.zeros([8]));
    const src = tf.range(0, 8).toFloat();
    v.assign(tf.clone(src));
    src.dispose();
    expect(Array.from(v.dataSync())).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    v.dispose();
  });
});
