// Picks the tfjs backend: the first of webgpu → webgl → wasm → cpu that initialises and passes a
// small numerical smoke test, and reports why each earlier one was skipped. The caller registers
// the backends it can offer (the worker imports webgpu and wasm; Node offers wasm and cpu).
import * as tf from '@tensorflow/tfjs';
import { shareWasmIdentity } from './ops/wasm/identity';
import type { BackendName } from './types';

export const BACKEND_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export interface BackendChoice {
  backend: BackendName;
  /** Why each earlier backend was not used (and, for the chosen one, why its first try failed). */
  skipped: Partial<Record<BackendName, string>>;
  /** Set when the chosen backend runs in its fallback configuration (the retry's note). */
  retried?: string;
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
  /**
   * A backend whose start takes longer than this is given up (default: wait for ever). The case
   * in point: tfjs-backend-wasm's threaded build waits for ever when its thread workers cannot
   * start.
   */
  initTimeoutMs?: number;
  /**
   * After a backend failed to start (error or timeout), prepare one more try of it in another
   * configuration; returns a note to add to the reason, or null when there is no other try (e.g.
   * wasm without threads).
   */
  retry?: Partial<Record<BackendName, () => string | null>>;
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
    } catch (e) {
      skipped[name] = e instanceof Error ? e.message : String(e);
      continue;
    }
    const factory = tf.engine().registryFactory[name];
    const first = await tryBackend(name, opts.initTimeoutMs);
    if (first === null) return { backend: name, skipped };
    const note = factory ? opts.retry?.[name]?.() : null;
    if (!note || !factory) { skipped[name] = first; continue; }
    // Start it afresh: a backend that never finished starting is dropped and registered again.
    if (name in tf.engine().registryFactory) tf.removeBackend(name);
    tf.registerBackend(name, factory.factory, factory.priority);
    const second = await tryBackend(name, opts.initTimeoutMs);
    if (second === null) return { backend: name, skipped: { ...skipped, [name]: `${first}; ${note}` }, retried: note };
    skipped[name] = `${first}; then ${note}: ${second}`;
  }
  throw new Error(`no tfjs backend works here: ${Object.entries(skipped).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
}

/**
 * Starts one backend, makes it the active one and checks it with the smoke test; null when it
 * works, else why not. A start that takes longer than `timeoutMs` is given up.
 */
export async function tryBackend(name: BackendName, timeoutMs?: number): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const start = (async () => {
      if (!(await tf.setBackend(name))) return 'failed to initialise';
      await tf.ready();
      if (name === 'wasm') shareWasmIdentity();
      return smokeTest();
    })();
    if (timeoutMs === undefined) return await start;
    const timeout = new Promise<string>((resolve) => { timer = setTimeout(() => resolve(`did not start within ${Math.round(timeoutMs / 1000)} s`), timeoutMs); });
    const result = await Promise.race([start, timeout.then((why) => ({ timedOut: why }))]);
    if (typeof result === 'object' && result !== null) {
      abandonPendingStart();
      return result.timedOut;
    }
    return result;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Forget a backend start that never finished. tfjs keeps the pending start and makes tf.ready()
 * (and so every later backend choice) wait for it; its own removeBackend drops it only for the
 * active backend. Same two fields, same effect: a late result is ignored, nothing waits for it.
 */
function abandonPendingStart(): void {
  const engine = tf.engine() as unknown as { pendingBackendInit: Promise<boolean> | null; pendingBackendInitId: number };
  engine.pendingBackendInit = null;
  engine.pendingBackendInitId++;
}
