// The engine's own wasm kernels (assembly/kernels.ts), instantiated on tfjs-backend-wasm's memory so
// that they read and write tensors where tfjs keeps them, and a pool of helper threads that run a
// share of each call on the same memory.
//
// Why our own: XNNPACK (tfjs-backend-wasm's products) repacks a weight operand that changed since
// the last call — every training step — and has no sparse products. With a fused multiply-add
// (relaxed SIMD) our 3 × 12 product kernel reaches about 43 GFLOP/s a core here, XNNPACK 35 on two
// threads at the encoder's shape (768 × 24,576, batch 1,024; docs/benchmark.md).
//
// Threads: the pool's helpers are plain workers started from a short script (THREAD_SCRIPT) by a
// spawner the environment provides (setKernelThreadSpawner: a Web Worker in the engine worker, a
// worker_threads Worker in Node); they instantiate the same module on the same shared memory and
// wait on a control block of shared integers. A call splits its work items into one range per
// thread; the calling thread runs the first and waits for the others. Where the memory is not
// shared (tfjs's one-thread build) or no spawner was given, every call runs on the calling thread.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { shareWasmIdentity } from './identity';
import { KERNEL_WASM } from './kernels.generated';

/** The module's exports; pointers are byte offsets into tfjs's heap. */
export interface KernelExports {
  pack_panels: (b: number, bp: number, k: number, n: number, start: number, end: number, thread: number) => void;
  pack_panels_t: (bt: number, bp: number, k: number, n: number, start: number, end: number, thread: number) => void;
  gemm_panels: (a: number, bp: number, bias: number, c: number, m: number, k: number, n: number, epilogue: number, mask: number, start: number, end: number, thread: number) => void;
  topk_rows: (z: number, n: number, k: number, eligible: number, idx: number, val: number, scratch: number, start: number, end: number, thread: number) => void;
  topk_scratch_words: (n: number) => number;
  threshold_counts: (z: number, n: number, theta: number, bandwidth: number, counts: number, start: number, end: number, thread: number) => void;
  threshold_entries: (z: number, n: number, theta: number, bandwidth: number, ka: number, activeIdx: number, activeVal: number, kw: number, windowIdx: number, windowMark: number, start: number, end: number, thread: number) => void;
  batch_kth: (z: number, count: number, t: number, hist: number) => number;
  at_least_counts: (z: number, n: number, thr: number, counts: number, start: number, end: number, thread: number) => void;
  at_least_entries: (z: number, n: number, thr: number, kk: number, idx: number, val: number, start: number, end: number, thread: number) => void;
  sparse_decode: (idx: number, val: number, kk: number, w: number, d: number, out: number, start: number, end: number, thread: number) => void;
  row_dots: (idx: number, kk: number, dy: number, w: number, d: number, out: number, mask: number, start: number, end: number, thread: number) => void;
  entry_column_sums: (idx: number, val: number, n: number, countAbove: number, thr: number, partials: number, start: number, end: number, thread: number) => void;
  group_by_latent: (idx: number, val: number, entries: number, kk: number, n: number, offsets: number, rows: number, vals: number) => number;
  outer_rows: (offsets: number, rows: number, vals: number, dy: number, d: number, out: number, start: number, end: number, thread: number) => void;
  outer_cols: (offsets: number, rows: number, vals: number, x: number, d: number, n: number, out: number, scratch: number, start: number, end: number, thread: number) => void;
  adam: (p: number, g: number, scale: number, m: number, v: number, pOut: number, mOut: number, vOut: number, beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, lrOverC1: number, c2: number, eps: number, start: number, end: number, thread: number) => void;
  normalize_rows: (w: number, out: number, d: number, eps: number, start: number, end: number, thread: number) => void;
  relu_grad: (dy: number, y: number, out: number, start: number, end: number, thread: number) => void;
  count_above: (x: number, rows: number, n: number, thr: number, out: number, start: number, end: number, thread: number) => void;
  transpose: (x: number, out: number, m: number, n: number, start: number, end: number, thread: number) => void;
  add_row: (x: number, v: number, out: number, d: number, subtract: number, start: number, end: number, thread: number) => void;
  sum_squares: (x: number, start: number, end: number) => number;
  column_sums: (x: number, rows: number, n: number, sums: number, out: number, start: number, end: number, thread: number) => void;
}

/** The kernels split across threads: every one ends with (start, end, thread). */
export type SplitKernel = Exclude<keyof KernelExports, 'group_by_latent' | 'sum_squares' | 'batch_kth' | 'topk_scratch_words'>;
const SPLIT_KERNELS: SplitKernel[] = ['pack_panels', 'pack_panels_t', 'gemm_panels', 'topk_rows', 'threshold_counts', 'threshold_entries', 'at_least_counts', 'at_least_entries', 'sparse_decode', 'row_dots', 'outer_rows', 'outer_cols', 'adam', 'normalize_rows', 'relu_grad', 'count_above', 'transpose', 'column_sums', 'add_row', 'entry_column_sums'];

/** What a helper thread needs from its environment: a started worker running `script`. */
export interface KernelThread {
  postMessage(message: unknown): void;
  terminate(): void;
}
export type KernelThreadSpawner = (script: string) => KernelThread;

let spawner: KernelThreadSpawner | undefined;
let wantedThreads = 1;

/**
 * Lets the kernels use `threads` threads in all (the calling one and threads − 1 helpers), started
 * with `spawn`; the pool starts on the next startKernelThreads.
 */
export function setKernelThreadSpawner(spawn: KernelThreadSpawner | undefined, threads: number): void {
  spawner = spawn;
  wantedThreads = Math.max(1, Math.floor(threads));
}

// Control block (Int32 slots; the arguments are Float64 from byte ARGS_OFFSET).
const GENERATION = 0, PENDING = 1, FUNCTION = 2, ARG_COUNT = 3, FAILED = 4, GRAIN = 5, READY = 6;
const ARGS_OFFSET = 64;
const CONTROL_BYTES = 4096;

/**
 * A helper thread's whole program. It runs in a Web Worker (self.onmessage) or a Node worker
 * started with eval (require('worker_threads')), gets the module, the memory and the control block
 * once, and then runs its share of every call until told to stop (function −1).
 */
const THREAD_SCRIPT = `'use strict';
const onFirst = typeof require === 'function'
  ? (f) => require('worker_threads').parentPort.once('message', f)
  : (f) => { self.onmessage = (e) => { self.onmessage = null; f(e.data); }; };
onFirst(({ module, memory, control, names, thread }) => {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, ${ARGS_OFFSET});
  const fns = names.map((n) => exports[n]);
  // The generation is read before announcing readiness: a call posted right after is then seen.
  let seen = Atomics.load(ctl, ${GENERATION});
  Atomics.add(ctl, ${READY}, 1);
  for (;;) {
    Atomics.wait(ctl, ${GENERATION}, seen);
    seen = Atomics.load(ctl, ${GENERATION});
    const id = Atomics.load(ctl, ${FUNCTION});
    if (id < 0) return;
    try {
      const n = ctl[${ARG_COUNT}], grain = ctl[${GRAIN}];
      const a = Array.from(args.subarray(0, n));
      const start = args[n + 2 * thread], end = args[n + 2 * thread + 1];
      for (let s = start; s < end; s += grain) fns[id](...a, s, Math.min(end, s + grain), thread);
    } catch (e) {
      Atomics.store(ctl, ${FAILED}, 1);
    }
    if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
  }
});
`;

interface Pool {
  threads: KernelThread[];
  control: Int32Array;
  args: Float64Array;
}

/** One instance per tfjs heap: the module on that memory, and its helper threads once started. */
export class WasmKernels {
  readonly exports: KernelExports;
  /** Whether the products use a fused multiply-add (relaxed SIMD). */
  readonly fma: boolean;
  private pool: Pool | undefined;
  private starting: Promise<void> | undefined;

  constructor(readonly memory: WebAssembly.Memory, private readonly module: WebAssembly.Module, fma: boolean) {
    this.fma = fma;
    this.exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  }

  /** Threads a call runs on (1 until the helpers have started). */
  get threads(): number {
    return 1 + (this.pool?.threads.length ?? 0);
  }

  /** The heap's bytes; taken afresh at each use, since a growing heap replaces its buffer. */
  get heap(): ArrayBuffer | SharedArrayBuffer {
    return this.memory.buffer;
  }

  /**
   * Starts threads − 1 helpers where the memory is shared and a spawner was given; resolves when they
   * are ready (or were not started: then calls stay on one thread).
   */
  startThreads(): Promise<void> {
    if (this.starting) return this.starting;
    const helpers = wantedThreads - 1;
    if (!spawner || helpers < 1 || !(this.memory.buffer instanceof SharedArrayBuffer)) return (this.starting = Promise.resolve());
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const ctl = new Int32Array(control);
    const threads: KernelThread[] = [];
    for (let t = 1; t <= helpers; t++) {
      const thread = spawner(THREAD_SCRIPT);
      thread.postMessage({ module: this.module, memory: this.memory, control, names: SPLIT_KERNELS, thread: t });
      threads.push(thread);
    }
    this.starting = (async () => {
      const t0 = Date.now();
      while (Atomics.load(ctl, READY) < helpers && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 2));
      if (Atomics.load(ctl, READY) < helpers) { threads.forEach((t) => t.terminate()); return; }
      this.pool = { threads, control: ctl, args: new Float64Array(control, ARGS_OFFSET) };
    })();
    return this.starting;
  }

  /** Stops the helpers (calls go on, on one thread). */
  stopThreads(): void {
    const pool = this.pool;
    if (!pool) return;
    this.pool = undefined;
    this.starting = undefined;
    Atomics.store(pool.control, FUNCTION, -1);
    Atomics.add(pool.control, GENERATION, 1);
    Atomics.notify(pool.control, GENERATION);
    pool.threads.forEach((t) => t.terminate());
  }

  /**
   * Runs kernel `name` over work items [0, total) with `args` before (start, end, thread), split into
   * one range per thread; each range is done in calls of at most `grain` items, so that the first,
   * unoptimised calls of a kernel (V8 compiles wasm fast first and optimised later) stay short.
   * `align` rounds range boundaries to a multiple (kernels whose items must stay in blocks).
   * `minPerThread`: fewer items than this per thread are not worth waking a helper (about 0.1 ms).
   */
  run(name: SplitKernel, args: number[], total: number, { grain = Math.max(1, Math.ceil(total / 64)), align = 1, minPerThread = 1 }: { grain?: number; align?: number; minPerThread?: number } = {}): void {
    if (total <= 0) return;
    const fn = this.exports[name] as (...a: number[]) => void;
    const pool = this.pool;
    const threads = pool && total >= 2 ? Math.max(1, Math.min(this.threads, total, Math.floor(total / minPerThread))) : 1;
    const bounds: number[] = [0];
    for (let t = 1; t < threads; t++) bounds.push(Math.min(total, Math.ceil((total * t) / threads / align) * align));
    bounds.push(total);
    if (pool && threads > 1) {
      const { control, args: slots } = pool;
      args.forEach((a, i) => { slots[i] = a; });
      for (let t = 0; t < pool.threads.length; t++) {
        const helper = t + 1;
        slots[args.length + 2 * helper] = helper < threads ? bounds[helper] : 0;
        slots[args.length + 2 * helper + 1] = helper < threads ? bounds[helper + 1] : 0;
      }
      control[FUNCTION] = SPLIT_KERNELS.indexOf(name);
      control[ARG_COUNT] = args.length;
      control[GRAIN] = grain;
      control[FAILED] = 0;
      Atomics.store(control, PENDING, pool.threads.length);
      Atomics.add(control, GENERATION, 1);
      Atomics.notify(control, GENERATION);
    }
    for (let s = bounds[0]; s < bounds[1]; s += grain) fn(...args, s, Math.min(bounds[1], s + grain), 0);
    if (pool && threads > 1) {
      for (;;) {
        const pending = Atomics.load(pool.control, PENDING);
        if (pending === 0) break;
        Atomics.wait(pool.control, PENDING, pending);
      }
      if (pool.control[FAILED]) throw new Error(`wasm kernel ${name} failed on a helper thread`);
    }
  }
}

let compiled: { shared: boolean; module: WebAssembly.Module; fma: boolean }[] = [];
let current: WasmKernels | undefined;

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function moduleFor(shared: boolean): { module: WebAssembly.Module; fma: boolean } {
  const found = compiled.find((c) => c.shared === shared);
  if (found) return found;
  const withFma = decode(shared ? KERNEL_WASM.sharedFma : KERNEL_WASM.unsharedFma);
  // Relaxed SIMD is where the fused multiply-add comes from; without it, the plain build.
  const fma = WebAssembly.validate(withFma);
  const module = new WebAssembly.Module(fma ? withFma : decode(shared ? KERNEL_WASM.shared : KERNEL_WASM.unshared));
  const entry = { shared, module, fma };
  compiled = [...compiled, entry];
  return entry;
}

/** tfjs-backend-wasm's memory: imported (threaded build) or exported (one-thread build). */
function backendMemory(backend: BackendWasm): WebAssembly.Memory | undefined {
  const wasm = backend.wasm as unknown as { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  const memory = wasm.wasmMemory ?? wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/**
 * The size of the wasm backend's memory in bytes (undefined on other backends). It only grows, so
 * this is the high-water mark of everything run on it: what memoryBudget.ts estimates for wasm.
 */
export function wasmMemoryBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return backendMemory(tf.backend() as BackendWasm)?.buffer.byteLength;
}

/**
 * The kernels on the wasm backend's memory, or null when the backend is not wasm or its memory
 * cannot be reached. Made on first use for each heap.
 */
export function wasmKernels(backend?: tf.KernelBackend): WasmKernels | null {
  const b = (backend ?? (tf.getBackend() === 'wasm' ? tf.backend() : undefined)) as BackendWasm | undefined;
  if (!b || !('wasm' in b)) return null;
  const memory = backendMemory(b);
  if (!memory) return null;
  if (current?.memory === memory) return current;
  shareWasmIdentity();
  current?.stopThreads();
  const { module, fma } = moduleFor(memory.buffer instanceof SharedArrayBuffer);
  current = new WasmKernels(memory, module, fma);
  // The helpers start in the background; calls run on one thread until they are ready.
  void current.startThreads();
  return current;
}

/** Starts the helper threads of the current wasm backend's kernels (no-op elsewhere). */
export async function startKernelThreads(): Promise<void> {
  await wasmKernels()?.startThreads();
}

/** The byte offset of a tensor's data in the wasm heap. */
export function heapOffset(backend: BackendWasm, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}
