// Fused WebGPU kernels for TopK and BatchTopK selection (topk.ts, batchTopk.ts).
//
// The compositions they replace find the k-th largest value with tf.topk, which tfjs-backend-webgpu
// runs as a bitonic sort: dozens of dispatches over the whole [B, d_sae] tensor per row-wise top-k,
// and hundreds over the flattened batch for BatchTopK (k·B values out of B·d_sae); then a min, a
// subtract, a compare, a cast, another compare, cast and two multiplies build the kept ReLU.
//
// Here the k-th largest value is found exactly by radix selection on the bits of the floats
// (mapped to unsigned keys that sort like the floats): four passes of an 8-bit digit histogram,
// each narrowing the candidates to the digit that holds the k-th largest, so after four passes the
// key is the k-th largest value itself. The kept entries are then those with z − kth ≥ 0, exactly
// the composition's test, so ties at the k-th value keep every tied entry, as there.
//   TopK: one workgroup per row does the four passes and writes the output: one dispatch.
//   BatchTopK: each pass is a histogram over the whole batch by many workgroups (partial
//   histograms, no global atomics) and a one-workgroup step that sums them and picks the digit;
//   then one elementwise dispatch writes the output: nine dispatches in all.
// Output, by `mode`: 'relu' — f = z · keep with keep = 1[z − kth ≥ 0]·1[z > 0]; 'mask' — the 0/1
// selection 1[z − kth ≥ 0] alone (topkMask, batchTopkMask).
// The backward pass of the kept ReLU is ∂z = dy · keep, and keep = 1[f > 0] (a kept entry is
// positive, so f = z > 0; every other f is 0), so the forward output is all it needs to save.
import * as tf from '@tensorflow/tfjs';
import type { CustomGradientFunc } from '../customOp';
import { ELEMENTWISE_WORKGROUP, FLOAT_KEY_WGSL, makeProgram, registerWebGPUKernel, runKernel, wgslType, workgroupsFor } from './program';

export type SelectionMode = 'relu' | 'mask';

const TOPK_ROWS = 'SaeTopkRows';
const BATCH_TOPK = 'SaeBatchTopk';
const KEPT_GRAD = 'SaeKeptReluGrad';

/**
 * Invocations per row in the row-wise selection. More make each workgroup barrier dearer on a
 * software adapter: on SwiftShader 64 was fastest (32 about the same, 256 five times slower).
 */
const ROW_WORKGROUP = 64;
/** BatchTopK histogram workgroups: 256 invocations, one per bin; at most this many workgroups. */
const MAX_HISTOGRAM_GROUPS = 128;

/** WGSL for the output at value `z` given the k-th value `kth`, both of type `T` (f32 or vec4). */
const writeSelected = (mode: SelectionMode, z: string, kth: string, T = 'f32') => {
  const selected = `((${z} - ${kth}) >= ${T}(0.0))`;
  return mode === 'relu' ? `${z} * ${T}(${selected} & (${z} > ${T}(0.0)))` : `${T}(${selected})`;
};

/**
 * Scan 256 bins from the top for the digit that holds the `remaining`-th largest key; `count(d)`
 * is WGSL for bin d's count. Sets `digit` and reduces `remaining` by the count above that digit.
 */
const PICK_DIGIT_WGSL = (count: (d: string) => string) => `
        var above = 0u;
        var digit = 0u;
        for (var d = 255; d >= 0; d--) {
          let count = ${count('d')};
          if (above + count >= remaining) { digit = u32(d); break; }
          above += count;
        }
        remaining -= above;`;

registerWebGPUKernel(TOPK_ROWS, ({ inputs, backend, attrs }) => {
  const { pre } = inputs;
  const { k, mode } = attrs as { k: number; mode: SelectionMode };
  const [rows, cols] = pre.shape;
  // Rows of whole vec4s are read four values at a time (fewer, longer loop iterations).
  const c = cols % 4 === 0 ? 4 : 1;
  const T = wgslType(c);
  const countValue = (v: string) => `countKey(floatKey(${v}), high, prefix, shift);`;
  const program = makeProgram({
    key: `topk_rows_${mode}_${ROW_WORKGROUP}`,
    outputShape: pre.shape,
    inputs: ['pre'],
    components: c,
    vectorInputs: ['pre'],
    uniforms: 'k : u32,',
    workgroupSize: ROW_WORKGROUP,
    workgroups: rows,
    code: `
      ${FLOAT_KEY_WGSL}
      var<workgroup> hist : array<atomic<u32>, 256>;
      var<workgroup> selectedPrefix : u32;
      var<workgroup> selectedRemaining : u32;

      fn countKey(key : u32, high : u32, prefix : u32, shift : u32) {
        if ((key & high) == prefix) { atomicAdd(&hist[(key >> shift) & 255u], 1u); }
      }

      fn main(index : i32) {
        // A workgroup past the last row (when the backend folds a long dispatch into 2-D) takes
        // part in the barriers but reads and writes nothing: barriers need uniform control flow.
        let row = workgroupIndex();
        let width = select(0, uniforms.preShape.y / ${c}, row < uniforms.preShape.x);
        let base = row * (uniforms.preShape.y / ${c});
        let lid = i32(localIndex);
        for (var b = lid; b < 256; b += ${ROW_WORKGROUP}) { atomicStore(&hist[b], 0u); }
        if (lid == 0) {
          selectedPrefix = 0u;
          selectedRemaining = uniforms.k;
        }
        workgroupBarrier();
        // Two barriers per digit (each costs a software adapter far more than the arithmetic):
        // all count, then one invocation picks the digit and clears the histogram for the next.
        for (var digitPass = 0u; digitPass < 4u; digitPass++) {
          let shift = 24u - 8u * digitPass;
          // The bits above this digit must match the digits chosen so far.
          let high = select(0u, 0xffffffffu << (shift + 8u), digitPass > 0u);
          let prefix = selectedPrefix;
          for (var i = lid; i < width; i += ${ROW_WORKGROUP}) {
            let v = pre[base + i];
            ${c === 4 ? ['x', 'y', 'z', 'w'].map((e) => countValue(`v.${e}`)).join(' ') : countValue('v')}
          }
          workgroupBarrier();
          if (lid == 0) {
            var remaining = selectedRemaining;
            ${PICK_DIGIT_WGSL((d) => `atomicLoad(&hist[${d}])`)}
            selectedPrefix = prefix | (digit << shift);
            selectedRemaining = remaining;
            for (var b = 0; b < 256; b++) { atomicStore(&hist[b], 0u); }
          }
          workgroupBarrier();
        }
        let kth = ${T}(keyFloat(selectedPrefix));
        for (var i = lid; i < width; i += ${ROW_WORKGROUP}) {
          let z = pre[base + i];
          setOutputAtIndex(base + i, ${writeSelected(mode, 'z', 'kth', T)});
        }
      }`,
  });
  return backend.runWebGPUProgram(program, [pre], 'float32', [{ type: 'uint32', data: [k] }]);
});

registerWebGPUKernel(BATCH_TOPK, ({ inputs, backend, attrs }) => {
  const { pre } = inputs;
  const { total, mode } = attrs as { total: number; mode: SelectionMode };
  const size = pre.shape[0] * pre.shape[1];
  const groups = Math.min(MAX_HISTOGRAM_GROUPS, workgroupsFor(size, 256 * 16));
  // [prefix key so far, rank still to find among the candidates], as u32 bits in an int32 tensor.
  let state = backend.makeTensorInfo([2], 'int32', new Int32Array([0, total]));
  for (let pass = 0; pass < 4; pass++) {
    const shift = 24 - 8 * pass;
    const histogram = makeProgram({
      key: 'batch_topk_histogram',
      outputShape: [groups, 256],
      inputs: ['pre', 'state'],
      uniforms: 'shift : u32, elements : i32,',
      workgroupSize: 256,
      workgroups: groups,
      code: `
        ${FLOAT_KEY_WGSL}
        var<workgroup> hist : array<atomic<u32>, 256>;
        fn main(index : i32) {
          let lid = i32(localIndex);
          atomicStore(&hist[lid], 0u);
          workgroupBarrier();
          let shift = uniforms.shift;
          let high = select(0u, 0xffffffffu << (shift + 8u), shift < 24u);
          let prefix = bitcast<u32>(state[0]);
          let stride = i32(numWorkgroups.x) * 256;
          for (var i = index; i < uniforms.elements; i += stride) {
            let key = floatKey(pre[i]);
            if ((key & high) == prefix) { atomicAdd(&hist[(key >> shift) & 255u], 1u); }
          }
          workgroupBarrier();
          result[index] = i32(atomicLoad(&hist[lid]));
        }`,
    });
    const partials = backend.runWebGPUProgram(histogram, [pre, state], 'int32', [
      { type: 'uint32', data: [shift] },
      { type: 'int32', data: [size] },
    ]);
    const pick = makeProgram({
      key: 'batch_topk_pick',
      outputShape: [2],
      inputs: ['partials', 'state'],
      uniforms: 'shift : u32,',
      workgroupSize: 256,
      workgroups: 1,
      code: `
        var<workgroup> counts : array<u32, 256>;
        fn main(index : i32) {
          let groups = uniforms.partialsShape.x;
          var sum = 0u;
          for (var g = 0; g < groups; g++) { sum += u32(partials[g * 256 + index]); }
          counts[index] = sum;
          workgroupBarrier();
          if (index == 0) {
            var remaining = bitcast<u32>(state[1]);
            ${PICK_DIGIT_WGSL((d) => `counts[${d}]`)}
            result[0] = bitcast<i32>(bitcast<u32>(state[0]) | (digit << uniforms.shift));
            result[1] = bitcast<i32>(remaining);
          }
        }`,
    });
    const next = backend.runWebGPUProgram(pick, [partials, state], 'int32', [{ type: 'uint32', data: [shift] }]);
    backend.disposeData(partials.dataId);
    backend.disposeData(state.dataId);
    state = next;
  }
  const c = size % 4 === 0 ? 4 : 1;
  const T = wgslType(c);
  const apply = makeProgram({
    key: `batch_topk_apply_${mode}`,
    outputShape: pre.shape,
    inputs: ['pre', 'state'],
    components: c,
    vectorInputs: ['pre'],
    workgroupSize: ELEMENTWISE_WORKGROUP,
    workgroups: workgroupsFor(size / c, ELEMENTWISE_WORKGROUP),
    code: `
      ${FLOAT_KEY_WGSL}
      fn main(index : i32) {
        if (index < uniforms.size) {
          let kth = ${T}(keyFloat(bitcast<u32>(state[0])));
          let z = pre[index];
          setOutputAtIndex(index, ${writeSelected(mode, 'z', 'kth', T)});
        }
      }`,
  });
  const out = backend.runWebGPUProgram(apply, [pre, state], 'float32');
  backend.disposeData(state.dataId);
  return out;
});

registerWebGPUKernel(KEPT_GRAD, ({ inputs, backend }) => {
  const { dy, value } = inputs;
  const size = tf.util.sizeFromShape(value.shape);
  const c = size % 4 === 0 ? 4 : 1;
  const T = wgslType(c);
  const program = makeProgram({
    key: 'kept_relu_grad',
    outputShape: value.shape,
    inputs: ['dy', 'value'],
    components: c,
    vectorInputs: ['dy', 'value'],
    workgroupSize: ELEMENTWISE_WORKGROUP,
    workgroups: workgroupsFor(size / c, ELEMENTWISE_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index < uniforms.size) { setOutputAtIndex(index, dy[index] * ${T}(value[index] > ${T}(0.0))); }
      }`,
  });
  return backend.runWebGPUProgram(program, [dy, value], 'float32');
});

/** Each row's k largest entries of z [B, n] (1 ≤ k ≤ n), as a kept ReLU or a 0/1 mask. */
export function topkRowsWebGPU(z: tf.Tensor2D, k: number, mode: SelectionMode): tf.Tensor2D {
  return runKernel(TOPK_ROWS, { pre: z }, { k, mode });
}

/** The `total` largest entries of the whole of z [B, n] (1 ≤ total ≤ B·n). */
export function batchTopkWebGPU(z: tf.Tensor2D, total: number, mode: SelectionMode): tf.Tensor2D {
  return runKernel(BATCH_TOPK, { pre: z }, { total, mode });
}

/** ∂z = dy · 1[f > 0] for a kept ReLU's output f. */
export function keptReluGradWebGPU(dy: tf.Tensor, f: tf.Tensor2D): tf.Tensor2D {
  return runKernel(KEPT_GRAD, { dy, value: f });
}

/**
 * A kept ReLU as an op with its gradient: `forward` computes f from z with one of the kernels
 * above; ∂z = dy · 1[f > 0].
 */
export function keptReluWebGPU(z: tf.Tensor2D, forward: (z: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((zIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const value = forward(zIn as tf.Tensor2D);
    save([value]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [keptReluGradWebGPU(dy, saved[0] as tf.Tensor2D)] };
  }) as unknown as CustomGradientFunc<tf.Tensor2D>);
  return op(z) as tf.Tensor2D;
}
