import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOYER_EPS, KL_EPS, hoyerPenalty, hoyerSparseness, klPenalty, l1Penalty } from './sparsityPenalties';
import { expectClose, expectNoLeaks, useCpu, values } from './testing';

beforeAll(useCpu);

const Z = [[0, 1, 0, 3], [2, 0, 0, 0]];
const RHO = 0.05;
const value = (t: tf.Scalar) => t.dataSync()[0];
const ln = Math.log;
/** 1 − KL_EPS as float32 holds it (1 − 1e-6 is not representable; the nearest float32 is used). */
const ONE_MINUS_EPS = Math.fround(1 - KL_EPS);

describe('l1Penalty', () => {
  it('is the mean |z| over all entries', () => {
    expect(value(l1Penalty(tf.tensor2d(Z)))).toBeCloseTo((1 + 3 + 2) / 8, 7);
    expect(value(l1Penalty(tf.tensor2d([[-1, 2], [0, -3]])))).toBeCloseTo(6 / 4, 7);
  });
});

describe('klPenalty', () => {
  it('sums KL(ρ‖ρ̂_j) over latents with ρ̂ = batch mean, clamped into [ε, 1 − ε]', () => {
    // ρ̂ = column means of Z = [1, 0.5, 0, 1.5] → clamped to [1 − ε, 0.5, ε, 1 − ε].
    const term = (rhoHat: number, oneMinusRhoHat: number) => RHO * ln(RHO / rhoHat) + (1 - RHO) * ln((1 - RHO) / oneMinusRhoHat);
    const saturated = term(ONE_MINUS_EPS, 1 - ONE_MINUS_EPS); // ρ̂ = 1 and 1.5: ≈ 0.05·ln 0.05 + 0.95·ln(0.95/1e-6)
    const half = 0.05 * ln(0.05 / 0.5) + 0.95 * ln(0.95 / 0.5); // = 0.05·ln 0.1 + 0.95·ln 1.9 ≈ 0.4946
    const dead = 0.05 * ln(0.05 / 1e-6) + 0.95 * ln(0.95 / (1 - 1e-6)); // ρ̂ = 0 → ε: ≈ 0.4923
    expect(half).toBeCloseTo(0.05 * -2.302585 + 0.95 * 0.641854, 5);
    expect(saturated).toBeGreaterThan(12.9);
    expect(value(klPenalty(tf.tensor2d(Z), RHO))).toBeCloseTo(saturated + half + dead + saturated, 3);
  });

  it('below the upper clamp it is the plain formula (a dead latent counts at ρ̂ = ε), and 0 at ρ̂ = ρ', () => {
    const z = Z.map((r) => r.map((v) => v / 10)); // ρ̂ = [0.1, 0.05, 0, 0.15]; the 0 is clamped to ε
    const term = (q: number) => RHO * ln(RHO / q) + (1 - RHO) * ln((1 - RHO) / (1 - q));
    const expected = term(0.1) + 0 + term(KL_EPS) + term(0.15);
    expect(term(0.05)).toBe(0);
    expect(value(klPenalty(tf.tensor2d(z), RHO))).toBeCloseTo(expected, 4);
    expect(value(klPenalty(tf.tensor2d([[0.1, 0.02], [0, 0.08]]), RHO))).toBeCloseTo(0, 6);
  });

  it('gradient: (1/B)(−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)) inside the clamp, 0 outside; agrees with central differences', () => {
    const B = 3, S = 4;
    const z = [0.1, 0.3, 0, 2, 0.2, 0.05, 0, 1.5, 0.3, 0.01, 0, 2.5]; // ρ̂ = [0.2, 0.12, 0 (clamped), 2 (clamped)]
    const rhoHat = [0.2, 0.12, 0, 2];
    const g = tf.grad((t: tf.Tensor) => klPenalty(t as tf.Tensor2D, RHO))(tf.tensor2d(z, [B, S])).dataSync();
    const expected = z.map((_, i) => {
      const q = rhoHat[i % S];
      return q > KL_EPS && q < 1 - KL_EPS ? (-RHO / q + (1 - RHO) / (1 - q)) / B : 0;
    });
    expectClose(g, expected, 1e-5);
    // Latent 2 sits on the lower clamp's kink (ρ̂ = 0): a difference step there is one-sided, skip it.
    expectFiniteDifferences((t) => klPenalty(t, RHO), z, [B, S], g, 1e-3, (i) => i % S === 2);
  });
});

describe('hoyerPenalty', () => {
  it('is the mean over rows of 1 − (√n − ‖z‖₁/‖z‖₂)/(√n − 1)', () => {
    // n = 4, √n = 2, √n − 1 = 1. Row 0: ‖z‖₁ = 4, ‖z‖₂ = √10, hoyer = 2 − 4/√10 ≈ 0.7351.
    // Row 1: one nonzero, ‖z‖₁ = ‖z‖₂ = 2, hoyer = 2 − 1 = 1.
    const hoyer0 = (2 - 4 / Math.sqrt(10)) / (2 - 1);
    expect(hoyer0).toBeCloseTo(0.735089, 5);
    expectClose(hoyerSparseness(tf.tensor2d(Z)).dataSync(), [hoyer0, 1], 1e-6);
    expect(value(hoyerPenalty(tf.tensor2d(Z)))).toBeCloseTo(((1 - hoyer0) + (1 - 1)) / 2, 6);
  });

  it('hoyer = 1 with a single nonzero (penalty 0) and 0 when all entries are equal (penalty 1)', () => {
    expectClose(hoyerSparseness(tf.tensor2d([[0, 0, 5, 0, 0, 0]])).dataSync(), [1], 1e-6);
    expect(value(hoyerPenalty(tf.tensor2d([[0, 0, 5, 0, 0, 0]])))).toBeCloseTo(0, 6);
    expectClose(hoyerSparseness(tf.tensor2d([[0.7, 0.7, 0.7, 0.7, 0.7, 0.7]])).dataSync(), [0], 1e-6);
    expect(value(hoyerPenalty(tf.tensor2d([[0.7, 0.7, 0.7, 0.7, 0.7, 0.7]])))).toBeCloseTo(1, 6);
    // n = 9, two equal nonzeros: ‖z‖₁/‖z‖₂ = √2, hoyer = (3 − √2)/2.
    expect(value(hoyerPenalty(tf.tensor2d([[0, 1, 0, 0, 0, 0, 0, 1, 0]])))).toBeCloseTo(1 - (3 - Math.SQRT2) / 2, 6);
  });

  it('an all-zero row counts as maximally sparse (penalty 0) and has a finite, zero gradient', () => {
    const z = tf.tensor2d([[0, 0, 0, 0], [1, 1, 0, 0]]);
    // Row 1: ratio √2, 1 − hoyer = (√2 − 1)/(2 − 1).
    expect(value(hoyerPenalty(z))).toBeCloseTo((0 + (Math.SQRT2 - 1)) / 2, 6);
    const g = Array.from(tf.grad((t: tf.Tensor) => hoyerPenalty(t as tf.Tensor2D))(z).dataSync());
    expect(g.every(Number.isFinite)).toBe(true);
    expect(g.slice(0, 4).map(Math.abs)).toEqual([0, 0, 0, 0]);
    expect(HOYER_EPS).toBeGreaterThan(0);
  });

  it('gradient = (sign(z_k)/‖z‖₂ − ‖z‖₁ z_k/‖z‖₂³)/((√n − 1)·B) and agrees with central differences', () => {
    const B = 3, S = 5;
    const z = values(B * S, 11).map((v) => 0.2 + Math.abs(v)); // positive, away from the |·| kink
    const g = tf.grad((t: tf.Tensor) => hoyerPenalty(t as tf.Tensor2D))(tf.tensor2d(z, [B, S])).dataSync();
    const expected = z.map((v, i) => {
      const row = z.slice(Math.floor(i / S) * S, Math.floor(i / S) * S + S);
      const l1 = row.reduce((a, b) => a + Math.abs(b), 0);
      const l2 = Math.hypot(...row);
      return (Math.sign(v) / l2 - (l1 * v) / l2 ** 3) / ((Math.sqrt(S) - 1) * B);
    });
    expectClose(g, expected, 1e-5);
    expectFiniteDifferences(hoyerPenalty, z, [B, S], g, 1e-3);
  });
});

describe('l1Penalty gradient', () => {
  it('is sign(z)/(B·n) and agrees with central differences', () => {
    const z = values(8, 5).map((v) => (Math.abs(v) < 0.05 ? 0.3 : v)); // away from the kink at 0
    const g = tf.grad((t: tf.Tensor) => l1Penalty(t as tf.Tensor2D))(tf.tensor2d(z, [2, 4])).dataSync();
    expectClose(g, z.map((v) => Math.sign(v) / 8), 1e-7);
    expectFiniteDifferences(l1Penalty, z, [2, 4], g, 1e-3);
  });
});

describe('no leaks', () => {
  it('each penalty and its gradient leave the tensor count flat', () => {
    const z = tf.tensor2d(Z);
    const fns = [l1Penalty, (t: tf.Tensor2D) => klPenalty(t, RHO), hoyerPenalty];
    const run = () => fns.forEach((fn) => tf.tidy(() => { fn(z); tf.grad((t: tf.Tensor) => fn(t as tf.Tensor2D))(z); }));
    expectNoLeaks(run);
    z.dispose();
  });
});

/** Central differences of fn at z (float32 evaluation, step 1e-2) against the gradient g. */
function expectFiniteDifferences(
  fn: (t: tf.Tensor2D) => tf.Scalar, z: number[], shape: [number, number], g: ArrayLike<number>, tol: number, skip: (i: number) => boolean = () => false,
): void {
  const h = 1e-2;
  const at = (v: number[]) => tf.tidy(() => fn(tf.tensor2d(v, shape)).dataSync()[0]);
  for (let i = 0; i < z.length; i++) {
    if (skip(i)) continue;
    const plus = [...z]; plus[i] += h;
    const minus = [...z]; minus[i] -= h;
    const fd = (at(plus) - at(minus)) / (2 * h);
    expect(Math.abs(g[i] - fd), `entry ${i}: gradient ${g[i]} vs finite difference ${fd}`).toBeLessThan(tol + 0.01 * Math.abs(fd));
  }
}
