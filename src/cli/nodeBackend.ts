// tfjs in Node without tfjs-node (its install downloads a binary): the wasm backend, whose .wasm
// files ship inside the npm package, with the cpu backend as the fallback.
//
// Threads: tfjs-backend-wasm never uses its threaded build in Node (its WASM_HAS_MULTITHREAD_SUPPORT
// flag is false there, tfjs#3830), so the CLI would train on one core of however many. The
// threaded build's Emscripten glue does support Node (pthreads on worker_threads), so
// useNodeWasmThreads registers a 'wasm' backend that starts it from the package's own files:
// - the pthread worker script is a string inside the package (made into a Blob in the browser);
//   here it is written once to a temporary file that the worker_threads load;
// - each thread worker loads the glue by path (mainScriptUrlOrBlob);
// - XNNPACK's thread pool is capped at half the logical cores (it assumes two hyper-threads per
//   core), read from os.cpus() when the module starts: during that start os.cpus() reports every
//   core twice, so the cap is the number of cores (the browser worker does the same with
//   navigator.hardwareConcurrency).
// The kernels stay the package's (they are registered for the backend name 'wasm').
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend, type BackendChoice } from '../engine/backend';
import type { BackendName } from '../engine/types';
import { setKernelThreadSpawner, wasmKernels } from '../engine/ops/wasm/kernelModule';
import { KERNEL_WASM } from '../engine/ops/wasm/kernels.generated';

const require = createRequire(import.meta.url);
const packageDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const THREADED_GLUE = path.join(packageDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
const THREADED_WORKER_SOURCE = path.join(packageDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js');
const WASM_DIR = path.join(packageDir, 'dist');
/** A threaded start that has not finished by then is given up for the one-thread build. */
export const NODE_THREADED_START_TIMEOUT_MS = 60_000;

let wasmPathsSet = false;

/** The package's one-thread (SIMD) wasm backend, loading its .wasm files from node_modules. */
export function useNodeWasmFiles(): void {
  if (wasmPathsSet) return;
  setWasmPaths(WASM_DIR + path.sep);
  wasmPathsSet = true;
  enableRelaxedSimd();
}

/**
 * The engine's wasm kernels multiply with relaxed SIMD's fused multiply-add (src/engine/ops/wasm/):
 * shipped in V8 from 11.4, behind a flag in Node 20's V8 11.3. Setting the flag before the first
 * compile is enough; where even the flag does not help, the kernels use their plain build.
 */
function enableRelaxedSimd(): void {
  const probe = Buffer.from(KERNEL_WASM.unsharedFma, 'base64');
  if (!WebAssembly.validate(probe)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** Helper threads for the engine's wasm kernels: worker_threads that do not keep the process alive. */
function nodeKernelThread(script: string) {
  const worker = new Worker(script, { eval: true });
  worker.unref();
  return { postMessage: (m: unknown) => worker.postMessage(m), terminate: () => { void worker.terminate(); } };
}

/** Every core this process may use. */
export function nodeCores(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

interface EmscriptenWasmModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  tfjs?: Record<string, (...a: number[]) => number>;
  PThread?: { runningWorkers: { unref?: () => void }[]; terminateAllThreads(): void };
}
type ThreadedFactory = (config: Record<string, unknown>) => Promise<EmscriptenWasmModule>;

let workerScript: string | null = null;

/** The pthread worker script as a file worker_threads can load; removed when the process exits. */
function threadWorkerFile(): string {
  if (workerScript) return workerScript;
  const { wasmWorkerContents } = require(THREADED_WORKER_SOURCE) as { wasmWorkerContents: string };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sae-workbench-wasm-'));
  const file = path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
  // The package escapes the newlines of its string literals the same way before making its Blob.
  writeFileSync(file, wasmWorkerContents.replace(/\n/g, '\\n'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  workerScript = file;
  return file;
}

/** Start the threaded build with every core visible to XNNPACK's cap (see the file comment). */
async function startThreadedModule(): Promise<EmscriptenWasmModule> {
  const factory = require(THREADED_GLUE) as ThreadedFactory;
  const worker = threadWorkerFile();
  const cpus = os.cpus;
  os.cpus = () => { const c = cpus.call(os); return [...c, ...c]; };
  const listening = { uncaughtException: process.listeners('uncaughtException'), unhandledRejection: process.listeners('unhandledRejection') };
  try {
    const module = await factory({
      locateFile: (file: string) => (file.endsWith('.worker.js') ? worker : path.join(WASM_DIR, file)),
      mainScriptUrlOrBlob: THREADED_GLUE,
    });
    // What tfjs-backend-wasm's own init adds to the module before making its backend.
    module.tfjs = {
      init: module.cwrap('init', null, []),
      initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
      getThreadsCount: module.cwrap('get_threads_count', 'number', []),
      registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
      disposeData: module.cwrap('dispose_data', null, ['number']),
      dispose: module.cwrap('dispose', null, []),
    };
    return module;
  } finally {
    os.cpus = cpus;
    // The glue adds process handlers that rethrow from inside itself, so that Node would print
    // the whole minified glue as the "source line" of any later uncaught error: remove them.
    for (const l of process.listeners('uncaughtException')) if (!listening.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!listening.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
  }
}

let packageWasmFactory: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | null = null;
let packageWasmPriority = 2;
/** Threads the 'wasm' backend starts with next (1: the package's one-thread build). */
let threadsWanted = 1;
/** The threaded module last started, whose workers end when another one replaces it. */
let threadedModule: EmscriptenWasmModule | null = null;
let threadedStartError: string | null = null;
const ourFactory = async (): Promise<tf.KernelBackend> => {
  if (threadsWanted <= 1) return packageWasmFactory!();
  setThreadsCount(threadsWanted);
  threadedModule?.PThread?.terminateAllThreads();
  threadedModule = null;
  threadedStartError = null;
  let module: EmscriptenWasmModule;
  try {
    module = await startThreadedModule();
  } catch (e) {
    // tfjs reports only "failed to initialise"; the fallback's note says why.
    threadedStartError = e instanceof Error ? e.message : String(e);
    throw e;
  }
  threadedModule = module;
  const backend = new BackendWasm(module as never); // starts XNNPACK's thread pool
  // Emscripten refs a worker while it runs a thread; the pool's threads wait for work for as long
  // as the backend lives, which would keep the process from exiting when a script is done.
  for (const w of module.PThread?.runningWorkers ?? []) w.unref?.();
  // The engine's own kernels share the threaded heap and run on as many threads.
  setKernelThreadSpawner(nodeKernelThread, threadsWanted);
  await wasmKernels(backend)?.startThreads();
  return backend;
};

/**
 * Make the 'wasm' backend the threaded build on `threads` threads (the calling thread and
 * threads − 1 workers; default every core), or the package's one-thread build for 1. A change
 * takes effect when the backend next starts (it is registered afresh); the same count again
 * keeps the running backend.
 */
export function useNodeWasmThreads(threads = nodeCores()): void {
  useNodeWasmFiles();
  const want = Math.max(1, Math.floor(threads));
  const registered = tf.engine().registryFactory.wasm;
  if (registered?.factory === ourFactory && want === threadsWanted) return;
  if (!packageWasmFactory) {
    if (!registered) throw new Error('tfjs-backend-wasm is not registered');
    packageWasmFactory = registered.factory;
    packageWasmPriority = registered.priority;
  }
  threadsWanted = want;
  if (registered) tf.removeBackend('wasm');
  tf.registerBackend('wasm', ourFactory, packageWasmPriority);
}

export interface NodeBackendOptions {
  /** wasm threads (default: every core); 1 runs the package's one-thread build. */
  threads?: number;
}

/**
 * tfjs's cpu backend prints, on its first tensor in Node, a banner advising to install tfjs-node.
 * The CLI does without tfjs-node on purpose (see the file comment) and runs on cpu only when asked
 * or when wasm cannot start, so the advice is noise there. The banner's one condition is the
 * backend's `firstUse` flag: every cpu backend is made with it cleared (the registered factory is
 * wrapped in place, so nothing already running is replaced).
 */
export function quietCpuBackend(): void {
  const registered = tf.engine().registryFactory.cpu;
  if (!registered || quietFactories.has(registered.factory)) return;
  const factory = registered.factory;
  const adviceGiven = (backend: tf.KernelBackend) => { (backend as unknown as { firstUse?: boolean }).firstUse = false; return backend; };
  const quiet = () => {
    const made = factory();
    return made instanceof Promise ? made.then(adviceGiven) : adviceGiven(made);
  };
  quietFactories.add(quiet);
  registered.factory = quiet;
  const running = tf.engine().registry.cpu;
  if (running) adviceGiven(running);
}
const quietFactories = new WeakSet<object>();

export async function selectNodeBackend(prefer?: BackendName, opts: NodeBackendOptions = {}): Promise<BackendChoice> {
  quietCpuBackend();
  useNodeWasmThreads(opts.threads ?? nodeCores());
  return selectBackend({
    prefer,
    // webgpu (registered by src/cli/nodeWebgpu.ts) only when asked for: it comes after wasm.
    order: ['wasm', 'cpu', 'webgpu'],
    initTimeoutMs: threadsWanted > 1 ? NODE_THREADED_START_TIMEOUT_MS : undefined,
    // A threaded start that fails falls back to one thread before giving wasm up.
    retry: {
      wasm: () => {
        if (threadsWanted <= 1) return null;
        threadsWanted = 1;
        return `retried on one thread${threadedStartError ? ` (the threaded build: ${threadedStartError})` : ''}`;
      },
    },
  });
}
