import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeSyntheticDataset } from '../../data/synthetic';
import { initialLive, resolveConfig } from '../config';
import type { GatedConfig } from './gated.decl';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, matmul, trainMinibatches, useCpu, values } from '../testing';
import { variantFor } from './registry';
import type { Params, StepContext, Variant } from './types';

beforeAll(useCpu);

const D = 3, S = 5, B = 4, LAMBDA = 0.3;
const X = values(B * D, 1, 2);
const INIT: Record<string, number[]> = {
  W_enc: values(D * S, 2),
  b_gate: values(S, 3, 0.3),
  r_mag: values(S, 6, 0.5),
  b_mag: [-0.9, 0.4, -0.5, 0.6, 0.3], // differs from b_gate so that gate and magnitude disagree on some entries
  W_dec: values(S * D, 4),
  b_dec: values(D, 5, 0.3),
};
const SHAPES: Record<string, number[]> = { W_enc: [D, S], b_gate: [S], r_mag: [S], b_mag: [S], W_dec: [S, D], b_dec: [D] };

function setup(extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'gated', d_sae: S, l1_coefficient: LAMBDA, ...extra }, D) as GatedConfig;
  const variant = variantFor(cfg) as Variant<GatedConfig>;
  const p: Params = variant.init(cfg, { dIn: D, nLayers: 1, mean: new Float32Array(D), meanNorm: 1 }, createRng(0));
  for (const [name, v] of Object.entries(INIT)) p[name].assign(tf.tensor(v, SHAPES[name]));
  return { cfg, variant, p, live: initialLive(cfg) };
}
const ctx = (): StepContext => ({ deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 });

type Arrays = Record<string, number[]>;
/**
 * Plain-array gated SAE. `bDecEnc` is the b_dec of the encoder's centring, `frozen` the decoder the
 * aux term uses, so the tests can vary each on its own.
 */
function reference(w: Arrays, opts: { bDecEnc?: number[]; frozen?: { W_dec: number[]; b_dec: number[] } } = {}) {
  const bDecEnc = opts.bDecEnc ?? w.b_dec;
  const frozen = opts.frozen ?? { W_dec: w.W_dec, b_dec: w.b_dec };
  const h = matmul(X.map((v, i) => v - bDecEnc[i % D]), w.W_enc, B, D, S);
  const piGate = h.map((v, i) => v + w.b_gate[i % S]);
  const piMag = h.map((v, i) => Math.exp(w.r_mag[i % S]) * v + w.b_mag[i % S]);
  const f = piMag.map((v, i) => (piGate[i] > 0 ? Math.max(0, v) : 0));
  const decode = (a: number[], wDec: number[], bDec: number[]) => matmul(a, wDec, B, S, D).map((v, i) => v + bDec[i % D]);
  const sqErr = (y: number[]) => y.reduce((s, v, i) => s + (X[i] - v) ** 2, 0) / B;
  const xHat = decode(f, w.W_dec, w.b_dec);
  const gateAct = piGate.map((v) => Math.max(0, v));
  const decNorm = Array.from({ length: S }, (_, j) => Math.hypot(...w.W_dec.slice(j * D, j * D + D)));
  const sparsity = (LAMBDA * gateAct.reduce((s, v, i) => s + v * decNorm[i % S], 0)) / B;
  const aux = sqErr(decode(gateAct, frozen.W_dec, frozen.b_dec));
  const recon = sqErr(xHat);
  return { piGate, piMag, f, xHat, recon, sparsity, aux, total: recon + sparsity + aux };
}

const read = (t: tf.Tensor) => Array.from(t.dataSync());
const sameSigns = (a: number[], b: number[]) => a.every((v, i) => v > 0 === b[i] > 0);

describe('gated variant', () => {
  it('forward pass and every loss term match the plain-array reference', () => {
    const { variant, p, live } = setup();
    const ref = reference(INIT);
    // Every case occurs: gate open and magnitude > 0, gate open but magnitude ≤ 0, gate closed with magnitude > 0.
    expect(ref.f.some((v) => v > 0)).toBe(true);
    expect(ref.piMag.some((v, i) => v <= 0 && ref.piGate[i] > 0)).toBe(true);
    expect(ref.piMag.some((v, i) => v > 0 && ref.piGate[i] <= 0)).toBe(true);
    const x = tf.tensor2d(X, [B, D]);
    expectClose(read(variant.encode(p, x, live)), ref.f, 1e-5);
    const parts = variant.loss(p, x, live, ctx());
    expectClose(read(parts.f), ref.f, 1e-5);
    expectClose(read(parts.xHat), ref.xHat, 1e-5);
    expectClose(read(variant.decode(p, parts.f)), ref.xHat, 1e-5);
    expect(parts.recon.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    expect(parts.sparsity.dataSync()[0]).toBeCloseTo(ref.sparsity, 5);
    expect(parts.aux.dataSync()[0]).toBeCloseTo(ref.aux, 5);
    expect(parts.total.dataSync()[0]).toBeCloseTo(ref.total, 5);
  });

  it('the inference threshold zeroes activations at or below θ', () => {
    const { variant, p, live } = setup();
    const ref = reference(INIT);
    const positive = ref.f.filter((v) => v > 0).sort((a, b) => a - b);
    const theta = positive[Math.floor(positive.length / 2)]; // an activation exactly at θ is zeroed too
    expect(positive.length).toBeGreaterThan(2);
    expectClose(read(variant.encode(p, tf.tensor2d(X, [B, D]), { ...live, threshold: theta })), ref.f.map((v) => (v > theta ? v : 0)), 1e-5);
  });

  it('aux sends no gradient into the decoder; its W_enc, b_gate and b_dec gradients are the finite differences of the aux term', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const { grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx()).aux, Object.values(p));
    const g = (name: string) => (grads[p[name].name] ? read(grads[p[name].name]) : new Array(p[name].size).fill(0));
    expect(g('W_dec').every((v) => v === 0)).toBe(true);
    expect(g('r_mag').every((v) => v === 0) && g('b_mag').every((v) => v === 0)).toBe(true);
    const h = 1e-4;
    const frozen = { W_dec: INIT.W_dec, b_dec: INIT.b_dec };
    const fd = (name: string, i: number, auxOf: (w: Arrays) => number) => {
      const plus = { ...INIT, [name]: INIT[name].map((v, j) => (j === i ? v + h : v)) };
      const minus = { ...INIT, [name]: INIT[name].map((v, j) => (j === i ? v - h : v)) };
      return (auxOf(plus) - auxOf(minus)) / (2 * h);
    };
    for (const name of ['W_enc', 'b_gate']) {
      const got = g(name);
      expect(got.some((v) => Math.abs(v) > 1e-2)).toBe(true);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(fd(name, i, (w) => reference(w).aux), 3);
    }
    // b_dec reaches aux only through the encoder's centring x − b_dec (as in the paper and SAELens):
    // the finite difference that moves only that b_dec, with the decoder copy held fixed.
    const gotBDec = g('b_dec');
    expect(gotBDec.some((v) => Math.abs(v) > 1e-2)).toBe(true);
    for (let i = 0; i < D; i++) expect(gotBDec[i]).toBeCloseTo(fd('b_dec', i, (w) => reference(INIT, { bDecEnc: w.b_dec, frozen }).aux), 3);
  });

  it('gradients of the total loss match central finite differences of the plain-array loss on every parameter', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const { grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx()).total, Object.values(p));
    const base = reference(INIT);
    const frozen = { W_dec: INIT.W_dec, b_dec: INIT.b_dec };
    const h = 1e-4;
    let checked = 0;
    for (const name of Object.keys(INIT)) {
      const got = read(grads[p[name].name]);
      for (let i = 0; i < got.length; i++) {
        // The aux decoder is a frozen copy: it stays at the current W_dec, b_dec.
        const plus = reference({ ...INIT, [name]: INIT[name].map((v, j) => (j === i ? v + h : v)) }, { frozen });
        const minus = reference({ ...INIT, [name]: INIT[name].map((v, j) => (j === i ? v - h : v)) }, { frozen });
        // A gate or ReLU that flips inside ±h makes the loss non-smooth there; skip those few.
        if (![plus, minus].every((r) => sameSigns(r.piGate, base.piGate) && sameSigns(r.piMag, base.piMag))) continue;
        checked += 1;
        const fd = (plus.total - minus.total) / (2 * h);
        expect(Math.abs(got[i] - fd), `${name}[${i}]: autodiff ${got[i]} vs finite difference ${fd}`).toBeLessThan(1e-3 + 1e-3 * Math.abs(fd));
      }
    }
    expect(checked).toBe(Object.values(INIT).reduce((s, v) => s + v.length, 0));
  });

  it('init: W_dec = W_encᵀ unit rows, b_gate = r_mag = b_mag = 0, b_dec = the data mean, no b_enc', () => {
    const cfg = resolveConfig({ architecture: 'gated', d_sae: S }, D) as GatedConfig;
    const variant = variantFor(cfg);
    const mean = new Float32Array([0.1, -0.2, 0.3]);
    const p = variant.init(cfg, { dIn: D, nLayers: 1, mean, meanNorm: 1 }, createRng(3));
    expect(Object.keys(p).sort()).toEqual([...variant.paramNames].sort());
    expect(p.b_enc).toBeUndefined();
    for (const name of ['b_gate', 'r_mag', 'b_mag']) expect(read(p[name]).every((v) => v === 0)).toBe(true);
    expectClose(read(p.b_dec), Array.from(mean), 1e-7);
    const wEnc = read(p.W_enc), wDec = read(p.W_dec);
    for (let i = 0; i < S; i++) {
      expect(Math.hypot(...wDec.slice(i * D, i * D + D))).toBeCloseTo(1, 5);
      for (let j = 0; j < D; j++) expect(wEnc[j * S + i]).toBe(wDec[i * D + j]);
    }
    Object.values(p).forEach((v) => v.dispose());
  });

  it('constrain makes W_dec rows unit-norm; resampleDead re-points dead latents and zeroes their b_gate, r_mag, b_mag', async () => {
    const { variant, p } = setup();
    variant.constrain!(p);
    const wDec = read(p.W_dec);
    for (let i = 0; i < S; i++) expect(Math.hypot(...wDec.slice(i * D, i * D + D))).toBeCloseTo(1, 5);
    const before = Object.fromEntries(Object.entries(p).map(([n, v]) => [n, read(v)]));
    const dirs = new Float32Array([3, 0, 4, 0, -2, 0]);
    await variant.resampleDead!(p, [1, 3], dirs);
    const after = Object.fromEntries(Object.entries(p).map(([n, v]) => [n, read(v)]));
    expectClose(after.W_dec.slice(1 * D, 2 * D), [0.6, 0, 0.8], 1e-6);
    expectClose(after.W_dec.slice(3 * D, 4 * D), [0, -1, 0], 1e-6);
    for (const name of ['b_gate', 'r_mag', 'b_mag']) {
      for (let i = 0; i < S; i++) expect(after[name][i]).toBe(i === 1 || i === 3 ? 0 : before[name][i]);
    }
    // Encoder columns of the resampled latents point along their new decoder rows.
    for (const i of [1, 3]) {
      const col = Array.from({ length: D }, (_, j) => after.W_enc[j * S + i]);
      const n = Math.hypot(...col);
      expect(n).toBeGreaterThan(0);
      expectClose(col.map((v) => v / n), after.W_dec.slice(i * D, i * D + D), 1e-5);
    }
    for (const i of [0, 2, 4]) expectClose(after.W_dec.slice(i * D, i * D + D), before.W_dec.slice(i * D, i * D + D), 0);
  });

  it('exports SAELens gated names and shapes, architecture "gated"', () => {
    const { variant, p, cfg, live } = setup();
    const out = variant.exportTensors(p);
    expect(Object.fromEntries(Object.entries(out).map(([n, t]) => [n, t.shape]))).toEqual({ W_enc: [D, S], b_gate: [S], r_mag: [S], b_mag: [S], W_dec: [S, D], b_dec: [D] });
    expect(variant.saelensConfig(cfg, live)).toEqual({ architecture: 'gated' });
  });

  it('leaks no tensors across loss() and encode() calls', () => {
    const { variant, p, live } = setup();
    const x = tf.tensor2d(X, [B, D]);
    const c = ctx();
    const run = () => tf.tidy(() => {
      variant.loss(p, x, live, c);
      variant.encode(p, x, { ...live, threshold: 0.2 });
      tf.variableGrads(() => variant.loss(p, x, live, c).total, Object.values(p));
    });
    expectNoLeaks(run);
  });

  it('trains on the synthetic sample: the loss falls over 300 steps', () => {
    const data = makeSyntheticDataset({ rows: 8192, dIn: 64, nFeatures: 256, activePerRow: 5 });
    const cfg = resolveConfig({ architecture: 'gated', d_sae: 256, l1_coefficient: 0.05, lr: 3e-3 }, 64) as GatedConfig;
    const { first, last } = trainMinibatches(variantFor(cfg) as Variant<GatedConfig>, cfg, data.data, 64, 300, 32, (parts, _x, total) => ({ total, recon: parts.recon }));
    expect(last.recon).toBeLessThan(0.3 * first.recon);
    expect(last.total).toBeLessThan(0.5 * first.total);
  });
});
