// What the fused WebGPU kernels share: the switch that decides whether an op runs them, and the
// plumbing to hand a WGSL program to tfjs-backend-webgpu's runWebGPUProgram.
//
// Only types come from @tensorflow/tfjs-backend-webgpu (erased at build time): these modules are
// also loaded in Node (the CLI, the unit tests), where the webgpu backend must not be imported.
// The kernels are registered under our own names for the 'webgpu' backend only, so on every other
// backend the registry never consults them and the ops keep their tfjs compositions.
import * as tf from '@tensorflow/tfjs';
import type { WebGPUBackend, WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';

let enabled = true;

/**
 * Whether the ops should run their fused kernels now: on the webgpu backend, unless they were
 * switched off (the kernel check computes the plain composition on the same backend that way).
 */
export function useFusedKernels(): boolean {
  return enabled && tf.getBackend() === 'webgpu';
}

/** Switch the fused kernels off (false) or back on; returns the previous setting. */
export function setFusedKernelsEnabled(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

export interface ProgramSpec {
  /** Identifies the WGSL source: everything baked into it that is not a uniform or a shape. */
  key: string;
  outputShape: number[];
  /** The inputs' names in WGSL, in the order the input tensors are passed. */
  inputs: string[];
  /** Extra uniform fields as WGSL struct members (`name : f32,`), in the order of their values. */
  uniforms?: string;
  workgroupSize: number;
  /**
   * Values per array element: 4 makes the output and the inputs named in `vectorInputs` arrays of
   * vec4<f32> (and `uniforms.size` the count of vec4s). Four values per invocation instead of one
   * is what makes elementwise kernels fast on a software adapter, where each invocation costs
   * far more than its arithmetic.
   */
  components?: 1 | 4;
  vectorInputs?: string[];
  /**
   * Values per element of the named inputs where they differ from the rule above: a kernel with
   * one f32 output per row or per entry can still read vec4 inputs.
   */
  inputComponents?: Record<string, 1 | 4>;
  /**
   * Declare the output `result` as array<atomic<i32>> (an int32 output; no setOutputAtIndex): for
   * counters and slots that many invocations claim at once.
   */
  atomic?: boolean;
  /** Workgroups to launch (one dimension; the backend folds it into 2-D beyond the device limit). */
  workgroups: number;
  /**
   * The body after the generated header: it must define `fn main(index : i32)`. `index` is the
   * global invocation index; `workgroupIndex()` is the flat index of the invocation's workgroup.
   */
  code: string;
}

/**
 * A tfjs WebGPU program with a flat dispatch. The backend generates the buffer bindings (output
 * `result`, then each input by name), the `uniforms` struct (with `size`, the output length) and
 * the entry point that calls `main(getGlobalIndex())`.
 */
export function makeProgram(spec: ProgramSpec): WebGPUProgram {
  const code = `
    fn workgroupIndex() -> i32 {
      return i32(workgroupId.z * numWorkgroups.x * numWorkgroups.y + workgroupId.y * numWorkgroups.x + workgroupId.x);
    }
    ${spec.code}`;
  const components = spec.components ?? 1;
  return {
    shaderKey: `sae_${spec.key}_x${components}`,
    outputShape: spec.outputShape,
    variableNames: spec.inputs,
    outputComponent: components,
    variableComponents: spec.inputs.map((name) => spec.inputComponents?.[name] ?? (spec.vectorInputs?.includes(name) ? components : 1)),
    uniforms: spec.uniforms,
    size: true,
    workgroupSize: [spec.workgroupSize, 1, 1],
    dispatchLayout: { x: spec.outputShape.map((_, i) => i) },
    dispatch: [spec.workgroups, 1, 1],
    getUserCode: () => code,
    ...(spec.atomic ? { atomic: true } : {}),
  };
}

/** Workgroups of `workgroupSize` invocations that cover `n` array elements, one each. */
/** Workgroup size of the elementwise and blocked [B, d_sae] kernels (invocations per workgroup). */
export const ELEMENTWISE_WORKGROUP = 128;

export const workgroupsFor = (n: number, workgroupSize: number) => Math.max(1, Math.ceil(n / workgroupSize));

/** The WGSL type of one array element: f32, or vec4<f32> when 4 values are packed. */
export const wgslType = (components: 1 | 4) => (components === 4 ? 'vec4<f32>' : 'f32');

export type KernelFunc = (args: { inputs: Record<string, tf.TensorInfo>; backend: WebGPUBackend; attrs?: tf.NamedAttrMap }) => tf.TensorInfo | tf.TensorInfo[];

/** Register a kernel for the webgpu backend (once: a module evaluated twice must not warn). */
export function registerWebGPUKernel(kernelName: string, kernelFunc: KernelFunc): void {
  if (tf.getKernel(kernelName, 'webgpu')) return;
  tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/** Run a registered kernel on the current backend (the engine tracks the outputs as tensors). */
export function runKernel<T extends tf.Tensor>(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number | string | boolean> = {}): T {
  return tf.engine().runKernel(kernelName, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as T;
}

/**
 * The ordered float key of IEEE-754 bits (larger float ↔ larger unsigned key), and back: the
 * selection kernels find the k-th largest value exactly by radix-selecting on these keys.
 */
export const FLOAT_KEY_WGSL = `
    fn floatKey(x : f32) -> u32 {
      let bits = bitcast<u32>(x);
      return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
    }
    fn keyFloat(key : u32) -> f32 {
      return bitcast<f32>(select(~key, key & 0x7fffffffu, (key & 0x80000000u) != 0u));
    }`;
