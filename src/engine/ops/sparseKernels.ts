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
 * the TopK steps without it (on webgpu it is used only when allowed: sparse.ts setWebGPUSelectionsAllowed).
 */
export const THRESHOLD_ENTRIES = 'SaeThresholdEntries';

/** The BatchTopK and ReLU selection (sparse.ts batchTopkEntries, positiveEntries), as THRESHOLD_ENTRIES. */
export const BATCH_TOPK_ENTRIES = 'SaeBatchTopkEntries';
