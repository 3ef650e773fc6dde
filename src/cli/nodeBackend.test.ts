// The CLI's wasm backend in Node: the package's threaded build started on worker_threads (the
// package itself never uses threads in Node), its products against plain arrays, the one-thread
// fallback, and a script that started the threads still exiting by itself.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { nodeCores, selectNodeBackend, useNodeWasmThreads } from './nodeBackend';
import { fusedProduct } from '../engine/ops/matmul';
import { sumRows } from '../engine/ops/reduce';
import { entrySumsAgainstLoops, values } from '../engine/testing';
import { wasmKernels } from '../engine/ops/wasm/kernelModule';

function plainProduct(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const x = a[i * k + p];
    for (let j = 0; j < n; j++) c[i * n + j] += x * b[p * n + j];
  }
  return c;
}

async function productMatches(m: number, k: number, n: number): Promise<number> {
  const a = values(m * k, m + k), b = values(k * n, 7 * n + 1);
  const got = tf.tidy(() => tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])));
  const out = await got.data();
  got.dispose();
  const want = plainProduct(a, b, m, k, n);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(out[i] - want[i]));
  return worst;
}

const cores = nodeCores();

describe('wasm threads in Node', () => {
  afterAll(() => { vi.restoreAllMocks(); });

  // First, before a worker script has been written: its temporary directory cannot be made.
  it('a threaded start that fails falls back to the one-thread build and says so', async () => {
    const tmp = vi.spyOn(os, 'tmpdir').mockReturnValue(path.join('/nonexistent', 'sae-workbench-test'));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {}); // tfjs logs the failed start
    const choice = await selectNodeBackend('wasm', { threads: 2 });
    tmp.mockRestore();
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
    expect(choice.backend).toBe('wasm');
    expect(choice.retried).toMatch(/^retried on one thread \(the threaded build: ENOENT: no such file or directory, mkdtemp '\/nonexistent\/sae-workbench-test/);
    expect(choice.skipped.wasm).toBe(`failed to initialise; ${choice.retried}`);
    expect(getThreadsCount()).toBe(1);
    expect(await productMatches(33, 70, 65)).toBeLessThan(1e-4);
  });

  it(`runs XNNPACK on every core (${cores} here), with products equal to plain arrays`, async () => {
    const choice = await selectNodeBackend('wasm');
    expect(choice).toEqual({ backend: 'wasm', skipped: {} });
    expect(getThreadsCount()).toBe(Math.min(cores, 8)); // the build has 8 thread workers
    // Large enough that XNNPACK splits it between threads; odd sizes exercise the edge tiles.
    expect(await productMatches(256, 129, 515)).toBeLessThan(1e-3);
    expect(await productMatches(1, 3, 2)).toBeLessThan(1e-6);
  });

  it('splits the engine’s own kernels across its threads, with the results of plain loops', async () => {
    const kernels = wasmKernels();
    expect(kernels?.threads).toBe(Math.min(cores, 8));
    // A product with a ReLU as it stores (split by panels), column sums (by columns) and entry
    // sums (by entries, each thread into sums of its own): large enough to be split.
    const [m, k, n] = [300, 64, 1000];
    const a = values(m * k, 3), b = values(k * n, 4);
    const want = plainProduct(a, b, m, k, n);
    const f = fusedProduct(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n]), { relu: true });
    const got = f.dataSync();
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - Math.max(want[i], 0)));
    expect(worst).toBeLessThan(1e-4);
    const sums = sumRows(f).dataSync();
    for (let j = 0; j < n; j += 97) {
      let s = 0;
      for (let i = 0; i < m; i++) s += got[i * n + j];
      expect(Math.abs(sums[j] - s)).toBeLessThan(1e-3);
    }
    const { worstSum, counts, wantCounts } = entrySumsAgainstLoops(1024, 256, 4096, 5);
    expect(worstSum).toBeLessThan(1e-4);
    expect(counts).toEqual(wantCounts);
    f.dispose();
  });

  it('keeps the running backend for the same count, and runs the package build for one thread', async () => {
    const running = tf.backend();
    useNodeWasmThreads(cores);
    await tf.setBackend('wasm');
    expect(tf.backend()).toBe(running);
    await selectNodeBackend('wasm', { threads: 1 });
    expect(tf.backend()).not.toBe(running);
    expect(getThreadsCount()).toBe(1);
    expect(await productMatches(64, 64, 64)).toBeLessThan(1e-4);
  });

  it('a script that started the threads exits by itself when it is done', () => {
    // Inside the project, so that the script resolves its packages from node_modules.
    mkdirSync(path.resolve('node_modules/.cache'), { recursive: true });
    const dir = mkdtempSync(path.resolve('node_modules/.cache/sae-threads-exit-'));
    const script = path.join(dir, 'exits.mts');
    const backendModule = path.resolve('src/cli/nodeBackend.ts');
    writeFileSync(script, [
      "import * as tf from '@tensorflow/tfjs';",
      "import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';",
      `const { selectNodeBackend } = await import(${JSON.stringify(backendModule)});`,
      "await selectNodeBackend('wasm', { threads: 2 });",
      'const c = tf.matMul(tf.ones([128, 128]), tf.ones([128, 128]));',
      "console.log(`threads ${getThreadsCount()} sum ${(await tf.sum(c).data())[0]}`);",
    ].join('\n'));
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(run.error).toBeUndefined(); // a timeout would be reported here
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(`threads ${Math.min(cores, 2)} sum ${128 ** 3}`);
  });
});
