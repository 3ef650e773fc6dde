// centredEncode, the encoder's matmul form [x, 1]·[W_enc; b_enc − b_dec W_enc], against the direct
// (x − b_dec) W_enc + b_enc: the same value and the same parameter gradients (plain tfjs autodiff
// as the reference), and preActivations' two paths agree, including ∂x when x needs a gradient.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectClose, useCpu, values } from '../testing';
import { centredEncode, preActivations } from './linear';

beforeAll(useCpu);

const B = 6, D_IN = 3, D_SAE = 5;
const X = () => tf.tensor2d(values(B * D_IN, 1, 2), [B, D_IN]);
const G = () => tf.tensor2d(values(B * D_SAE, 2), [B, D_SAE]); // upstream weights, not all ones
const W = () => tf.tensor2d(values(D_IN * D_SAE, 3), [D_IN, D_SAE]);
const BDEC = () => tf.tensor1d(values(D_IN, 4));
const BENC = () => tf.tensor1d(values(D_SAE, 5));
const direct = (x: tf.Tensor, w: tf.Tensor, bd: tf.Tensor, be?: tf.Tensor) => {
  const h = tf.matMul(tf.sub(x, bd), w);
  return be ? tf.add(h, be) : h;
};

describe('centredEncode', () => {
  it('with and without b_enc: value and ∂W_enc, ∂b_dec, ∂b_enc equal autodiff of (x − b_dec) W_enc + b_enc', () => {
    const x = X(), g = G();
    for (const withBias of [true, false]) {
      const params = withBias ? [W(), BDEC(), BENC()] : [W(), BDEC()];
      const ours = (...p: tf.Tensor[]) => tf.sum(tf.mul(centredEncode(x, p[0] as tf.Tensor2D, p[1] as tf.Tensor1D, p[2] as tf.Tensor1D | undefined), g));
      const plain = (...p: tf.Tensor[]) => tf.sum(tf.mul(direct(x, p[0], p[1], p[2]), g));
      expectClose(centredEncode(x, params[0] as tf.Tensor2D, params[1] as tf.Tensor1D, params[2] as tf.Tensor1D | undefined).dataSync(),
        direct(x, params[0], params[1], params[2]).dataSync(), 1e-5);
      const g1 = tf.grads(ours)(params), g2 = tf.grads(plain)(params);
      g1.forEach((d, i) => expectClose(d.dataSync(), g2[i].dataSync(), 1e-4));
      // ∂b_dec = −(Σ_b g) W_encᵀ is not trivially zero.
      expect(Math.max(...g1[1].dataSync().map(Math.abs))).toBeGreaterThan(0.05);
    }
  });

  it('preActivations: the data path and the input-gradient path agree; the latter passes ∂x = g W_encᵀ', () => {
    const p = { W_enc: W(), b_dec: BDEC(), b_enc: BENC() } as unknown as Parameters<typeof preActivations>[0];
    const x = X(), g = G();
    expectClose(preActivations(p, x).dataSync(), preActivations(p, x, true).dataSync(), 1e-5);
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(preActivations(p, v as tf.Tensor2D, true), g)))(x);
    expectClose(dx.dataSync(), tf.matMul(g, p.W_enc, false, true).dataSync(), 1e-5);
  });
});
