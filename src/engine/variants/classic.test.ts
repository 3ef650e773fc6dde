import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialLive, resolveConfig, type ConfigInput } from '../config';
import type { ClassicConfig } from './classic.decl';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, matmul, useCpu, values } from '../testing';
import { Trainer } from '../trainer';
import { makeSyntheticDataset } from '../../data/synthetic';
import { splitDataset } from '../../data/dataset';
import { variantFor } from './registry';
import type { Params } from './types';

beforeAll(useCpu);

const D = 3, H = 4, S = 5, B = 4;
const RHO = 0.05;
const X = values(B * D, 1, 2);
const FIXED: Record<string, { v: number[]; shape: number[] }> = {
  W1: { v: values(D * H, 2), shape: [D, H] },
  b1: { v: values(H, 3, 0.3), shape: [H] },
  W_enc: { v: values(H * S, 4), shape: [H, S] },
  b_enc: { v: values(S, 5, 0.3), shape: [S] },
  W_dec: { v: values(S * H, 6), shape: [S, H] },
  b2: { v: values(H, 7, 0.3), shape: [H] },
  W_out: { v: values(H * D, 8), shape: [H, D] },
  b_dec: { v: values(D, 9, 0.3), shape: [D] },
};
const MEAN = new Float32Array([0.5, -1, 2]);

function setup(input: ConfigInput) {
  const cfg = resolveConfig({ architecture: 'classic', d_sae: S, hidden_dim: H, kl_target: RHO, ...input }, D) as ClassicConfig;
  const variant = variantFor(cfg);
  const p: Params = variant.init(cfg, { dIn: D, nLayers: 1, mean: MEAN, meanNorm: 1 }, createRng(0));
  for (const [name, v] of Object.entries(p)) v.assign(tf.tensor(FIXED[name].v, FIXED[name].shape));
  return { cfg, variant, p, live: initialLive(cfg) };
}

const relu = (v: number) => Math.max(0, v);
const addBias = (a: number[], b: number[]) => a.map((v, i) => v + b[i % b.length]);
const transpose = (a: number[], r: number, c: number) => Array.from({ length: r * c }, (_, i) => a[(i % r) * c + Math.floor(i / r)]);
function normalizeRowsRef(a: number[], r: number, c: number): number[] {
  const out = [...a];
  for (let i = 0; i < r; i++) {
    const n = Math.hypot(...a.slice(i * c, i * c + c));
    for (let j = 0; j < c; j++) out[i * c + j] = a[i * c + j] / n;
  }
  return out;
}

/** Plain-array forward pass and penalties, independent of the engine's code. */
function reference(tied: boolean, P: Record<string, number[]> = Object.fromEntries(Object.entries(FIXED).map(([n, t]) => [n, t.v]))) {
  const h = addBias(matmul(X, P.W1, B, D, H), P.b1).map(relu);
  const z = addBias(matmul(h, P.W_enc, B, H, S), P.b_enc).map(relu);
  const wDecN = normalizeRowsRef(tied ? transpose(P.W_enc, H, S) : P.W_dec, S, H);
  const wOut = tied ? transpose(P.W1, D, H) : P.W_out;
  const g = addBias(matmul(z, wDecN, B, S, H), P.b2).map(relu);
  const xHat = addBias(matmul(g, wOut, B, H, D), P.b_dec);
  let recon = 0;
  for (let i = 0; i < X.length; i++) recon += (X[i] - xHat[i]) ** 2;
  recon /= B;
  const l1 = z.reduce((a, v) => a + Math.abs(v), 0) / (B * S);
  let kl = 0;
  for (let j = 0; j < S; j++) {
    let m = 0;
    for (let b = 0; b < B; b++) m += z[b * S + j] / B;
    m = Math.min(Math.max(m, 1e-6), Math.fround(1 - 1e-6));
    kl += RHO * Math.log(RHO / m) + (1 - RHO) * Math.log((1 - RHO) / (1 - m));
  }
  let hoyer = 0;
  for (let b = 0; b < B; b++) {
    const row = z.slice(b * S, b * S + S);
    const n1 = row.reduce((a, v) => a + Math.abs(v), 0), n2 = Math.hypot(...row);
    const ratio = n2 > 0 ? Math.max(1, n1 / n2) : 1;
    hoyer += (1 - (Math.sqrt(S) - ratio) / (Math.sqrt(S) - 1)) / B;
  }
  return { h, z, xHat, recon, penalty: { l1, kl, hoyer }, wDecN };
}

const scalars = (parts: { total: tf.Scalar; recon: tf.Scalar; sparsity: tf.Scalar; aux: tf.Scalar }) =>
  ({ total: parts.total.dataSync()[0], recon: parts.recon.dataSync()[0], sparsity: parts.sparsity.dataSync()[0], aux: parts.aux.dataSync()[0] });
const ctx = { deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 };
const TYPES = ['l1', 'kl', 'hoyer'] as const;
const CASES = [false, true].flatMap((tied) => TYPES.map((type) => ({ tied, type })));

describe('classic variant: forward pass', () => {
  it('the fixed inputs exercise both sides of every ReLU', () => {
    for (const tied of [false, true]) {
      const ref = reference(tied);
      for (const a of [ref.h, ref.z]) {
        expect(a.some((v) => v === 0)).toBe(true);
        expect(a.filter((v) => v > 0).length).toBeGreaterThan(3);
      }
    }
  });

  it.each(CASES)('tied=$tied, $type: z, x̂, recon, λ·penalty and total match the plain-array reference', ({ tied, type }) => {
    const lambda = 0.7;
    const { variant, p, live } = setup({ sparsity_type: type, tied_weights: tied, sparsity_coefficient: lambda });
    expect(live.lambda).toBe(lambda);
    const ref = reference(tied);
    const x = tf.tensor2d(X, [B, D]);
    expectClose(variant.encode(p, x, live).dataSync(), ref.z, 1e-5);
    expectClose(variant.decode(p, tf.tensor2d(ref.z, [B, S])).dataSync(), ref.xHat, 1e-5);
    const parts = variant.loss(p, x, live, ctx);
    expectClose(parts.f.dataSync(), ref.z, 1e-5);
    expectClose(parts.xHat.dataSync(), ref.xHat, 1e-5);
    const s = scalars(parts);
    expect(s.recon).toBeCloseTo(ref.recon, 5);
    expect(s.sparsity).toBeCloseTo(lambda * ref.penalty[type], 4);
    expect(s.total).toBeCloseTo(ref.recon + lambda * ref.penalty[type], 4);
    expect(s.aux).toBe(0);
  });

  it('λ is read from live, so a slider change acts on the next loss', () => {
    const { variant, p, live } = setup({ sparsity_type: 'l1', sparsity_coefficient: 0.1 });
    const x = tf.tensor2d(X, [B, D]);
    expect(scalars(variant.loss(p, x, { ...live, lambda: 2 }, ctx)).sparsity).toBeCloseTo(2 * reference(false).penalty.l1, 5);
  });

  it('inference threshold zeroes latents at or below θ in encode, not in the loss', () => {
    const { variant, p, live } = setup({ sparsity_type: 'l1' });
    const ref = reference(false);
    const x = tf.tensor2d(X, [B, D]);
    const theta = 0.3;
    expect(ref.z.some((v) => v > 0 && v <= theta)).toBe(true);
    expectClose(variant.encode(p, x, { ...live, threshold: theta }).dataSync(), ref.z.map((v) => (v > theta ? v : 0)), 1e-5);
    expectClose(variant.loss(p, x, { ...live, threshold: theta }, ctx).f.dataSync(), ref.z, 1e-5);
  });
});

describe('classic variant: gradients', () => {
  it.each(CASES)('tied=$tied, $type: autodiff gradients of the total loss match central finite differences on every parameter', ({ tied, type }) => {
    const { variant, p, live } = setup({ sparsity_type: type, tied_weights: tied, sparsity_coefficient: 0.5 });
    const x = tf.tensor2d(X, [B, D]);
    const { grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx).total, Object.values(p));
    const loss = () => tf.tidy(() => variant.loss(p, x, live, ctx).total.dataSync()[0]);
    const h = 1e-3;
    let checked = 0;
    for (const [name, v] of Object.entries(p)) {
      const g = grads[v.name].dataSync();
      const base = Array.from(v.dataSync());
      for (let i = 0; i < base.length; i++) {
        const plus = [...base]; plus[i] += h;
        v.assign(tf.tensor(plus, v.shape));
        const lp = loss();
        const minus = [...base]; minus[i] -= h;
        v.assign(tf.tensor(minus, v.shape));
        const lm = loss();
        v.assign(tf.tensor(base, v.shape));
        const fd = (lp - lm) / (2 * h);
        expect(Math.abs(g[i] - fd), `${name}[${i}]: autodiff ${g[i]} vs finite difference ${fd}`).toBeLessThan(3e-3 + 0.01 * Math.abs(fd));
        if (Math.abs(g[i]) > 1e-3) checked++;
      }
    }
    expect(checked).toBeGreaterThan(20); // not vacuous: most parameters carry gradient
  });

  it('decoder normalisation is in the forward pass: scaling a W_dec row leaves x̂ unchanged and ∂L/∂W_dec ⟂ each row', () => {
    const { variant, p, live } = setup({ sparsity_type: 'l1' });
    const x = tf.tensor2d(X, [B, D]);
    const before = variant.loss(p, x, live, ctx).xHat.dataSync();
    const w = [...FIXED.W_dec.v];
    for (let j = 0; j < H; j++) w[2 * H + j] *= 3;
    for (let j = 0; j < H; j++) w[4 * H + j] *= 0.1;
    p.W_dec.assign(tf.tensor2d(w, [S, H]));
    expectClose(variant.loss(p, x, live, ctx).xHat.dataSync(), before, 1e-5);
    p.W_dec.assign(tf.tensor2d(FIXED.W_dec.v, [S, H]));
    const { grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx).total, Object.values(p));
    const g = grads[p.W_dec.name].dataSync();
    let nonzero = 0;
    for (let i = 0; i < S; i++) {
      const row = FIXED.W_dec.v.slice(i * H, i * H + H), gr = Array.from(g.slice(i * H, i * H + H));
      const dot = row.reduce((a, v, j) => a + v * gr[j], 0);
      const gn = Math.hypot(...gr);
      if (gn > 1e-4) nonzero++;
      expect(Math.abs(dot)).toBeLessThan(1e-5 * Math.max(1, gn * Math.hypot(...row)));
    }
    expect(nonzero).toBeGreaterThan(1);
  });

  it('tied: the decoder uses W_encᵀ with unit rows (scaling a latent\'s W_enc column scales only its z)', () => {
    const { variant, p, live } = setup({ sparsity_type: 'l1', tied_weights: true });
    const w = [...FIXED.W_enc.v];
    for (let r = 0; r < H; r++) w[r * S + 1] *= 3; // latent 1's column
    p.W_enc.assign(tf.tensor2d(w, [H, S]));
    const bEnc = FIXED.b_enc.v.map((v, i) => (i === 1 ? v * 3 : v));
    p.b_enc.assign(tf.tensor1d(bEnc));
    // Untied reference with W_dec = the unscaled W_encᵀ: its normalised rows are the same directions.
    const fixed = Object.fromEntries(Object.entries(FIXED).map(([n, t]) => [n, t.v]));
    const ref = reference(false, { ...fixed, W_enc: w, b_enc: bEnc, W_dec: transpose(FIXED.W_enc.v, H, S), W_out: transpose(FIXED.W1.v, D, H) });
    const parts = variant.loss(p, tf.tensor2d(X, [B, D]), live, ctx);
    expectClose(parts.xHat.dataSync(), ref.xHat, 1e-5);
    const base = reference(true);
    expectClose(parts.f.dataSync(), base.z.map((v, i) => (i % S === 1 ? 3 * v : v)), 1e-5);
  });

  it('a zero W_dec row gives finite gradients (the norm guard), and constrain restores unit rows without changing x̂', () => {
    const { variant, p, live } = setup({ sparsity_type: 'kl' });
    const x = tf.tensor2d(X, [B, D]);
    const w = [...FIXED.W_dec.v];
    for (let j = 0; j < H; j++) w[0 * H + j] = 0;
    p.W_dec.assign(tf.tensor2d(w, [S, H]));
    const { value, grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx).total, Object.values(p));
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const t of Object.values(grads)) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);

    p.W_dec.assign(tf.tensor2d(FIXED.W_dec.v.map((v) => v * 2.5), [S, H]));
    const before = variant.loss(p, x, live, ctx).xHat.dataSync();
    variant.constrain!(p);
    const wd = p.W_dec.dataSync();
    for (let i = 0; i < S; i++) expect(Math.hypot(...Array.from(wd.slice(i * H, i * H + H)))).toBeCloseTo(1, 6);
    expectClose(variant.loss(p, x, live, ctx).xHat.dataSync(), before, 1e-5);
    expect(setup({ tied_weights: true }).variant.constrain).toBeUndefined();
  });
});

describe('classic variant: init, export, memory', () => {
  it('init: parameter names and shapes, b_dec = mean, b1 centres the first layer, W_dec rows unit, seeded', () => {
    for (const tied of [false, true]) {
      const cfg = resolveConfig({ architecture: 'classic', d_sae: 6, hidden_dim: 7, tied_weights: tied }, D) as ClassicConfig;
      const variant = variantFor(cfg);
      const stats = { dIn: D, nLayers: 1, mean: MEAN, meanNorm: 1 };
      const p = variant.init(cfg, stats, createRng(3));
      expect(Object.keys(p)).toEqual([...variant.paramNames]);
      const shapes = Object.fromEntries(Object.entries(p).map(([n, v]) => [n, v.shape]));
      expect(shapes).toEqual(tied
        ? { W1: [D, 7], b1: [7], W_enc: [7, 6], b_enc: [6], b2: [7], b_dec: [D] }
        : { W1: [D, 7], b1: [7], W_enc: [7, 6], b_enc: [6], W_dec: [6, 7], b2: [7], W_out: [7, D], b_dec: [D] });
      expectClose(p.b_dec.dataSync(), MEAN, 1e-7);
      // mean·W1 + b1 = 0: the data mean sits at every hidden unit's kink.
      expectClose(matmul(Array.from(MEAN), Array.from(p.W1.dataSync()), 1, D, 7).map((v, i) => v + p.b1.dataSync()[i]), new Array(7).fill(0), 1e-6);
      const w1 = Array.from(p.W1.dataSync());
      expect(w1.every((v) => Math.abs(v) <= 1 / Math.sqrt(D))).toBe(true);
      expect(new Set(w1).size).toBe(w1.length);
      if (!tied) {
        const wd = p.W_dec.dataSync();
        for (let i = 0; i < 6; i++) expect(Math.hypot(...Array.from(wd.slice(i * 7, i * 7 + 7)))).toBeCloseTo(1, 6);
      }
      const again = variant.init(cfg, stats, createRng(3));
      for (const n of Object.keys(p)) expect(Array.from(again[n].dataSync())).toEqual(Array.from(p[n].dataSync()));
      const other = variant.init(cfg, stats, createRng(4));
      expect(Array.from(other.W_enc.dataSync())).not.toEqual(Array.from(p.W_enc.dataSync()));
      for (const q of [p, again, other]) Object.values(q).forEach((v) => v.dispose());
    }
  });

  it.each([false, true])('tied=%s: exports every tensor by name (W_dec the normalised matrix), our own cfg architecture', (tied) => {
    const { variant, p, cfg, live } = setup({ sparsity_type: 'hoyer', tied_weights: tied });
    const before = tf.memory().numTensors;
    const out = variant.exportTensors(p);
    expect(Object.fromEntries(Object.entries(out).map(([n, t]) => [n, t.shape]))).toEqual(
      { W1: [D, H], b1: [H], W_enc: [H, S], b_enc: [S], W_dec: [S, H], b2: [H], W_out: [H, D], b_dec: [D] });
    expectClose(out.W_dec.dataSync(), reference(tied).wDecN, 1e-6);
    expectClose(out.W_out.dataSync(), tied ? transpose(FIXED.W1.v, D, H) : FIXED.W_out.v, 1e-7);
    const params = new Set<tf.Tensor>(Object.values(p));
    for (const t of Object.values(out)) if (!params.has(t)) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(variant.saelensConfig(cfg, live)).toEqual({ architecture: 'classic', hidden_dim: H, sparsity_type: 'hoyer', tied_weights: tied });
  });

  it.each(CASES)('tied=$tied, $type: no tensor leaks across repeated loss, gradients, encode and decode', ({ tied, type }) => {
    const { variant, p, live } = setup({ sparsity_type: type, tied_weights: tied });
    const x = tf.tensor2d(X, [B, D]);
    const run = () => tf.tidy(() => {
      const { grads } = tf.variableGrads(() => variant.loss(p, x, live, ctx).total, Object.values(p));
      tf.dispose(grads);
      variant.decode(p, variant.encode(p, x, { ...live, threshold: 0.1 }));
      variant.loss(p, x, live, ctx);
    });
    expectNoLeaks(run);
  });
});

describe('classic variant: training', () => {
  const ds = makeSyntheticDataset({ rows: 1024, dIn: 16, nFeatures: 32, activePerRow: 3, seed: 5 });
  const data = splitDataset(ds, 0.1, 0);

  async function train(type: string, tied: boolean, lambda: number) {
    const cfg = resolveConfig({
      architecture: 'classic', d_sae: 32, hidden_dim: 32, batch_size: 64, steps: 300, log_every: 10, lr: 3e-3,
      sparsity_type: type, tied_weights: tied, sparsity_coefficient: lambda, sparsity_mode: 'manual', early_stopping_patience: 0,
    }, 16);
    const t = new Trainer(cfg, data, 'cpu');
    await t.runSteps(300);
    const rows = t.takeRows();
    t.dispose();
    return rows;
  }
  type Row = Awaited<ReturnType<typeof train>>[number];
  const avg = (rs: Row[], key: 'total_loss' | 'recon_loss' | 'l0') => rs.reduce((a, r) => a + r[key], 0) / rs.length;

  it.each(CASES)('tied=$tied, $type: 300 steps on synthetic data lower the loss', async ({ tied, type }) => {
    const rows = await train(type, tied, { l1: 0.1, kl: 0.01, hoyer: 0.1 }[type]);
    expect(rows.length).toBe(30);
    const first = rows.slice(0, 3), last = rows.slice(-3);
    expect(rows.every((r) => Number.isFinite(r.total_loss))).toBe(true);
    expect(avg(last, 'total_loss')).toBeLessThan(0.6 * avg(first, 'total_loss'));
    expect(avg(last, 'recon_loss')).toBeLessThan(avg(first, 'recon_loss'));
  }, 20_000);

  it('each penalty does its job: with a larger λ fewer latents fire than with λ = 0', async () => {
    // Measured: L0 ≈ 31 of 32 with λ = 0; l1 λ 1 → 26, kl λ 0.1 → 18, hoyer λ 1 → 24.
    const free = avg((await train('l1', false, 0)).slice(-3), 'l0');
    for (const [type, lambda] of [['l1', 1], ['kl', 0.1], ['hoyer', 1]] as const) {
      expect(avg((await train(type, false, lambda)).slice(-3), 'l0'), type).toBeLessThan(free - 3);
    }
  }, 30_000);
});
