// The reference checks of the JumpReLU and Heaviside-L0 kernels (forward, ∂z, ∂θ).
import * as tf from '@tensorflow/tfjs';
import { heavisideMeanL0 } from '../engine/ops/heaviside';
import { jumpRelu } from '../engine/ops/jumprelu';
import { createRng } from '../engine/rng';
import { BANDWIDTH, compare, fact, normals, read, withFused, type CheckResult } from './kernelCheckCommon';

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

export async function checkJumpRelu(out: CheckResult[]) {
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
