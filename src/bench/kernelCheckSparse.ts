// The reference checks of the sparse kernels (src/engine/ops/webgpu/sparse.ts) against plain JS on
// arrays: TopK entries (as sets per row: their order within a row is free), the sparse decode, the
// row dots and both outer products, at sizes that hit the edges (n and d not multiples of 4 or of a
// workgroup, K = 1, k = n, K above the row-dot batch of 32, fewer eligible latents than k, rows of
// negative z, latents shared by many rows, padding), and leaks.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { sparseDecode, sparseKernelsAvailable, sparseOuterCols, sparseOuterRows, sparseRowDots, topkEntries, type Entries } from '../engine/ops/sparse';
import '../engine/ops/webgpu/sparse';
import { createRng } from '../engine/rng';
import { fact, normals, read, type CheckResult } from './kernelCheckCommon';

/** Relative tolerance of the sums, against Σ|terms| of each output (so cancellation is fair). */
const SUM_RTOL = 1e-5;

// ---------------------------------------------------------------------------------------------
// TopK entries

type ZKind = 'normal' | 'tied' | 'negativeRows';
type EligibleKind = 'all' | 'half' | 'fewWithZero' | 'fewWithoutZero' | 'none';

/** z [B, n]: normals, multiples of ¼ (many exact ties, −0 among them), or with every third row negative. */
function makeZ(B: number, n: number, kind: ZKind, seed: number): Float32Array {
  const z = normals(B * n, seed, 1.5);
  if (kind === 'tied') return z.map((v) => Math.round(v * 4) / 4);
  if (kind === 'negativeRows') {
    for (let b = 1; b < B; b += 3) for (let i = 0; i < n; i++) z[b * n + i] = -Math.abs(z[b * n + i]) - 0.01;
  }
  return z;
}

/** eligible [n] (1 = may be chosen), or undefined for all; 'few' masks have fewer than k. */
function makeEligible(n: number, k: number, kind: EligibleKind, seed: number): Float32Array | undefined {
  if (kind === 'all') return undefined;
  const rng = createRng(seed);
  const mask = new Float32Array(n);
  if (kind === 'half') for (let i = 0; i < n; i++) mask[i] = rng.next() < 0.5 ? 1 : 0;
  if (kind === 'fewWithZero' || kind === 'fewWithoutZero') {
    const few = Math.max(1, Math.floor(k / 2) + 1);
    for (let placed = 0; placed < few;) {
      const i = rng.int(n);
      if (i !== 0 && mask[i] === 0) { mask[i] = 1; placed++; }
    }
    if (kind === 'fewWithZero') mask[0] = 1;
  }
  return mask;
}

/** Per row: the min(k, eligible) largest eligible z (ties → lower index), padded with (0, 0). */
function topkEntriesReference(z: Float32Array, B: number, n: number, k: number, eligible?: Float32Array) {
  const indices = new Int32Array(B * k), values = new Float32Array(B * k);
  const candidates = Array.from({ length: n }, (_, i) => i).filter((i) => !eligible || eligible[i] !== 0);
  for (let b = 0; b < B; b++) {
    const row = z.subarray(b * n, (b + 1) * n);
    const chosen = [...candidates].sort((i, j) => (row[j] - row[i]) || (i - j)).slice(0, k);
    chosen.forEach((i, s) => { indices[b * k + s] = i; values[b * k + s] = Math.max(row[i], 0); });
  }
  return { indices, values };
}

/** A row's entries as (index, value) pairs sorted by index then value: equal rows are equal sets. */
function rowSet(indices: ArrayLike<number>, values: ArrayLike<number>, b: number, k: number): [number, number][] {
  return Array.from({ length: k }, (_, s) => [indices[b * k + s], values[b * k + s]] as [number, number])
    .sort((p, q) => p[0] - q[0] || p[1] - q[1]);
}

export async function checkTopkEntries(out: CheckResult[]) {
  // [B, n, k, z, eligible]
  const cases: [number, number, number, ZKind, EligibleKind][] = [
    [5, 37, 1, 'normal', 'all'],
    [4, 50, 50, 'normal', 'all'],
    [3, 64, 64, 'tied', 'all'],
    [8, 129, 7, 'tied', 'all'],
    [9, 130, 12, 'negativeRows', 'all'],
    [6, 100, 10, 'negativeRows', 'fewWithZero'],
    [6, 101, 10, 'tied', 'fewWithoutZero'],
    [5, 64, 9, 'tied', 'fewWithZero'],
    [4, 40, 3, 'normal', 'none'],
    [16, 1000, 64, 'tied', 'half'],
    [64, 3000, 32, 'normal', 'half'],
    [64, 3000, 32, 'normal', 'all'],
  ];
  for (const [B, n, k, zKind, eligibleKind] of cases) {
    const label = `[${B}, ${n}] k ${k} ${zKind} z, ${eligibleKind} eligible`;
    const z = makeZ(B, n, zKind, B * 7 + n + k);
    const eligible = makeEligible(n, k, eligibleKind, n + k);
    const zt = tf.tensor2d(z, [B, n]);
    const et = eligible ? tf.tensor1d(eligible) : undefined;
    const e = topkEntries(zt, k, et);
    const [gotIndices, gotValues] = await Promise.all([e.indices.data(), e.values.data()]);
    const want = topkEntriesReference(z, B, n, k, eligible);
    let badRows = 0, firstBad = '', maxError = 0;
    for (let b = 0; b < B; b++) {
      const got = rowSet(gotIndices, gotValues, b, k), ref = rowSet(want.indices, want.values, b, k);
      const same = got.every(([i, v], s) => i === ref[s][0] && v === ref[s][1]);
      got.forEach(([, v], s) => { maxError = Math.max(maxError, Math.abs(v - ref[s][1])); });
      if (!same) {
        badRows++;
        if (!firstBad) firstBad = `; row ${b}: got ${JSON.stringify(got.slice(0, 6))} want ${JSON.stringify(ref.slice(0, 6))}`;
      }
    }
    const shapes = `${e.indices.shape}/${e.indices.dtype}, ${e.values.shape}/${e.values.dtype}`;
    const shapesOk = e.indices.dtype === 'int32' && e.values.dtype === 'float32' && [e.indices.shape, e.values.shape].every((s) => s[0] === B && s[1] === k);
    out.push({
      name: `sparse topkEntries ${label} = JS`,
      ok: badRows === 0 && shapesOk,
      maxError: badRows === 0 ? maxError : Infinity,
      detail: `${B} rows, ${badRows} differ as sets (indices exact, values exact); outputs ${shapes}${firstBad}`,
    });
    tf.dispose([zt, e.indices, e.values, ...(et ? [et] : [])]);
  }
}

// ---------------------------------------------------------------------------------------------
// Products of entries

interface EntryCase {
  B: number; n: number; d: number; K: number;
  /** Latents drawn from [0, pool) (fewer distinct latents: more rows share each). */
  pool?: number;
  /** A latent put into every row. */
  hot?: number;
  /** Pad some rows: their last (b mod K) entries become (0, 0). */
  pad?: boolean;
  /** Set every 7th real value to exactly 0. */
  zeroValues?: boolean;
}

/** Entries as the contract has them: distinct latents within a row, padding (0, 0) at the end. */
function makeEntries(c: EntryCase, seed: number): { indices: Int32Array; values: Float32Array } {
  const { B, n, K } = c;
  const pool = Math.min(n, c.pool ?? n);
  const rng = createRng(seed);
  const indices = new Int32Array(B * K), values = normals(B * K, seed + 1);
  for (let b = 0; b < B; b++) {
    const latents = Array.from({ length: pool }, (_, i) => i);
    for (let s = 0; s < K; s++) { const r = s + rng.int(pool - s); [latents[s], latents[r]] = [latents[r], latents[s]]; }
    const row = latents.slice(0, K);
    if (c.hot !== undefined && !row.includes(c.hot)) row[rng.int(K)] = c.hot;
    const padded = c.pad && b % 4 === 3 ? b % K : 0;
    for (let s = 0; s < K; s++) {
      const j = b * K + s;
      if (s >= K - padded) { indices[j] = 0; values[j] = 0; continue; }
      indices[j] = row[s];
      if (c.zeroValues && j % 7 === 0) values[j] = 0;
    }
  }
  return { indices, values };
}

/** The four products in float64, each with Σ|terms| per output (the scale of its rounding). */
function productReferences(c: EntryCase, indices: Int32Array, values: Float32Array, w: Float32Array, dy: Float32Array) {
  const { B, n, d, K } = c;
  const decode = new Float64Array(B * d), decodeScale = new Float64Array(B * d);
  const dots = new Float64Array(B * K), dotsScale = new Float64Array(B * K);
  const rows = new Float64Array(n * d), rowsScale = new Float64Array(n * d);
  const cols = new Float64Array(d * n), colsScale = new Float64Array(d * n);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < K; s++) {
      const e = b * K + s, j = indices[e], v = values[e];
      for (let col = 0; col < d; col++) {
        const wv = w[j * d + col], g = dy[b * d + col];
        decode[b * d + col] += v * wv; decodeScale[b * d + col] += Math.abs(v * wv);
        dots[e] += g * wv; dotsScale[e] += Math.abs(g * wv);
        rows[j * d + col] += v * g; rowsScale[j * d + col] += Math.abs(v * g);
        cols[col * n + j] += v * g; colsScale[col * n + j] += Math.abs(v * g);
      }
    }
  }
  return { decode, decodeScale, dots, dotsScale, rows, rowsScale, cols, colsScale };
}

/** got vs want where each output is a sum: |got − want| ≤ rtol · Σ|terms| (so 0 exactly for no terms). */
function compareSums(name: string, got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>, shapeOk = true): CheckResult {
  if (!shapeOk || got.length !== want.length) return { name, ok: false, maxError: Infinity, detail: `shape or length ${got.length} ≠ ${want.length}` };
  let maxError = 0, worstRelative = 0, bad = -1, badCount = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= SUM_RTOL * scale[i])) { if (bad < 0) bad = i; badCount++; }
    if (!(err <= maxError)) maxError = Number.isNaN(err) ? Infinity : err;
    if (scale[i] > 0) worstRelative = Math.max(worstRelative, err / scale[i]);
  }
  const detail = bad < 0
    ? `${got.length} values, max |Δ| ${maxError.toExponential(2)}, max |Δ|/Σ|terms| ${worstRelative.toExponential(2)} (rtol ${SUM_RTOL})`
    : `${badCount} of ${got.length} values differ; first at ${bad}: ${got[bad]} vs ${want[bad]} (Σ|terms| ${scale[bad]}, rtol ${SUM_RTOL})`;
  return { name, ok: bad < 0, maxError, detail };
}

const sameShape = (t: tf.Tensor, shape: number[]) => t.shape.length === shape.length && t.shape.every((s, i) => s === shape[i]);

/** The four products of `entries` against plain JS. */
async function checkProducts(out: CheckResult[], label: string, c: EntryCase, indices: Int32Array, values: Float32Array, seed: number) {
  const { B, n, d, K } = c;
  const w = normals(n * d, seed + 2), dy = normals(B * d, seed + 3);
  const e: Entries = { indices: tf.tensor2d(indices, [B, K], 'int32'), values: tf.tensor2d(values, [B, K]) };
  const wt = tf.tensor2d(w, [n, d]), dyt = tf.tensor2d(dy, [B, d]);
  const decoded = sparseDecode(e, wt), dots = sparseRowDots(e.indices, dyt, wt);
  const rows = sparseOuterRows(e, dyt, n), cols = sparseOuterCols(e, dyt, n);
  const ref = productReferences(c, indices, values, w, dy);
  const [gd, gdots, grows, gcols] = await Promise.all([decoded, dots, rows, cols].map(read));
  out.push(compareSums(`sparse decode ${label} = JS`, gd, ref.decode, ref.decodeScale, sameShape(decoded, [B, d])));
  out.push(compareSums(`sparse rowDots ${label} = JS`, gdots, ref.dots, ref.dotsScale, sameShape(dots, [B, K])));
  out.push(compareSums(`sparse outerRows ${label} = JS`, grows, ref.rows, ref.rowsScale, sameShape(rows, [n, d])));
  out.push(compareSums(`sparse outerCols ${label} = JS`, gcols, ref.cols, ref.colsScale, sameShape(cols, [d, n])));
  // The sums over a latent's entries run in batch order whatever the scheduling: same bits again.
  const rowsAgain = sparseOuterRows(e, dyt, n), colsAgain = sparseOuterCols(e, dyt, n);
  const [grows2, gcols2] = await Promise.all([rowsAgain, colsAgain].map(read));
  const same = grows.every((v, i) => Object.is(v, grows2[i])) && gcols.every((v, i) => Object.is(v, gcols2[i]));
  out.push(fact(`sparse outer products ${label} repeat bit for bit`, same, same ? 'a second run gives the same bits' : 'a second run differs'));
  tf.dispose([e.indices, e.values, wt, dyt, decoded, dots, rows, cols, rowsAgain, colsAgain]);
}

export async function checkSparseProducts(out: CheckResult[]) {
  const cases: EntryCase[] = [
    { B: 5, n: 37, d: 13, K: 1 },
    { B: 40, n: 50, d: 10, K: 8, hot: 3, pad: true, zeroValues: true },
    { B: 7, n: 129, d: 96, K: 5, pad: true },
    { B: 3, n: 10, d: 7, K: 10 },
    { B: 33, n: 65, d: 300, K: 40, hot: 0, pad: true },
    { B: 9, n: 200, d: 520, K: 33, pool: 60 },
    { B: 64, n: 3000, d: 96, K: 32, pad: true },
    // n·d / 64 invocations above 65,535 workgroups: the backend folds the outer products' dispatch
    // into 2-D (as at d_sae 24,576, d 768).
    { B: 8, n: 16400, d: 257, K: 4, pool: 40 },
  ];
  for (const [i, c] of cases.entries()) {
    const label = `[B ${c.B}, n ${c.n}, d ${c.d}, K ${c.K}]${c.pool ? ` pool ${c.pool}` : ''}${c.hot !== undefined ? ` hot ${c.hot}` : ''}${c.pad ? ' padded' : ''}${c.zeroValues ? ' zeros' : ''}`;
    const { indices, values } = makeEntries(c, 100 + i);
    await checkProducts(out, label, c, indices, values, 200 + i);
  }
  // The products of entries as the TopK kernel makes them: 20 eligible latents for k = 32, so
  // every row holds all 20 (each latent in all 64 rows) and 12 entries of padding.
  const B = 64, n = 3000, d = 96, k = 32;
  const eligible = new Float32Array(n);
  for (let j = 0; j < 20; j++) eligible[j * 149] = 1;
  const zt = tf.tensor2d(makeZ(B, n, 'negativeRows', 31), [B, n]), et = tf.tensor1d(eligible);
  const e = topkEntries(zt, k, et);
  const [indices, values] = await Promise.all([e.indices.data() as Promise<Int32Array>, e.values.data() as Promise<Float32Array>]);
  await checkProducts(out, `[B ${B}, n ${n}, d ${d}, K ${k}] from topkEntries, 20 eligible`, { B, n, d, K: k }, indices, values, 300);
  tf.dispose([zt, et, e.indices, e.values]);
}

/** Registration, and tf.memory().numTensors and the backend's live buffers flat across calls. */
export async function checkSparseLeaks(out: CheckResult[]) {
  out.push(fact('sparse kernels are registered for webgpu', sparseKernelsAvailable(), `backend ${tf.getBackend()}`));
  const B = 16, n = 300, d = 20, k = 8;
  const z = tf.tensor2d(normals(B * n, 41), [B, n]), eligible = tf.tensor1d(makeEligible(n, k, 'half', 42)!);
  const w = tf.tensor2d(normals(n * d, 43), [n, d]), dy = tf.tensor2d(normals(B * d, 44), [B, d]);
  const run = () => {
    const a = topkEntries(z, k), b = topkEntries(z, k, eligible);
    tf.dispose([sparseDecode(a, w), sparseRowDots(b.indices, dy, w), sparseOuterRows(a, dy, n), sparseOuterCols(b, dy, n)]);
    tf.dispose([a.indices, a.values, b.indices, b.values]);
  };
  const backend = tf.backend() as WebGPUBackend;
  run();
  await tf.ready();
  const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  for (let i = 0; i < 5; i++) run();
  await read(z); // let the backend retire what it freed
  const after = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  out.push(fact('sparse ops leak nothing', after.tensors === before.tensors && after.buffers === before.buffers,
    `tensors ${before.tensors} → ${after.tensors}, backend buffers ${before.buffers} → ${after.buffers} over 5 more calls of all five ops`));
  tf.dispose([z, eligible, w, dy]);
}

export async function checkSparse(out: CheckResult[]) {
  await checkTopkEntries(out);
  await checkSparseProducts(out);
  await checkSparseLeaks(out);
}
