// The kernel names of the sparse ops (sparse.ts), apart so that the backends' registrations
// (wasm/registered.ts, webgpu/sparse.ts) and the ops can all import them without a cycle.

/** Kernel names, one per op; a backend that registers all of them runs the sparse steps. */
export const SPARSE_KERNELS = {
  topkEntries: 'SaeTopkEntries',
  decode: 'SaeSparseDecode',
  rowDots: 'SaeSparseRowDots',
  outerRows: 'SaeSparseOuterRows',
  outerCols: 'SaeSparseOuterCols',
} as const;

/**
 * The JumpReLU selection (sparse.ts thresholdEntries), apart from SPARSE_KERNELS: a backend may run
 * the TopK steps without it.
 */
export const THRESHOLD_ENTRIES = 'SaeThresholdEntries';

/** The BatchTopK and ReLU selection (sparse.ts batchTopkEntries, positiveEntries), as THRESHOLD_ENTRIES. */
export const BATCH_TOPK_ENTRIES = 'SaeBatchTopkEntries';

/**
 * The row counts of those selections (sparse.ts thresholdCounts, batchTopkCounts), registered only
 * where the selections need their widths given (webgpu: sparse.ts selectionNeedsWidths).
 */
export const THRESHOLD_COUNTS = 'SaeThresholdCounts';
export const BATCH_TOPK_COUNTS = 'SaeBatchTopkCounts';
