import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initialLive, resolveConfig, type SaeConfig } from '../config';
import { createRng } from '../rng';
import { expectClose, expectNoLeaks, expectParamGradsMatchFiniteDifferences, layeredAtomData, trainFullBatch, useCpu, values } from '../testing';
import { variantFor } from './registry';
import { route } from './routesae';
import type { Params, StepContext } from './types';

beforeAll(useCpu);

type Routing = 'hard' | 'soft';
type Aggregation = 'sum' | 'mean';

const B = 4, L = 3, D = 3, S = 5, K = 2;
const X = values(B * L * D, 31, 2); // [B, L·D], layer-major
const ROUTER = values(D * L, 32, 0.5); // [D, L]
const W_ENC = values(D * S, 33);
const B_ENC = values(S, 34, 0.2);
const W_DEC = values(S * D, 35);
const B_DEC = values(D, 36, 0.3);
const MEAN = values(L * D, 37);

const x = (b: number, l: number, j: number) => X[(b * L + l) * D + j];

function setup(routing: Routing, aggregation: Aggregation, extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'routesae', d_sae: S, k: K, aux_k: 2, routing, aggregation, layer_start: 0, layer_end: L - 1, ...extra }, D, L) as SaeConfig;
  const variant = variantFor(cfg);
  const p: Params = variant.init(cfg, { dIn: D, nLayers: L, mean: Float32Array.from(MEAN), meanNorm: 1 }, createRng(0));
  return { cfg, variant, p, live: initialLive(cfg) };
}
function setFixed(p: Params) {
  p.router.assign(tf.tensor2d(ROUTER, [D, L]));
  p.W_enc.assign(tf.tensor2d(W_ENC, [D, S]));
  p.b_enc.assign(tf.tensor1d(B_ENC));
  p.W_dec.assign(tf.tensor2d(W_DEC, [S, D]));
  p.b_dec.assign(tf.tensor1d(B_DEC));
}
const ctx: StepContext = { deadMask: tf.zeros([S]) as tf.Tensor1D, step: 0, seed: 0 };

/** Routing, softmax and the shared TopK SAE by hand. */
function reference(routing: Routing, aggregation: Aggregation) {
  const logits: number[][] = [], weights: number[][] = [], share = new Array(L).fill(0);
  const routed: number[] = [], f: number[] = [], xHat: number[] = [];
  let recon = 0;
  for (let b = 0; b < B; b++) {
    const agg = Array.from({ length: D }, (_, j) => {
      let s = 0;
      for (let l = 0; l < L; l++) s += x(b, l, j);
      return aggregation === 'sum' ? s : s / L;
    });
    const lg = Array.from({ length: L }, (_, l) => agg.reduce((s, a, j) => s + a * ROUTER[j * L + l], 0));
    const mx = Math.max(...lg);
    const ex = lg.map((v) => Math.exp(v - mx));
    const w = ex.map((v) => v / ex.reduce((a, c) => a + c, 0));
    logits.push(lg);
    weights.push(w);
    const best = w.indexOf(Math.max(...w));
    const coeff = routing === 'hard' ? w.map((v, l) => (l === best ? v : 0)) : w;
    for (let l = 0; l < L; l++) share[l] += (routing === 'hard' ? (l === best ? 1 : 0) : w[l]) / B;
    const r = Array.from({ length: D }, (_, j) => coeff.reduce((s, c, l) => s + c * x(b, l, j), 0));
    routed.push(...r);
    const z = Array.from({ length: S }, (_, i) => r.reduce((s, v, j) => s + (v - B_DEC[j]) * W_ENC[j * S + i], B_ENC[i]));
    const kth = [...z].sort((a, c) => c - a)[K - 1];
    const fb = z.map((v) => (v >= kth && v > 0 ? v : 0));
    f.push(...fb);
    const xh = Array.from({ length: D }, (_, j) => fb.reduce((s, fi, i) => s + fi * W_DEC[i * D + j], B_DEC[j]));
    xHat.push(...xh);
    recon += xh.reduce((s, v, j) => s + (r[j] - v) ** 2, 0);
  }
  return { logits, weights, share, routed, f, xHat, recon: recon / B };
}

const MODES: [Routing, Aggregation][] = [['hard', 'sum'], ['hard', 'mean'], ['soft', 'sum'], ['soft', 'mean']];

describe('routesae variant', () => {
  it.each(MODES)('%s routing, %s aggregation: softmax weights and routed vectors match plain arrays', (routing, aggregation) => {
    const { p } = setup(routing, aggregation);
    setFixed(p);
    const ref = reference(routing, aggregation);
    const r = route(p, tf.tensor2d(X, [B, L * D]), routing, aggregation);
    expectClose(r.weights.dataSync(), ref.weights.flat(), 1e-5);
    expectClose(r.routed.dataSync(), ref.routed, 1e-5);
    expectClose(tf.mean(r.layerWeights, 0).dataSync(), ref.share, 1e-5);
  });

  it.each(MODES)('%s routing, %s aggregation: loss parts, target = routed, route_share, reconstruct', (routing, aggregation) => {
    const { variant, p, live } = setup(routing, aggregation);
    setFixed(p);
    const ref = reference(routing, aggregation);
    if (routing === 'hard') expect(ref.share.filter((s) => s > 0).length).toBeGreaterThan(1); // more than one layer is chosen
    const xt = tf.tensor2d(X, [B, L * D]);
    const parts = variant.loss(p, xt, live, ctx);
    expect(parts.target!.shape).toEqual([B, D]);
    expectClose(parts.target!.dataSync(), ref.routed, 1e-5);
    expectClose(parts.f.dataSync(), ref.f, 1e-5);
    expect(parts.xHat.shape).toEqual([B, D]);
    expectClose(parts.xHat.dataSync(), ref.xHat, 1e-5);
    expect(parts.recon.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    expect(parts.sparsity.dataSync()[0]).toBe(0);
    expect(parts.aux.dataSync()[0]).toBe(0);
    expect(parts.total.dataSync()[0]).toBeCloseTo(ref.recon, 5);
    const share = parts.diagnostics!.route_share;
    expect(share.shape).toEqual([L]);
    expectClose(share.dataSync(), ref.share, 1e-5);
    const rec = variant.reconstruct!(p, xt, live);
    expectClose(rec.f.dataSync(), ref.f, 1e-5);
    expectClose(rec.xHat.dataSync(), ref.xHat, 1e-5);
    expectClose(rec.target.dataSync(), ref.routed, 1e-5);
    expectClose(variant.encode(p, xt, live).dataSync(), ref.f, 1e-5);
    expectClose(variant.decode(p, rec.f).dataSync(), ref.xHat, 1e-5);
  });

  it.each(MODES)('%s routing, %s aggregation: the router gradient matches central finite differences of the loss', (routing, aggregation) => {
    const { variant, p, live } = setup(routing, aggregation);
    setFixed(p);
    const xt = tf.tensor2d(X, [B, L * D]);
    const h = 1e-3;
    if (routing === 'hard') {
      // Away from ties: a step of h on the router moves no logit across the top two's gap.
      const ref = reference(routing, aggregation);
      for (const lg of ref.logits) {
        const [a, b] = [...lg].sort((u, v) => v - u);
        expect(a - b).toBeGreaterThan(0.05);
      }
    }
    const { grads } = tf.variableGrads(() => variant.loss(p, xt, live, ctx).total, [p.router]);
    const g = grads[p.router.name].dataSync();
    expect(Math.max(...Array.from(g, Math.abs))).toBeGreaterThan(1e-3); // the router does learn
    const loss = () => tf.tidy(() => variant.loss(p, xt, live, ctx).total.dataSync()[0]);
    for (let i = 0; i < D * L; i++) {
      const at = (d: number) => { const w = [...ROUTER]; w[i] += d; p.router.assign(tf.tensor2d(w, [D, L])); return loss(); };
      const fd = (at(h) - at(-h)) / (2 * h);
      p.router.assign(tf.tensor2d(ROUTER, [D, L]));
      expect(Math.abs(g[i] - fd), `router[${i}]: autodiff ${g[i]} vs finite difference ${fd}`).toBeLessThan(5e-3 + 5e-3 * Math.abs(fd));
    }
  });

  it('soft routing: gradients of every parameter match central finite differences', () => {
    const { variant, p, live } = setup('soft', 'sum');
    setFixed(p);
    const xt = tf.tensor2d(X, [B, L * D]);
    expectParamGradsMatchFiniteDifferences(p, () => variant.loss(p, xt, live, ctx).total);
  });

  it('initialises a small random router and b_dec at the mean over layers; exports topk tensors + router', () => {
    const { variant, p, cfg, live } = setup('hard', 'sum');
    expect(p.router.shape).toEqual([D, L]);
    const r = Array.from(p.router.dataSync());
    expect(r.every((v) => Math.abs(v) < 0.05)).toBe(true);
    expect(r.some((v) => v !== 0)).toBe(true);
    const meanOverLayers = Array.from({ length: D }, (_, j) => (MEAN[j] + MEAN[D + j] + MEAN[2 * D + j]) / L);
    expectClose(p.b_dec.dataSync(), meanOverLayers, 1e-6);
    const shapes = Object.fromEntries(Object.entries(variant.exportTensors(p)).map(([n, t]) => [n, t.shape]));
    expect(shapes).toEqual({ W_enc: [D, S], b_enc: [S], W_dec: [S, D], b_dec: [D], router: [D, L] });
    expect(variant.paramNames).toEqual(['W_enc', 'b_enc', 'W_dec', 'b_dec', 'router']);
    expect(variant.saelensConfig(cfg, { ...live, k: 3 })).toEqual({ architecture: 'routesae', k: 3, routing: 'hard', aggregation: 'sum', n_layers: L });
    // The shared SAE keeps unit-norm decoder rows; the router is left alone.
    p.W_dec.assign(tf.mul(p.W_dec, 3));
    const before = Array.from(p.router.dataSync());
    variant.constrain!(p);
    const w = p.W_dec.dataSync();
    for (let i = 0; i < S; i++) expect(Math.hypot(w[i * D], w[i * D + 1], w[i * D + 2])).toBeCloseTo(1, 5);
    expectClose(p.router.dataSync(), before, 0);
  });

  it.each(['hard', 'soft'] as Routing[])('%s routing: leaks no tensors across repeated loss / encode / reconstruct', (routing) => {
    const { variant, p, live } = setup(routing, 'sum');
    const xt = tf.tensor2d(X, [B, L * D]);
    const c: StepContext = { deadMask: tf.tensor1d([1, 0, 0, 1, 0]), step: 0, seed: 0 };
    const run = () => tf.tidy(() => {
      const { grads } = tf.variableGrads(() => variant.loss(p, xt, live, c).total, Object.values(p));
      Object.values(grads).forEach((g) => g.dispose());
      variant.loss(p, xt, live, c);
      variant.encode(p, xt, live);
      variant.reconstruct!(p, xt, live);
    });
    expectNoLeaks(run);
  });

  it.each(['hard', 'soft'] as Routing[])('%s routing trains: the loss falls on layered synthetic data', (routing) => {
    const n = 128, d = 8, dSae = 24;
    const data = layeredAtomData(n, L, d);
    const cfg = resolveConfig({ architecture: 'routesae', d_sae: dSae, k: 2, routing, layer_start: 0, layer_end: L - 1 }, d, L) as SaeConfig;
    const { losses } = trainFullBatch(variantFor(cfg), cfg, data, n, d, L, 200, 1e-2);
    expect(losses[1]).toBeLessThan(0.5 * losses[0]);
  });
});
