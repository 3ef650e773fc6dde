// WebGPU kernels of the sparse ops (src/engine/ops/sparse.ts: the semantics, the entry layout and
// the kernel names). Entries are, per batch row, K latent indices (int32 [B, K]) and values
// (float32 [B, K]), padded with (0, 0).
//
// SaeTopkEntries — two dispatches.
//   1. One workgroup per row finds the row's count-th largest eligible key, count = min(k, number
//      of eligible latents), by radix selection on the float bits as topk.ts does (four passes of
//      an 8-bit digit histogram); the selection also leaves how many entries equal to that key
//      still have to be taken. The row is then split into one contiguous chunk per invocation:
//      each counts its keys above the k-th and its ties, the counts are prefix-summed, and each
//      invocation writes its latents at its own slots, so the indices come out in increasing
//      order, the ties taken are the lowest-indexed ones, and the rest of the row is padding (0).
//   2. One invocation per entry writes its value max(z, 0), or 0 for padding. Because each row's
//      real indices are strictly increasing and come first, a 0 at slot j > 0 is padding, and a 0
//      at slot 0 is real exactly when latent 0 is eligible (then it is the smallest chosen one).
// SaeSparseDecode — one dispatch: a workgroup per (batch row, block of 64 columns (vec4s when d
//   divides by 4)); each invocation adds up its column over the row's K entries in entry order.
// SaeSparseRowDots — one dispatch: a workgroup per batch row. For each entry every invocation
//   dots its strided share of the columns of dy[b] and w[index]; the 64 partial sums of up to 32
//   entries at a time go to workgroup memory and one invocation per entry adds them up in order.
// SaeSparseOuterRows / SaeSparseOuterCols — six dispatches each. WGSL has no float atomics, so
//   the entries are first grouped by latent (compressed rows, in one int32 workspace):
//     zero the per-latent counts; count the entries of each latent (integer atomics); exclusive prefix
//     sum of the counts (one workgroup); scatter the entry ids into their latent's segment (atomic
//     cursors: the order within a segment depends on scheduling); sort each segment by entry id
//     (each entry's rank is the number of smaller ids in its segment), which makes every sum
//     below run in batch order, so the result is the same on every run.
//   Then one invocation per (latent, 4 columns; 1 when d does not divide by 4) sums values · dy[b]
//   over its latent's segment; OuterCols writes the four results to four rows of the transposed
//   [d, n] output, so neighbouring invocations (neighbouring latents) write neighbouring addresses.
// Entries of value 0 (padding among them) add nothing to decode and the outer products, so those
// skip them: padding costs no reads, and latent 0 does not collect every padding entry of the
// batch. Row dots have no values: there padding gives dy[b]·w[0], as the op defines.
import type * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { FLOAT_KEY_WGSL, makeProgram, registerWebGPUKernel, wgslType, workgroupsFor } from './program';
import './sparseSelect';
import { SPARSE_KERNELS } from '../sparseKernels';

// The names from the leaf module ops/sparseKernels.ts (ops/sparse.ts imports this module for its
// registration, so the names cannot come from there without a cycle).
const { topkEntries: TOPK_ENTRIES, decode: DECODE, rowDots: ROW_DOTS, outerRows: OUTER_ROWS, outerCols: OUTER_COLS } = SPARSE_KERNELS;

/** Invocations per row in the selection (as topk.ts: barriers are dear on a software adapter). */
const SELECT_WORKGROUP = 64;
/** Invocations per workgroup of the decode, the row dots and the per-entry / per-element passes. */
const ENTRY_WORKGROUP = 64;
/** Entries whose row-dot partial sums share workgroup memory at once: 32 × 65 f32 ≈ 8 KiB. */
const ROW_DOT_BATCH = 32;
/**
 * Words between two entries' partial sums in workgroup memory. One invocation per entry then reads
 * its 64 sums, and a stride of 65 rather than 64 puts those reads in different memory banks.
 */
const PARTIAL_STRIDE = ENTRY_WORKGROUP + 1;
/** Invocations of the one-workgroup prefix sum over the latents. */
const SCAN_WORKGROUP = 256;

/** 4 values per array element (vec4) when every row of `cols` columns splits into whole vec4s. */
const componentsFor = (cols: number): 1 | 4 => (cols % 4 === 0 ? 4 : 1);
/** WGSL accessors of the lanes of one array element: `.x` … `.w`, or the value itself. */
const lanes = (c: 1 | 4) => (c === 4 ? ['.x', '.y', '.z', '.w'] : ['']);

type Backend = WebGPUBackend;

// ---------------------------------------------------------------------------------------------
// TopK entries

/**
 * The selection key: floatKey (program.ts) with −0 taken as +0, so equal floats have equal keys and
 * a tie between −0 and +0 goes to the lower index like every other tie.
 */
const ENTRY_KEY_WGSL = `
    ${FLOAT_KEY_WGSL}
    fn entryKey(x : f32) -> u32 {
      let key = floatKey(x);
      return select(key, 0x80000000u, key == 0x7fffffffu);
    }`;

function selectEntries(backend: Backend, z: tf.TensorInfo, eligible: tf.TensorInfo | undefined, k: number): tf.TensorInfo {
  const [rows, n] = z.shape;
  const c = componentsFor(n);
  const names = eligible ? ['z', 'eligible'] : ['z'];
  // Per lane: whether the latent may be chosen (`e` is the eligible element beside `v`).
  // f32(…): a mask cast from a comparison keeps its int32 buffer on webgpu, so the input may be i32.
  const ok = (lane: string) => (eligible ? `(f32(e${lane}) != 0.0)` : 'true');
  const loadEligible = eligible ? 'let e = eligible[i];' : '';
  const program = makeProgram({
    key: `topk_entries_select_${eligible ? 'eligible' : 'all'}_${SELECT_WORKGROUP}_${c}`,
    outputShape: [rows, k],
    inputs: names,
    inputComponents: { z: c, eligible: c },
    workgroupSize: SELECT_WORKGROUP,
    workgroups: rows,
    code: `
      ${ENTRY_KEY_WGSL}
      var<workgroup> hist : array<atomic<u32>, 256>;
      var<workgroup> selectedPrefix : u32;
      var<workgroup> selectedRemaining : u32;
      var<workgroup> selectedCount : u32;
      var<workgroup> aboveCounts : array<u32, ${SELECT_WORKGROUP}>;
      var<workgroup> tieCounts : array<u32, ${SELECT_WORKGROUP}>;

      fn countKey(key : u32, ok : bool, high : u32, prefix : u32, shift : u32) {
        if (ok && (key & high) == prefix) { atomicAdd(&hist[(key >> shift) & 255u], 1u); }
      }

      fn main(index : i32) {
        // A workgroup past the last row (when the backend folds a long dispatch into 2-D) takes
        // part in the barriers but reads and writes nothing: barriers need uniform control flow.
        let row = workgroupIndex();
        let valid = row < uniforms.zShape.x;
        let width = select(0, uniforms.zShape.y / ${c}, valid);
        let base = row * (uniforms.zShape.y / ${c});
        let k = uniforms.outShape.y;
        let out = row * k;
        let lid = i32(localIndex);
        for (var b = lid; b < 256; b += ${SELECT_WORKGROUP}) { atomicStore(&hist[b], 0u); }
        if (lid == 0) {
          selectedPrefix = 0u;
          selectedRemaining = 0u;
          selectedCount = 0u;
        }
        workgroupBarrier();
        for (var digitPass = 0u; digitPass < 4u; digitPass++) {
          let shift = 24u - 8u * digitPass;
          // The bits above this digit must match the digits chosen so far.
          let high = select(0u, 0xffffffffu << (shift + 8u), digitPass > 0u);
          let prefix = selectedPrefix;
          for (var i = lid; i < width; i += ${SELECT_WORKGROUP}) {
            let v = z[base + i];
            ${loadEligible}
            ${lanes(c).map((l) => `countKey(entryKey(v${l}), ${ok(l)}, high, prefix, shift);`).join('\n            ')}
          }
          workgroupBarrier();
          if (lid == 0) {
            var remaining = selectedRemaining;
            if (digitPass == 0u) {
              // The first histogram holds every eligible latent: fewer than k means take them all.
              var eligibleCount = 0u;
              for (var b = 0; b < 256; b++) { eligibleCount += atomicLoad(&hist[b]); }
              remaining = min(u32(k), eligibleCount);
              selectedCount = remaining;
            }
            // The digit that holds the remaining-th largest candidate; the count above it is taken.
            var above = 0u;
            var digit = 0u;
            for (var d = 255; d >= 0; d--) {
              let count = atomicLoad(&hist[d]);
              if (above + count >= remaining) { digit = u32(d); break; }
              above += count;
            }
            selectedPrefix = prefix | (digit << shift);
            selectedRemaining = remaining - above;
            for (var b = 0; b < 256; b++) { atomicStore(&hist[b], 0u); }
          }
          workgroupBarrier();
        }
        // kth is the count-th largest eligible key; 'remaining' of the keys equal to it are taken.
        let kth = selectedPrefix;
        let remaining = selectedRemaining;
        let count = selectedCount;
        // Contiguous chunks, one per invocation, so that slots follow the latent order.
        let chunk = (width + ${SELECT_WORKGROUP - 1}) / ${SELECT_WORKGROUP};
        let first = min(lid * chunk, width);
        let last = min(first + chunk, width);
        var above = 0u;
        var ties = 0u;
        for (var i = first; i < last; i++) {
          let v = z[base + i];
          ${loadEligible}
          ${lanes(c).map((l) => `{ let key = entryKey(v${l}); if (${ok(l)}) { above += u32(key > kth); ties += u32(key == kth); } }`).join('\n          ')}
        }
        aboveCounts[lid] = above;
        tieCounts[lid] = ties;
        workgroupBarrier();
        var aboveBefore = 0u;
        var tiesBefore = 0u;
        for (var t = 0; t < lid; t++) {
          aboveBefore += aboveCounts[t];
          tiesBefore += tieCounts[t];
        }
        if (count > 0u) {
          // Entries before this chunk: every key above kth, and the first 'remaining' ties.
          var slot = i32(aboveBefore + min(tiesBefore, remaining));
          var tieRank = tiesBefore;
          for (var i = first; i < last; i++) {
            let v = z[base + i];
            ${loadEligible}
            ${lanes(c).map((l, t) => `{
              let key = entryKey(v${l});
              if (${ok(l)}) {
                var take = key > kth;
                if (key == kth) {
                  take = tieRank < remaining;
                  tieRank++;
                }
                if (take) {
                  result[out + slot] = i * ${c} + ${t};
                  slot++;
                }
              }
            }`).join('\n            ')}
          }
        }
        if (valid) {
          for (var s = i32(count) + lid; s < k; s += ${SELECT_WORKGROUP}) { result[out + s] = 0; }
        }
      }`,
  });
  return backend.runWebGPUProgram(program, eligible ? [z, eligible] : [z], 'int32');
}

function entryValues(backend: Backend, z: tf.TensorInfo, indices: tf.TensorInfo, eligible: tf.TensorInfo | undefined): tf.TensorInfo {
  const size = indices.shape[0] * indices.shape[1];
  // Which zero index is a real entry (see the top of the file): only slot 0's, if latent 0 is eligible.
  const zeroIsReal = eligible ? 'f32(eligible[0]) != 0.0' : 'true';
  const program = makeProgram({
    key: `topk_entries_values_${eligible ? 'eligible' : 'all'}`,
    outputShape: indices.shape,
    inputs: eligible ? ['z', 'indices', 'eligible'] : ['z', 'indices'],
    workgroupSize: ENTRY_WORKGROUP,
    workgroups: workgroupsFor(size, ENTRY_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let k = uniforms.indicesShape.y;
        let row = index / k;
        let latent = indices[index];
        var value = 0.0;
        if (latent != 0 || (index - row * k == 0 && ${zeroIsReal})) { value = max(z[row * uniforms.zShape.y + latent], 0.0); }
        result[index] = value;
      }`,
  });
  return backend.runWebGPUProgram(program, eligible ? [z, indices, eligible] : [z, indices], 'float32');
}

registerWebGPUKernel(TOPK_ENTRIES, ({ inputs, backend, attrs }) => {
  const { z, eligible } = inputs;
  const { k } = attrs as { k: number };
  const indices = selectEntries(backend, z, eligible, k);
  const values = entryValues(backend, z, indices, eligible);
  return [indices, values];
});

// ---------------------------------------------------------------------------------------------
// Decode and row dots

registerWebGPUKernel(DECODE, ({ inputs, backend }) => {
  const { indices, values, w } = inputs;
  const rows = indices.shape[0];
  const d = w.shape[1];
  const c = componentsFor(d);
  const T = wgslType(c);
  const blocks = workgroupsFor(d / c, ENTRY_WORKGROUP);
  const program = makeProgram({
    key: `sparse_decode_${ENTRY_WORKGROUP}_${c}`,
    outputShape: [rows, d],
    inputs: ['indices', 'entryValues', 'w'],
    components: c,
    vectorInputs: ['w'],
    uniforms: 'blocks : i32,',
    workgroupSize: ENTRY_WORKGROUP,
    workgroups: rows * blocks,
    code: `
      fn main(index : i32) {
        let group = workgroupIndex();
        let row = group / uniforms.blocks;
        let column = (group - row * uniforms.blocks) * ${ENTRY_WORKGROUP} + i32(localIndex);
        let columns = uniforms.wShape.y / ${c};
        if (row >= uniforms.indicesShape.x || column >= columns) { return; }
        let entries = uniforms.indicesShape.y;
        var acc = ${T}(0.0);
        for (var j = row * entries; j < (row + 1) * entries; j++) {
          let value = entryValues[j];
          if (value != 0.0) { acc += value * w[indices[j] * columns + column]; }
        }
        setOutputAtIndex(row * columns + column, acc);
      }`,
  });
  return backend.runWebGPUProgram(program, [indices, values, w], 'float32', [{ type: 'int32', data: [blocks] }]);
});

registerWebGPUKernel(ROW_DOTS, ({ inputs, backend }) => {
  const { indices, dy, w } = inputs;
  const [rows, entries] = indices.shape;
  const c = componentsFor(w.shape[1]);
  const product = c === 4 ? 'dot(dy[rowBase + column], w[latentBase + column])' : 'dy[rowBase + column] * w[latentBase + column]';
  const program = makeProgram({
    key: `sparse_row_dots_${ENTRY_WORKGROUP}_${ROW_DOT_BATCH}_${c}`,
    outputShape: [rows, entries],
    inputs: ['indices', 'dy', 'w'],
    inputComponents: { dy: c, w: c },
    workgroupSize: ENTRY_WORKGROUP,
    workgroups: rows,
    code: `
      var<workgroup> partial : array<f32, ${PARTIAL_STRIDE * ROW_DOT_BATCH}>;
      fn main(index : i32) {
        let row = workgroupIndex();
        let valid = row < uniforms.indicesShape.x;
        let entries = uniforms.indicesShape.y;
        let columns = uniforms.wShape.y / ${c};
        let rowBase = row * columns;
        let lid = i32(localIndex);
        for (var first = 0; first < entries; first += ${ROW_DOT_BATCH}) {
          let batch = min(${ROW_DOT_BATCH}, entries - first);
          for (var t = 0; t < batch; t++) {
            var acc = 0.0;
            if (valid) {
              let latentBase = indices[row * entries + first + t] * columns;
              for (var column = lid; column < columns; column += ${ENTRY_WORKGROUP}) { acc += ${product}; }
            }
            partial[t * ${PARTIAL_STRIDE} + lid] = acc;
          }
          workgroupBarrier();
          if (valid && lid < batch) {
            var sum = 0.0;
            for (var s = 0; s < ${ENTRY_WORKGROUP}; s++) { sum += partial[lid * ${PARTIAL_STRIDE} + s]; }
            result[row * entries + first + lid] = sum;
          }
          workgroupBarrier();
        }
      }`,
  });
  return backend.runWebGPUProgram(program, [indices, dy, w], 'float32');
});

// ---------------------------------------------------------------------------------------------
// Outer products: the entries grouped by latent, then summed per (latent, columns)

/**
 * The entries of [B, K] grouped by latent, as one int32 tensor of 2n + 1 + 2E values (E = B·K):
 *   [0, n)              per-latent counts (cursors while scattering; 0 again after)
 *   [n, 2n + 1)         segment starts: latent j's entries are at [start[j], start[j + 1])
 *   [2n + 1, +E)        entry ids (b·K + slot) by latent, in scheduling order within a segment
 *   [2n + 1 + E, +E)    the same sorted by entry id within each segment (what the sums read)
 * Entries of value 0 are left out; the caller disposes the tensor.
 */
function groupByLatent(backend: Backend, indices: tf.TensorInfo, values: tf.TensorInfo, n: number): tf.TensorInfo {
  const entries = indices.shape[0] * indices.shape[1];
  const lists = backend.makeTensorInfo([2 * n + 1 + 2 * entries], 'int32');
  const uniforms = [{ type: 'int32', data: [n] }, { type: 'int32', data: [entries] }];
  const uniformFields = 'n : i32, entries : i32,';
  // Entries that belong in a segment: a value to add and a latent in range (any other index
  // would write outside the workspace).
  const entryOf = `
        if (index >= uniforms.entries) { return; }
        let latent = indices[index];
        if (entryValues[index] == 0.0 || latent < 0 || latent >= uniforms.n) { return; }`;
  const perEntry = (key: string, code: string, atomic = false) => makeProgram({
    key, outputShape: lists.shape, inputs: ['indices', 'entryValues'], uniforms: uniformFields, atomic,
    workgroupSize: ENTRY_WORKGROUP, workgroups: workgroupsFor(entries, ENTRY_WORKGROUP),
    code: `
      fn main(index : i32) {
        ${entryOf}
        ${code}
      }`,
  });
  const zero = makeProgram({
    key: 'sparse_lists_zero', outputShape: lists.shape, inputs: [], uniforms: uniformFields,
    workgroupSize: ENTRY_WORKGROUP, workgroups: workgroupsFor(n, ENTRY_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index < uniforms.n) { result[index] = 0; }
      }`,
  });
  const count = perEntry('sparse_lists_count', 'atomicAdd(&result[latent], 1);', true);
  const scan = makeProgram({
    key: `sparse_lists_scan_${SCAN_WORKGROUP}`, outputShape: lists.shape, inputs: [], uniforms: uniformFields,
    workgroupSize: SCAN_WORKGROUP, workgroups: 1,
    code: `
      var<workgroup> chunkTotals : array<i32, ${SCAN_WORKGROUP}>;
      fn main(index : i32) {
        let lid = i32(localIndex);
        let n = uniforms.n;
        let chunk = (n + ${SCAN_WORKGROUP - 1}) / ${SCAN_WORKGROUP};
        let first = min(lid * chunk, n);
        let last = min(first + chunk, n);
        var total = 0;
        for (var j = first; j < last; j++) { total += result[j]; }
        chunkTotals[lid] = total;
        workgroupBarrier();
        var start = 0;
        for (var t = 0; t < lid; t++) { start += chunkTotals[t]; }
        for (var j = first; j < last; j++) {
          result[n + j] = start;
          start += result[j];
        }
        if (lid == ${SCAN_WORKGROUP - 1}) { result[2 * n] = start; }
      }`,
  });
  const scatter = perEntry('sparse_lists_scatter', `
        let n = uniforms.n;
        let cursor = atomicSub(&result[latent], 1) - 1;
        atomicStore(&result[2 * n + 1 + atomicLoad(&result[n + latent]) + cursor], index);`, true);
  const sort = perEntry('sparse_lists_sort', `
        let n = uniforms.n;
        let unordered = 2 * n + 1;
        let begin = result[n + latent];
        let end = result[n + latent + 1];
        var rank = 0;
        for (var p = begin; p < end; p++) { rank += i32(result[unordered + p] < index); }
        result[unordered + uniforms.entries + begin + rank] = index;`);
  backend.runWebGPUProgram(zero, [], 'int32', uniforms, lists);
  backend.runWebGPUProgram(count, [indices, values], 'int32', uniforms, lists);
  backend.runWebGPUProgram(scan, [], 'int32', uniforms, lists);
  backend.runWebGPUProgram(scatter, [indices, values], 'int32', uniforms, lists);
  backend.runWebGPUProgram(sort, [indices, values], 'int32', uniforms, lists);
  return lists;
}

/**
 * How an outer product lays out its sums: 'latentRows' is [n, d] (Sᵀ·dy), one invocation per
 * (latent, group of c columns) writing c contiguous values; 'latentColumns' is [d, n] (xᵀ·S),
 * one invocation per (group of c columns, latent) with the latent fastest, writing one value in
 * each of c rows, so that neighbouring invocations write neighbouring addresses.
 */
type OuterLayout = 'latentRows' | 'latentColumns';

/** Σ over each latent's entries e of values[e] · rows[b(e)], for rows [B, d]. */
function outerProduct(backend: Backend, layout: OuterLayout, indices: tf.TensorInfo, values: tf.TensorInfo, rows: tf.TensorInfo, n: number): tf.TensorInfo {
  const d = rows.shape[1];
  const c = componentsFor(d);
  const T = wgslType(c);
  const byRows = layout === 'latentRows';
  const lists = groupByLatent(backend, indices, values, n);
  const write = byRows
    ? 'setOutputAtIndex(index, acc);'
    : lanes(c).map((l, t) => `result[(columnGroup * ${c} + ${t}) * n + latent] = acc${l};`).join('\n        ');
  const program = makeProgram({
    key: `sparse_outer_${layout}_${ENTRY_WORKGROUP}_${c}`,
    outputShape: byRows ? [n, d] : [d, n],
    inputs: ['lists', 'entryValues', 'rows'],
    components: byRows ? c : 1,
    inputComponents: { rows: c },
    uniforms: 'n : i32,',
    workgroupSize: ENTRY_WORKGROUP,
    workgroups: workgroupsFor(n * (d / c), ENTRY_WORKGROUP),
    code: `
      fn main(index : i32) {
        let n = uniforms.n;
        let columns = uniforms.rowsShape.y / ${c};
        if (index >= n * columns) { return; }
        let perRow = uniforms.entryValuesShape.y;
        let sorted = 2 * n + 1 + uniforms.entryValuesShape.x * perRow;
        let latent = ${byRows ? 'index / columns' : 'index % n'};
        let columnGroup = ${byRows ? 'index - latent * columns' : 'index / n'};
        let end = lists[n + latent + 1];
        var acc = ${T}(0.0);
        for (var p = lists[n + latent]; p < end; p++) {
          let e = lists[sorted + p];
          acc += entryValues[e] * rows[(e / perRow) * columns + columnGroup];
        }
        ${write}
      }`,
  });
  const out = backend.runWebGPUProgram(program, [lists, values, rows], 'float32', [{ type: 'int32', data: [n] }]);
  backend.disposeData(lists.dataId);
  return out;
}

registerWebGPUKernel(OUTER_ROWS, ({ inputs, backend, attrs }) => {
  const { indices, values, dy } = inputs;
  return outerProduct(backend, 'latentRows', indices, values, dy, (attrs as { n: number }).n);
});

registerWebGPUKernel(OUTER_COLS, ({ inputs, backend, attrs }) => {
  const { indices, values, x } = inputs;
  return outerProduct(backend, 'latentColumns', indices, values, x, (attrs as { n: number }).n);
});
