// WebGPU kernels of the sparse selections whose entry counts depend on the data (src/engine/ops/
// sparse.ts thresholdEntries, batchTopkEntries and positiveEntries, and their counts
// thresholdCounts and batchTopkCounts; kernel names in ../sparseKernels.ts). Entries are, per batch
// row, latent indices (int32 [B, K]) and values (float32 [B, K]) padded with (0, 0), and K is the
// batch's largest row count (at least 1), which only the data tell. Nothing here reads back: the
// counts are an op of their own, which the caller reads asynchronously (sparse.ts
// readSelectionCounts; the trainer before each step, src/engine/trainStep.ts planSparseStep), and
// the entries kernels take the widths as attributes. (A synchronous read would stall the queue
// every step, and on headless Chromium's software adapter it reads zeros and loses the device.)
// Every row is written in increasing latent order, as the wasm kernels do
// (../wasm/assembly/kernels.ts threshold_entries, at_least_entries).
//
// The programs (rows of whole vec4s are read four values at a time, as webgpu/sparse.ts does):
//   count — one workgroup per row; its invocations stride over the row and add up how many latents
//     pass each of the selection's tests (one or two): [B, tests] int32.
//   indices — one workgroup per row, for one test: the row is split into one contiguous chunk per
//     invocation; each counts its chunk's passing latents, the counts are prefix-summed in
//     workgroup memory, and each invocation writes its latents at its own slots, so the indices
//     come out in increasing order; the slots past the row's count get padding 0. A slot at or past
//     the given width is not written (a width below the count would drop entries, never spill
//     into the next row).
//   values — one invocation per entry: z at the entry's latent (or 1, for the window's marks), 0 at
//     padding. Since a row's real indices are strictly increasing and come first, index 0 at a slot
//     past the first is padding, and at the first slot it is real exactly when latent 0 passes the
//     test, which the pass evaluates itself (as webgpu/sparse.ts's TopK values do).
// SaeThresholdCounts (JumpReLU) — the count of the active set z − θ > 0 and of the window
//   ½ − |(z − θ)/ε| > 0, one dispatch. SaeThresholdEntries — four: indices and values of the active
//   set, indices and marks of the window. The tests are those of ../compare.ts (isAbove =
//   step(z − θ), isWithin = step(½ − |u|) with u = (z − θ)/ε in f32), so the sets are the dense
//   composition's on this backend.
// SaeBatchTopkCounts and SaeBatchTopkEntries — with total > 0, first SaeBatchTopk of topk.ts in
//   'relu' mode, whose radix selection finds the batch's total-th largest value kth exactly (eight
//   dispatches) and whose last dispatch writes f = z · 1[z − kth ≥ 0] · 1[z > 0] [B, n], the dense
//   BatchTopK on this backend; a kept f is its z (positive, times 1) and every other f is ±0, so the
//   entries are f's positive values: the count (one dispatch), or indices and values (two) on f (z ≥
//   kth and z > 0, ties at kth all kept). With total 0 (the ReLU's entries, every z > 0) they run
//   on z itself.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { BATCH_TOPK_COUNTS, BATCH_TOPK_ENTRIES, THRESHOLD_COUNTS, THRESHOLD_ENTRIES } from '../sparseKernels';
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
              if (i32(slot) < k) { result[out + i32(slot)] = i * ${s.c} + ${lane}; }
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
 * The entries' values [B, K] of a selection by `test` of `src`: z at the latent, or 1 (`mark`: the
 * window's marks), at the real entries, 0 at padding (see the top of the file).
 */
function entryValues(backend: Backend, src: Source, test: Test, indices: tf.TensorInfo, mark: boolean): tf.TensorInfo {
  const size = indices.shape[0] * indices.shape[1];
  const withTheta = src.theta !== undefined;
  const program = makeProgram({
    key: `sparse_select_values_${test}_${mark ? 'mark' : 'gather'}`,
    outputShape: indices.shape,
    inputs: withTheta ? ['indices', 'z', 'theta'] : ['indices', 'z'],
    uniforms: withTheta ? 'bandwidth : f32,' : undefined,
    workgroupSize: ENTRY_WORKGROUP,
    workgroups: workgroupsFor(size, ENTRY_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let k = uniforms.outShape.y;
        let row = index / k;
        let base = row * uniforms.zShape.y;
        let latent = indices[index];
        // Latent 0 is real only at the first slot, and only where it passes the test.
        let first = z[base];
        let real = latent != 0 || (index == row * k && ${TEST_WGSL[test]('first', withTheta ? 'theta[0]' : '0.0')});
        var value = 0.0;
        if (real) { value = ${mark ? '1.0' : 'z[base + latent]'}; }
        result[index] = value;
      }`,
  });
  const uniforms = withTheta ? [{ type: 'float32', data: [src.bandwidth ?? 1] }] : [];
  return backend.runWebGPUProgram(program, withTheta ? [indices, src.z, src.theta!] : [indices, src.z], 'float32', uniforms);
}

/** The entries of `src` that pass `test`, `width` per row: indices and values (or marks). */
function selectEntries(backend: Backend, src: Source, test: Test, width: number, mark = false): tf.TensorInfo[] {
  const indices = selectIndices(backend, src, test, width);
  return [indices, entryValues(backend, src, test, indices, mark)];
}

/** A width attribute, which must be given here: nothing on this backend reads the counts back. */
function givenWidth(kernel: string, name: string, attrs: Record<string, unknown>): number {
  const width = attrs[name] as number;
  if (!(width >= 1)) throw new Error(`${kernel}: ${name} must be given on webgpu (the selection's counts are read asynchronously first: src/engine/ops/sparse.ts selectionNeedsWidths)`);
  return width;
}

registerWebGPUKernel(THRESHOLD_COUNTS, ({ inputs, backend, attrs }) => {
  const { z, theta } = inputs;
  const { bandwidth } = attrs as { bandwidth: number };
  return countRows(backend, { z, theta, bandwidth }, ['active', 'window']);
});

registerWebGPUKernel(THRESHOLD_ENTRIES, ({ inputs, backend, attrs }) => {
  const { z, theta } = inputs;
  const { bandwidth } = attrs as { bandwidth: number };
  const activeWidth = givenWidth(THRESHOLD_ENTRIES, 'activeWidth', attrs as Record<string, unknown>);
  const windowWidth = givenWidth(THRESHOLD_ENTRIES, 'windowWidth', attrs as Record<string, unknown>);
  const src: Source = { z, theta, bandwidth };
  return [...selectEntries(backend, src, 'active', activeWidth), ...selectEntries(backend, src, 'window', windowWidth, true)];
});

/**
 * Runs `body` on what BatchTopK's entries are the positive values of: f = BatchTopK-ReLU(z) for
 * total > 0 (freed afterwards), z itself for total 0 (the ReLU's entries).
 */
function withKept<T>(backend: Backend, z: tf.TensorInfo, total: number, body: (v: tf.TensorInfo) => T): T {
  if (total <= 0) return body(z);
  // The kernel function itself, on tensor infos (as tfjs's kernels call each other): no tensor is made.
  const batchTopk = tf.getKernel(BATCH_TOPK, 'webgpu');
  if (!batchTopk) throw new Error(`${BATCH_TOPK_ENTRIES}: ${BATCH_TOPK} is not registered for webgpu`);
  const f = (batchTopk.kernelFunc as unknown as KernelFunc)({ inputs: { pre: z }, backend, attrs: { total, mode: 'relu' } }) as tf.TensorInfo;
  try {
    return body(f);
  } finally {
    backend.disposeData(f.dataId);
  }
}

registerWebGPUKernel(BATCH_TOPK_COUNTS, ({ inputs, backend, attrs }) => {
  const { total } = attrs as { total: number };
  return withKept(backend, inputs.z, total, (v) => countRows(backend, { z: v }, ['positive']));
});

registerWebGPUKernel(BATCH_TOPK_ENTRIES, ({ inputs, backend, attrs }) => {
  const { total } = attrs as { total: number };
  const width = givenWidth(BATCH_TOPK_ENTRIES, 'width', attrs as Record<string, unknown>);
  return withKept(backend, inputs.z, total, (v) => selectEntries(backend, { z: v }, 'positive', width));
});
