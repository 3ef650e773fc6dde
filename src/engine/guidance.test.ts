import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { guidanceLoss, guidanceStats, type GuidanceMethod } from './guidance';
import { expectClose, useCpu, values } from './testing';

beforeAll(useCpu);

const B = 6, S = 4, J = 2;
const F = values(B * S, 21, 2); // f [B, S], mixed signs, not symmetric
const Y = [1, 0, 1, 0, 0, 0]; // 2 positives, 4 negatives: n_pos ≠ n_neg, so a swapped count shows

const col = (f: number[], j = J) => Array.from({ length: B }, (_, b) => f[b * S + j]);

/** Plain-array references, written from the definitions in guidance.ts's guidanceLoss comment. */
function refMse(f: number[], y: number[]): number {
  return col(f).reduce((a, v, b) => a + (v - y[b]) ** 2, 0) / B;
}
function refMeans(f: number[], y: number[]) {
  const c = col(f);
  const pos = c.filter((_, b) => y[b] > 0.5), neg = c.filter((_, b) => !(y[b] > 0.5));
  const mean = (a: number[]) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);
  return { meanPos: mean(pos), meanNeg: mean(neg), nPos: pos.length, nNeg: neg.length };
}
function refContrastive(f: number[], y: number[], margin: number): number {
  const { meanPos, meanNeg, nPos, nNeg } = refMeans(f, y);
  if (nPos === 0 || nNeg === 0) return 0;
  return Math.max(0, margin - (meanPos - meanNeg));
}

const loss = (f: number[], y: number[], method: GuidanceMethod, margin = 1) =>
  tf.tidy(() => guidanceLoss(tf.tensor2d(f, [B, S]), J, tf.tensor1d(y), method, margin).dataSync()[0]);

function gradOf(f: number[], y: number[], method: GuidanceMethod, margin = 1): number[] {
  return tf.tidy(() => {
    const labels = tf.tensor1d(y);
    const g = tf.grad((x: tf.Tensor) => guidanceLoss(x as tf.Tensor2D, J, labels, method, margin))(tf.tensor2d(f, [B, S]));
    return Array.from(g.dataSync());
  });
}

function finiteDifferences(f: number[], y: number[], method: GuidanceMethod, margin: number, h = 1e-2): number[] {
  return f.map((_, i) => {
    const fp = [...f]; fp[i] += h;
    const fm = [...f]; fm[i] -= h;
    return (loss(fp, y, method, margin) - loss(fm, y, method, margin)) / (2 * h);
  });
}

describe('guidanceLoss values', () => {
  it('mse is the batch mean of (f_j − y)², including real-valued targets', () => {
    expect(loss(F, Y, 'mse')).toBeCloseTo(refMse(F, Y), 6);
    const real = [0.3, -1.2, 2, 0, 0.7, 1.5];
    expect(loss(F, real, 'mse')).toBeCloseTo(refMse(F, real), 6);
  });

  it('contrastive is ReLU(margin − (mean f_j|y=1 − mean f_j|y=0)), active and inactive', () => {
    const gap = refMeans(F, Y).meanPos - refMeans(F, Y).meanNeg;
    expect(Math.abs(gap)).toBeGreaterThan(0.1); // the fixture separates the classes somewhat
    for (const margin of [2, 0.5, gap + 0.25, gap - 0.25, -3]) {
      expect(loss(F, Y, 'contrastive', margin)).toBeCloseTo(refContrastive(F, Y, margin), 6);
    }
    expect(loss(F, Y, 'contrastive', gap - 0.25)).toBe(0);
    expect(loss(F, Y, 'contrastive', gap + 0.25)).toBeCloseTo(0.25, 5);
  });

  it('treats labels > 0.5 as positive and accepts int32 labels', () => {
    const soft = [0.9, 0.1, 0.51, 0.3, 0.5, 0]; // same classes as Y
    expect(loss(F, soft, 'contrastive', 2)).toBeCloseTo(refContrastive(F, Y, 2), 6);
    const viaInt = tf.tidy(() => guidanceLoss(tf.tensor2d(F, [B, S]), J, tf.tensor1d(Y, 'int32'), 'contrastive', 2).dataSync()[0]);
    expect(viaInt).toBeCloseTo(refContrastive(F, Y, 2), 6);
  });

  it('rejects a latent index outside d_sae', () => {
    expect(() => loss(F, Y, 'mse', 1)).not.toThrow();
    expect(() => tf.tidy(() => guidanceLoss(tf.tensor2d(F, [B, S]), S, tf.tensor1d(Y), 'mse', 1))).toThrow(/outside the SAE's latents 0\.\.3/);
  });
});

describe('guidanceLoss with a batch lacking a class', () => {
  for (const [name, y] of [['all negative', [0, 0, 0, 0, 0, 0]], ['all positive', [1, 1, 1, 1, 1, 1]]] as const) {
    it(`${name}: contrastive is exactly 0 with exactly zero gradient`, () => {
      expect(loss(F, [...y], 'contrastive', 5)).toBe(0);
      expect(gradOf(F, [...y], 'contrastive', 5).every((g) => g === 0)).toBe(true);
    });
  }
});

describe('guidanceLoss gradients w.r.t. f', () => {
  it('mse: 2(f_j − y)/B in column j, 0 elsewhere; equals finite differences', () => {
    const g = gradOf(F, Y, 'mse');
    const expected = F.map((v, i) => (i % S === J ? (2 * (v - Y[Math.floor(i / S)])) / B : 0));
    expectClose(g, expected, 1e-6);
    expectClose(g, finiteDifferences(F, Y, 'mse', 1), 2e-3);
  });

  it('contrastive, hinge active: −1/n_pos on positive rows, +1/n_neg on negative rows of column j', () => {
    const { nPos, nNeg } = refMeans(F, Y);
    const margin = 3;
    expect(refContrastive(F, Y, margin)).toBeGreaterThan(0.5); // well inside the active region
    const g = gradOf(F, Y, 'contrastive', margin);
    const expected = F.map((_, i) => (i % S !== J ? 0 : Y[Math.floor(i / S)] === 1 ? -1 / nPos : 1 / nNeg));
    expectClose(g, expected, 1e-6);
    expectClose(g, finiteDifferences(F, Y, 'contrastive', margin), 2e-3);
  });

  it('contrastive, hinge inactive: zero gradient everywhere', () => {
    const margin = -3;
    expect(refContrastive(F, Y, margin)).toBe(0);
    const g = gradOf(F, Y, 'contrastive', margin);
    expect(g.every((v) => v === 0)).toBe(true);
    expectClose(g, finiteDifferences(F, Y, 'contrastive', margin), 1e-4);
  });

  it('gives the same gradient through tf.variableGrads on a variable', () => {
    const v = tf.variable(tf.tensor2d(F, [B, S]));
    const labels = tf.tensor1d(Y);
    const { value, grads } = tf.variableGrads(() => guidanceLoss(v, J, labels, 'contrastive', 3), [v]);
    expect(value.dataSync()[0]).toBeCloseTo(refContrastive(F, Y, 3), 6);
    expectClose(grads[v.name].dataSync(), gradOf(F, Y, 'contrastive', 3), 1e-7);
    tf.dispose([v, labels, value, grads[v.name]]);
  });
});

describe('guidanceStats', () => {
  it('returns the class means of f_j, 0 for an empty class', () => {
    const run = (y: number[]) =>
      tf.tidy(() => {
        const s = guidanceStats(tf.tensor2d(F, [B, S]), J, tf.tensor1d(y));
        return [s.meanPos.dataSync()[0], s.meanNeg.dataSync()[0]];
      });
    const ref = refMeans(F, Y);
    expectClose(run(Y), [ref.meanPos, ref.meanNeg], 1e-6);
    const allNeg = run([0, 0, 0, 0, 0, 0]);
    expect(allNeg[0]).toBe(0);
    expect(allNeg[1]).toBeCloseTo(col(F).reduce((a, v) => a + v, 0) / B, 6);
    expect(run([1, 1, 1, 1, 1, 1])[1]).toBe(0);
  });
});

describe('memory', () => {
  it('leaks no tensors across repeated calls, with and without an outer tf.tidy', () => {
    const f = tf.tensor2d(F, [B, S]);
    const labels = tf.tensor1d(Y);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      tf.tidy(() => {
        guidanceLoss(f, J, labels, 'mse', 1);
        guidanceLoss(f, J, labels, 'contrastive', 1);
        guidanceStats(f, J, labels);
        tf.grad((x: tf.Tensor) => guidanceLoss(x as tf.Tensor2D, J, labels, 'contrastive', 3))(f);
      });
      // Without an outer tidy only the returned tensors remain; disposing them must restore the count.
      const l = guidanceLoss(f, J, labels, 'contrastive', 3);
      const s = guidanceStats(f, J, labels);
      tf.dispose([l, s.meanPos, s.meanNeg]);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([f, labels]);
  });
});
