// The reference checks of the TopK and BatchTopK kernels (values, masks, ∂z, ties).
import * as tf from '@tensorflow/tfjs';
import { batchTopkMask, batchTopkRelu } from '../engine/ops/batchTopk';
import { topkMask, topkRelu } from '../engine/ops/topk';
import { compare, fact, normals, read, withFused, type CheckResult } from './kernelCheckCommon';

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

export async function checkTopk(out: CheckResult[]) {
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

export async function checkBatchTopk(out: CheckResult[]) {
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
