// The step-based comparisons equal tfjs's own comparisons element for element, on random values and
// on the cases that decide masks: ties, ±0, neighbouring floats, huge and tiny magnitudes, ±∞
// against finite values.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useCpu, values } from '../testing';
import { isAbove, isAtLeast, isPositive, isWithin } from './compare';

beforeAll(useCpu);

const next = (v: number) => { const f = new Float32Array([v]); const i = new Int32Array(f.buffer); i[0] += v >= 0 ? 1 : -1; return f[0]; };
const EDGE = [0, -0, 1, -1, 0.5, -0.5, next(0.5), next(-0.5), 1e-38, -1e-38, 1e-45, -1e-45, 3e38, -3e38, Infinity, -Infinity, 0.1, 0.1];

describe('step-based comparisons', () => {
  const a = tf.tensor1d([...values(200, 1, 2), ...EDGE]);
  const b = tf.tensor1d([...values(200, 2, 2), ...EDGE.slice().reverse()]);
  const same = (x: tf.Tensor, y: tf.Tensor) => expect(Array.from(x.dataSync())).toEqual(Array.from(y.toFloat().dataSync()));

  it('isPositive, isAbove, isAtLeast equal Greater / GreaterEqual (incl. ties and neighbouring floats)', () => {
    same(isPositive(a), tf.greater(a, 0));
    same(isAbove(a, b), tf.greater(a, b));
    same(isAtLeast(a, b), tf.greaterEqual(a, b));
    const finite = tf.tensor1d(Array.from(a.dataSync()).filter(Number.isFinite));
    same(isAtLeast(finite, finite), tf.onesLike(finite)); // every tie kept (∞ − ∞ is NaN: see compare.ts)
    same(isAbove(a, 0.5), tf.greater(a, 0.5));
  });

  it('broadcast a row vector over a batch as tf.greater does', () => {
    const z = tf.tensor2d(values(6 * 4, 3), [6, 4]);
    const theta = tf.tensor1d([0.1, -0.2, 0, 0.3]);
    same(isAbove(z, theta), tf.greater(z, theta));
    const kth = tf.tensor2d([0.1, -0.5, 0, 0.2, 0.3, -1], [6, 1]);
    same(isAtLeast(z, kth), tf.greaterEqual(z, kth));
  });

  it('isWithin equals the open interval −r < x < r', () => {
    for (const r of [0.5, 1e-3]) same(isWithin(a, r), tf.logicalAnd(tf.greater(a, -r), tf.less(a, r)));
  });
});
