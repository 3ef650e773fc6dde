// Sparse products for SAEs whose latents are mostly zero (TopK and its family; JumpReLU/ReLU at a
// low L0). A batch's active latents are held as entries: per row, K latent indices and their
// values, padded with (index 0, value 0) where a row has fewer than K. Padding contributes nothing
// to any product below, so no op needs the per-row counts.
//
// With k = 32 of 24,576 latents the decoder forward, ∂W_dec, ∂f and ∂W_enc of a dense step multiply
// almost only zeros; as entries each of them touches K rows of a weight matrix per batch row. The
// ops are kernels registered per backend (wasm: ops/wasm/, webgpu: ops/webgpu/sparse.ts); they take
// no part in autodiff — the sparse steps write their backward passes out (variants/sparseLinear.ts).
import * as tf from '@tensorflow/tfjs';
import { BATCH_TOPK_COUNTS, BATCH_TOPK_ENTRIES, SPARSE_KERNELS, THRESHOLD_COUNTS, THRESHOLD_ENTRIES } from './sparseKernels';
import { runKernel as run, WASM_KERNELS, wasmKernelHere } from './wasm/registered';
import './webgpu/sparse';

export { BATCH_TOPK_COUNTS, BATCH_TOPK_ENTRIES, SPARSE_KERNELS, THRESHOLD_COUNTS, THRESHOLD_ENTRIES };

/** Active latents of a batch: indices [B, K] int32 and values [B, K] float32. */
export interface Entries {
  indices: tf.Tensor2D;
  values: tf.Tensor2D;
}

/** Whether the current backend has every sparse kernel. */
export function sparseKernelsAvailable(): boolean {
  const backend = tf.getBackend();
  return Object.values(SPARSE_KERNELS).every((name) => tf.getKernel(name, backend) !== undefined);
}

/**
 * Each row's k largest entries of z [B, n] among the eligible latents (`eligible` [n], 1 = may be
 * chosen; all when absent), with values max(z, 0): the TopK activation f = ReLU(TopK(z)) as
 * entries. A row with fewer than k eligible latents is padded with (0, 0). Exactly k are kept: at
 * ties with the k-th value (measure zero for real data) the lower index wins, where the dense mask
 * (topk.ts topkMask) would keep every tied entry. A row's entries come in increasing latent order
 * (wasm and webgpu alike), so sums over them run in the order of the dense product's.
 */
export function topkEntries(z: tf.Tensor2D, k: number, eligible?: tf.Tensor1D): Entries {
  if (!Number.isInteger(k) || k < 1 || k > z.shape[1]) throw new Error(`topkEntries: k must be an integer in 1…${z.shape[1]}, got ${k}`);
  const [indices, values] = run(SPARSE_KERNELS.topkEntries, eligible ? { z, eligible } : { z }, { k }) as tf.Tensor[];
  return { indices: indices as tf.Tensor2D, values: values as tf.Tensor2D };
}

/** Σ_j values[b, j] · w[indices[b, j]] for w [n, d]: the decoder product f·W_dec without b_dec [B, d]. */
export function sparseDecode(e: Entries, w: tf.Tensor2D): tf.Tensor2D {
  return run(SPARSE_KERNELS.decode, { indices: e.indices, values: e.values, w }) as tf.Tensor2D;
}

/** dy[b] · w[indices[b, j]] for dy [B, d], w [n, d]: the gradient of a sparse decode at its entries [B, K]. */
export function sparseRowDots(indices: tf.Tensor2D, dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return run(SPARSE_KERNELS.rowDots, { indices, dy, w }) as tf.Tensor2D;
}

/**
 * sparseRowDots times step(values) [B, K]: the gradient at entries whose ReLU passes only where the
 * value is positive (∂z = ∂f where f > 0). On wasm the kernel skips the dots it would zero.
 */
export function sparseRowDotsWherePositive(e: Entries, dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (wasmKernelHere(SPARSE_KERNELS.rowDots)) return run(SPARSE_KERNELS.rowDots, { indices: e.indices, dy, w, mask: e.values }) as tf.Tensor2D;
  return tf.tidy(() => tf.mul(sparseRowDots(e.indices, dy, w), tf.step(e.values)) as tf.Tensor2D);
}

/**
 * Sᵀ·dy [n, d] for the sparse S [B, n] the entries hold and dy [B, d]: row j is Σ values[b, ·] · dy[b]
 * over the entries with index j, 0 for latents no entry names (∂W_dec = fᵀ·∂x̂).
 */
export function sparseOuterRows(e: Entries, dy: tf.Tensor2D, n: number): tf.Tensor2D {
  return run(SPARSE_KERNELS.outerRows, { indices: e.indices, values: e.values, dy }, { n }) as tf.Tensor2D;
}

/** xᵀ·S [d, n] for x [B, d]: the transpose of sparseOuterRows(e, x, n) (∂W_enc = xᵀ·∂z). */
export function sparseOuterCols(e: Entries, x: tf.Tensor2D, n: number): tf.Tensor2D {
  return run(SPARSE_KERNELS.outerCols, { indices: e.indices, values: e.values, x }, { n }) as tf.Tensor2D;
}

/**
 * Σ_b S[b, ·] [n], the column sums of the sparse S the entries hold (∂b_enc = Σ_b ∂z, the L1
 * penalty's c_i). On wasm one pass over the entries (wasm/registered.ts); elsewhere Sᵀ · 1 by
 * sparseOuterRows with a 4-wide block of ones (its kernels work on whole SIMD vectors).
 */
export function entryColumnSums(e: Entries, n: number): tf.Tensor1D {
  return entrySums(e, n, false, 0);
}

/**
 * The firing counts #{b : S[b, j] > thr} [n] of the sparse S the entries hold (padding counts where
 * 0 > thr). As entryColumnSums, of the 0/1 step(S − thr).
 */
export function entryCountsAbove(e: Entries, n: number, thr: number): tf.Tensor1D {
  return entrySums(e, n, true, thr);
}

function entrySums(e: Entries, n: number, countAbove: boolean, thr: number): tf.Tensor1D {
  if (wasmKernelHere(WASM_KERNELS.entryColumnSums)) {
    return run(WASM_KERNELS.entryColumnSums, { indices: e.indices, values: e.values }, { n, countAbove: countAbove ? 1 : 0, threshold: thr }) as tf.Tensor1D;
  }
  return tf.tidy(() => {
    const values = countAbove ? (thr === 0 ? tf.step(e.values) : tf.step(tf.sub(e.values, thr))) as tf.Tensor2D : e.values;
    const ones = tf.ones([e.indices.shape[0], 4]) as tf.Tensor2D;
    return tf.reshape(tf.slice(sparseOuterRows({ indices: e.indices, values }, ones, n), [0, 0], [n, 1]), [n]) as tf.Tensor1D;
  });
}

/**
 * Whether this backend's data-dependent selections (thresholdEntries, batchTopkEntries,
 * positiveEntries) need their widths given. Their outputs are as wide as the batch's largest row
 * count, which only the data tell. The wasm kernels count and then allocate, on the CPU. On webgpu
 * the counts live on the device, and a synchronous read would stall the queue every step (on
 * headless Chromium's software adapter it reads zeros and loses the device), so there the counts
 * are ops of their own (thresholdCounts, batchTopkCounts, positiveCounts), read asynchronously
 * (readSelectionCounts) before the selection runs with the widths they give (trainStep.ts
 * planSparseStep).
 */
export function selectionNeedsWidths(): boolean {
  return tf.getBackend() === 'webgpu';
}

/** The selection kernel `name` is registered here with the sparse products, and its `counts` where the widths must be given. */
function selectionAvailable(name: string, counts: string): boolean {
  const backend = tf.getBackend();
  return sparseKernelsAvailable() && tf.getKernel(name, backend) !== undefined && (!selectionNeedsWidths() || tf.getKernel(counts, backend) !== undefined);
}

/** Whether the current backend has the JumpReLU selection as well as the sparse products. */
export function thresholdEntriesAvailable(): boolean {
  return selectionAvailable(THRESHOLD_ENTRIES, THRESHOLD_COUNTS);
}

/** Whether the current backend has the BatchTopK (and ReLU) selection as well as the sparse products. */
export function batchTopkEntriesAvailable(): boolean {
  return selectionAvailable(BATCH_TOPK_ENTRIES, BATCH_TOPK_COUNTS);
}

/** A width as a kernel attribute: 0 = not given (the kernel counts, where it can). */
function widthAttr(op: string, width: number | undefined): number {
  if (width === undefined) {
    if (selectionNeedsWidths()) throw new Error(`${op}: the entries' width must be given on ${tf.getBackend()} (count them first: see selectionNeedsWidths)`);
    return 0;
  }
  if (!Number.isInteger(width) || width < 1) throw new Error(`${op}: the width must be a positive integer, got ${width}`);
  return width;
}

/**
 * A JumpReLU's latents of z [B, n] against θ [n] as entries: the active ones, z > θ, with values z
 * (f = z·H(z − θ)), and those in the straight-through window |(z − θ)/ε| < ½ with value 1. Each is
 * padded to the batch's largest row count with (0, 0); the comparisons are ops/compare.ts's.
 * `widths` [active, window] are those largest counts (at least 1), from thresholdCounts: required
 * where selectionNeedsWidths; other backends count for themselves and ignore them.
 */
export function thresholdEntries(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number, widths?: readonly [number, number]): { active: Entries; window: Entries } {
  const activeWidth = widthAttr('thresholdEntries', widths?.[0]), windowWidth = widthAttr('thresholdEntries', widths?.[1]);
  const [activeIdx, activeVal, windowIdx, windowMark] = run(THRESHOLD_ENTRIES, { z, theta }, { bandwidth, activeWidth, windowWidth }) as tf.Tensor2D[];
  return { active: { indices: activeIdx, values: activeVal }, window: { indices: windowIdx, values: windowMark } };
}

/**
 * How many latents of each row of z thresholdEntries(z, θ, bandwidth) selects: int32 [B, 2], the
 * active set's count and the window's. Only where selectionNeedsWidths (elsewhere the selection counts).
 */
export function thresholdCounts(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Tensor2D {
  return run(THRESHOLD_COUNTS, { z, theta }, { bandwidth }) as tf.Tensor2D;
}

function checkTotal(op: string, z: tf.Tensor2D, total: number): void {
  if (!Number.isInteger(total) || total < 1 || total > z.size) throw new Error(`${op}: total must be an integer in 1…${z.size}, got ${total}`);
}

/**
 * BatchTopK's latents of z [B, n] as entries: the batch's `total` largest values (every value at
 * least the total-th largest, so ties keep them all, as ops/batchTopk.ts's mask does) that are
 * positive, with values z; each row padded to the batch's largest row count with (0, 0). `width` is
 * that count (at least 1), from batchTopkCounts: required where selectionNeedsWidths, ignored elsewhere.
 */
export function batchTopkEntries(z: tf.Tensor2D, total: number, width?: number): Entries {
  checkTotal('batchTopkEntries', z, total);
  const [indices, values] = run(BATCH_TOPK_ENTRIES, { z }, { total, width: widthAttr('batchTopkEntries', width) }) as tf.Tensor2D[];
  return { indices, values };
}

/** ReLU(z) of z [B, n] as entries: every positive value, each row padded to the batch's largest count (`width`, as batchTopkEntries's). */
export function positiveEntries(z: tf.Tensor2D, width?: number): Entries {
  const [indices, values] = run(BATCH_TOPK_ENTRIES, { z }, { total: 0, width: widthAttr('positiveEntries', width) }) as tf.Tensor2D[];
  return { indices, values };
}

/** How many latents of each row of z batchTopkEntries(z, total) selects: int32 [B, 1]. Only where selectionNeedsWidths. */
export function batchTopkCounts(z: tf.Tensor2D, total: number): tf.Tensor2D {
  checkTotal('batchTopkCounts', z, total);
  return run(BATCH_TOPK_COUNTS, { z }, { total }) as tf.Tensor2D;
}

/** How many latents of each row of z positiveEntries(z) selects (its positive values): int32 [B, 1], as batchTopkCounts. */
export function positiveCounts(z: tf.Tensor2D): tf.Tensor2D {
  return run(BATCH_TOPK_COUNTS, { z }, { total: 0 }) as tf.Tensor2D;
}

/**
 * Per-row counts [B, sets] of a selection (thresholdCounts, batchTopkCounts, positiveCounts), read
 * asynchronously: per set, the largest row count (at least 1: the entries' width) and the sum over
 * the rows. The caller disposes `counts`.
 */
export async function readSelectionCounts(counts: tf.Tensor2D): Promise<{ widths: number[]; totals: number[] }> {
  const [rows, sets] = counts.shape;
  const values = await counts.data();
  const widths = new Array<number>(sets).fill(1), totals = new Array<number>(sets).fill(0);
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < sets; s++) {
      const c = values[r * sets + s];
      widths[s] = Math.max(widths[s], c);
      totals[s] += c;
    }
  }
  return { widths, totals };
}
