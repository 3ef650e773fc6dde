// WebGPU kernels of the sparse selections whose entry counts depend on the data (src/engine/ops/
// sparse.ts thresholdEntries, batchTopkEntries and positiveEntries; kernel names in ../sparseKernels.ts).
// Entries are, per batch row, latent indices (int32 [B, K]) and values (float32 [B, K]) padded with
// (0, 0), and K is the batch's largest row count (at least 1), which only the data tell: the rows
// are counted on the device first, the counts read back (a synchronous read of B or 2B integers,
// which waits for the queued work), and the entries written once the widths are known. tfjs reads
// a webgpu buffer synchronously through a canvas; where that does not work (headless Chromium's
// software adapter reads zeros there and then loses the device), these kernels cannot run, and
// the kernel checks (src/bench/kernelCheckSparse.ts) answer the read asynchronously instead.
// Every row is written in increasing latent order, as the wasm kernels do
// (../wasm/assembly/kernels.ts threshold_entries, at_least_entries).
//
// The programs (rows of whole vec4s are read four values at a time, as webgpu/sparse.ts does):
//   count — one workgroup per row; its invocations stride over the row and add up how many latents
//     pass each of the selection's tests (one or two): [B, tests] int32.
//   indices — one workgroup per row, for one test: the row is split into one contiguous chunk per
//     invocation; each counts its chunk's passing latents, the counts are prefix-summed in
//     workgroup memory, and each invocation writes its latents at its own slots, so the indices
//     come out in increasing order; the slots past the row's count get padding 0.
//   values — one invocation per entry: z at the entry's latent (or 1, for the window's marks) at
//     the slots below the row's count (from the count pass), 0 at padding. Slot against count, not
//     index against 0, tells padding apart: latent 0 may be a real entry at slot 0.
// SaeThresholdEntries (JumpReLU) — five dispatches: count (active and window); indices and values
//   of the active set z − θ > 0; indices and marks of the window ½ − |(z − θ)/ε| > 0. The tests are
//   those of ../compare.ts (isAbove = step(z − θ), isWithin = step(½ − |u|) with u = (z − θ)/ε in
//   f32), so the sets are the dense composition's on this backend.
// SaeBatchTopkEntries — with total > 0, twelve dispatches: first SaeBatchTopk of topk.ts in 'relu'
//   mode, whose radix selection finds the batch's total-th largest value kth exactly (eight
//   dispatches) and whose last dispatch writes f = z · 1[z − kth ≥ 0] · 1[z > 0] [B, n], the dense
//   BatchTopK on this backend; a kept f is its z (positive, times 1) and every other f is ±0, so the
//   entries are f's positive values: count, indices, values on f (z ≥ kth and z > 0, ties at kth
//   all kept). With total 0 (the ReLU's entries, every z > 0) the three run on z itself.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { BATCH_TOPK_ENTRIES, THRESHOLD_ENTRIES } from '../sparseKernels';
import { makeProgram, registerWebGPUKernel, workgroupsFor, type KernelFunc } from './program';
// SaeBatchTopk's registration, which the BatchTopK selection runs.
import './topk';

/**
 * topk.ts's BatchTopK kernel, by name: topk.ts does not export it (its own callers go through
 * batchTopkWebGPU, which makes tensors; a kernel works on tensor infos).
 */
const BATCH_TOPK = 'SaeBatchTopk';

/** Invocations per row of the count and index passes (as webgpu/sparse.ts's selection). */
const ROW_WORKGROUP = 64;
/** Invocations per workgroup of the per-entry value pass. */
const ENTRY_WORKGROUP = 64;

type Backend = WebGPUBackend;

/**
 * A selection test as WGSL on one value `v` (and its latent's θ `t`), as ../compare.ts computes it:
 * active — step(z − θ); window — step(½ − |(z − θ)/ε|) with ε the `bandwidth` uniform; positive —
 * step(z).
 */
type Test = 'active' | 'window' | 'positive';
const TEST_WGSL: Record<Test, (v: string, t: string) => string> = {
  active: (v, t) => `((${v} - ${t}) > 0.0)`,
  window: (v, t) => `((0.5 - abs((${v} - ${t}) / uniforms.bandwidth)) > 0.0)`,
  positive: (v) => `(${v} > 0.0)`,
};

/** The values a selection reads: z [B, n], and θ [n] for the JumpReLU's tests. */
interface Source {
  z: tf.TensorInfo;
  theta?: tf.TensorInfo;
  bandwidth?: number;
}

const componentsFor = (cols: number): 1 | 4 => (cols % 4 === 0 ? 4 : 1);
const lanes = (c: 1 | 4) => (c === 4 ? ['.x', '.y', '.z', '.w'] : ['']);

/** The input names, tensors, uniform fields and values, and WGSL loads of one element `i` of a source. */
function sourceParts(src: Source) {
  const c = componentsFor(src.z.shape[1]);
  const withTheta = src.theta !== undefined;
  return {
    c,
    names: withTheta ? ['z', 'theta'] : ['z'],
    tensors: withTheta ? [src.z, src.theta!] : [src.z],
    inputComponents: { z: c, theta: c },
    uniformFields: withTheta ? 'bandwidth : f32,' : undefined,
    uniformValues: withTheta ? [{ type: 'float32', data: [src.bandwidth ?? 1] }] : [],
    // θ is read only where a test uses it; 0 stands in for the ReLU's.
    load: `let v = z[base + i];${withTheta ? ' let t = theta[i];' : ''}`,
    t: (lane: string) => (withTheta ? `t${lane}` : '0.0'),
  };
}

/** How many latents of each row pass each test: [B, tests.length] int32. */
function countRows(backend: Backend, src: Source, tests: Test[]): tf.TensorInfo {
  const rows = src.z.shape[0];
  const s = sourceParts(src);
  const counters = tests.map((_, p) => `var own${p} = 0u;`).join('\n        ');
  const adds = tests.map((test, p) => `own${p} += ${lanes(s.c).map((l) => `u32(${TEST_WGSL[test](`v${l}`, s.t(l))})`).join(' + ')};`).join('\n          ');
  const program = makeProgram({
    key: `sparse_select_count_${tests.join('_')}_${ROW_WORKGROUP}_${s.c}`,
    outputShape: [rows, tests.length],
    inputs: s.names,
    inputComponents: s.inputComponents,
    uniforms: s.uniformFields,
    workgroupSize: ROW_WORKGROUP,
    workgroups: rows,
    code: `
      var<workgroup> counts : array<atomic<u32>, ${tests.length}>;
      fn main(index : i32) {
        // A workgroup past the last row (when the backend folds a long dispatch into 2-D) takes
        // part in the barriers but reads and writes nothing: barriers need uniform control flow.
        let row = workgroupIndex();
        let valid = row < uniforms.zShape.x;
        let width = select(0, uniforms.zShape.y / ${s.c}, valid);
        let base = row * (uniforms.zShape.y / ${s.c});
        let lid = i32(localIndex);
        if (lid < ${tests.length}) { atomicStore(&counts[lid], 0u); }
        workgroupBarrier();
        ${counters}
        for (var i = lid; i < width; i += ${ROW_WORKGROUP}) {
          ${s.load}
          ${adds}
        }
        ${tests.map((_, p) => `atomicAdd(&counts[${p}], own${p});`).join('\n        ')}
        workgroupBarrier();
        if (valid && lid == 0) {
          ${tests.map((_, p) => `result[row * ${tests.length} + ${p}] = i32(atomicLoad(&counts[${p}]));`).join('\n          ')}
        }
      }`,
  });
  return backend.runWebGPUProgram(program, s.tensors, 'int32', s.uniformValues);
}

/** Per row, the latents that pass `test` in increasing order, then padding 0: int32 [B, k]. */
function selectIndices(backend: Backend, src: Source, test: Test, k: number): tf.TensorInfo {
  const rows = src.z.shape[0];
  const s = sourceParts(src);
  const passes = (l: string) => TEST_WGSL[test](`v${l}`, s.t(l));
  const program = makeProgram({
    key: `sparse_select_indices_${test}_${ROW_WORKGROUP}_${s.c}`,
    outputShape: [rows, k],
    inputs: s.names,
    inputComponents: s.inputComponents,
    uniforms: s.uniformFields,
    workgroupSize: ROW_WORKGROUP,
    workgroups: rows,
    code: `
      var<workgroup> chunkCounts : array<u32, ${ROW_WORKGROUP}>;
      fn main(index : i32) {
        let row = workgroupIndex();
        let valid = row < uniforms.zShape.x;
        let width = select(0, uniforms.zShape.y / ${s.c}, valid);
        let base = row * (uniforms.zShape.y / ${s.c});
        let k = uniforms.outShape.y;
        let out = row * k;
        let lid = i32(localIndex);
        // Contiguous chunks, one per invocation, so that slots follow the latent order.
        let chunk = (width + ${ROW_WORKGROUP - 1}) / ${ROW_WORKGROUP};
        let first = min(lid * chunk, width);
        let last = min(first + chunk, width);
        var own = 0u;
        for (var i = first; i < last; i++) {
          ${s.load}
          own += ${lanes(s.c).map((l) => `u32(${passes(l)})`).join(' + ')};
        }
        chunkCounts[lid] = own;
        workgroupBarrier();
        var slot = 0u;
        var count = 0u;
        for (var t = 0; t < ${ROW_WORKGROUP}; t++) {
          let chunkCount = chunkCounts[t];
          if (t < lid) { slot += chunkCount; }
          count += chunkCount;
        }
        if (own > 0u) {
          for (var i = first; i < last; i++) {
            ${s.load}
            ${lanes(s.c).map((l, lane) => `if (${passes(l)}) {
              result[out + i32(slot)] = i * ${s.c} + ${lane};
              slot++;
            }`).join('\n            ')}
          }
        }
        if (valid) {
          for (var p = i32(count) + lid; p < k; p += ${ROW_WORKGROUP}) { result[out + p] = 0; }
        }
      }`,
  });
  return backend.runWebGPUProgram(program, s.tensors, 'int32', s.uniformValues);
}

/**
 * The entries' values [B, K]: z at the latent (`z` given) or 1 (the window's marks: then the indices
 * are not read, nor bound, since a binding the shader leaves unused is not in its layout) at the
 * slots below the row's count (column `which` of `counts`), 0 at padding.
 */
function entryValues(backend: Backend, indices: tf.TensorInfo, counts: tf.TensorInfo, which: number, z?: tf.TensorInfo): tf.TensorInfo {
  const size = indices.shape[0] * indices.shape[1];
  const program = makeProgram({
    key: `sparse_select_values_${z ? 'gather' : 'mark'}`,
    outputShape: indices.shape,
    inputs: z ? ['counts', 'indices', 'z'] : ['counts'],
    uniforms: 'which : i32,',
    workgroupSize: ENTRY_WORKGROUP,
    workgroups: workgroupsFor(size, ENTRY_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let k = uniforms.outShape.y;
        let row = index / k;
        var value = 0.0;
        if (index - row * k < counts[row * uniforms.countsShape.y + uniforms.which]) {
          value = ${z ? 'z[row * uniforms.zShape.y + indices[index]]' : '1.0'};
        }
        result[index] = value;
      }`,
  });
  return backend.runWebGPUProgram(program, z ? [counts, indices, z] : [counts], 'float32', [{ type: 'int32', data: [which] }]);
}

/** The largest count of each column of counts [B, tests], at least 1: the entries' widths. */
function widths(backend: Backend, counts: tf.TensorInfo): number[] {
  const [rows, tests] = counts.shape;
  // The one read back: the outputs' shapes depend on it.
  const values = backend.readSync(counts.dataId) as Int32Array;
  const k = new Array<number>(tests).fill(1);
  for (let r = 0; r < rows; r++) for (let p = 0; p < tests; p++) k[p] = Math.max(k[p], values[r * tests + p]);
  return k;
}

registerWebGPUKernel(THRESHOLD_ENTRIES, ({ inputs, backend, attrs }) => {
  const { z, theta } = inputs;
  const { bandwidth } = attrs as { bandwidth: number };
  const src: Source = { z, theta, bandwidth };
  const counts = countRows(backend, src, ['active', 'window']);
  // Freed also when the read throws (a device that cannot read synchronously).
  try {
    const [ka, kw] = widths(backend, counts);
    const activeIdx = selectIndices(backend, src, 'active', ka);
    const activeVal = entryValues(backend, activeIdx, counts, 0, z);
    const windowIdx = selectIndices(backend, src, 'window', kw);
    const windowMark = entryValues(backend, windowIdx, counts, 1);
    return [activeIdx, activeVal, windowIdx, windowMark];
  } finally {
    backend.disposeData(counts.dataId);
  }
});

/** The entries of the positive values of v [B, n], with values v. */
function positiveEntries(backend: Backend, v: tf.TensorInfo): tf.TensorInfo[] {
  const src: Source = { z: v };
  const counts = countRows(backend, src, ['positive']);
  try {
    const [k] = widths(backend, counts);
    const indices = selectIndices(backend, src, 'positive', k);
    return [indices, entryValues(backend, indices, counts, 0, v)];
  } finally {
    backend.disposeData(counts.dataId);
  }
}

registerWebGPUKernel(BATCH_TOPK_ENTRIES, ({ inputs, backend, attrs }) => {
  const { z } = inputs;
  const { total } = attrs as { total: number };
  if (total <= 0) return positiveEntries(backend, z);
  // The kernel function itself, on tensor infos (as tfjs's kernels call each other): no tensor is
  // made, and f is freed here.
  const batchTopk = tf.getKernel(BATCH_TOPK, 'webgpu');
  if (!batchTopk) throw new Error(`${BATCH_TOPK_ENTRIES}: ${BATCH_TOPK} is not registered for webgpu`);
  const f = (batchTopk.kernelFunc as unknown as KernelFunc)({ inputs: { pre: z }, backend, attrs: { total, mode: 'relu' } }) as tf.TensorInfo;
  try {
    return positiveEntries(backend, f);
  } finally {
    backend.disposeData(f.dataId);
  }
});
