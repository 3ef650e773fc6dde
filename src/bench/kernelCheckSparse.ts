// The reference checks of the sparse kernels (src/engine/ops/webgpu/sparse.ts) against plain JS on
// arrays: TopK entries (as sets per row: their order within a row is free), the sparse decode, the
// row dots and both outer products, at sizes that hit the edges (n and d not multiples of 4 or of a
// workgroup, K = 1, k = n, K above the row-dot batch of 32, fewer eligible latents than k, rows of
// negative z, latents shared by many rows, padding), and leaks. The selections whose widths depend
// on the data (src/engine/ops/webgpu/sparseSelect.ts: JumpReLU's threshold entries, BatchTopK's and
// ReLU's entries, and their row counts) likewise, exactly and in order (rows with no entries, rows
// all of one count, n not a multiple of 4, ties at the threshold and at the batch's k-th value,
// total 0), with the widths read asynchronously from the counts as the trainer reads them (nothing
// on this backend reads synchronously: src/engine/ops/sparse.ts selectionNeedsWidths), and leaks.
// Then the sparse training steps (src/engine/variants/sparseLinear.ts: TopK, JumpReLU, BatchTopK,
// Matryoshka, ReLU) built on them, planned as the trainer plans them (src/engine/trainStep.ts
// planSelection), against the dense step through tfjs's autodiff on this backend, as
// src/engine/variants/sparseLinear.test.ts does on wasm: losses, every gradient (JumpReLU's θ
// included), BatchTopK's θ_g after the step, the entries against the dense f, the parameters after
// 20 steps of the trainer's step and after a few steps of the Trainer itself, and leaks.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { Adam } from '../engine/adam';
import { initialLive, resolveConfig, type LiveParams, type SaeConfig } from '../engine/config';
import { isAbove } from '../engine/ops/compare';
import { rectangleKernel } from '../engine/ops/kernel';
import { BATCH_TOPK_COUNTS, BATCH_TOPK_ENTRIES, SPARSE_KERNELS, THRESHOLD_COUNTS, THRESHOLD_ENTRIES, batchTopkCounts, batchTopkEntries, batchTopkEntriesAvailable, positiveCounts, positiveEntries, readSelectionCounts, selectionNeedsWidths, sparseDecode, sparseKernelsAvailable, sparseOuterCols, sparseOuterRows, sparseRowDots, thresholdCounts, thresholdEntries, thresholdEntriesAvailable, topkEntries, type Entries } from '../engine/ops/sparse';
import '../engine/ops/webgpu/sparse';
import { kernelsRun, kernelsRunAsync } from '../engine/ops/webgpu/kernelsRun';
import { createRng } from '../engine/rng';
import { planSelection, planSparseStep, trainStep, type StepState } from '../engine/trainStep';
import { Trainer } from '../engine/trainer';
import { autodiffStep } from '../engine/variants/autodiffStep';
import { variantFor } from '../engine/variants/registry';
import type { Params, PlannedSelection, SparseStep, StepContext, Variant } from '../engine/variants/types';
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

/** The config of a TopK SAE (or of another linear variant with `extra`) as in sparseLinear.test.ts. */
function stepConfig(extra: Record<string, unknown> = {}) {
  return resolveConfig({ architecture: 'topk', d_sae: STEP_S, k: 8, aux_k: 16, aux_k_coefficient: 1 / 32, batch_size: STEP_B, ...extra }, STEP_D);
}

/** A TopK SAE (or another linear variant with `extra`) initialised as in sparseLinear.test.ts. */
function stepSetup(extra: Record<string, unknown> = {}) {
  const cfg = stepConfig(extra);
  const variant = variantFor(cfg);
  const mean = new Float32Array(STEP_D);
  for (let i = 0; i < STEP_ROWS.length; i++) mean[i % STEP_D] += STEP_ROWS[i] / (STEP_ROWS.length / STEP_D);
  const p = variant.init(cfg, { dIn: STEP_D, nLayers: 1, mean, meanNorm: 1 }, createRng(3));
  // b_enc well below zero (as sparseLinear.test.ts, JumpReLU aside, whose θ does that): many
  // pre-activations are negative and some rows keep fewer than k positive entries (their entries
  // carry padding, which no product may count).
  const shift = cfg.architecture === 'jumprelu' ? 0 : -2;
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
    const dense = autodiffStep(variant, p, x, live, ctx);
    const ran: { step: SparseStep | null } = { step: null };
    const names = kernelsRun(() => { ran.step = variant.sparseStep?.(p, x, live, ctx) ?? null; });
    const d = dense.parts;
    const s = ran.step;
    if (!s) {
      out.push(fact(`sparse step topk (${label}) is taken on webgpu`, false, 'variant.sparseStep returns null or is missing'));
      dense.dispose();
      ctx.deadMask.dispose();
      continue;
    }
    const [sRecon, sAux, sTotal, dRecon, dAux, dTotal] = await Promise.all([s.parts.recon, s.parts.aux, s.parts.total, d.recon, d.aux, dense.total].map(read));
    out.push(relativeCheck(`sparse step topk (${label}) recon = dense`, sRecon, dRecon));
    out.push(relativeCheck(`sparse step topk (${label}) aux = dense`, sAux, dAux));
    out.push(relativeCheck(`sparse step topk (${label}) total = dense`, sTotal, dTotal));
    out.push(fact(`sparse step topk (${label}) aux is ${every ? 'nonzero' : 'exactly 0'}`, every ? sAux[0] > 1e-4 : sAux[0] === 0, `sparse aux ${sAux[0]}, dense aux ${dAux[0]}`));
    for (const name of Object.keys(p)) {
      const [got, want] = await Promise.all([read(s.grads[name]), read(dense.grads[name])]);
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
    dense.dispose();
    ctx.deadMask.dispose();
  }
  x.dispose();
  disposeParams(p);
}

/**
 * Trains `steps` steps through the trainer's step (as sparseLinear.test.ts's `train`) and reads the
 * parameters; also the kernels the steps ran.
 */
async function trainParams(extra: Record<string, unknown>, steps: number, deadEvery: number): Promise<{ values: Record<string, Float32Array>; names: string[] }> {
  const { cfg, variant, p, live } = stepSetup({ ...extra, dead_tokens_window: 1 });
  const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
  // A window of 1 and a head start of "tokens since fired" make the chosen latents dead at step 0.
  const since = tf.variable(tf.tensor1d(Array.from({ length: STEP_S }, (_, j) => (deadEvery && j % deadEvery === 0 ? 10 : 0))), false);
  const state: StepState = { cfg: cfg as SaeConfig, variant, params: p, adam, tokensSinceFired: since, firedSinceLog: tf.variable(tf.zeros([STEP_S]), false), guidance: [], step: 0, live };
  const rowIds = new Uint32Array(STEP_B).map((_, i) => i);
  const names: string[] = [];
  for (let step = 0; step < steps; step++) {
    state.step = step;
    const start = (step % 4) * STEP_B * STEP_D;
    const batch = STEP_ROWS.subarray(start, start + STEP_B * STEP_D);
    // As Trainer.runSteps: planned first where the step's selection needs its widths.
    const planned = await planSparseStep(state, batch, STEP_D);
    let stats: Record<string, tf.Tensor> | undefined;
    names.push(...kernelsRun(() => { stats = trainStep(state, batch, STEP_D, rowIds, undefined, step === steps - 1, planned).stats; }));
    if (stats) tf.dispose(Object.values(stats));
  }
  const named = Object.entries(p);
  const got = await Promise.all(named.map(([, v]) => read(v)));
  const values = Object.fromEntries(named.map(([name], i) => [name, got[i].slice()]));
  disposeParams(p);
  variant.dispose?.();
  adam.dispose();
  since.dispose();
  state.firedSinceLog.dispose();
  return { values, names };
}

/**
 * 20 steps of the trainer's step with sparse 'auto' against 'off': every parameter, and which path
 * ran (for BatchTopK and Matryoshka also that each step made its selection with
 * SaeBatchTopkEntries, with the width its plan counted).
 */
async function checkSparseTraining(out: CheckResult[], architecture: 'topk' | 'batchtopk' | 'matryoshka', deadEverys = [0, 5]) {
  const extra = architecture === 'topk' ? {} : { architecture };
  for (const deadEvery of deadEverys) {
    const label = deadEvery ? 'every 5th dead' : 'none dead';
    const { values: sparse, names: sparseNames } = await trainParams(extra, 20, deadEvery);
    const { values: dense, names: denseNames } = await trainParams({ ...extra, sparse: 'off' }, 20, deadEvery);
    const decodes = sparseNames.filter((n) => n === SPARSE_KERNELS.decode).length;
    out.push(fact(`sparse step ${architecture} trains (${label}) with sparse auto: SaeSparseDecode runs`, decodes > 0, `${decodes} SaeSparseDecode dispatches in 20 steps`));
    if (architecture !== 'topk') {
      const selections = sparseNames.filter((n) => n === BATCH_TOPK_ENTRIES).length;
      out.push(fact(`sparse step ${architecture} trains (${label}) with sparse auto: every step selects with ${BATCH_TOPK_ENTRIES}`, selections === 20, `${selections} ${BATCH_TOPK_ENTRIES} dispatches in 20 steps`));
    }
    out.push(fact(`sparse step ${architecture} trains (${label}) with sparse off: SaeSparseDecode does not run`, !denseNames.includes(SPARSE_KERNELS.decode), `${denseNames.filter((n) => n === SPARSE_KERNELS.decode).length} SaeSparseDecode dispatches in 20 steps`));
    for (const name of Object.keys(dense)) out.push(relativeCheck(`sparse step ${architecture} (${label}) ${name} after 20 steps = dense`, sparse[name], dense[name]));
  }
}

/**
 * The sparse step inside a tidy (with its afterStep, BatchTopK's θ_g update) leaves no tensor and no
 * backend buffer behind; `label` names the variant, `extra` configures it.
 */
async function checkSparseStepLeaks(out: CheckResult[], label: string, extra: Record<string, unknown> = {}) {
  const { variant, p, live } = stepSetup(extra);
  const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
  const ctx: StepContext = { deadMask: stepDeadMask(3), step: 0, seed: 0 };
  let taken = true;
  // With its plan, as the trainer takes it (the plan's z is disposed after the step).
  const run = async () => {
    const planned = await planSelection(variant, p, x, live);
    tf.tidy(() => {
      const step = variant.sparseStep!(p, x, live, { ...ctx, plannedSelection: planned });
      if (!step) taken = false;
      step?.afterStep?.();
    });
    planned?.pre.dispose();
  };
  const backend = tf.backend() as WebGPUBackend;
  await run();
  await read(x);
  const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  for (let i = 0; i < 3; i++) await run();
  await read(x); // let the backend retire what it freed
  const after = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  out.push(fact(`sparse step ${label} leaks nothing`, taken && after.tensors === before.tensors && after.buffers === before.buffers,
    `${taken ? '' : 'the sparse step was not taken; '}tensors ${before.tensors} → ${after.tensors}, backend buffers ${before.buffers} → ${after.buffers} over 3 more planned, tidy'd steps`));
  tf.dispose([x, ctx.deadMask]);
  variant.dispose?.();
  disposeParams(p);
}

// ---------------------------------------------------------------------------------------------
// The data-dependent selections: JumpReLU's threshold entries, BatchTopK's and ReLU's entries

/** Entries as plain arrays [B, K], K the largest row count (at least 1), padded with (0, 0). */
interface EntryArrays { indices: Int32Array; values: Float32Array; K: number; counts: number[] }

/** Rows of (latent, value) pairs, each in increasing latent order, as padded entries. */
function padRows(rows: [number, number][][]): EntryArrays {
  const counts = rows.map((r) => r.length);
  const K = Math.max(1, ...counts);
  const indices = new Int32Array(rows.length * K), values = new Float32Array(rows.length * K);
  rows.forEach((r, b) => r.forEach(([j, v], s) => { indices[b * K + s] = j; values[b * K + s] = v; }));
  return { indices, values, K, counts };
}

/** Row counts in brief: the range, and how many rows have none. */
const countsSummary = (counts: number[]) => `row counts ${Math.min(...counts)}…${Math.max(...counts)}, ${counts.filter((c) => c === 0).length} of ${counts.length} rows empty`;

/** Entries from a kernel against the reference: dtypes, shapes, and every index and value exactly, in order. */
async function entriesCheck(name: string, e: Entries, want: EntryArrays): Promise<CheckResult> {
  const B = want.counts.length;
  const [idx, val] = await Promise.all([e.indices.data(), e.values.data()]);
  const shapes = `${e.indices.shape}/${e.indices.dtype}, ${e.values.shape}/${e.values.dtype}`;
  const shapeOk = e.indices.dtype === 'int32' && e.values.dtype === 'float32' && sameShape(e.indices, [B, want.K]) && sameShape(e.values, [B, want.K]);
  let badRows = 0, firstBad = '';
  if (shapeOk) {
    for (let b = 0; b < B; b++) {
      const row = (i: ArrayLike<number>, v: ArrayLike<number>) => Array.from({ length: want.K }, (_, s) => [i[b * want.K + s], v[b * want.K + s]]);
      const got = row(idx, val), ref = row(want.indices, want.values);
      if (!got.every(([i, v], s) => i === ref[s][0] && Object.is(v, ref[s][1]))) {
        badRows++;
        if (!firstBad) firstBad = `; row ${b}: got ${JSON.stringify(got.slice(0, 8))} want ${JSON.stringify(ref.slice(0, 8))}`;
      }
    }
  }
  const ok = shapeOk && badRows === 0;
  return {
    name, ok, maxError: ok ? 0 : Infinity,
    detail: `outputs ${shapes} (want [${B}, ${want.K}]); ${shapeOk ? `${badRows} of ${B} rows differ` : 'shape or dtype wrong'} (indices and values exact, in order); ${countsSummary(want.counts)}${firstBad}`,
  };
}

/**
 * A selection's row counts (int32 [B, sets]) against the reference's, exactly, and the widths read
 * from them as the trainer reads them (readSelectionCounts: per set the largest count, at least 1).
 * Returns those widths, to select with; disposes `counts`.
 */
async function countsCheck(out: CheckResult[], name: string, counts: tf.Tensor2D, want: number[][]): Promise<number[]> {
  const B = want[0].length, sets = want.length;
  const [values, { widths }] = await Promise.all([counts.data(), readSelectionCounts(counts)]);
  const shapeOk = counts.dtype === 'int32' && sameShape(counts, [B, sets]);
  let bad = 0, firstBad = '';
  for (let b = 0; b < B && shapeOk; b++) {
    for (let t = 0; t < sets; t++) {
      if (values[b * sets + t] === want[t][b]) continue;
      bad++;
      if (!firstBad) firstBad = `; row ${b}, set ${t}: ${values[b * sets + t]} vs ${want[t][b]}`;
    }
  }
  const wantWidths = want.map((c) => Math.max(1, ...c));
  const widthsOk = widths.length === sets && widths.every((w, t) => w === wantWidths[t]);
  const ok = shapeOk && bad === 0 && widthsOk;
  out.push({ name, ok, maxError: ok ? 0 : Infinity,
    detail: `${counts.shape}/${counts.dtype} (want [${B}, ${sets}]/int32); ${bad} of ${B * sets} counts differ (exact); widths read ${JSON.stringify(widths)}, want ${JSON.stringify(wantWidths)}${firstBad}` });
  counts.dispose();
  return widths;
}

type ThresholdKind = 'normal' | 'tied' | 'negativeRows' | 'equalCounts' | 'allBelow';

/**
 * z [B, n] and θ [n] for a JumpReLU selection: normals against positive per-latent θ; multiples of
 * ¼ against θ of ¼…1 (with ε = ½ many z − θ are exactly 0 or ±ε/2, the tests' edges); every third
 * row negative (no active latent there); each row a rotation of the first against one θ (every row
 * the same counts); or every z far below θ (no entry at all: K = 1, all padding).
 */
function makeThresholdInputs(B: number, n: number, kind: ThresholdKind, seed: number): { z: Float32Array; theta: Float32Array } {
  const rng = createRng(seed + 1);
  if (kind === 'tied') return { z: makeZ(B, n, 'tied', seed), theta: Float32Array.from({ length: n }, () => 0.25 * (1 + rng.int(4))) };
  const theta = normals(n, seed + 2, 0.4).map((v) => 0.1 + Math.abs(v + 0.5));
  if (kind === 'normal' || kind === 'negativeRows') return { z: makeZ(B, n, kind, seed), theta };
  if (kind === 'allBelow') return { z: normals(B * n, seed).map((v) => -3 - Math.abs(v)), theta };
  const first = normals(n, seed, 1.5);
  const z = new Float32Array(B * n);
  for (let b = 0; b < B; b++) for (let j = 0; j < n; j++) z[b * n + j] = first[(j + b) % n];
  return { z, theta: new Float32Array(n).fill(0.8) };
}

/**
 * The JumpReLU selection in f32 arithmetic (each operation rounded as the device rounds it): active
 * where z − θ > 0 (values z), window where ½ − |(z − θ)/ε| > 0 (marks 1); also both as masks [B, n].
 */
function thresholdReference(z: Float32Array, theta: Float32Array, B: number, n: number, bandwidth: number) {
  const f = Math.fround, eps = f(bandwidth);
  const active: [number, number][][] = [], window: [number, number][][] = [];
  const activeMask = new Float32Array(B * n), windowMask = new Float32Array(B * n);
  let zeroDifferences = 0, windowEdges = 0;
  for (let b = 0; b < B; b++) {
    const a: [number, number][] = [], w: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      const v = z[b * n + j], d = f(v - theta[j]), u = f(d / eps);
      if (d === 0) zeroDifferences++;
      if (Math.abs(u) === 0.5) windowEdges++;
      if (d > 0) { a.push([j, v]); activeMask[b * n + j] = 1; }
      if (f(0.5 - Math.abs(u)) > 0) { w.push([j, 1]); windowMask[b * n + j] = 1; }
    }
    active.push(a);
    window.push(w);
  }
  return { active: padRows(active), window: padRows(window), activeMask, windowMask, zeroDifferences, windowEdges };
}

export async function checkThresholdEntries(out: CheckResult[]) {
  // [B, n, ε, kind]
  const cases: [number, number, number, ThresholdKind][] = [
    [5, 37, 0.3, 'normal'],
    [7, 3, 0.3, 'normal'],
    [8, 64, 0.5, 'tied'],
    [16, 1001, 0.5, 'tied'],
    [9, 130, 0.3, 'negativeRows'],
    [6, 129, 0.3, 'equalCounts'],
    [6, 128, 0.3, 'equalCounts'],
    [4, 40, 0.3, 'allBelow'],
    [64, 3000, 0.3, 'normal'],
  ];
  for (const [B, n, eps, kind] of cases) {
    const label = `[${B}, ${n}] ε ${eps} ${kind}`;
    const { z, theta } = makeThresholdInputs(B, n, kind, B * 5 + n);
    const zt = tf.tensor2d(z, [B, n]), tt = tf.tensor1d(theta);
    const ref = thresholdReference(z, theta, B, n, eps);
    const widths = await countsCheck(out, `sparse thresholdCounts ${label} = JS`, thresholdCounts(zt, tt, eps), [ref.active.counts, ref.window.counts]);
    const { active, window } = thresholdEntries(zt, tt, eps, [widths[0], widths[1]]);
    out.push(await entriesCheck(`sparse thresholdEntries ${label} active = JS`, active, ref.active));
    out.push(await entriesCheck(`sparse thresholdEntries ${label} window = JS`, window, ref.window));
    // The reference's tests are those of ops/compare.ts as this backend runs them (isAbove, and
    // isWithin through kernel.ts's rectangleKernel).
    const masks = [isAbove(zt, tt), rectangleKernel(zt, tt, eps)];
    const [above, within] = await Promise.all(masks.map(read));
    const sameAbove = above.every((v, i) => v === ref.activeMask[i]), sameWithin = within.every((v, i) => v === ref.windowMask[i]);
    out.push(fact(`sparse thresholdEntries ${label}: the JS tests = compare.ts on this backend`, sameAbove && sameWithin,
      `isAbove ${sameAbove ? 'equal' : 'differs'}, rectangleKernel ${sameWithin ? 'equal' : 'differs'}; ${ref.zeroDifferences} z − θ exactly 0, ${ref.windowEdges} |u| exactly ½`));
    if (kind === 'equalCounts') {
      const equal = [ref.active.counts, ref.window.counts].every((c) => c.every((v) => v === c[0]));
      out.push(fact(`sparse thresholdEntries ${label}: every row has the same counts`, equal, `active ${countsSummary(ref.active.counts)}; window ${countsSummary(ref.window.counts)}`));
    }
    if (kind === 'tied') out.push(fact(`sparse thresholdEntries ${label}: the tests' edges occur`, ref.zeroDifferences > 0 && ref.windowEdges > 0, `${ref.zeroDifferences} z − θ exactly 0, ${ref.windowEdges} |u| exactly ½`));
    tf.dispose([zt, tt, active.indices, active.values, window.indices, window.values, ...masks]);
  }
}

type BatchKind = ZKind | 'equalCounts' | 'allNegative';

/** z [B, n] for BatchTopK: makeZ's kinds, rotations of one row (equal counts), or all negative. */
function makeBatchZ(B: number, n: number, kind: BatchKind, seed: number): Float32Array {
  if (kind === 'allNegative') return normals(B * n, seed).map((v) => -Math.abs(v) - 0.01);
  if (kind !== 'equalCounts') return makeZ(B, n, kind, seed);
  const first = normals(n, seed, 1.5);
  const z = new Float32Array(B * n);
  for (let b = 0; b < B; b++) for (let j = 0; j < n; j++) z[b * n + j] = first[(j + b) % n];
  return z;
}

/**
 * BatchTopK's entries: kth the total-th largest of all B·n values, entries the z ≥ kth with z > 0
 * (every z > 0 for total 0), values z; and how many values equal kth and how many are kept.
 */
function batchTopkReference(z: Float32Array, B: number, n: number, total: number) {
  const kth = total > 0 ? Float32Array.from(z).sort()[B * n - total] : -Infinity;
  const rows: [number, number][][] = [];
  for (let b = 0; b < B; b++) {
    const row: [number, number][] = [];
    for (let j = 0; j < n; j++) { const v = z[b * n + j]; if (v > 0 && v >= kth) row.push([j, v]); }
    rows.push(row);
  }
  const atKth = total > 0 ? z.filter((v) => v === kth).length : 0;
  const atLeastKth = total > 0 ? z.filter((v) => v >= kth).length : 0;
  return { entries: padRows(rows), kth, atKth, atLeastKth };
}

export async function checkBatchTopkEntries(out: CheckResult[]) {
  // [B, n, total, kind]; total 0 is the ReLU's selection (positiveEntries).
  const cases: [number, number, number, BatchKind][] = [
    [5, 37, 12, 'normal'],
    [8, 64, 40, 'tied'],
    [16, 1001, 256, 'tied'],
    [9, 130, 72, 'negativeRows'],
    [6, 129, 30, 'equalCounts'],
    [6, 128, 30, 'equalCounts'],
    [4, 40, 160, 'normal'],
    [4, 40, 100, 'normal'],
    [3, 64, 10, 'allNegative'],
    [64, 3000, 2048, 'normal'],
    [5, 37, 0, 'negativeRows'],
    [7, 130, 0, 'tied'],
    [3, 64, 0, 'allNegative'],
  ];
  for (const [B, n, total, kind] of cases) {
    const label = `[${B}, ${n}] total ${total} ${kind}`;
    const z = makeBatchZ(B, n, kind, B * 3 + n + total);
    const zt = tf.tensor2d(z, [B, n]);
    const ref = batchTopkReference(z, B, n, total);
    const op = total > 0 ? 'batchTopkCounts' : 'positiveCounts';
    const [width] = await countsCheck(out, `sparse ${op} ${label} = JS`, total > 0 ? batchTopkCounts(zt, total) : positiveCounts(zt), [ref.entries.counts]);
    const e = total > 0 ? batchTopkEntries(zt, total, width) : positiveEntries(zt, width);
    const result = await entriesCheck(`sparse ${total > 0 ? 'batchTopkEntries' : 'positiveEntries'} ${label} = JS`, e, ref.entries);
    if (total > 0) result.detail += `; kth ${ref.kth}, ${ref.atKth} values equal to it, ${ref.atLeastKth} at least it`;
    out.push(result);
    if (kind === 'tied' && total > 0) {
      out.push(fact(`sparse batchTopkEntries ${label}: ties at the k-th value are all kept`, ref.kth > 0 && ref.atLeastKth > total && ref.atLeastKth - ref.atKth < total,
        `kth ${ref.kth}: ${ref.atKth} values equal to it; ${ref.atLeastKth} at least it for total ${total}`));
    }
    if (kind === 'equalCounts') {
      const { counts } = ref.entries;
      out.push(fact(`sparse batchTopkEntries ${label}: every row has the same count`, counts.every((c) => c === counts[0]) && counts[0] > 0, countsSummary(counts)));
    }
    if (kind === 'normal' && total > B * n / 2) out.push(fact(`sparse batchTopkEntries ${label}: kth ≤ 0 (every positive value kept)`, ref.kth <= 0, `kth ${ref.kth}`));
    tf.dispose([zt, e.indices, e.values]);
  }
}

/** Reference entries padded further, to `K` per row. */
function widen(e: EntryArrays, K: number): EntryArrays {
  const B = e.counts.length;
  const indices = new Int32Array(B * K), values = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    indices.set(e.indices.subarray(b * e.K, (b + 1) * e.K), b * K);
    values.set(e.values.subarray(b * e.K, (b + 1) * e.K), b * K);
  }
  return { indices, values, K, counts: e.counts };
}

/**
 * The widths on this backend: without them a selection throws (nothing here reads its counts back),
 * and a width above the largest count pads every row further.
 */
export async function checkSelectionWidths(out: CheckResult[]) {
  const B = 9, n = 130, eps = 0.3, total = 72;
  const { z, theta } = makeThresholdInputs(B, n, 'negativeRows', 123);
  const zt = tf.tensor2d(z, [B, n]), tt = tf.tensor1d(theta);
  const unsized: [string, () => unknown][] = [
    ['thresholdEntries', () => thresholdEntries(zt, tt, eps)],
    ['batchTopkEntries', () => batchTopkEntries(zt, total)],
    ['positiveEntries', () => positiveEntries(zt)],
  ];
  const outcomes = unsized.map(([name, f]) => {
    try {
      tf.tidy(() => { f(); });
      return `${name} ran`;
    } catch (e) {
      return `${name} threw: ${e instanceof Error ? e.message : String(e)}`;
    }
  });
  out.push(fact('sparse selections without their widths throw on webgpu', selectionNeedsWidths() && outcomes.every((o) => !o.endsWith(' ran')), outcomes.join('; ')));
  const ref = thresholdReference(z, theta, B, n, eps);
  const { active, window } = thresholdEntries(zt, tt, eps, [ref.active.K + 2, ref.window.K + 3]);
  out.push(await entriesCheck(`sparse thresholdEntries [${B}, ${n}] widths above the counts: active = JS`, active, widen(ref.active, ref.active.K + 2)));
  out.push(await entriesCheck(`sparse thresholdEntries [${B}, ${n}] widths above the counts: window = JS`, window, widen(ref.window, ref.window.K + 3)));
  const batch = batchTopkReference(z, B, n, total), positive = batchTopkReference(z, B, n, 0);
  const b = batchTopkEntries(zt, total, batch.entries.K + 1), r = positiveEntries(zt, positive.entries.K + 4);
  out.push(await entriesCheck(`sparse batchTopkEntries [${B}, ${n}] total ${total} width above the counts = JS`, b, widen(batch.entries, batch.entries.K + 1)));
  out.push(await entriesCheck(`sparse positiveEntries [${B}, ${n}] width above the counts = JS`, r, widen(positive.entries, positive.entries.K + 4)));
  tf.dispose([zt, tt, active.indices, active.values, window.indices, window.values, b.indices, b.values, r.indices, r.values]);
}

/** Registration, and tf.memory().numTensors and the backend's live buffers flat across calls. */
export async function checkSelectionLeaks(out: CheckResult[]) {
  out.push(fact('sparse selections and their counts are registered for webgpu', thresholdEntriesAvailable() && batchTopkEntriesAvailable(),
    `backend ${tf.getBackend()}: ${[THRESHOLD_ENTRIES, THRESHOLD_COUNTS, BATCH_TOPK_ENTRIES, BATCH_TOPK_COUNTS].join(', ')} ${thresholdEntriesAvailable() && batchTopkEntriesAvailable() ? 'available' : 'not all available'}`));
  const B = 16, n = 300;
  const z = tf.tensor2d(normals(B * n, 51, 1.5), [B, n]), theta = tf.tensor1d(normals(n, 52, 0.4).map((v) => 0.1 + Math.abs(v + 0.5)));
  const run = async () => {
    const counts = [thresholdCounts(z, theta, 0.3), batchTopkCounts(z, 40), positiveCounts(z)];
    const [tw, bw, rw] = await Promise.all(counts.map(async (c) => (await readSelectionCounts(c)).widths));
    const { active, window } = thresholdEntries(z, theta, 0.3, [tw[0], tw[1]]);
    const b = batchTopkEntries(z, 40, bw[0]), r = positiveEntries(z, rw[0]);
    tf.dispose([...counts, active.indices, active.values, window.indices, window.values, b.indices, b.values, r.indices, r.values]);
  };
  const backend = tf.backend() as WebGPUBackend;
  await run();
  await read(z);
  const before = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  for (let i = 0; i < 5; i++) await run();
  await read(z); // let the backend retire what it freed
  const after = { tensors: tf.memory().numTensors, buffers: backend.numDataIds() };
  out.push(fact('sparse selections leak nothing', after.tensors === before.tensors && after.buffers === before.buffers,
    `tensors ${before.tensors} → ${after.tensors}, backend buffers ${before.buffers} → ${after.buffers} over 5 more calls of the three selections and their counts`));
  tf.dispose([z, theta]);
}

// ---------------------------------------------------------------------------------------------
// The JumpReLU, BatchTopK, Matryoshka and ReLU sparse steps against the dense step

const disposeStep = (s: SparseStep) => tf.dispose([s.parts.total, s.parts.recon, s.parts.aux, s.parts.sparsity, s.parts.xHat, s.parts.entries.indices, s.parts.entries.values, ...Object.values(s.parts.diagnostics ?? {}), ...Object.values(s.grads)]);

/** Every gradient of the sparse step against the dense one (both by `p`'s names). */
async function gradChecks(out: CheckResult[], label: string, p: Params, sparse: SparseStep, dense: Record<string, tf.Tensor>) {
  for (const name of Object.keys(p)) {
    if (!sparse.grads[name] || !dense[name]) {
      out.push(fact(`${label} ∂${name} = dense`, false, `missing: sparse ${!!sparse.grads[name]}, dense ${!!dense[name]}`));
      continue;
    }
    const [got, want] = await Promise.all([read(sparse.grads[name]), read(dense[name])]);
    out.push(relativeCheck(`${label} ∂${name} = dense`, got, want));
  }
}

/** The entries hold exactly the dense f's nonzero latents, row by row, with its values to rounding. */
async function entriesAgainstDense(label: string, f: tf.Tensor, entries: Entries): Promise<CheckResult> {
  const [fv, idx, val] = await Promise.all([read(f), entries.indices.data(), read(entries.values)]);
  const K = entries.indices.shape[1];
  let badRows = 0, firstBad = '', maxValueError = 0;
  for (let b = 0; b < STEP_B; b++) {
    const fromDense = new Map<number, number>();
    for (let j = 0; j < STEP_S; j++) if (fv[b * STEP_S + j] !== 0) fromDense.set(j, fv[b * STEP_S + j]);
    const fromEntries = new Map<number, number>();
    for (let t = 0; t < K; t++) if (val[b * K + t] !== 0) fromEntries.set(idx[b * K + t], val[b * K + t]);
    let same = fromDense.size === fromEntries.size;
    for (const [j, v] of fromDense) {
      const e = Math.abs((fromEntries.get(j) ?? Infinity) - v);
      maxValueError = Math.max(maxValueError, e);
      if (!(e < STEP_RTOL * Math.max(1, Math.abs(v)))) same = false;
    }
    if (!same) { badRows++; if (!firstBad) firstBad = `; row ${b}: dense ${JSON.stringify([...fromDense])} entries ${JSON.stringify([...fromEntries])}`; }
  }
  return { name: `${label} entries = dense f's nonzeros`, ok: badRows === 0, maxError: maxValueError,
    detail: `${STEP_B} rows, K ${K}, ${badRows} differ (latents exact, values within ${STEP_RTOL}·max(1, |f|)); max |Δ| ${maxValueError.toExponential(2)}${firstBad}` };
}

/** Which of `wanted` kernels did not run. */
const kernelsCheck = (label: string, names: string[], wanted: string[]) => {
  const missing = wanted.filter((k) => !names.includes(k));
  return fact(`${label} runs the sparse kernels`, missing.length === 0, missing.length ? `not run: ${missing.join(', ')}` : `all of ${wanted.join(', ')}`);
};

/** What a plan counted, for the report (its tensor is gone once the step has run). */
type PlanFigures = { widths: number[]; activeFraction: number } | undefined;

const planSummary = (plan: PlanFigures) => (plan ? `planned widths ${JSON.stringify(plan.widths)}, active fraction ${(plan.activeFraction * 100).toFixed(2)}%` : 'no plan');

/**
 * The variant's sparse step as the trainer takes it: its plan's counts read first
 * (src/engine/trainStep.ts planSelection), then the step with them. Also the kernels the step ran
 * and what the plan counted; the plan's z is disposed.
 */
async function plannedStepRun(variant: Variant<SaeConfig>, p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext): Promise<{ names: string[]; step: SparseStep | null; plan: PlanFigures }> {
  const planned = await planSelection(variant, p, x, live);
  try {
    let step: SparseStep | null = null;
    const names = kernelsRun(() => { step = variant.sparseStep?.(p, x, live, { ...ctx, plannedSelection: planned }) ?? null; });
    return { names, step, plan: planned && { widths: planned.widths, activeFraction: planned.activeFraction } };
  } finally {
    planned?.pre.dispose();
  }
}

/**
 * Where the variant's sparse step does not run: with its plan's active fraction set above the
 * switch-over (for JumpReLU and ReLU), and on this backend without a plan even with the last step's
 * fraction given (there the selection needs its widths). Whether each returned null.
 */
async function denseWithout(variant: Variant<SaeConfig>, p: Params, x: tf.Tensor2D, live: LiveParams, ctx: StepContext, aboveFraction?: number): Promise<{ above?: boolean; unplanned: boolean }> {
  const planned = await planSelection(variant, p, x, live);
  const isNull = (plannedSelection: PlannedSelection | undefined, activeFraction?: number) => tf.tidy(() => variant.sparseStep!(p, x, live, { ...ctx, plannedSelection, activeFraction }) === null);
  try {
    return {
      above: aboveFraction === undefined || !planned ? undefined : isNull({ ...planned, activeFraction: aboveFraction }),
      unplanned: isNull(undefined, 0.01),
    };
  } finally {
    planned?.pre.dispose();
  }
}

const JUMPRELU = { architecture: 'jumprelu', init_threshold: 0.9, bandwidth: 0.3, l0_coefficient: 0.5 };
const RELU = { architecture: 'relu', l1_coefficient: 0.3 };

/**
 * JumpReLU with per-latent thresholds at a low active fraction, planned as the trainer plans it:
 * recon, sparsity, total and every gradient (θ's both terms, the window's reconstruction term and
 * the L0 term, in play) against the dense step, and the plan's active fraction against the dense
 * f's; above the switch-over fraction, and without a plan, the step stays dense. Then the trainer's
 * step: planned it is sparse, unplanned it stays dense.
 */
async function checkJumpReluSparseStep(out: CheckResult[]) {
  const { cfg, variant, p, live } = stepSetup(JUMPRELU);
  // Per-latent thresholds, so that θ's gradient differs across latents.
  tf.tidy(() => p.threshold.assign(tf.tensor1d(lcgValues(STEP_S, 8, 0.3).map((v) => 0.9 + v))));
  const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
  const ctx: StepContext = { deadMask: stepDeadMask(0), step: 0, seed: 0 };
  const dense = autodiffStep(variant, p, x, live, ctx);
  const d = dense.parts;
  const { names, step: s, plan } = await plannedStepRun(variant, p, x, live, ctx);
  out.push(fact('sparse step jumprelu is taken on webgpu with its plan', s !== null && plan !== undefined, `sparseStep: ${s ? 'a step' : 'null'}; ${planSummary(plan)}`));
  if (s && plan) {
    const label = 'sparse step jumprelu';
    const [sRecon, sSparsity, sTotal, dRecon, dSparsity, dTotal, fv] = await Promise.all([s.parts.recon, s.parts.sparsity, s.parts.total, d.recon, d.sparsity, dense.total, d.f].map(read));
    const activeCount = fv.filter((v) => v > 0).length, active = activeCount / fv.length;
    out.push(fact(`${label}: the dense step's active fraction is low (0.5%…20%)`, active > 0.005 && active < 0.2, `${(active * 100).toFixed(2)}% of the latents active`));
    out.push(fact(`${label}: the plan's active fraction is the dense f's`, Math.round(plan.activeFraction * fv.length) === activeCount, `${planSummary(plan)}; dense f: ${activeCount} of ${fv.length} active`));
    out.push(relativeCheck(`${label} recon = dense`, sRecon, dRecon));
    out.push(relativeCheck(`${label} sparsity = dense`, sSparsity, dSparsity));
    out.push(relativeCheck(`${label} total = dense`, sTotal, dTotal));
    await gradChecks(out, label, p, s, dense.grads);
    const thetaGrad = await read(dense.grads.threshold);
    const largest = thetaGrad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    out.push(fact(`${label}: θ has a gradient`, largest > 1e-3, `max |∂θ| ${largest.toExponential(2)}`));
    out.push(await entriesAgainstDense(label, d.f, s.parts.entries));
    out.push(kernelsCheck(label, names, [THRESHOLD_ENTRIES, ...Object.values(SPARSE_KERNELS).filter((k) => k !== SPARSE_KERNELS.topkEntries)]));
    disposeStep(s);
  }
  const without = await denseWithout(variant, p, x, live, ctx, 0.5);
  out.push(fact('sparse step jumprelu is null above the switch-over fraction, and on webgpu without a plan', without.above === true && without.unplanned,
    `planned at 0.5: ${without.above ? 'null' : 'a step'}; unplanned with the last step's fraction 0.01: ${without.unplanned ? 'null' : 'a step'}`));
  dense.dispose();
  // Through the trainer's step: planned (as Trainer.runSteps plans it on webgpu), it is sparse;
  // without its plan it stays dense.
  const adam = new Adam(p, cfg.adam_beta1, cfg.adam_beta2);
  const state: StepState = { cfg: cfg as SaeConfig, variant, params: p, adam, tokensSinceFired: tf.variable(tf.zeros([STEP_S]), false), firedSinceLog: tf.variable(tf.zeros([STEP_S]), false), guidance: [], step: 0, live };
  const batch = STEP_ROWS.subarray(0, STEP_B * STEP_D);
  for (const plans of [false, true]) {
    const planned = plans ? await planSparseStep(state, batch, STEP_D) : undefined;
    let result: ReturnType<typeof trainStep> | undefined;
    const stepNames = kernelsRun(() => { result = trainStep(state, batch, STEP_D, new Uint32Array(STEP_B).map((_, i) => i), undefined, true, planned); });
    const total = result!.stats ? (await read(result!.stats.total_loss))[0] : NaN;
    const selected = stepNames.includes(THRESHOLD_ENTRIES);
    const ok = (plans ? planned !== undefined && result!.sparse && selected : !result!.sparse && !selected) && Number.isFinite(total);
    out.push(fact(`sparse step jumprelu: the trainer's step ${plans ? 'is sparse with its plan' : 'stays dense on webgpu without a plan'}`, ok,
      `step sparse: ${result!.sparse}; ${THRESHOLD_ENTRIES} dispatched: ${selected}; ${planSummary(planned?.selection)}; total loss ${total}`));
    if (result!.stats) tf.dispose(Object.values(result!.stats));
    state.step += 1;
  }
  tf.dispose([x, ctx.deadMask, state.tokensSinceFired, state.firedSinceLog]);
  adam.dispose();
  disposeParams(p);
}

/**
 * BatchTopK and Matryoshka, a third of the latents dead (AuxK nonzero) and none: recon, aux, total
 * and every gradient against the dense step; rows of different counts whose sum is the dense f's;
 * and θ_g after each variant's afterStep (a sparse and a dense variant of the same parameters) to
 * 1e-5 of the largest |f|: θ_g is the smallest kept value, small against the pre-activations it is
 * a difference of, so the two encoders' rounding shows in it at that scale.
 */
async function checkBatchTopkSparseStep(out: CheckResult[], architecture: 'batchtopk' | 'matryoshka') {
  for (const every of [3, 0]) {
    const label = `sparse step ${architecture} (${every ? 'a third dead' : 'none dead'})`;
    const dense = stepSetup({ architecture }), sparse = stepSetup({ architecture });
    const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
    const ctx: StepContext = { deadMask: stepDeadMask(every), step: 0, seed: 0 };
    const g = autodiffStep(dense.variant, dense.p, x, dense.live, ctx);
    const d = g.parts;
    dense.variant.afterStep!(dense.p, d, dense.live);
    const { names, step: s, plan } = await plannedStepRun(sparse.variant, sparse.p, x, sparse.live, ctx);
    out.push(fact(`${label} is taken on webgpu with its plan`, s !== null && plan !== undefined, `sparseStep: ${s ? 'a step' : 'null'}; ${planSummary(plan)}`));
    if (s) {
      s.afterStep?.();
      const [sRecon, sAux, sTotal, dRecon, dAux, dTotal, fv, sValues] = await Promise.all([s.parts.recon, s.parts.aux, s.parts.total, d.recon, d.aux, g.total, d.f, s.parts.entries.values].map(read));
      out.push(relativeCheck(`${label} recon = dense`, sRecon, dRecon));
      out.push(relativeCheck(`${label} aux = dense`, sAux, dAux));
      out.push(relativeCheck(`${label} total = dense`, sTotal, dTotal));
      out.push(fact(`${label} aux is ${every ? 'nonzero' : 'exactly 0'}`, every ? sAux[0] > 1e-4 : sAux[0] === 0, `sparse aux ${sAux[0]}, dense aux ${dAux[0]}`));
      await gradChecks(out, label, dense.p, s, g.grads);
      // Rows keep different numbers of latents; the entries hold as many as the dense f in all.
      const counts = Array.from({ length: STEP_B }, (_, b) => fv.subarray(b * STEP_S, (b + 1) * STEP_S).filter((v) => v > 0).length);
      const kept = counts.reduce((a, b) => a + b, 0), entries = sValues.filter((v) => v > 0).length;
      const K = s.parts.entries.values.shape[1];
      out.push(fact(`${label}: rows keep different counts, the entries as many as the dense f, as wide as the largest`, new Set(counts).size > 1 && entries === kept && K === Math.max(...counts),
        `dense row counts ${Math.min(...counts)}…${Math.max(...counts)}, ${kept} in all; ${entries} positive entries (K ${K}; ${planSummary(plan)})`));
      out.push(await entriesAgainstDense(label, d.f, s.parts.entries));
      const thetas = await Promise.all([dense, sparse].map((v) => read((v.variant as unknown as { threshold: { value: tf.Scalar } }).threshold.value)));
      const fScale = fv.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const diff = Math.abs(thetas[1][0] - thetas[0][0]);
      out.push({ name: `${label} afterStep moves θ_g as the dense afterStep`, ok: thetas[0][0] > 0 && diff <= STEP_RTOL * fScale, maxError: fScale > 0 ? diff / fScale : diff,
        detail: `θ_g sparse ${thetas[1][0]}, dense ${thetas[0][0]}: |Δ| ${diff.toExponential(2)} against ${STEP_RTOL}·max |f| = ${(STEP_RTOL * fScale).toExponential(2)}` });
      out.push(kernelsCheck(label, names, [BATCH_TOPK_ENTRIES, ...Object.values(SPARSE_KERNELS).filter((k) => k !== SPARSE_KERNELS.topkEntries || every > 0)]));
      disposeStep(s);
    }
    const without = await denseWithout(sparse.variant, sparse.p, x, sparse.live, ctx);
    out.push(fact(`${label} is null on webgpu without a plan`, without.unplanned, `unplanned: ${without.unplanned ? 'null' : 'a step'}`));
    g.dispose();
    tf.dispose([ctx.deadMask, x]);
    disposeParams(dense.p);
    disposeParams(sparse.p);
    dense.variant.dispose?.();
    sparse.variant.dispose?.();
  }
}

/**
 * ReLU + L1 at a low active fraction (b_enc well below zero), planned as the trainer plans it,
 * decoder rows off unit norm so the penalty's pull on the norms is not a multiple of W_dec alone:
 * recon, sparsity, total and every gradient against the dense step, and the plan's active fraction
 * against the dense f's; above the switch-over fraction, and without a plan, the step stays dense.
 */
async function checkReluSparseStep(out: CheckResult[]) {
  const { variant, p, live } = stepSetup(RELU);
  tf.tidy(() => p.W_dec.assign(tf.mul(p.W_dec, tf.reshape(tf.tensor1d(lcgValues(STEP_S, 12, 0.5).map((v) => 1 + v)), [STEP_S, 1]))));
  const x = tf.tensor2d(STEP_ROWS.subarray(0, STEP_B * STEP_D), [STEP_B, STEP_D]);
  const ctx: StepContext = { deadMask: stepDeadMask(0), step: 0, seed: 0 };
  const dense = autodiffStep(variant, p, x, live, ctx);
  const d = dense.parts;
  const { names, step: s, plan } = await plannedStepRun(variant, p, x, live, ctx);
  const label = 'sparse step relu';
  out.push(fact(`${label} is taken on webgpu with its plan`, s !== null && plan !== undefined, `sparseStep: ${s ? 'a step' : 'null'}; ${planSummary(plan)}`));
  if (s && plan) {
    const [sRecon, sSparsity, sTotal, dRecon, dSparsity, dTotal, fv] = await Promise.all([s.parts.recon, s.parts.sparsity, s.parts.total, d.recon, d.sparsity, dense.total, d.f].map(read));
    const activeCount = fv.filter((v) => v > 0).length;
    out.push(fact(`${label}: the plan's active fraction is the dense f's`, Math.round(plan.activeFraction * fv.length) === activeCount, `${planSummary(plan)}; dense f: ${activeCount} of ${fv.length} active`));
    out.push(relativeCheck(`${label} recon = dense`, sRecon, dRecon));
    out.push(relativeCheck(`${label} sparsity = dense`, sSparsity, dSparsity));
    out.push(relativeCheck(`${label} total = dense`, sTotal, dTotal));
    out.push(fact(`${label}: the L1 term is in play`, sSparsity[0] > 0.01, `sparsity ${sSparsity[0]}`));
    await gradChecks(out, label, p, s, dense.grads);
    out.push(await entriesAgainstDense(label, d.f, s.parts.entries));
    out.push(kernelsCheck(label, names, [BATCH_TOPK_ENTRIES, ...Object.values(SPARSE_KERNELS).filter((k) => k !== SPARSE_KERNELS.topkEntries)]));
    disposeStep(s);
  }
  const without = await denseWithout(variant, p, x, live, ctx, 0.5);
  out.push(fact(`${label} is null above the switch-over fraction, and on webgpu without a plan`, without.above === true && without.unplanned,
    `planned at 0.5: ${without.above ? 'null' : 'a step'}; unplanned with the last step's fraction 0.01: ${without.unplanned ? 'null' : 'a step'}`));
  dense.dispose();
  tf.dispose([ctx.deadMask, x]);
  disposeParams(p);
}

/** Steps of each Trainer in checkTrainerSparse: enough for AuxK, θ_g and Adam's moments to be in play. */
const TRAINER_STEPS = 5;
/**
 * The Trainers' learning rate. Adam's first step moves a weight by lr·g/(|g| + ε), ε = 1e-8
 * (src/engine/adam.ts), so a gradient entry near ε moves it by a good part of lr whatever its size:
 * JumpReLU's ∂W_dec here has an entry of 3e-7 (the largest is 5.4), which two summation orders give
 * 5% apart, far below the 1e-5 of the largest that the steps agree to (checkJumpReluSparseStep).
 * At the default 1e-3 that alone puts the dense and sparse W_dec 1.6e-5 apart after one step (2.9e-5
 * for ReLU's), at 1e-4 a tenth of that: the difference scales with lr, not with the steps taken.
 */
const TRAINER_LR = 1e-4;

/**
 * The Trainer itself on this backend, `steps` steps of Trainer.runSteps with sparse 'auto' against
 * 'off' from the same initialisation and batches, at TRAINER_LR: every parameter to STEP_RTOL relative, every
 * 'auto' step sparse (Trainer.sparseSteps; on webgpu each selection-based step is planned by the
 * trainer first, src/engine/trainer.ts runSteps), none of the 'off' steps, and no tensor left
 * behind. A dead window of one batch puts AuxK in play after the first step (TopK family); b_enc
 * below zero (stepSetup's) keeps ReLU under its switch-over fraction, JumpReLU's θ does that itself.
 */
async function checkTrainerSparse(out: CheckResult[], architecture: 'topk' | 'batchtopk' | 'matryoshka' | 'jumprelu' | 'relu', steps: number) {
  const extra = architecture === 'jumprelu' ? JUMPRELU : architecture === 'relu' ? RELU : { architecture };
  const label = `sparse step ${architecture}: Trainer.runSteps`;
  const tensorsBefore = tf.memory().numTensors;
  const run = async (sparse: 'auto' | 'off') => {
    const cfg = stepConfig({ ...extra, sparse });
    const trainer = new Trainer({ ...cfg, steps, log_every: steps, dead_tokens_window: STEP_B, lr: TRAINER_LR } as SaeConfig,
      { train: STEP_ROWS, trainRows: STEP_ROWS.length / STEP_D, val: new Float32Array(0), valRows: 0, dIn: STEP_D }, tf.getBackend());
    // stepSetup's b_enc, as the other checks of the steps have it.
    const shift = architecture === 'jumprelu' ? 0 : -2;
    tf.tidy(() => trainer.params.b_enc.assign(tf.tensor1d(lcgValues(STEP_S, 5, 0.8).map((v) => v + shift))));
    const names = await kernelsRunAsync(() => trainer.runSteps(steps));
    const named = Object.entries(trainer.params);
    const got = await Promise.all(named.map(([, v]) => read(v)));
    const result = { values: Object.fromEntries(named.map(([name], i) => [name, got[i].slice()])), sparseSteps: trainer.sparseSteps, stepCount: trainer.stepCount, names };
    trainer.dispose();
    return result;
  };
  const sparse = await run('auto'), dense = await run('off');
  await tf.ready();
  const tensorsAfter = tf.memory().numTensors;
  const selection = { topk: SPARSE_KERNELS.topkEntries, jumprelu: THRESHOLD_ENTRIES, relu: BATCH_TOPK_ENTRIES, batchtopk: BATCH_TOPK_ENTRIES, matryoshka: BATCH_TOPK_ENTRIES }[architecture];
  const selections = sparse.names.filter((n) => n === selection).length;
  const counted = sparse.names.filter((n) => n === THRESHOLD_COUNTS || n === BATCH_TOPK_COUNTS).length;
  out.push(fact(`${label} with sparse auto takes the sparse step at every step`, sparse.stepCount === steps && sparse.sparseSteps === steps && selections >= steps,
    `${sparse.sparseSteps} of ${sparse.stepCount} steps sparse; ${selections} ${selection} and ${counted} count dispatches`));
  out.push(fact(`${label} with sparse off stays dense`, dense.stepCount === steps && dense.sparseSteps === 0 && !dense.names.includes(selection) && !dense.names.includes(SPARSE_KERNELS.decode),
    `${dense.sparseSteps} of ${dense.stepCount} steps sparse; ${selection} dispatched: ${dense.names.includes(selection)}`));
  for (const name of Object.keys(dense.values)) out.push(relativeCheck(`${label} ${name} after ${steps} steps = sparse off`, sparse.values[name], dense.values[name]));
  out.push(fact(`${label} leaks nothing`, tensorsAfter === tensorsBefore, `tensors ${tensorsBefore} → ${tensorsAfter} over two trainers of ${steps} steps, disposed`));
}

export async function checkSparse(out: CheckResult[]) {
  await checkTopkEntries(out);
  await checkSparseProducts(out);
  await checkSparseLeaks(out);
  await checkThresholdEntries(out);
  await checkBatchTopkEntries(out);
  await checkSelectionWidths(out);
  await checkSelectionLeaks(out);
  await checkTopkSparseStep(out);
  await checkSparseTraining(out, 'topk');
  await checkSparseStepLeaks(out, 'topk');
  await checkJumpReluSparseStep(out);
  await checkBatchTopkSparseStep(out, 'batchtopk');
  await checkBatchTopkSparseStep(out, 'matryoshka');
  // With dead latents only (AuxK in play): these runs are the slowest of the page on a software adapter.
  await checkSparseTraining(out, 'batchtopk', [5]);
  await checkSparseTraining(out, 'matryoshka', [5]);
  await checkReluSparseStep(out);
  await checkSparseStepLeaks(out, 'jumprelu', JUMPRELU);
  await checkSparseStepLeaks(out, 'batchtopk', { architecture: 'batchtopk' });
  await checkSparseStepLeaks(out, 'matryoshka', { architecture: 'matryoshka' });
  await checkSparseStepLeaks(out, 'relu', RELU);
  for (const architecture of ['topk', 'jumprelu', 'relu', 'batchtopk', 'matryoshka'] as const) await checkTrainerSparse(out, architecture, TRAINER_STEPS);
}
