// Fused WebGPU kernels for the Adam update (adam.ts). The composition spends thirteen dispatches
// per parameter (three for m, four for v, six for the step and the subtraction); here there are
// three, one per output: m′ = β₁m + (1−β₁)g, v′ = β₂v + (1−β₂)g², then
// p′ = p − (m′·(lr/c₁)) / (√(v′/c₂) + ε) from the new moments, in the composition's order of
// operations (the WGSL compiler may still fuse a multiply-add, a last-bit difference).
import * as tf from '@tensorflow/tfjs';
import { ELEMENTWISE_WORKGROUP, makeProgram, registerWebGPUKernel, runKernel, workgroupsFor } from './program';

/** 4 values per invocation (vec4) when the tensor splits into whole vec4s, else 1. */
const componentsFor = (t: tf.TensorInfo): 1 | 4 => (tf.util.sizeFromShape(t.shape) % 4 === 0 ? 4 : 1);

const ADAM_MOMENT = 'SaeAdamMoment';
const ADAM_PARAM = 'SaeAdamParam';

/** `squared`: the second moment (of g²); otherwise the first (of g). */
registerWebGPUKernel(ADAM_MOMENT, ({ inputs, backend, attrs }) => {
  const { moment, grad } = inputs;
  const { decay, squared } = attrs as { decay: number; squared: boolean };
  const c = componentsFor(moment);
  const program = makeProgram({
    key: `adam_moment_${squared ? 'second' : 'first'}`,
    outputShape: moment.shape,
    inputs: ['moment', 'grad'],
    components: c,
    vectorInputs: ['moment', 'grad'],
    uniforms: 'decay : f32, gain : f32,',
    workgroupSize: ELEMENTWISE_WORKGROUP,
    workgroups: workgroupsFor(tf.util.sizeFromShape(moment.shape) / c, ELEMENTWISE_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let g = grad[index];
          setOutputAtIndex(index, moment[index] * uniforms.decay + ${squared ? '(g * g)' : 'g'} * uniforms.gain);
        }
      }`,
  });
  return backend.runWebGPUProgram(program, [moment, grad], 'float32', [
    { type: 'float32', data: [decay] },
    { type: 'float32', data: [1 - decay] },
  ]);
});

registerWebGPUKernel(ADAM_PARAM, ({ inputs, backend, attrs }) => {
  const { param, m, v } = inputs;
  const { stepScale, c2, epsilon } = attrs as { stepScale: number; c2: number; epsilon: number };
  const c = componentsFor(param);
  const program = makeProgram({
    key: 'adam_param',
    outputShape: param.shape,
    inputs: ['param', 'm', 'v'],
    components: c,
    vectorInputs: ['param', 'm', 'v'],
    uniforms: 'stepScale : f32, c2 : f32, epsilon : f32,',
    workgroupSize: ELEMENTWISE_WORKGROUP,
    workgroups: workgroupsFor(tf.util.sizeFromShape(param.shape) / c, ELEMENTWISE_WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let step = (m[index] * uniforms.stepScale) / (sqrt(v[index] / uniforms.c2) + uniforms.epsilon);
          setOutputAtIndex(index, param[index] - step);
        }
      }`,
  });
  return backend.runWebGPUProgram(program, [param, m, v], 'float32', [
    { type: 'float32', data: [stepScale] },
    { type: 'float32', data: [c2] },
    { type: 'float32', data: [epsilon] },
  ]);
});

/** β·moment + (1 − β)·g (or ·g² when `squared`). */
export function adamMomentWebGPU(moment: tf.Tensor, grad: tf.Tensor, decay: number, squared: boolean): tf.Tensor {
  return runKernel(ADAM_MOMENT, { moment, grad }, { decay, squared });
}

/** p − (m·stepScale) / (√(v/c₂) + ε), with stepScale = lr/c₁. */
export function adamParamWebGPU(param: tf.Tensor, m: tf.Tensor, v: tf.Tensor, stepScale: number, c2: number, epsilon: number): tf.Tensor {
  return runKernel(ADAM_PARAM, { param, m, v }, { stepScale, c2, epsilon });
}
