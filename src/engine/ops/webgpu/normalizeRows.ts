// A fused WebGPU kernel for the unit-norm decoder constraint (normalizeDecoderRows in
// variants/linear.ts). The composition squares, sums each row, takes the square root, clamps it and
// divides in five dispatches with two [d_sae, d_in] intermediates; here one invocation per row sums
// its squares and writes the scaled row: one dispatch.
//   w_i ← w_i / max(√(Σ_j w_ij²), 1e-8)   (a zero row stays zero)
// One invocation per row, not a workgroup per row with a shared-memory reduction: on a software
// adapter every workgroup barrier is expensive (the composition's own row sum, built that way, is
// most of its time), and d_sae rows are enough invocations to fill a GPU too.
import * as tf from '@tensorflow/tfjs';
import { makeProgram, registerWebGPUKernel, runKernel, wgslType, workgroupsFor } from './program';

const NORMALIZE_ROWS = 'SaeNormalizeRows';

const WORKGROUP = 64;

registerWebGPUKernel(NORMALIZE_ROWS, ({ inputs, backend, attrs }) => {
  const { weights } = inputs;
  const { minNorm } = attrs as { minNorm: number };
  const [rows, cols] = weights.shape;
  // Rows of whole vec4s are read and written four values at a time.
  const c = cols % 4 === 0 ? 4 : 1;
  const T = wgslType(c);
  const program = makeProgram({
    key: 'normalize_rows',
    outputShape: weights.shape,
    inputs: ['weights'],
    components: c,
    vectorInputs: ['weights'],
    uniforms: 'minNorm : f32,',
    workgroupSize: WORKGROUP,
    workgroups: workgroupsFor(rows, WORKGROUP),
    code: `
      fn main(index : i32) {
        if (index >= uniforms.weightsShape.x) { return; }
        let width = uniforms.weightsShape.y / ${c};
        let base = index * width;
        var acc = ${T}(0.0);
        for (var j = 0; j < width; j++) {
          let w = weights[base + j];
          acc += w * w;
        }
        let norm = max(sqrt(${c === 4 ? 'acc.x + acc.y + acc.z + acc.w' : 'acc'}), uniforms.minNorm);
        for (var j = 0; j < width; j++) {
          setOutputAtIndex(base + j, weights[base + j] / norm);
        }
      }`,
  });
  return backend.runWebGPUProgram(program, [weights], 'float32', [{ type: 'float32', data: [minNorm] }]);
});

/** w [rows, d] with each row divided by max(its L2 norm, minNorm). */
export function normalizeRowsWebGPU(w: tf.Tensor2D, minNorm: number): tf.Tensor2D {
  return runKernel(NORMALIZE_ROWS, { weights: w }, { minNorm });
}
