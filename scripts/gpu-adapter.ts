// `npx tsx scripts/gpu-adapter.ts` (scripts/gpu-check.sh runs it first): the WebGPU adapter Dawn finds
// in Node, and one small kernel run on it through tfjs's webgpu backend, so that a machine without a
// usable GPU driver stops here with the reason and the fix instead of failing later in the tests.
// Exit status 1 when there is no adapter or the kernel does not run.
import * as tf from '@tensorflow/tfjs';
import { adapterLabel, registerNodeWebGPU } from '../src/cli/nodeWebgpu';

try {
  const a = await registerNodeWebGPU();
  console.log(`WebGPU adapter: ${adapterLabel(a)}`);
  console.log(`  vendor "${a.vendor}", architecture "${a.architecture}", device "${a.device}", description "${a.description}", fallback ${a.fallback}`);
  if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend did not initialise on this adapter');
  const sum = tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4]));
  const got = Array.from(await sum.data()); // data(), not dataSync(): Node has no OffscreenCanvas
  if (got[0] !== 4 || got[1] !== 6) throw new Error(`a kernel on the adapter computed [1, 2] + [3, 4] = [${got.join(', ')}]`);
  const timestamps = Boolean((tf.backend() as unknown as { supportTimestampQuery?: boolean }).supportTimestampQuery);
  console.log(`  a kernel ran on it; timestamp queries ${timestamps ? 'available (the bench times each kernel)' : 'unavailable (the bench profiles list kernels without times)'}`);
} catch (e) {
  // The message names what is missing and the fix (src/cli/nodeWebgpu.ts missingVulkan).
  console.error(`gpu-check: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
