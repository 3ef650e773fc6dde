// tfjs-wasm's own matrix-product speed at the shapes the native sgemm table lists, where it runs:
// in Node (one thread: tfjs-backend-wasm runs no threads there) and in the engine worker of headless
// Chromium (its thread pool when the page is cross-origin isolated). Two figures per shape: with the
// right operand reused, and with a fresh right operand each call, as in training, where XNNPACK
// repacks the weights of every product (its packed copy is cached per tensor). Against NumPy's
// figure for the same shape this bounds what any wasm training step can reach.
import * as tf from '@tensorflow/tfjs';

export interface SgemmShape { shape: string; m: number; k: number; n: number }
export interface WasmSgemmRow extends SgemmShape { reusedGflops: number; freshGflops: number }

function timeIt(fn: () => void, minMs = 250): number {
  fn(); fn();
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) { fn(); calls++; }
  return (performance.now() - t0) / calls;
}

/**
 * The shapes are [m, k] × [k, n]; a transposed-A shape of the native table is timed on a stored transpose.
 * Always on wasm (it switches there and back), so its synchronous reads never meet a webgpu tensor,
 * which Node cannot read synchronously.
 */
export async function wasmSgemm(shapes: SgemmShape[]): Promise<WasmSgemmRow[]> {
  const before = tf.getBackend();
  await tf.setBackend('wasm');
  const out: WasmSgemmRow[] = [];
  try {
    for (const { shape, m, k, n } of shapes) {
      const a = tf.randomNormal([m, k]);
      const b = tf.randomNormal([k, n]);
      const flop = 2 * m * k * n;
      const reused = timeIt(() => { const c = tf.matMul(a, b); c.dataSync(); c.dispose(); });
      // Each call on a different copy of b, made before the clock starts: every product repacks.
      const copies = Array.from({ length: 8 }, () => tf.add(b, 0));
      copies.forEach((c) => c.dataSync());
      const times: number[] = [];
      for (const bb of copies) {
        const t0 = performance.now();
        const c = tf.matMul(a, bb);
        c.dataSync();
        times.push(performance.now() - t0);
        c.dispose();
      }
      copies.forEach((c) => c.dispose());
      const fresh = times.sort((x, y) => x - y)[times.length >> 1];
      out.push({ shape, m, k, n, reusedGflops: flop / reused / 1e6, freshGflops: flop / fresh / 1e6 });
      a.dispose(); b.dispose();
    }
  } finally {
    if (before && before !== 'wasm') await tf.setBackend(before);
  }
  return out;
}
