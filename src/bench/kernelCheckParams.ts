// The reference checks of the parameter-update kernels: Adam and decoder-row normalisation.
import * as tf from '@tensorflow/tfjs';
import { Adam } from '../engine/adam';
import { normalizeDecoderRows } from '../engine/variants/linear';
import { compare, fact, normals, read, withFused, type CheckResult } from './kernelCheckCommon';

export async function checkAdam(out: CheckResult[]) {
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

export async function checkNormalize(out: CheckResult[]) {
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
