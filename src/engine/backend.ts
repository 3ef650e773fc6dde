// Picks the tfjs backend: the first of webgpu → webgl → wasm → cpu that initialises and passes a
// small numerical smoke test, and reports why each earlier one was skipped. The caller registers
// the backends it can offer (the worker imports webgpu and wasm; Node offers wasm and cpu).
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../worker/protocol';

export const BACKEND_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendChoice {
  backend: BackendName;
  skipped: Partial<Record<BackendName, string>>;
}

export interface BackendOptions {
  /** Try this one first (user override). */
  prefer?: BackendName;
  /** Candidates in order; defaults to BACKEND_ORDER. */
  order?: readonly BackendName[];
  /**
   * Checks run before a backend is tried; a returned string is the reason to skip it (for example
   * a software-only WebGPU adapter, which is far slower than wasm on the same CPU).
   */
  precheck?: Partial<Record<BackendName, () => Promise<string | null>>>;
}

/** A matmul + ReLU + reduction whose exact answer we know; catches broken drivers and shaders. */
async function smokeTest(): Promise<string | null> {
  const out = tf.tidy(() => {
    const a = tf.tensor2d([1, -2, 3, 4, 5, -6], [2, 3]);
    const b = tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2]);
    return tf.sum(tf.relu(tf.matMul(a, b)), 1); // rows: [4, 1] → 5, [-2, -1] → 0
  });
  const v = await out.data();
  out.dispose();
  return Math.abs(v[0] - 5) < 1e-4 && Math.abs(v[1]) < 1e-4 ? null : `wrong result in a smoke test (${Array.from(v).join(', ')})`;
}

export async function selectBackend(opts: BackendOptions = {}): Promise<BackendChoice> {
  const base = opts.order ?? BACKEND_ORDER;
  const order = opts.prefer && base.includes(opts.prefer) ? [opts.prefer, ...base.filter((b) => b !== opts.prefer)] : [...base];
  const skipped: Partial<Record<BackendName, string>> = {};
  const registered = new Set(Object.keys(tf.engine().registryFactory));
  for (const name of order) {
    if (!registered.has(name)) { skipped[name] = 'not available in this environment'; continue; }
    try {
      const reason = await opts.precheck?.[name]?.();
      if (reason) { skipped[name] = reason; continue; }
      const ok = await tf.setBackend(name);
      if (!ok) { skipped[name] = 'failed to initialise'; continue; }
      await tf.ready();
      const bad = await smokeTest();
      if (bad) { skipped[name] = bad; continue; }
      return { backend: name, skipped };
    } catch (e) {
      skipped[name] = e instanceof Error ? e.message : String(e);
    }
  }
  throw new Error(`no tfjs backend works here: ${Object.entries(skipped).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
}
