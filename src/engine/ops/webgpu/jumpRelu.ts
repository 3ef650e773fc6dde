// Fused WebGPU kernels for the JumpReLU and Heaviside straight-through estimators (docs/variants.md).
// The tfjs compositions they replace (jumprelu.ts, heaviside.ts, kernel.ts) build every
// intermediate [B, d_sae] tensor — the step mask, z − θ, u = (z − θ)/ε, the window mask, the
// products — in a dispatch of its own, and sum over the batch by transposing. Here the JumpReLU
// forward pass is one dispatch, ∂z one, and each ∂θ two (a blocked column sum that evaluates the
// rectangle kernel on the fly, then the sum of the blocks); the Heaviside L0 is counted the same
// way, by columns, without a [B, d_sae] mask. The results are the composition's: the same
// comparisons (z > θ; −½ < u < ½ with u = (z − θ)/ε rounded as there) and the same factors in the
// same order, so only the order of the batch sum differs.
import * as tf from '@tensorflow/tfjs';
import { ELEMENTWISE_WORKGROUP, makeProgram, registerWebGPUKernel, runKernel, wgslType, workgroupsFor, type KernelFunc } from './program';

const JUMP_RELU_FORWARD = 'SaeJumpReluForward';
const JUMP_RELU_GRAD_PRE = 'SaeJumpReluGradPre';
const THRESHOLD_GRAD = 'SaeThresholdGrad';
const HEAVISIDE_COLUMNS = 'SaeHeavisideColumns';

const COLUMN_WORKGROUP = 64;
/**
 * Rows each invocation of the [B, d_sae] kernels walks: fewer, longer invocations are what a
 * software adapter wants (each costs far more than its arithmetic); 32 still leaves B·d_sae/128
 * invocations (16k at the bench sizes) to keep a GPU busy.
 */
const ROWS_PER_INVOCATION = 32;

/** 4 values per invocation (vec4) when each row splits into whole vec4s, else 1. */
const componentsFor = (pre: tf.TensorInfo): 1 | 4 => (pre.shape[1] % 4 === 0 ? 4 : 1);

/**
 * An elementwise kernel over z [B, n] that also reads θ [n]: one invocation per (column group,
 * block of ROWS_PER_INVOCATION rows) reads its θ once and walks down the block, so no invocation
 * pays an index modulo per value, and neighbouring invocations touch neighbouring addresses.
 * `value` is WGSL for the output at flat element index `i`, with `t` = θ of its column(s).
 */
function thresholdElementwise(backend: Parameters<KernelFunc>[0]['backend'], key: string, names: string[], tensors: tf.TensorInfo[], pre: tf.TensorInfo, value: (T: string) => string): tf.TensorInfo {
  const [rows, cols] = pre.shape;
  const c = componentsFor(pre);
  const stride = cols / c;
  const program = makeProgram({
    key,
    outputShape: pre.shape,
    inputs: names,
    components: c,
    vectorInputs: names,
    workgroupSize: ELEMENTWISE_WORKGROUP,
    workgroups: workgroupsFor(stride * Math.ceil(rows / ROWS_PER_INVOCATION), ELEMENTWISE_WORKGROUP),
    code: `
      fn main(index : i32) {
        let stride = uniforms.preShape.y / ${c};
        let column = index % stride;
        let first = (index / stride) * ${ROWS_PER_INVOCATION};
        let last = min(first + ${ROWS_PER_INVOCATION}, uniforms.preShape.x);
        if (first >= last) { return; }
        let t = theta[column];
        for (var b = first; b < last; b++) {
          let i = b * stride + column;
          setOutputAtIndex(i, ${value(wgslType(c))});
        }
      }`,
  });
  return backend.runWebGPUProgram(program, tensors, 'float32');
}

registerWebGPUKernel(JUMP_RELU_FORWARD, ({ inputs, backend }) => {
  const { pre, theta } = inputs;
  return thresholdElementwise(backend, 'jumprelu_forward', ['pre', 'theta'], [pre, theta], pre, (T) => `pre[i] * ${T}(pre[i] > t)`);
});

registerWebGPUKernel(JUMP_RELU_GRAD_PRE, ({ inputs, backend }) => {
  const { dy, pre, theta } = inputs;
  return thresholdElementwise(backend, 'jumprelu_grad_pre', ['dy', 'pre', 'theta'], [dy, pre, theta], pre, (T) => `dy[i] * ${T}(pre[i] > t)`);
});

/**
 * Per column j of z [B, n]: scale · Σ_b term(b, j), in two dispatches: partial sums over blocks of
 * ROWS_PER_INVOCATION rows (one invocation per column group and block, neighbours reading
 * neighbouring addresses), then one invocation per column group adds up its blocks. A single
 * pass walking each column down the whole batch would leave a GPU with only n/4 invocations.
 * `term` is WGSL for one element at flat index `i`, with `t` = θ of its column(s) and `T` the
 * vector type; `u` = (z − θ)/ε and `k` = K(u) are in scope.
 */
function columnSums(backend: Parameters<KernelFunc>[0]['backend'], key: string, names: string[], tensors: tf.TensorInfo[], pre: tf.TensorInfo,
  bandwidth: number, scale: number, term: (T: string) => string, prelude = ''): tf.TensorInfo {
  const [rows, n] = pre.shape;
  const c = componentsFor(pre);
  const T = wgslType(c);
  const blocks = Math.ceil(rows / ROWS_PER_INVOCATION);
  const blockSums = makeProgram({
    key: `${key}_blocks`,
    outputShape: [blocks, n],
    inputs: names,
    components: c,
    vectorInputs: names,
    uniforms: 'bandwidth : f32,',
    workgroupSize: ELEMENTWISE_WORKGROUP,
    workgroups: workgroupsFor((blocks * n) / c, ELEMENTWISE_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let stride = uniforms.preShape.y / ${c};
        let column = index % stride;
        let first = (index / stride) * ${ROWS_PER_INVOCATION};
        let last = min(first + ${ROWS_PER_INVOCATION}, uniforms.preShape.x);
        let t = theta[column];
        ${prelude}
        var acc = ${T}(0.0);
        for (var b = first; b < last; b++) {
          let i = b * stride + column;
          let u = (pre[i] - t) / uniforms.bandwidth;
          let k = ${T}((u > ${T}(-0.5)) & (u < ${T}(0.5)));
          acc += ${term(T)};
        }
        setOutputAtIndex(index, acc);
      }`,
  });
  const partials = backend.runWebGPUProgram(blockSums, tensors, 'float32', [{ type: 'float32', data: [bandwidth] }]);
  const total = makeProgram({
    key: `${key}_total`,
    outputShape: [n],
    inputs: ['partials'],
    components: c,
    vectorInputs: ['partials'],
    uniforms: 'scale : f32,',
    workgroupSize: COLUMN_WORKGROUP,
    workgroups: workgroupsFor(n / c, COLUMN_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        var acc = ${T}(0.0);
        for (var r = 0; r < uniforms.partialsShape.x; r++) { acc += partials[r * uniforms.size + index]; }
        setOutputAtIndex(index, acc * uniforms.scale);
      }`,
  });
  const out = backend.runWebGPUProgram(total, [partials], 'float32', [{ type: 'float32', data: [scale] }]);
  backend.disposeData(partials.dataId);
  return out;
}

/** ∂θ_j of JumpReLU: Σ_b −(θ_j/ε) · K((z_bj − θ_j)/ε) · dy_bj, the factor applied to each term as the composition does. */
registerWebGPUKernel(THRESHOLD_GRAD, ({ inputs, backend, attrs }) => {
  const { dy, pre, theta } = inputs;
  const { bandwidth } = attrs as { bandwidth: number };
  return columnSums(backend, 'threshold_grad_jumprelu', ['dy', 'pre', 'theta'], [dy, pre, theta], pre, bandwidth, 1,
    () => '(k * dy[i]) * factor', 'let factor = -t / uniforms.bandwidth;');
});

/**
 * Per column, for the Heaviside L0: `count`: scale · #{b : z_bj > θ_j}; `window`: scale · #{b : −½ <
 * (z_bj − θ_j)/ε < ½} (the rectangle kernel's column sums, ∂θ up to its factor).
 */
registerWebGPUKernel(HEAVISIDE_COLUMNS, ({ inputs, backend, attrs }) => {
  const { pre, theta } = inputs;
  const { bandwidth, scale, what } = attrs as { bandwidth: number; scale: number; what: 'count' | 'window' };
  return columnSums(backend, `heaviside_${what}`, ['pre', 'theta'], [pre, theta], pre, bandwidth, scale,
    (T) => (what === 'count' ? `${T}(pre[i] > t)` : 'k'));
});

/** f = z · H(z − θ); z [B, d_sae], θ [d_sae]. */
export function jumpReluForwardWebGPU(z: tf.Tensor2D, theta: tf.Tensor1D): tf.Tensor2D {
  return runKernel(JUMP_RELU_FORWARD, { pre: z, theta });
}

/** ∂z = dy · H(z − θ). */
export function jumpReluGradPreWebGPU(dy: tf.Tensor, z: tf.Tensor2D, theta: tf.Tensor1D): tf.Tensor2D {
  return runKernel(JUMP_RELU_GRAD_PRE, { dy, pre: z, theta });
}

/** Per column of z [B, n]: scale · the number of rows with z > θ (H(z − θ) summed over the batch). */
export function heavisideCountWebGPU(z: tf.Tensor2D, theta: tf.Tensor1D, scale: number): tf.Tensor1D {
  return runKernel(HEAVISIDE_COLUMNS, { pre: z, theta }, { bandwidth: 1, scale, what: 'count' });
}

/** Per column of z [B, n]: scale · Σ_b K((z − θ)/ε), the rectangle kernel summed over the batch. */
export function heavisideWindowWebGPU(z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number, scale: number): tf.Tensor1D {
  return runKernel(HEAVISIDE_COLUMNS, { pre: z, theta }, { bandwidth, scale, what: 'window' });
}

/** ∂θ [d_sae] of JumpReLU: Σ_b −(θ/ε)·K·dy. */
export function thresholdGradWebGPU(dy: tf.Tensor, z: tf.Tensor2D, theta: tf.Tensor1D, bandwidth: number): tf.Tensor1D {
  return runKernel(THRESHOLD_GRAD, { dy, pre: z, theta }, { bandwidth });
}
