// The reference checks of the sparse kernels (src/engine/ops/webgpu/sparse.ts) against plain JS on
// arrays: TopK entries (as sets per row: their order within a row is free), the sparse decode, the
// row dots and both outer products, at sizes that hit the edges (n and d not multiples of 4 or of a
// workgroup, K = 1, k = n, K above the row-dot batch of 32, fewer eligible latents than k, rows of
// negative z, latents shared by many rows, padding), and leaks. Then the sparse TopK training step
// (src/engine/variants/sparseLinear.ts) built on them against the dense step through tfjs's autodiff
// on this backend, as src/engine/variants/sparseLinear.test.ts does on wasm: losses, every gradient,
// the entries against the dense f, the parameters after 20 steps of the trainer's step, and leaks.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { Adam } from '../engine/adam';
import { initialLive, resolveConfig, type SaeConfig } from '../engine/config';
import { SPARSE_KERNELS, sparseDecode, sparseKernelsAvailable, sparseOuterCols, sparseOuterRows, sparseRowDots, thresholdEntriesAvailable, topkEntries, type Entries } from '../engine/ops/sparse';
import '../engine/ops/webgpu/sparse';
import { kernelsRun } from '../engine/ops/webgpu/kernelsRun';
import { createRng } from '../engine/rng';
import { trainStep, type StepState } from '../engine/trainStep';
import { variantFor } from '../engine/variants/registry';
import type { LossParts, Params, SparseStep, StepContext } from '../engine/variants/types';
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

// ---------------------------------------------------------------------------------------------
// The sparse TopK step against the dense step

/** Relative tolerance of the sparse step against the dense one: max |Δ| / max |reference|. */
const STEP_RTOL = 1e-5;
const STEP_D = 32, STEP_S = 256, STEP_B = 48;

/** Deterministic values in [-1, 1) × scale: the LCG of src/engine/testing.ts (values), so that these
 * inputs are the wasm test's. It is repeated, not imported: that module loads Node-only code. */
function lcgValues(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s / 4294967296) * 2 - 1) * scale;
  });
}

/** Four batches of rows with a few strong directions, as in sparseLinear.test.ts. */
const STEP_ROWS = Float32Array.from(lcgValues(STEP_B * 4 * STEP_D, 11, 1.5));

/** A TopK SAE (or another linear variant with `extra`) initialised as in sparseLinear.test.ts. */
function stepSetup(extra: Record<string, unknown> = {}) {
  const cfg = resolveConfig({ architecture: 'topk', d_sae: STEP_S, k: 8, aux_k: 16, aux_k_coefficient: 1 / 32, batch_size: STEP_B, ...extra }, STEP_D);
  const variant = variantFor(cfg);
  const mean = new Float32Array(STEP_D);
  for (let i = 0; i < STEP_ROWS.length; i++) mean[i % STEP_D] += STEP_ROWS[i] / (STEP_ROWS.length / STEP_D);
  const p = variant.init(cfg, { dIn: STEP_D, nLayers: 1, mean, meanNorm: 1 }, createRng(3));
  // b_enc well below zero: many pre-activations are negative and some rows keep fewer than k
  // positive entries (their entries carry padding, which no product may count).
  const shift = cfg.architecture === 'topk' ? -2 : 0;
  tf.tidy(() => p.b_enc.assign(tf.tensor1d(lcgValues(STEP_S, 5, 0.8).map((v) => v + shift))));
  return { cfg, variant, p, live: initialLive(cfg) };
}

/** Every `every`-th latent dead (none for 0). */
function stepDeadMask(every: number): tf.Tensor1D {
  return tf.tensor1d(Array.from({ length: STEP_S }, (_, j) => (every > 0 && j % every === 0 ? 1 : 0)));
}

/** max |got − want| / max |want| (the plain difference when want is all zero), with the raw figures. */
function relativeCheck(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = STEP_RTOL): CheckResult {
  if (got.length !== want.length) return { name, ok: false, maxError: Infinity, detail: `length ${got.length} ≠ ${want.length}` };
  let diff = 0, scale = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= diff)) { diff = Number.isNaN(d) ? Infinity : d; at = i; }
    scale = Math.max(scale, Math.abs(want[i]));
  }
  const rel = scale === 0 ? diff : diff / scale;
  const worst = at < 0 ? '' : `, worst at ${at}: ${got[at]} vs ${want[at]}`;
  return { name, ok: rel <= rtol, maxError: rel, detail: `${want.length} values, max |Δ| ${diff.toExponential(2)} / max |ref| ${scale.toExponential(2)} = ${rel.toExponential(2)} (rtol ${rtol})${worst}` };
}

const disposeParams = (p: Params) => Object.values(p).forEach((v) => v.dispose());

/**
 * One step, sparse against dense, with a third of the latents dead (AuxK nonzero) and with none:
 * recon, aux, total and every gradient; the entries against the dense f's nonzeros, row by row; and
 * which sparse kernels ran. The dead mask comes both as a float tensor and as trainStep.ts makes it,
 * a comparison cast to float: on webgpu that cast keeps the bool's int32 buffer (only the tensor's
 * dtype changes), so the kernels that read the mask see i32 elements.
 */
async function checkTopkSparseStep(out: CheckResult[]) {
  const { variant, p, live } = stepSetup();
  const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
  const masks: [string, number, () => tf.Tensor1D][] = [
    ['a third dead', 3, () => stepDeadMask(3)],
    ['a third dead, mask cast from bool', 3, () => tf.tidy(() => tf.greater(stepDeadMask(3), 0.5).toFloat() as tf.Tensor1D)],
    ['none dead', 0, () => stepDeadMask(0)],
  ];
  for (const [label, every, mask] of masks) {
    const ctx: StepContext = { deadMask: mask(), step: 0, seed: 0 };
    let parts: LossParts | undefined;
    const dense = tf.variableGrads(() => {
      parts = variant.loss(p, x, live, ctx);
      tf.keep(parts.recon); tf.keep(parts.aux); tf.keep(parts.f);
      return parts.total;
    }, Object.values(p));
    const ran: { step: SparseStep | null } = { step: null };
    const names = kernelsRun(() => { ran.step = variant.sparseStep?.(p, x, live, ctx) ?? null; });
    const d = parts!;
    const s = ran.step;
    if (!s) {
      out.push(fact(`sparse step topk (${label}) is taken on webgpu`, false, 'variant.sparseStep returns null or is missing'));
      tf.dispose([dense.value, d.recon, d.aux, d.f, ...Object.values(dense.grads), ctx.deadMask]);
      continue;
    }
    const [sRecon, sAux, sTotal, dRecon, dAux, dTotal] = await Promise.all([s.parts.recon, s.parts.aux, s.parts.total, d.recon, d.aux, dense.value].map(read));
    out.push(relativeCheck(`sparse step topk (${label}) recon = dense`, sRecon, dRecon));
    out.push(relativeCheck(`sparse step topk (${label}) aux = dense`, sAux, dAux));
    out.push(relativeCheck(`sparse step topk (${label}) total = dense`, sTotal, dTotal));
    out.push(fact(`sparse step topk (${label}) aux is ${every ? 'nonzero' : 'exactly 0'}`, every ? sAux[0] > 1e-4 : sAux[0] === 0, `sparse aux ${sAux[0]}, dense aux ${dAux[0]}`));
    for (const [name, v] of Object.entries(p)) {
      const [got, want] = await Promise.all([read(s.grads[name]), read(dense.grads[v.name])]);
      out.push(relativeCheck(`sparse step topk (${label}) ∂${name} = dense`, got, want));
    }
    // The entries hold exactly the dense f's nonzero values, row by row (values to rounding: the two
    // encoder products may sum in different orders).
    const [f, idx, val] = await Promise.all([read(d.f), s.parts.entries.indices.data(), read(s.parts.entries.values)]);
    const k = live.k;
    let badRows = 0, firstBad = '', shortRows = 0, maxValueError = 0;
    for (let b = 0; b < STEP_B; b++) {
      const fromDense = new Map<number, number>();
      for (let j = 0; j < STEP_S; j++) if (f[b * STEP_S + j] !== 0) fromDense.set(j, f[b * STEP_S + j]);
      const fromEntries = new Map<number, number>();
      for (let t = 0; t < k; t++) if (val[b * k + t] !== 0) fromEntries.set(idx[b * k + t], val[b * k + t]);
      const dk = [...fromDense.keys()].sort((u, w) => u - w), ek = [...fromEntries.keys()].sort((u, w) => u - w);
      let same = dk.length === ek.length && dk.every((j, i) => j === ek[i]);
      for (const [j, v] of fromDense) {
        const e = Math.abs((fromEntries.get(j) ?? 0) - v);
        maxValueError = Math.max(maxValueError, e);
        if (!(e < STEP_RTOL * Math.max(1, Math.abs(v)))) same = false;
      }
      if (!same) { badRows++; if (!firstBad) firstBad = `; row ${b}: dense ${JSON.stringify([...fromDense])} entries ${JSON.stringify([...fromEntries])}`; }
      if (fromDense.size < k) shortRows++;
    }
    out.push({ name: `sparse step topk (${label}) entries = dense f's nonzeros`, ok: badRows === 0, maxError: maxValueError,
      detail: `${STEP_B} rows, ${badRows} differ (latents exact, values within ${STEP_RTOL}·max(1, |f|)); max |Δ| ${maxValueError.toExponential(2)}${firstBad}` });
    out.push(fact(`sparse step topk (${label}) has rows with fewer than k positive pre-activations`, shortRows > 0, `${shortRows} of ${STEP_B} rows hold fewer than ${k}`));
    const missing = Object.values(SPARSE_KERNELS).filter((name) => !names.includes(name));
    out.push(fact(`sparse step topk (${label}) runs the sparse kernels`, missing.length === 0, missing.length ? `not run: ${missing.join(', ')}` : `all of ${Object.values(SPARSE_KERNELS).join(', ')}`));
    tf.dispose([s.parts.total, s.parts.recon, s.parts.aux, s.parts.sparsity, s.parts.xHat, s.parts.entries.indices, s.parts.entries.values, ...Object.values(s.grads)]);
    tf.dispose([dense.value, d.recon, d.aux, d.f, ...Object.values(dense.grads), ctx.deadMask]);
  }
  x.dispose();
  disposeParams(p);
}

/** Trains `steps` steps through the trainer's step (as sparseLinear.test.ts's `train`) and reads the parameters. */
async function trainParams(extra: Record<string, unknown>, steps: number, deadEvery: number): Promise<Record<string, Float32Array>> {
  const { cfg, variant, p, live } = stepSetup({ ...extra, dead_tokens_window: 1 });
  const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
  // A window of 1 and a head start of "tokens since fired" make the chosen latents dead at step 0.
  const since = tf.variable(tf.tensor1d(Array.from({ length: STEP_S }, (_, j) => (deadEvery && j % deadEvery === 0 ? 10 : 0))), false);
  const state: StepState = { cfg: cfg as SaeConfig, variant, params: p, adam, tokensSinceFired: since, firedSinceLog: tf.variable(tf.zeros([STEP_S]), false), guidance: [], step: 0, live };
  const rowIds = new Uint32Array(STEP_B).map((_, i) => i);
  for (let step = 0; step < steps; step++) {
    state.step = step;
    const start = (step % 4) * STEP_B * STEP_D;
    const { stats } = trainStep(state, STEP_ROWS.subarray(start, start + STEP_B * STEP_D), STEP_D, rowIds, undefined, step === steps - 1);
    if (stats) tf.dispose(Object.values(stats));
  }
  const named = Object.entries(p);
  const got = await Promise.all(named.map(([, v]) => read(v)));
  const values = Object.fromEntries(named.map(([name], i) => [name, got[i].slice()]));
  disposeParams(p);
  adam.dispose();
  since.dispose();
  state.firedSinceLog.dispose();
  return values;
}

/** 20 steps of the trainer with sparse 'auto' against 'off': every parameter, and which path ran. */
async function checkTopkSparseTraining(out: CheckResult[]) {
  for (const deadEvery of [0, 5]) {
    const label = deadEvery ? 'every 5th dead' : 'none dead';
    // kernelsRun sees the dispatches of the 20 steps, which trainParams makes before its first
    // await (the read of the parameters).
    let sparseRun: Promise<Record<string, Float32Array>> | undefined, denseRun: Promise<Record<string, Float32Array>> | undefined;
    const sparseNames = kernelsRun(() => { sparseRun = trainParams({}, 20, deadEvery); });
    const sparse = await sparseRun!;
    const denseNames = kernelsRun(() => { denseRun = trainParams({ sparse: 'off' }, 20, deadEvery); });
    const dense = await denseRun!;
    const decodes = sparseNames.filter((n) => n === SPARSE_KERNELS.decode).length;
    out.push(fact(`sparse step topk trains (${label}) with sparse auto: SaeSparseDecode runs`, decodes > 0, `${decodes} SaeSparseDecode dispatches in 20 steps`));
    out.push(fact(`sparse step topk trains (${label}) with sparse off: SaeSparseDecode does not run`, !denseNames.includes(SPARSE_KERNELS.decode), `${denseNames.filter((n) => n === SPARSE_KERNELS.decode).length} SaeSparseDecode dispatches in 20 steps`));
    for (const name of Object.keys(dense)) out.push(relativeCheck(`sparse step topk (${label}) ${name} after 20 steps = dense`, sparse[name], dense[name]));
  }
}

/** The sparse step inside a tidy leaves no tensor and no backend buffer behind. */
async function checkTopkSparseStepLeaks(out: CheckResult[]) {
  const { variant, p, live } = stepSetup();
  const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
  const ctx: StepContext = { deadMask: stepDeadMask(3), step: 0, seed: 0 };
  const run = () => tf.tidy(() => { variant.sparseStep!(p, x, live, ctx); });
  const backend = tf.backend() as WebGPUBackend;
  run();
  await read(x);
  const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  for (let i = 0; i < 3; i++) run();
  await read(x); // let the backend retire what it freed
  const after = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  out.push(fact('sparse step topk leaks nothing', after.tensors === before.tensors && after.buffers === before.buffers,
    `tensors ${before.tensors} → ${after.tensors}, backend buffers ${before.buffers} → ${after.buffers} over 3 more tidy'd steps`));
  tf.dispose([x, ctx.deadMask]);
  disposeParams(p);
}

/**
 * JumpReLU's sparse step needs SaeThresholdEntries, which webgpu does not register: at a low active
 * fraction its sparseStep must answer null (and the trainer's step stay dense) rather than fail.
 */
async function checkJumpReluSparseStepAbsent(out: CheckResult[]) {
  const extra = { architecture: 'jumprelu', init_threshold: 0.9, bandwidth: 0.3, l0_coefficient: 0.5 };
  const { cfg, variant, p, live } = stepSetup(extra);
  const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
  const ctx: StepContext = { deadMask: stepDeadMask(0), step: 0, seed: 0, activeFraction: 0.01 };
  const step = variant.sparseStep?.(p, x, live, ctx) ?? null;
  out.push(fact('sparse step jumprelu is null on webgpu (no SaeThresholdEntries)', step === null && !thresholdEntriesAvailable() && sparseKernelsAvailable(),
    `sparseStep at active fraction 0.01: ${step === null ? 'null' : 'a step'}; threshold entries available: ${thresholdEntriesAvailable()}; other sparse kernels: ${sparseKernelsAvailable()}`));
  if (step) tf.dispose([step.parts.total, step.parts.recon, step.parts.aux, step.parts.sparsity, step.parts.xHat, step.parts.entries.indices, step.parts.entries.values, ...Object.values(step.grads)]);
  // Through the trainer's step, with the last step's fraction as low: dense, and finite.
  const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
  const state: StepState = { cfg: cfg as SaeConfig, variant, params: p, adam, tokensSinceFired: tf.variable(tf.zeros([STEP_S]), false), firedSinceLog: tf.variable(tf.zeros([STEP_S]), false), guidance: [], step: 0, live, activeFraction: 0.01 };
  let result: ReturnType<typeof trainStep> | undefined;
  const names = kernelsRun(() => { result = trainStep(state, STEP_ROWS.subarray(0, STEP_B * STEP_D), STEP_D, new Uint32Array(STEP_B).map((_, i) => i), undefined, true); });
  const total = result!.stats ? (await read(result!.stats.total_loss))[0] : NaN;
  out.push(fact('sparse step jumprelu: the trainer\'s step stays dense on webgpu', !result!.sparse && !names.includes(SPARSE_KERNELS.decode) && Number.isFinite(total),
    `step sparse: ${result!.sparse}; SaeSparseDecode dispatched: ${names.includes(SPARSE_KERNELS.decode)}; total loss ${total}`));
  if (result!.stats) tf.dispose(Object.values(result!.stats));
  tf.dispose([x, ctx.deadMask, state.tokensSinceFired, state.firedSinceLog]);
  adam.dispose();
  disposeParams(p);
}

export async function checkSparse(out: CheckResult[]) {
  await checkTopkEntries(out);
  await checkSparseProducts(out);
  await checkSparseLeaks(out);
  await checkTopkSparseStep(out);
  await checkTopkSparseTraining(out);
  await checkTopkSparseStepLeaks(out);
  await checkJumpReluSparseStepAbsent(out);
}
