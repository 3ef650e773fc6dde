// selectBackend's start-up guards: a backend that never finishes starting (tfjs-backend-wasm's
// threaded build when its thread workers cannot load) is given up after the timeout, and a retry
// hook gets one more start in another configuration. Fake backends stand in for the real ones:
// their factories hang, fail, or hand out the cpu backend.
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BackendName } from './types';
import { selectBackend } from './backend';

const FAKE = 'webgpu' as BackendName; // a name selectBackend knows; Node has no real webgpu
const registered: string[] = [];
function register(name: string, factory: () => Promise<tf.KernelBackend> | tf.KernelBackend) {
  if (name in tf.engine().registryFactory) tf.removeBackend(name);
  tf.registerBackend(name, factory, 1);
  registered.push(name);
}
afterEach(() => {
  for (const n of registered.splice(0)) if (n in tf.engine().registryFactory) tf.removeBackend(n);
  if (!('cpu' in tf.engine().registryFactory)) tf.registerBackend('cpu', () => new MathBackendCPU(), 1);
});

describe('selectBackend', () => {
  it('gives up a backend that does not start within the timeout and goes on to the next', async () => {
    register(FAKE, () => new Promise<tf.KernelBackend>(() => { /* never */ }));
    const t0 = Date.now();
    const choice = await selectBackend({ order: [FAKE, 'cpu'], initTimeoutMs: 300 });
    expect(choice.backend).toBe('cpu');
    expect(choice.skipped[FAKE]).toBe('did not start within 0 s');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('retries once in the configuration the retry hook prepares, and reports both tries', async () => {
    // The cpu backend's own kernels, behind a factory that hangs until the retry hook flips it.
    let mode: 'hang' | 'work' = 'hang';
    register('cpu', () => (mode === 'hang' ? new Promise<tf.KernelBackend>(() => { /* never */ }) : new MathBackendCPU()));
    const choice = await selectBackend({ order: ['cpu'], initTimeoutMs: 300, retry: { cpu: () => { mode = 'work'; return 'retried without threads'; } } });
    expect(choice.backend, JSON.stringify(choice.skipped)).toBe('cpu');
    expect(choice.retried).toBe('retried without threads');
    expect(choice.skipped.cpu).toBe('did not start within 0 s; retried without threads');
    // The retried backend computes (smoke test passed inside selectBackend; check once more here).
    expect(Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync())).toEqual([2, 3]);
  });

  it('a retry that fails too is reported with both reasons; no retry hook means one try', async () => {
    // tfjs reports every failed start on the console: expected here, so captured and counted.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      register(FAKE, () => { throw new Error('no adapter'); });
      const choice = await selectBackend({ order: [FAKE, 'cpu'], initTimeoutMs: 300, retry: { [FAKE]: () => 'retried without threads' } });
      expect(choice.backend).toBe('cpu');
      expect(choice.skipped[FAKE]).toMatch(/failed to initialise; then retried without threads: failed to initialise|no adapter/);
      let calls = 0;
      register(FAKE, () => { calls++; throw new Error('no adapter'); });
      await selectBackend({ order: [FAKE, 'cpu'] });
      expect(calls).toBe(1);
      const failedStarts = warn.mock.calls.filter(([message]) => message === `Initialization of backend ${FAKE} failed`);
      expect(failedStarts.length).toBe(3); // the first try and its retry, then the one try
    } finally {
      warn.mockRestore();
    }
  });
});
