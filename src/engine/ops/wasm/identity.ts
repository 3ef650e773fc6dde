// tfjs's Identity on the wasm backend without the copy. tfjs-backend-wasm's own copies its input,
// and tf.clone, tf.customGrad and autodiff call it on [B, d_sae] tensors several times a training
// step (about 1.3 ms each at [1024, 2048] on two threads, a tenth of a small ReLU step's time
// outside its products). No kernel writes into its inputs — tfjs's do not, and those of
// registered.ts and ../heapKernel.ts write fresh outputs — so sharing the data, as the cpu
// backend's Identity and wasm's own Reshape do, gives the same tensor.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const sharing: tf.KernelConfig['kernelFunc'] = (args) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  // Strings keep tfjs's path (their bytes live outside the heap).
  if (x.dtype === 'string') return copying!(args);
  (args.backend as unknown as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};
let copying: tf.KernelConfig['kernelFunc'] | undefined;

/**
 * Put the sharing Identity in place of tfjs-backend-wasm's. Called once the wasm backend is up
 * (engine/backend.ts, the kernels' first use in kernelModule.ts): tfjs-backend-wasm registers its
 * kernels when it is imported, and importing it here would make wasm the default backend of every
 * importer. Idempotent.
 */
export function shareWasmIdentity(): void {
  const current = tf.getKernel('Identity', 'wasm');
  if (!current || current.kernelFunc === sharing) return;
  copying = current.kernelFunc;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharing });
}
