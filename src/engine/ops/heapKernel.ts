// Kernels written in JavaScript over the wasm backend's heap (layout.ts, reduce.ts): where a tfjs-wasm
// kernel is slow for a copy or a sum, the same work done on views of the heap is several times
// faster, without moving the data out of wasm memory.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Registers kernel `name` on the wasm backend for one float32 input x: `outShape` gives the output's
 * shape, `compute` fills it from x. Returns the function that runs it, which returns null where the
 * kernel does not apply (another backend, another dtype), for the caller's tfjs composition.
 */
export function heapKernel<A extends object = Record<string, never>>(
  name: string,
  outShape: (shape: number[], attrs: A) => number[],
  compute: (src: Float32Array, dst: Float32Array, shape: number[], attrs: A) => void,
): (x: tf.Tensor, attrs?: A) => tf.Tensor | null {
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x } = inputs as { x: tf.TensorInfo };
      const wasm = backend as unknown as BackendWasm;
      const a = attrs as unknown as A;
      // Allocate first: a heap that grows detaches views taken before.
      const out = wasm.makeOutput(outShape(x.shape, a), 'float32');
      compute(wasm.typedArrayFromHeap(x) as Float32Array, wasm.typedArrayFromHeap(out) as Float32Array, x.shape, a);
      return out;
    },
  });
  return (x, attrs) => (tf.getBackend() === 'wasm' && x.dtype === 'float32'
    ? tf.engine().runKernel(name, { x } as unknown as tf.NamedTensorMap, (attrs ?? {}) as unknown as tf.NamedAttrMap) as tf.Tensor
    : null);
}
