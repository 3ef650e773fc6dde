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
 * the TopK steps without it (webgpu has no kernel for it yet).
 */
export const THRESHOLD_ENTRIES = 'SaeThresholdEntries';

/** The BatchTopK selection (sparse.ts batchTopkEntries); wasm only so far, as THRESHOLD_ENTRIES. */
export const BATCH_TOPK_ENTRIES = 'SaeBatchTopkEntries';
