// tfjs kernels on the wasm backend that run the engine's own wasm kernels (kernelModule.ts): the
// sparse ops of ../sparse.ts, a dense product with a bias, the Adam update and the decoder-row
// normalisation. Each reads its inputs and writes fresh outputs in tfjs's heap, by offset.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BATCH_TOPK_ENTRIES, SPARSE_KERNELS, THRESHOLD_ENTRIES } from '../sparseKernels';
import { heapOffset, wasmKernels, type WasmKernels } from './kernelModule';

/** Names of the wasm-only kernels (the sparse ops' names are in ../sparseKernels.ts). */
export const WASM_KERNELS = {
  denseProduct: 'SaeWasmProductPlusBias',
  adam: 'SaeWasmAdam',
  normalizeRows: 'SaeWasmNormalizeRows',
  reluGrad: 'SaeWasmReluGrad',
  countAbove: 'SaeWasmCountAbove',
  transpose: 'SaeWasmTranspose',
  columnSums: 'SaeWasmColumnSums',
  entryColumnSums: 'SaeWasmEntryColumnSums',
  addRow: 'SaeWasmAddRow',
  sumOfSquares: 'SaeWasmSumOfSquares',
} as const;

/** Whether the engine's wasm kernel `name` runs here: the active backend is wasm, with it registered. */
export function wasmKernelHere(name: string): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(name, 'wasm') !== undefined;
}

/** Runs the registered kernel `name` on the active backend. */
export function runKernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number> = {}): tf.Tensor | tf.Tensor[] {
  return tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
}

/** The denseProduct kernel's `epilogue` attribute (assembly/kernels.ts EPILOGUE_*). */
export const PRODUCT_EPILOGUE = { none: 0, relu: 1, mask: 2 } as const;

/**
 * Elements of a one-pass element-wise kernel below which a call stays on one thread: waking a helper
 * costs about 0.1 ms, the time of ~256K elements' pass (an add_row of [1024, 64] took 0.17 ms split,
 * for 0.03 ms of work). Adam does about four times the work per element.
 */
const ELEMENTS_PER_THREAD = 1 << 18;

/** Columns per packed panel of gemm_panels (assembly/kernels.ts PANEL). */
const PANEL = 12;

type KernelBody = (inputs: Record<string, tf.TensorInfo>, attrs: Record<string, number>, backend: BackendWasm, kernels: WasmKernels) => tf.TensorInfo | tf.TensorInfo[];

function register(name: string, body: KernelBody): void {
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as unknown as BackendWasm;
      const kernels = wasmKernels(wasm);
      if (!kernels) throw new Error(`${name}: the wasm backend's memory is not reachable`);
      return body(inputs as Record<string, tf.TensorInfo>, attrs as unknown as Record<string, number>, wasm, kernels);
    },
  });
}

/** Runs `body` with temporary heap buffers, freed afterwards. */
function withTemps<T>(backend: BackendWasm, shapes: [number[], 'float32' | 'int32'][], body: (temps: tf.TensorInfo[]) => T): T {
  const temps = shapes.map(([shape, dtype]) => backend.makeOutput(shape, dtype));
  try {
    return body(temps);
  } finally {
    temps.forEach((t) => backend.disposeData(t.dataId));
  }
}

function requireMultipleOf4(name: string, what: string, value: number): void {
  if (value % 4 !== 0) throw new Error(`${name}: ${what} (${value}) must be a multiple of 4 on wasm`);
}

register(SPARSE_KERNELS.topkEntries, ({ z, eligible }, { k }, backend, kernels) => {
  const [rows, n] = z.shape;
  const indices = backend.makeOutput([rows, k], 'int32');
  const values = backend.makeOutput([rows, k], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  // Each thread's candidates, group maxima and counts (assembly/kernels.ts topk_rows).
  withTemps(backend, [[[kernels.threads * kernels.exports.topk_scratch_words(n)], 'int32']], ([scratch]) => {
    kernels.run('topk_rows', [at(z), n, k, eligible ? at(eligible) : 0, at(indices), at(values), at(scratch)], rows);
  });
  return [indices, values];
});

register(THRESHOLD_ENTRIES, ({ z, theta }, { bandwidth }, backend, kernels) => {
  const [rows, n] = z.shape;
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  // Two passes: the row counts size the outputs (each padded to the batch's largest count).
  let ka = 1, kw = 1;
  withTemps(backend, [[[rows, 2], 'int32']], ([counts]) => {
    kernels.run('threshold_counts', [at(z), n, at(theta), bandwidth, at(counts)], rows);
    const c = new Int32Array(kernels.heap, at(counts), rows * 2);
    for (let r = 0; r < rows; r++) { ka = Math.max(ka, c[2 * r]); kw = Math.max(kw, c[2 * r + 1]); }
  });
  const outs = [backend.makeOutput([rows, ka], 'int32'), backend.makeOutput([rows, ka], 'float32'), backend.makeOutput([rows, kw], 'int32'), backend.makeOutput([rows, kw], 'float32')];
  kernels.run('threshold_entries', [at(z), n, at(theta), bandwidth, ka, at(outs[0]), at(outs[1]), kw, at(outs[2]), at(outs[3])], rows);
  return outs;
});

register(BATCH_TOPK_ENTRIES, ({ z }, { total }, backend, kernels) => {
  const [rows, n] = z.shape;
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  let kk = 1;
  let kth = 0;
  withTemps(backend, [[[65536], 'int32'], [[rows], 'int32']], ([hist, counts]) => {
    // total 0: no selection, every positive value (the ReLU's entries).
    kth = total > 0 ? kernels.exports.batch_kth(at(z), rows * n, total, at(hist)) : 0;
    kernels.run('at_least_counts', [at(z), n, kth, at(counts)], rows);
    const c = new Int32Array(kernels.heap, at(counts), rows);
    for (let r = 0; r < rows; r++) kk = Math.max(kk, c[r]);
  });
  const indices = backend.makeOutput([rows, kk], 'int32');
  const values = backend.makeOutput([rows, kk], 'float32');
  kernels.run('at_least_entries', [at(z), n, kth, kk, at(indices), at(values)], rows);
  return [indices, values];
});

register(SPARSE_KERNELS.decode, ({ indices, values, w }, _attrs, backend, kernels) => {
  const [rows, kk] = indices.shape;
  const d = w.shape[1];
  requireMultipleOf4(SPARSE_KERNELS.decode, 'the row width', d);
  const out = backend.makeOutput([rows, d], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  kernels.run('sparse_decode', [at(indices), at(values), kk, at(w), d, at(out)], rows);
  return out;
});

register(SPARSE_KERNELS.rowDots, ({ indices, dy, w, mask }, _attrs, backend, kernels) => {
  const [rows, kk] = indices.shape;
  const d = w.shape[1];
  requireMultipleOf4(SPARSE_KERNELS.rowDots, 'the row width', d);
  const out = backend.makeOutput([rows, kk], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  kernels.run('row_dots', [at(indices), kk, at(dy), at(w), d, at(out), mask ? at(mask) : 0], rows);
  return out;
});

/** The entries grouped by latent (assembly/kernels.ts group_by_latent) in temporary buffers. */
function withGroups<T>(backend: BackendWasm, kernels: WasmKernels, indices: tf.TensorInfo, values: tf.TensorInfo, n: number, body: (offsets: number, rows: number, vals: number) => T): T {
  const [b, kk] = indices.shape;
  const entries = b * kk;
  return withTemps(backend, [[[n + 1], 'int32'], [[Math.max(1, entries)], 'int32'], [[Math.max(1, entries)], 'float32']], ([offsets, rows, vals]) => {
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    kernels.exports.group_by_latent(at(indices), at(values), entries, kk, n, at(offsets), at(rows), at(vals));
    return body(at(offsets), at(rows), at(vals));
  });
}

register(SPARSE_KERNELS.outerRows, ({ indices, values, dy }, { n }, backend, kernels) => {
  const d = dy.shape[1];
  requireMultipleOf4(SPARSE_KERNELS.outerRows, 'the row width', d);
  const out = backend.makeOutput([n, d], 'float32');
  withGroups(backend, kernels, indices, values, n, (offsets, rows, vals) => {
    kernels.run('outer_rows', [offsets, rows, vals, heapOffset(backend, dy), d, heapOffset(backend, out)], n);
  });
  return out;
});

register(SPARSE_KERNELS.outerCols, ({ indices, values, x }, { n }, backend, kernels) => {
  const d = x.shape[1];
  requireMultipleOf4(SPARSE_KERNELS.outerCols, 'the row width', d);
  requireMultipleOf4(SPARSE_KERNELS.outerCols, 'the latent count', n);
  const out = backend.makeOutput([d, n], 'float32');
  withGroups(backend, kernels, indices, values, n, (offsets, rows, vals) => {
    withTemps(backend, [[[kernels.threads * 4 * d], 'float32']], ([scratch]) => {
      kernels.run('outer_cols', [offsets, rows, vals, heapOffset(backend, x), d, n, heapOffset(backend, out), heapOffset(backend, scratch)], n / 4);
    });
  });
  return out;
});

register(WASM_KERNELS.denseProduct, ({ a, b, bias, mask }, { transposeRight, epilogue }, backend, kernels) => {
  const [m, k] = a.shape;
  // b is [k, n], or its transpose [n, k] (transposeRight), packed into panels as bᵀᵀ.
  const n = transposeRight ? b.shape[0] : b.shape[1];
  if (epilogue === PRODUCT_EPILOGUE.mask && !mask) throw new Error(`${WASM_KERNELS.denseProduct}: the mask epilogue needs a mask`);
  const panels = Math.ceil(n / PANEL);
  const out = backend.makeOutput([m, n], 'float32');
  withTemps(backend, [[[panels * k * PANEL], 'float32']], ([packed]) => {
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    kernels.run(transposeRight ? 'pack_panels_t' : 'pack_panels', [at(b), at(packed), k, n], panels);
    kernels.run('gemm_panels', [at(a), at(packed), bias ? at(bias) : 0, at(out), m, k, n, epilogue ?? PRODUCT_EPILOGUE.none, mask ? at(mask) : 0], panels);
  });
  return out;
});

register(WASM_KERNELS.adam, ({ p, g, m, v, scale }, { beta1, beta2, lrOverC1, c2, epsilon }, backend, kernels) => {
  const size = p.shape.reduce((x, y) => x * y, 1);
  const outs = [p, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  // The clipping factor, a scalar on this heap: read here, as the kernel takes it by value.
  const factor = scale ? new Float32Array(kernels.heap, at(scale), 1)[0] : 1;
  kernels.run('adam', [at(p), at(g), factor, at(m), at(v), at(outs[0]), at(outs[1]), at(outs[2]), beta1, Math.fround(1 - beta1), beta2, Math.fround(1 - beta2), lrOverC1, c2, epsilon], size, { grain: Math.max(4096, Math.ceil(size / 64 / 4) * 4), align: 4, minPerThread: ELEMENTS_PER_THREAD / 4 });
  return outs;
});

register(WASM_KERNELS.normalizeRows, ({ w }, { epsilon }, backend, kernels) => {
  const [rows, d] = w.shape;
  requireMultipleOf4(WASM_KERNELS.normalizeRows, 'the row width', d);
  const out = backend.makeOutput([rows, d], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  kernels.run('normalize_rows', [at(w), at(out), d, epsilon], rows, { minPerThread: Math.ceil(ELEMENTS_PER_THREAD / 4 / d) });
  return out;
});

register(WASM_KERNELS.reluGrad, ({ dy, y }, _attrs, backend, kernels) => {
  const size = y.shape.reduce((a, b) => a * b, 1);
  const out = backend.makeOutput(y.shape, 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  kernels.run('relu_grad', [at(dy), at(y), at(out)], size, { grain: Math.max(4096, Math.ceil(size / 64 / 4) * 4), align: 4, minPerThread: ELEMENTS_PER_THREAD });
  return out;
});

register(WASM_KERNELS.countAbove, ({ x }, { threshold }, backend, kernels) => {
  const [rows, n] = x.shape;
  requireMultipleOf4(WASM_KERNELS.countAbove, 'the row width', n);
  const out = backend.makeOutput([n], 'float32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  kernels.run('count_above', [at(x), rows, n, threshold, at(out)], n / 4, { minPerThread: Math.ceil(ELEMENTS_PER_THREAD / (4 * rows)) });
  return out;
});

register(WASM_KERNELS.transpose, ({ x }, _attrs, backend, kernels) => {
  const [m, n] = x.shape;
  const out = backend.makeOutput([n, m], x.dtype as 'float32' | 'int32');
  const at = (t: tf.TensorInfo) => heapOffset(backend, t);
  kernels.run('transpose', [at(x), at(out), m, n], Math.ceil(m / 16), { minPerThread: Math.ceil(ELEMENTS_PER_THREAD / (16 * n)) });
  return out;
});

register(WASM_KERNELS.columnSums, ({ x }, _attrs, backend, kernels) => {
  const [rows, n] = x.shape;
  requireMultipleOf4(WASM_KERNELS.columnSums, 'the row width', n);
  const out = backend.makeOutput([n], 'float32');
  // The float64 running sums, 2 floats' room per column.
  withTemps(backend, [[[2 * n], 'float32']], ([sums]) => {
    kernels.run('column_sums', [heapOffset(backend, x), rows, n, heapOffset(backend, sums), heapOffset(backend, out)], n / 4, { minPerThread: Math.ceil(ELEMENTS_PER_THREAD / (4 * rows)) });
  });
  return out;
});

register(WASM_KERNELS.entryColumnSums, ({ indices, values }, { n, countAbove, threshold }, backend, kernels) => {
  const out = backend.makeOutput([n], 'float32');
  const entries = indices.shape.reduce((a, b) => a * b, 1);
  const threads = kernels.threads;
  // Each thread scatters its share of the entries into sums of its own; they are added up here.
  withTemps(backend, [[[threads * n], 'float32']], ([partials]) => {
    const sums = new Float32Array(kernels.heap, heapOffset(backend, partials), threads * n);
    sums.fill(0);
    kernels.run('entry_column_sums', [heapOffset(backend, indices), heapOffset(backend, values), n, countAbove, threshold, heapOffset(backend, partials)], entries, { minPerThread: ELEMENTS_PER_THREAD / 4 });
    const o = new Float32Array(kernels.heap, heapOffset(backend, out), n);
    o.set(sums.subarray(0, n));
    for (let t = 1; t < threads; t++) for (let j = 0; j < n; j++) o[j] += sums[t * n + j];
  });
  return out;
});

register(WASM_KERNELS.addRow, ({ x, v }, { subtract }, backend, kernels) => {
  const [rows, d] = x.shape;
  const out = backend.makeOutput([rows, d], 'float32');
  kernels.run('add_row', [heapOffset(backend, x), heapOffset(backend, v), heapOffset(backend, out), d, subtract], rows, { grain: Math.max(1, Math.ceil(rows / 8)), minPerThread: Math.ceil(ELEMENTS_PER_THREAD / d) });
  return out;
});

register(WASM_KERNELS.sumOfSquares, (inputs, _attrs, backend, kernels) => {
  // Any number of tensors (x0, x1, …): a step's gradients in one call.
  let total = 0;
  for (const x of Object.values(inputs)) total += kernels.exports.sum_squares(heapOffset(backend, x), 0, x.shape.reduce((a, b) => a * b, 1));
  const out = backend.makeOutput([], 'float32');
  new Float32Array(kernels.heap, heapOffset(backend, out), 1)[0] = total;
  return out;
});
