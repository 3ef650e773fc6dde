// The page (kernels.html) that checks and times the fused WebGPU kernels (src/engine/ops/webgpu) in
// headless Chromium, driven by e2e/kernels.spec.ts and scripts/bench/kernels.ts. It runs on the
// page's own webgpu backend (no worker: nothing else shares it). Every check compares the ops as
// the engine calls them with the fused kernels on against the same ops with them switched off —
// the plain tfjs composition on the same backend — and some also against plain JS arrays.
//   saeKernelCheck() → every reference check, whether the fused kernels actually ran, and leaks;
//   saeKernelBench(shape) → ms per call, fused vs composition, for each kernel at one size.
// Without WebGPU both answer with an error and no results: they never pass by falling back.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { Adam } from '../engine/adam';
import { batchTopkMask, batchTopkRelu } from '../engine/ops/batchTopk';
import { heavisideMeanL0 } from '../engine/ops/heaviside';
import { jumpRelu } from '../engine/ops/jumprelu';
import { topkMask, topkRelu } from '../engine/ops/topk';
import { kernelsRun } from '../engine/ops/webgpu/kernelsRun';
import { setFusedKernelsEnabled, useFusedKernels } from '../engine/ops/webgpu/program';
import { createRng } from '../engine/rng';
import { normalizeDecoderRows } from '../engine/variants/linear';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** Largest |got − want| over the compared values (0 when they agree exactly). */
  maxError: number;
  detail: string;
}

export interface CheckReport {
  backend: string;
  adapter: string;
  results: CheckResult[];
  error?: string;
}

export interface KernelBenchShape {
  batch: number;
  dSae: number;
  dIn: number;
  k: number;
  /** Samples per kernel and path (after a warm-up call); the median is reported. */
  iterations: number;
  /** A path stops sampling after two samples once it has spent this long (default 8 s). */
  budgetMs?: number;
  /** Only these rows (names as in KernelBenchRow.kernel); all when absent. */
  only?: string[];
}

export interface KernelBenchRow {
  kernel: string;
  fusedMs: number;
  compositionMs: number;
  speedup: number;
  /** How the row was measured, when it is not one call of the op. */
  note?: string;
}

export interface KernelBenchReport {
  backend: string;
  adapter: string;
  rows: KernelBenchRow[];
  error?: string;
}

declare global {
  interface Window {
    saeKernelCheck(): Promise<CheckReport>;
    saeKernelBench(shape: KernelBenchShape): Promise<KernelBenchReport>;
  }
}

// ---------------------------------------------------------------------------------------------
// Setup

/** The webgpu backend, or why there is none. */
async function useWebGPU(): Promise<{ adapter: string; error?: string }> {
  if (!('gpu' in navigator) || !navigator.gpu) return { adapter: '', error: 'WebGPU is not available in this browser (navigator.gpu is missing)' };
  try {
    if (!(await tf.setBackend('webgpu'))) return { adapter: '', error: 'the tfjs webgpu backend failed to initialise' };
    await tf.ready();
  } catch (e) {
    return { adapter: '', error: `the tfjs webgpu backend failed to initialise: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (tf.getBackend() !== 'webgpu') return { adapter: '', error: `tfjs runs on ${tf.getBackend()}, not webgpu` };
  const info = (tf.backend() as WebGPUBackend).adapterInfo as unknown as Record<string, unknown> | undefined;
  const adapter = info ? ['vendor', 'architecture', 'description'].map((k) => info[k]).filter(Boolean).join(' / ') : '';
  return { adapter: adapter || 'unknown adapter' };
}

/** Run `f` with the fused kernels on or off (the composition), restoring the switch after. */
function withFused<T>(on: boolean, f: () => T): T {
  const was = setFusedKernelsEnabled(on);
  try {
    return f();
  } finally {
    setFusedKernelsEnabled(was);
  }
}

/** Deterministic standard-normal values × scale (the engine's seeded generator). */
function normals(n: number, seed: number, scale = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

const read = async (t: tf.Tensor) => { const v = (await t.data()) as Float32Array; return v; };

// ---------------------------------------------------------------------------------------------
// Comparison

/**
 * got vs want elementwise: passes when |got − want| ≤ atol + rtol·|want| everywhere (NaN never
 * passes). The detail names the first failing index.
 */
function compare(name: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): CheckResult {
  if (got.length !== want.length) return { name, ok: false, maxError: Infinity, detail: `length ${got.length} ≠ ${want.length}` };
  let maxError = 0;
  let bad = -1;
  let badCount = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i]))) { if (bad < 0) bad = i; badCount++; }
    if (!(d <= maxError)) maxError = Number.isNaN(d) ? Infinity : d;
  }
  const detail = bad < 0
    ? `${got.length} values, max |Δ| ${maxError.toExponential(2)} (atol ${atol}, rtol ${rtol})`
    : `${badCount} of ${got.length} values differ; first at ${bad}: ${got[bad]} vs ${want[bad]} (atol ${atol}, rtol ${rtol})`;
  return { name, ok: bad < 0, maxError, detail };
}

const fact = (name: string, ok: boolean, detail: string): CheckResult => ({ name, ok, maxError: 0, detail });

// ---------------------------------------------------------------------------------------------
// Cases

const BANDWIDTH = 0.05;
/** Pre-activations/gradients are O(1); f32 sums over ≤ 1000 rows in another order differ by ~1e-6 relative. */
const SUM_RTOL = 2e-5;
/** The upstream gradient of the Heaviside L0 (a scalar; the loss scales L0 by λ, not 1). */
const UPSTREAM = 0.7;
const SUM_ATOL = 1e-4;

/**
 * z [B, n] around thresholds θ [n] in (0.05, 0.5): random values, and every fifth column a
 * ladder of values at and beside θ — θ itself (H = 0), the next floats above and below θ, and
 * θ ± 0.3ε (inside the kernel window), θ ± 0.7ε (outside).
 */
function jumpInputs(B: number, n: number, seed: number) {
  const u = createRng(seed).next;
  const theta = new Float32Array(n);
  for (let j = 0; j < n; j++) theta[j] = 0.05 + 0.45 * u();
  const z = normals(B * n, seed + 1, 0.5);
  const ladder = (t: number) => {
    const above = new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([t]).buffer)[0] + 1]).buffer)[0];
    const below = new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([t]).buffer)[0] - 1]).buffer)[0];
    return [t, above, below, t + 0.3 * BANDWIDTH, t - 0.3 * BANDWIDTH, t + 0.7 * BANDWIDTH, t - 0.7 * BANDWIDTH, t + 0.01 * BANDWIDTH];
  };
  for (let j = 0; j < n; j += 5) {
    const l = ladder(theta[j]);
    for (let b = 0; b < B; b++) z[b * n + j] = l[b % l.length];
  }
  return { z, theta, dy: normals(B * n, seed + 2) };
}

async function checkJumpRelu(out: CheckResult[]) {
  for (const [B, n] of [[8, 33], [64, 300], [130, 1000]]) {
    const label = `[${B}, ${n}]`;
    const { z, theta, dy } = jumpInputs(B, n, B * 7 + n);
    const zt = tf.tensor2d(z, [B, n]), tt = tf.tensor1d(theta), gt = tf.tensor2d(dy, [B, n]);
    for (const [op, name] of [[jumpRelu, 'jumprelu']] as const) {
      const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => {
        const f = op(zt, tt, BANDWIDTH);
        const [dz, dt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH), gt)))([zt, tt]);
        return [f, dz, dt];
      }));
      const fused = run(true), plain = run(false);
      const [ff, fdz, fdt] = await Promise.all(fused.map(read));
      const [pf, pdz, pdt] = await Promise.all(plain.map(read));
      out.push(compare(`${name} ${label} forward = composition`, ff, pf, 0, 0));
      out.push(compare(`${name} ${label} ∂z = composition`, fdz, pdz, 0, 0));
      out.push(compare(`${name} ${label} ∂θ = composition`, fdt, pdt, SUM_ATOL, SUM_RTOL));
      // Guard against a vacuous pass: the window must have caught something.
      out.push(fact(`${name} ${label} ∂θ is not all zero`, pdt.some((v) => v !== 0), `${pdt.filter((v) => v !== 0).length} of ${n} latents have a threshold gradient`));
      tf.dispose([...fused, ...plain]);
    }
    {
      // The Heaviside L0 (a scalar) and its ∂θ under an upstream gradient that is not 1.
      const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => {
        const l0 = heavisideMeanL0(zt, tt, BANDWIDTH);
        const [dz, dt] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mul(heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH), UPSTREAM))([zt, tt]);
        return [l0, dz, dt];
      }));
      const fused = run(true), plain = run(false);
      const [fl, fdz, fdt] = await Promise.all(fused.map(read));
      const [pl, pdz, pdt] = await Promise.all(plain.map(read));
      out.push(compare(`heaviside L0 ${label} = composition`, fl, pl, 1e-6, 1e-6));
      out.push(compare(`heaviside L0 ${label} ∂z = composition (zero)`, fdz, pdz, 0, 0));
      out.push(compare(`heaviside L0 ${label} ∂θ = composition`, fdt, pdt, SUM_ATOL, SUM_RTOL));
      out.push(fact(`heaviside L0 ${label} ∂θ is not all zero`, pdt.some((v) => v !== 0), `${pdt.filter((v) => v !== 0).length} of ${n} latents have a threshold gradient`));
      tf.dispose([...fused, ...plain]);
    }
    if (B === 64) {
      // Plain JS, in f32 where the GPU rounds: u = (z − θ)/ε, K = 1[−½ < u < ½].
      const eps = Math.fround(BANDWIDTH);
      const K = (zz: number, t: number) => { const v = Math.fround(Math.fround(zz - t) / eps); return v > -0.5 && v < 0.5 ? 1 : 0; };
      const wantF = Array.from(z, (v, i) => (v > theta[i % n] ? v : 0));
      const wantDz = Array.from(dy, (g, i) => (z[i] > theta[i % n] ? g : 0));
      const wantDt = new Float64Array(n), wantDh = new Float64Array(n);
      for (let i = 0; i < B * n; i++) {
        const j = i % n;
        const k = K(z[i], theta[j]) * dy[i];
        wantDt[j] += -(theta[j] / eps) * k;
        wantDh[j] += -(1 / eps) * (1 / B) * K(z[i], theta[j]) * UPSTREAM;
      }
      const [f, dz, dt, h, dh] = tf.tidy(() => {
        const loss = (op: typeof jumpRelu) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH), gt));
        const [gz, gtheta] = tf.grads(loss(jumpRelu))([zt, tt]);
        const l0 = (a: tf.Tensor, b: tf.Tensor) => tf.mul(heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH), UPSTREAM);
        return [jumpRelu(zt, tt, BANDWIDTH), gz, gtheta, heavisideMeanL0(zt, tt, BANDWIDTH), tf.grads(l0)([zt, tt])[1]];
      });
      out.push(compare(`jumprelu ${label} forward = JS`, await read(f), wantF, 0, 0));
      out.push(compare(`heaviside L0 ${label} = JS`, await read(h), [z.filter((v, i) => v > theta[i % n]).length / B], 1e-6, 1e-6));
      out.push(compare(`jumprelu ${label} ∂z = JS`, await read(dz), wantDz, 0, 0));
      out.push(compare(`jumprelu ${label} ∂θ = JS`, await read(dt), wantDt, SUM_ATOL, SUM_RTOL));
      out.push(compare(`heaviside L0 ${label} ∂θ = JS`, await read(dh), wantDh, SUM_ATOL, SUM_RTOL));
      tf.dispose([f, dz, dt, h, dh]);
    }
    tf.dispose([zt, tt, gt]);
  }
  await checkKernelEdges(out);
}

/**
 * The rectangle window's edges, hit exactly: with ε = 1/16 and θ, z on a binary grid, z − θ and
 * (z − θ)/ε are exact, so u = ±½ (outside: K = 0), the floats just inside (K = 1) and z = θ
 * (H = 0) all occur; a < turned into ≤ shows here.
 */
async function checkKernelEdges(out: CheckResult[]) {
  const eps = 1 / 16, B = 8, n = 12;
  const theta = Float32Array.from({ length: n }, (_, j) => 0.25 + j / 16);
  const offsets = [eps / 2, -eps / 2, eps / 2 - 2 ** -14, -eps / 2 + 2 ** -14, 0, 2 ** -14, -(2 ** -14), eps];
  const z = Float32Array.from({ length: B * n }, (_, i) => theta[i % n] + offsets[Math.floor(i / n) % offsets.length]);
  const dy = Float32Array.from({ length: B * n }, (_, i) => 1 + (i % 7) / 8);
  const zt = tf.tensor2d(z, [B, n]), tt = tf.tensor1d(theta), gt = tf.tensor2d(dy, [B, n]);
  const K = (v: number, t: number) => { const u = (v - t) / eps; return u > -0.5 && u < 0.5 ? 1 : 0; };
  const losses = [
    // JumpReLU under an elementwise upstream gradient; the Heaviside L0 (a scalar) under UPSTREAM.
    ['jumprelu', (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(jumpRelu(a as tf.Tensor2D, b as tf.Tensor1D, eps), gt)), (i: number) => (-theta[i % n] / eps) * dy[i]],
    ['heaviside L0', (a: tf.Tensor, b: tf.Tensor) => tf.mul(heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, eps), UPSTREAM), () => (-1 / eps) * (1 / B) * UPSTREAM],
  ] as const;
  for (const [name, loss, weight] of losses) {
    const grad = (fused: boolean) => withFused(fused, () => tf.tidy(() => tf.grads(loss)([zt, tt])[1]));
    const [fused, plain] = [grad(true), grad(false)];
    const want = new Float64Array(n);
    for (let i = 0; i < B * n; i++) want[i % n] += weight(i) * K(z[i], theta[i % n]);
    const got = await read(fused);
    out.push(compare(`${name} window edges ∂θ = composition`, got, await read(plain), SUM_ATOL, SUM_RTOL));
    out.push(compare(`${name} window edges ∂θ = JS`, got, want, SUM_ATOL, SUM_RTOL));
    tf.dispose([fused, plain]);
  }
  tf.dispose([zt, tt, gt]);
}

/** Values with many exact ties: multiples of ¼ (so the k-th value is usually tied). */
function tied(n: number, seed: number): Float32Array {
  return normals(n, seed, 1.5).map((v) => Math.round(v * 4) / 4);
}

/** Per row (or over everything when rows = 1): the k-th largest value and the kept ReLU / mask. */
function topkReference(z: Float32Array, rows: number, k: number, mode: 'relu' | 'mask'): Float32Array {
  const n = z.length / rows;
  const out = new Float32Array(z.length);
  for (let r = 0; r < rows; r++) {
    const row = z.subarray(r * n, (r + 1) * n);
    const kth = Float32Array.from(row).sort().reverse()[k - 1];
    for (let i = 0; i < n; i++) {
      const keep = Math.fround(row[i] - kth) >= 0;
      out[r * n + i] = mode === 'mask' ? Number(keep) : keep && row[i] > 0 ? row[i] : 0;
    }
  }
  return out;
}

async function checkTopk(out: CheckResult[]) {
  // [B, n, k, tied values]
  const cases: [number, number, number, boolean][] = [[5, 37, 1, false], [64, 300, 17, false], [33, 2048, 32, false], [3, 50, 50, false], [40, 129, 7, true], [16, 1000, 64, true]];
  for (const [B, n, k, ties] of cases) {
    const label = `[${B}, ${n}] k ${k}${ties ? ' ties' : ''}`;
    const z = ties ? tied(B * n, B + n + k) : normals(B * n, B + n + k);
    const dy = normals(B * n, B * n + 1);
    const zt = tf.tensor2d(z, [B, n]), gt = tf.tensor2d(dy, [B, n]);
    const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => [
      topkRelu(zt, k), topkMask(zt, k), tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, k))(zt, gt),
    ]));
    const fused = run(true), plain = run(false);
    const [ff, fm, fdz] = await Promise.all(fused.map(read));
    const [pf, pm, pdz] = await Promise.all(plain.map(read));
    out.push(compare(`topk ${label} forward = composition`, ff, pf, 0, 0));
    out.push(compare(`topk ${label} mask = composition`, fm, pm, 0, 0));
    out.push(compare(`topk ${label} ∂z = composition`, fdz, pdz, 0, 0));
    out.push(compare(`topk ${label} forward = JS`, ff, topkReference(z, B, k, 'relu'), 0, 0));
    out.push(compare(`topk ${label} mask = JS`, fm, topkReference(z, B, k, 'mask'), 0, 0));
    if (!ties) {
      // Distinct values: exactly k per row (an off-by-one in k shows here).
      const perRow = Array.from({ length: B }, (_, r) => fm.subarray(r * n, (r + 1) * n).reduce((a, b) => a + b, 0));
      out.push(fact(`topk ${label} keeps exactly k per row`, perRow.every((c) => c === k), `kept per row: ${[...new Set(perRow)].join(', ')}`));
    }
    tf.dispose([...fused, ...plain, zt, gt]);
  }
}

async function checkBatchTopk(out: CheckResult[]) {
  // [B, n, k, tied values]; k·B may exceed the positives (then every positive is kept).
  const cases: [number, number, number, boolean][] = [[7, 33, 3, false], [64, 300, 5, false], [130, 1000, 17, false], [9, 40, 30, false], [50, 129, 4, true], [1, 5000, 100, false]];
  for (const [B, n, k, ties] of cases) {
    const label = `[${B}, ${n}] k ${k}${ties ? ' ties' : ''}`;
    const z = ties ? tied(B * n, 3 * B + n + k) : normals(B * n, 3 * B + n + k);
    const dy = normals(B * n, B * n + 2);
    const zt = tf.tensor2d(z, [B, n]), gt = tf.tensor2d(dy, [B, n]);
    const run = (fused: boolean) => withFused(fused, () => tf.tidy(() => [
      batchTopkRelu(zt, k), batchTopkMask(zt, k), tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, k))(zt, gt),
    ]));
    const fused = run(true), plain = run(false);
    const [ff, fm, fdz] = await Promise.all(fused.map(read));
    const [pf, pm, pdz] = await Promise.all(plain.map(read));
    const total = Math.max(1, Math.min(Math.round(k * B), B * n));
    out.push(compare(`batchtopk ${label} forward = composition`, ff, pf, 0, 0));
    out.push(compare(`batchtopk ${label} mask = composition`, fm, pm, 0, 0));
    out.push(compare(`batchtopk ${label} ∂z = composition`, fdz, pdz, 0, 0));
    out.push(compare(`batchtopk ${label} forward = JS`, ff, topkReference(z, 1, total, 'relu'), 0, 0));
    out.push(compare(`batchtopk ${label} mask = JS`, fm, topkReference(z, 1, total, 'mask'), 0, 0));
    if (!ties) {
      const kept = fm.reduce((a, b) => a + b, 0);
      out.push(fact(`batchtopk ${label} keeps exactly k·B`, kept === total, `kept ${kept} of ${B * n}, k·B = ${total}`));
    }
    tf.dispose([...fused, ...plain, zt, gt]);
  }
}

async function checkAdam(out: CheckResult[]) {
  const shapes: Record<string, number[]> = { W: [64, 300], b: [37], c: [1000, 7], s: [1] };
  const init = (seed: number) => Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, normals(shape.reduce((a, b) => a * b, 1), seed + i, 0.3)]));
  const start = init(11);
  const steps = [0, 1, 2].map((s) => init(100 + 10 * s)); // gradients per step
  const lrs = [1e-3, 3e-3, 5e-4];
  const runAdam = (fused: boolean) => withFused(fused, () => {
    const params = Object.fromEntries(Object.entries(start).map(([name, v]) => [name, tf.variable(tf.tensor(v, shapes[name]))]));
    const adam = new Adam(params, 0.9, 0.999);
    for (let s = 0; s < steps.length; s++) {
      const grads = tf.tidy(() => Object.fromEntries(Object.entries(steps[s]).map(([name, g]) => [name, tf.tensor(g, shapes[name])])));
      adam.apply(params, grads, lrs[s]);
      tf.dispose(Object.values(grads));
    }
    return { params, adam };
  });
  const fused = runAdam(true), plain = runAdam(false);
  const moments = (a: Adam) => a.moments;
  for (const name of Object.keys(shapes)) {
    // One f32 rounding in a different place (a fused multiply-add) may move the last bit.
    out.push(compare(`adam ${name} ${JSON.stringify(shapes[name])} param = composition`, await read(fused.params[name]), await read(plain.params[name]), 1e-7, 1e-6));
    out.push(compare(`adam ${name} m = composition`, await read(moments(fused.adam)[`m/${name}`]), await read(moments(plain.adam)[`m/${name}`]), 1e-9, 1e-6));
    out.push(compare(`adam ${name} v = composition`, await read(moments(fused.adam)[`v/${name}`]), await read(moments(plain.adam)[`v/${name}`]), 1e-12, 1e-6));
  }
  // Plain JS (double precision) for W after three steps, with the bias corrections.
  const W = Float64Array.from(start.W), m = new Float64Array(W.length), v = new Float64Array(W.length);
  for (let s = 0; s < steps.length; s++) {
    const t = s + 1, c1 = 1 - 0.9 ** t, c2 = 1 - 0.999 ** t;
    for (let i = 0; i < W.length; i++) {
      const g = steps[s].W[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      W[i] -= (lrs[s] * m[i] / c1) / (Math.sqrt(v[i] / c2) + 1e-8);
    }
  }
  out.push(compare('adam W after 3 steps = JS', await read(fused.params.W), W, 1e-6, 1e-5));
  out.push(fact('adam W moved', (await read(fused.params.W)).some((x, i) => x !== start.W[i]), 'the update changed the parameters'));
  for (const r of [fused, plain]) { r.adam.dispose(); tf.dispose(Object.values(r.params)); }
}

async function checkNormalize(out: CheckResult[]) {
  for (const [rows, d] of [[37, 64], [300, 513], [5, 1], [129, 100]]) {
    const w = normals(rows * d, rows + d, 0.7);
    for (let c = 0; c < d; c++) w[2 * d + c] = 0; // a zero row stays zero
    if (rows > 4) for (let c = 0; c < d; c++) w[4 * d + c] = 1e-20; // norm below the 1e-8 guard: scaled by 1e8, not to unit
    const run = (fused: boolean) => withFused(fused, () => {
      const p = { W_dec: tf.variable(tf.tensor2d(w, [rows, d])) };
      normalizeDecoderRows(p);
      return p.W_dec;
    });
    const fused = run(true), plain = run(false);
    const got = await read(fused);
    out.push(compare(`normalize [${rows}, ${d}] = composition`, got, await read(plain), 1e-7, 1e-6));
    const want = new Float64Array(rows * d);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += w[r * d + c] ** 2;
      const norm = Math.max(Math.sqrt(s), 1e-8);
      for (let c = 0; c < d; c++) want[r * d + c] = w[r * d + c] / norm;
    }
    out.push(compare(`normalize [${rows}, ${d}] = JS`, got, want, 1e-7, 1e-5));
    tf.dispose([fused, plain]);
  }
}

/** The fused path must really dispatch our kernels (not silently run the composition). */
async function checkDispatch(out: CheckResult[]) {
  const z = tf.tensor2d(normals(16 * 300, 5), [16, 300]), theta = tf.fill([300], 0.2) as tf.Tensor1D, dy = tf.onesLike(z);
  // [name, kernels that must run, the op, composition kernels it may still run]
  const expectations: [string, string[], () => tf.Tensor | tf.Tensor[], string[]?][] = [
    ['jumprelu', ['SaeJumpReluForward', 'SaeJumpReluGradPre', 'SaeThresholdGrad'], () => tf.grads((a: tf.Tensor, b: tf.Tensor) => jumpRelu(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta], dy)],
    // Count (forward) and window (∂θ) column sums; the L0 adds up its [d_sae] column counts with
    // tfjs's Sum (a scalar from d_sae values).
    ['heaviside L0', ['SaeHeavisideColumns', 'SaeHeavisideColumns'], () => tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta]), ['Sum']],
    ['topk', ['SaeTopkRows', 'SaeKeptReluGrad'], () => tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 8))(z, dy)],
    ['topk mask', ['SaeTopkRows'], () => topkMask(z, 8)],
    ['batchtopk', ['SaeBatchTopk', 'SaeKeptReluGrad'], () => tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, 8))(z, dy)],
    ['batchtopk mask', ['SaeBatchTopk'], () => batchTopkMask(z, 8)],
  ];
  // Kernels of the compositions that must not appear on the fused path.
  const replaced = ['TopK', 'Greater', 'GreaterEqual', 'LogicalAnd', 'Sum', 'Sqrt', 'Square'];
  for (const [name, kernels, f, allowed = []] of expectations) {
    const names = kernelsRun(() => tf.dispose(f()));
    // A kernel listed twice must run (at least) twice.
    const missing = kernels.filter((k) => names.filter((n) => n === k).length < kernels.filter((n) => n === k).length);
    const stray = names.filter((k) => replaced.includes(k) && !allowed.includes(k));
    out.push(fact(`${name} runs its fused kernels`, missing.length === 0 && stray.length === 0, `kernels: ${names.join(', ')}`));
  }
  const p = { W_dec: tf.variable(tf.tensor2d(normals(20 * 8, 6), [20, 8])) };
  const normNames = kernelsRun(() => normalizeDecoderRows(p));
  out.push(fact('normalize runs its fused kernel', normNames.includes('SaeNormalizeRows') && !normNames.some((k) => replaced.includes(k)), `kernels: ${normNames.join(', ')}`));
  const adam = new Adam(p, 0.9, 0.999);
  const g = { W_dec: tf.onesLike(p.W_dec) };
  const adamNames = kernelsRun(() => adam.apply(p, g, 1e-3));
  out.push(fact('adam runs its fused kernels', adamNames.filter((k) => k.startsWith('SaeAdam')).length === 3 && !adamNames.some((k) => replaced.includes(k)), `kernels: ${adamNames.join(', ')}`));
  // Switched off (what every other backend runs): none of ours, the composition's instead.
  const offNames = kernelsRun(() => withFused(false, () => tf.dispose(tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 8))(z, dy))));
  out.push(fact('switched off: the composition runs', !offNames.some((k) => k.startsWith('Sae')) && offNames.includes('TopK'), `kernels: ${offNames.join(', ')}`));
  adam.dispose();
  tf.dispose([z, theta, dy, p.W_dec, g.W_dec]);
}

/** tf.memory().numTensors and the backend's live buffers must stay flat across repeated calls. */
async function checkLeaks(out: CheckResult[]) {
  const z = tf.tensor2d(normals(32 * 200, 9), [32, 200]), theta = tf.fill([200], 0.2) as tf.Tensor1D, dy = tf.onesLike(z);
  const p = { W_dec: tf.variable(tf.tensor2d(normals(200 * 16, 10), [200, 16])), b: tf.variable(tf.zeros([200])) };
  const adam = new Adam(p, 0.9, 0.999);
  const grads = { W_dec: tf.onesLike(p.W_dec), b: tf.onesLike(p.b) };
  const runs: [string, () => void][] = [
    ['jumprelu', () => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => jumpRelu(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta], dy))],
    ['heaviside L0', () => tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta]))],
    ['topk', () => tf.dispose([tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, 8))(z, dy), topkMask(z, 8)])],
    ['batchtopk', () => tf.dispose([tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, 8))(z, dy), batchTopkMask(z, 8)])],
    ['adam', () => adam.apply(p, grads, 1e-3)],
    ['normalize', () => normalizeDecoderRows(p)],
  ];
  const backend = tf.backend() as WebGPUBackend;
  for (const [name, run] of runs) {
    run();
    await tf.ready();
    const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
    for (let i = 0; i < 5; i++) run();
    await read(z); // let the backend retire what it freed
    const after = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
    out.push(fact(`${name} leaks nothing`, after.tensors === before.tensors && after.buffers === before.buffers,
      `tensors ${before.tensors} → ${after.tensors}, backend buffers ${before.buffers} → ${after.buffers} over 5 more calls`));
  }
  adam.dispose();
  tf.dispose([z, theta, dy, p.W_dec, p.b, grads.W_dec, grads.b]);
}

window.saeKernelCheck = async () => {
  const { adapter, error } = await useWebGPU();
  if (error) return { backend: 'unavailable', adapter, results: [], error };
  const results: CheckResult[] = [];
  if (!useFusedKernels()) return { backend: tf.getBackend(), adapter, results, error: 'the fused kernels are switched off on webgpu' };
  try {
    for (const check of [checkDispatch, checkJumpRelu, checkTopk, checkBatchTopk, checkAdam, checkNormalize, checkLeaks]) await check(results);
  } catch (e) {
    return { backend: tf.getBackend(), adapter, results, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
  }
  return { backend: tf.getBackend(), adapter, results };
};

// ---------------------------------------------------------------------------------------------
// Timing

/**
 * Wait until the GPU has run everything submitted so far, by reading back one value of `t` (a
 * mapAsync completes only after all earlier work on the queue). Not queue.onSubmittedWorkDone():
 * on the SwiftShader adapter it resolved long before the work finished (ten 1 GFLOP matmuls
 * "done" in 4 ms, each taking 1.2 s when read back).
 */
async function gpuDone(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]));
  await one.data();
  one.dispose();
}

type BenchResult = tf.Tensor | tf.Tensor[] | void;

const SAMPLE_MS = 250;
const SLOW_CALL_MS = 2000;

interface Timed {
  run: () => BenchResult;
  /** The tensor to read back after a sample (default: the first output of `run`). */
  probe?: () => tf.Tensor;
}

/**
 * Median ms per call of the composition and of the fused path, sampled alternately so that both
 * see the same load on the machine. One sample is `repeat` calls back to back (each result
 * disposed), then one readback of the last result: `repeat` is chosen per path after a warm-up
 * call so that a sample takes ≥ SAMPLE_MS, which keeps the fixed cost of the readback (a few ms)
 * out of the per-call figure of fast kernels. A path stops after `iterations` samples, or after
 * two once it has used `budgetMs` (a composition that takes seconds per call).
 */
async function timePair(composition: Timed, fused: Timed, iterations: number, budgetMs: number): Promise<{ compositionMs: number; fusedMs: number }> {
  const sample = (t: Timed, on: boolean, repeat: number) => withFusedAsync(on, async () => {
    const t0 = performance.now();
    for (let i = 0; i < repeat; i++) {
      const r = t.run();
      if (i === repeat - 1) await gpuDone(t.probe?.() ?? (Array.isArray(r) ? r[0] : (r as tf.Tensor)));
      if (r) tf.dispose(r);
    }
    return (performance.now() - t0) / repeat;
  });
  const paths = [{ t: composition, on: false }, { t: fused, on: true }].map((p) => ({ ...p, samples: [] as number[], repeat: 1, spent: 0 }));
  for (const p of paths) {
    // The first call compiles the shaders and allocates buffers. Next to a call of seconds that
    // is noise, so such a call counts as a sample; otherwise a second call sets `repeat`.
    const first = await sample(p.t, p.on, 1);
    p.spent += first;
    if (first > SLOW_CALL_MS) { p.samples.push(first); continue; }
    const single = await sample(p.t, p.on, 1);
    p.spent += single;
    p.repeat = Math.max(1, Math.min(20, Math.ceil(SAMPLE_MS / Math.max(single, 1e-3))));
  }
  const done = (p: (typeof paths)[number]) => p.samples.length >= iterations || (p.samples.length >= 2 && p.spent >= budgetMs);
  while (!paths.every(done)) {
    for (const p of paths) {
      if (done(p)) continue;
      const ms = await sample(p.t, p.on, p.repeat);
      p.samples.push(ms);
      p.spent += ms * p.repeat;
    }
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { compositionMs: median(paths[0].samples), fusedMs: median(paths[1].samples) };
}

window.saeKernelBench = async (shape) => {
  const { adapter, error } = await useWebGPU();
  if (error) return { backend: 'unavailable', adapter, rows: [], error };
  const { batch: B, dSae: n, dIn: d, k, iterations } = shape;
  const budget = shape.budgetMs ?? 8000;
  const want = (name: string) => !shape.only || shape.only.includes(name);
  const rows: KernelBenchRow[] = [];
  const z = tf.tensor2d(normals(B * n, 1, 0.3), [B, n]);
  const dy = tf.tensor2d(normals(B * n, 2), [B, n]);
  const theta = tf.tensor1d(Float32Array.from({ length: n }, (_, j) => 0.05 + 0.3 * ((j * 7919) % 97) / 97));
  const both = async (kernel: string, run: () => tf.Tensor | tf.Tensor[] | void, note?: string) => {
    if (!want(kernel)) return;
    const { compositionMs, fusedMs } = await timePair({ run }, { run }, iterations, budget);
    rows.push({ kernel, fusedMs, compositionMs, speedup: compositionMs / fusedMs, note });
  };
  try {
    const grads2 = (op: (a: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D) => () => tf.grads((a: tf.Tensor, b: tf.Tensor) => op(a as tf.Tensor2D, b as tf.Tensor1D))([z, theta], dy);
    await both('jumprelu forward', () => jumpRelu(z, theta, BANDWIDTH));
    await both('jumprelu forward+backward', grads2((a, b) => jumpRelu(a, b, BANDWIDTH)), 'tf.grads of the op (∂z, ∂θ)');
    await both('heaviside L0 forward', () => heavisideMeanL0(z, theta, BANDWIDTH), 'the mean count per row of z > θ (a scalar)');
    await both('heaviside L0 forward+backward', () => tf.grads((a: tf.Tensor, b: tf.Tensor) => heavisideMeanL0(a as tf.Tensor2D, b as tf.Tensor1D, BANDWIDTH))([z, theta]), 'tf.grads of the op (∂θ; ∂z is zero)');
    await both('topk forward', () => topkRelu(z, k));
    await both('topk forward+backward', () => tf.grad((a: tf.Tensor) => topkRelu(a as tf.Tensor2D, k))(z, dy));
    await both('batchtopk forward', () => batchTopkRelu(z, k));
    await both('batchtopk forward+backward', () => tf.grad((a: tf.Tensor) => batchTopkRelu(a as tf.Tensor2D, k))(z, dy));
    if (want('adam') || want('normalize')) {
      const params = (seed: number) => ({
        W_enc: tf.variable(tf.tensor2d(normals(d * n, seed, 0.1), [d, n])),
        b_enc: tf.variable(tf.zeros([n])),
        W_dec: tf.variable(tf.tensor2d(normals(n * d, seed + 1, 0.1), [n, d])),
        b_dec: tf.variable(tf.zeros([d])),
      });
      const grads = { W_enc: tf.tensor2d(normals(d * n, 5, 1e-3), [d, n]), b_enc: tf.tensor1d(normals(n, 6, 1e-3)), W_dec: tf.tensor2d(normals(n * d, 7, 1e-3), [n, d]), b_dec: tf.tensor1d(normals(d, 8, 1e-3)) };
      const fusedParams = params(3), plainParams = params(3);
      const fusedAdam = new Adam(fusedParams, 0.9, 0.999), plainAdam = new Adam(plainParams, 0.9, 0.999);
      if (want('adam')) {
        const { compositionMs, fusedMs } = await timePair(
          { run: () => plainAdam.apply(plainParams, grads, 1e-3), probe: () => plainParams.W_enc },
          { run: () => fusedAdam.apply(fusedParams, grads, 1e-3), probe: () => fusedParams.W_enc },
          iterations, budget,
        );
        rows.push({ kernel: 'adam', fusedMs, compositionMs, speedup: compositionMs / fusedMs, note: 'one update of W_enc, b_enc, W_dec, b_dec' });
      }
      if (want('normalize')) {
        const { compositionMs, fusedMs } = await timePair(
          { run: () => normalizeDecoderRows(plainParams), probe: () => plainParams.W_dec },
          { run: () => normalizeDecoderRows(fusedParams), probe: () => fusedParams.W_dec },
          iterations, budget,
        );
        rows.push({ kernel: 'normalize', fusedMs, compositionMs, speedup: compositionMs / fusedMs, note: `W_dec [${n}, ${d}]` });
      }
      fusedAdam.dispose(); plainAdam.dispose();
      tf.dispose([...Object.values(fusedParams), ...Object.values(plainParams), ...Object.values(grads)]);
    }
  } catch (e) {
    return { backend: tf.getBackend(), adapter, rows, error: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
  } finally {
    tf.dispose([z, dy, theta]);
  }
  return { backend: tf.getBackend(), adapter, rows };
};

async function withFusedAsync<T>(on: boolean, f: () => Promise<T>): Promise<T> {
  const was = setFusedKernelsEnabled(on);
  try {
    return await f();
  } finally {
    setFusedKernelsEnabled(was);
  }
}
