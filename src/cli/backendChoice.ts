// The CLI's --backend: wasm (the default), cpu, webgpu (Dawn over the machine's Vulkan driver: a
// GPU server's GPU) or auto, which measures the candidates at the size of the command's own work,
// as the page does when a run starts (src/worker/backendChoice.ts):
// - training and evaluating an SAE: a real training step at the SAE's size (calibrateBackends);
// - running a language model only (`activations`): the model's forward over one sequence.
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { calibrateBackends, fastestMeasured, skipCpuOnceWasmMeasured, type BackendMeasurement, type CalibrationSpec } from '../engine/calibrate';
import type { TransformerWeights } from '../io/transformerWeights';
import { TransformerModel } from '../engine/lm/transformer';
import type { BackendName } from '../engine/types';
import { NODE_THREADED_START_TIMEOUT_MS, selectNodeBackend } from './nodeBackend';
import { adapterLabel, registerNodeWebGPU, type NodeAdapter } from './nodeWebgpu';

/** What --backend may say. */
export type BackendFlag = BackendName | 'auto';
export const BACKEND_FLAGS: readonly BackendFlag[] = ['wasm', 'cpu', 'webgpu', 'auto'];

export interface StartedBackend {
  backend: BackendName;
  /** How it runs: "wasm, 2 threads", "webgpu" (its adapter is printed when it starts). */
  label: string;
  /** On webgpu, the adapter (adapterLabel), which the commands' JSON records beside `backend`. */
  adapter?: string;
}

/** The work `auto` measures the backends on. */
export type AutoWork =
  | { kind: 'sae'; spec: CalibrationSpec }
  | { kind: 'forward'; weights: TransformerWeights };

/** One sequence of this many tokens (or the model's context, if shorter) times a forward. */
const FORWARD_TOKENS = 128;
/**
 * The page gives a step 1.5 s (4 s for the first, which compiles) so that Train starts at once;
 * a command run for minutes or hours can wait for a GPT-2-width step (3–6 s on wasm) to be timed.
 */
const CLI_STEP_LIMITS = { maxStepMs: 60_000, maxFirstStepMs: 120_000 };
/** Auto's candidates, CPU backends first (as the page measures them: a GPU's queued work cannot slow their timing). */
const AUTO_CANDIDATES: readonly BackendName[] = ['wasm', 'cpu', 'webgpu'];

let adapter: NodeAdapter | null = null;

/**
 * Before any file is read: --backend webgpu on a machine where Dawn finds no adapter stops the
 * command at once, rather than after loading a large file (the same message as startBackend).
 */
export async function checkBackendEarly(flag: BackendFlag | undefined): Promise<void> {
  if (flag === 'webgpu') await useWebGPUAdapter();
}

async function useWebGPUAdapter(): Promise<void> {
  try {
    adapter = await registerNodeWebGPU();
  } catch (e) {
    throw new Error(`--backend webgpu: ${e instanceof Error ? e.message : String(e)} Or leave --backend out to run on the CPU (wasm).`);
  }
}

/**
 * Start the backend a command runs on. `flag` undefined is wasm. `auto` needs the command's work;
 * it prints what it measured and keeps the fastest. `--backend webgpu` without a usable adapter
 * stops the command with what is missing: quietly training on the CPU instead would take hours.
 */
export async function startBackend(flag: BackendFlag | undefined, threads: number | undefined, work?: AutoWork): Promise<StartedBackend> {
  if (flag === 'auto') {
    if (!work) throw new Error('--backend auto needs the size of the work to measure (internal: no work given)');
    return startAuto(threads, work);
  }
  if (flag === 'webgpu') await useWebGPUAdapter();
  const { backend, skipped } = await selectNodeBackend(flag, { threads });
  if (flag === 'webgpu' && backend !== 'webgpu') throw new Error(`--backend webgpu: the webgpu backend did not start (${skipped.webgpu ?? 'no reason given'}).`);
  for (const [name, why] of Object.entries(skipped)) process.stderr.write(`note: ${name}: ${why}\n`);
  if (backend === 'webgpu') process.stderr.write(`backend: ${webgpuLabel()}\n`);
  return started(backend);
}

function started(backend: BackendName): StartedBackend {
  return { backend, label: labelOf(backend), ...(backend === 'webgpu' && adapter ? { adapter: adapterLabel(adapter) } : {}) };
}

/** The label of a running backend. */
function labelOf(backend: BackendName): string {
  if (backend !== 'wasm') return backend;
  const n = getThreadsCount();
  return `wasm, ${n} thread${n === 1 ? '' : 's'}`;
}

async function startAuto(threads: number | undefined, work: AutoWork): Promise<StartedBackend> {
  const noWebGPU = await registerNodeWebGPU().then((a) => { adapter = a; return null; }, (e: unknown) => (e instanceof Error ? e.message : String(e)));
  // wasm with its threads first: the measurements then compare it as it will run.
  await selectNodeBackend('wasm', { threads });
  const candidates = AUTO_CANDIDATES.filter((b) => b !== 'webgpu' || noWebGPU === null);
  const what = work.kind === 'sae' ? `a training step of ${work.spec.architecture} d_in ${work.spec.dIn} → d_sae ${work.spec.dSae}, batch ${work.spec.batch}` : `the model's forward over ${FORWARD_TOKENS} tokens`;
  process.stderr.write(`auto: timing ${candidates.join(', ')} on ${what}${noWebGPU ? ` (webgpu is not available: ${noWebGPU})` : ''}\n`);
  const results = work.kind === 'sae'
    ? (await calibrateBackends(candidates, work.spec, { ...CLI_STEP_LIMITS, initTimeoutMs: NODE_THREADED_START_TIMEOUT_MS, skip: { cpu: skipCpuOnceWasmMeasured } })).results
    : await timeForwards(candidates, work.weights);
  for (const r of results) process.stderr.write(`auto:   ${describe(r)}\n`);
  const fastest = fastestMeasured(results);
  if (!fastest) throw new Error(`--backend auto: no backend could be measured (${results.map(describe).join('; ')})`);
  if (tf.getBackend() !== fastest) await tf.setBackend(fastest);
  process.stderr.write(`auto: → ${fastest === 'webgpu' ? webgpuLabel() : labelOf(fastest)}\n`);
  return started(fastest);
}

function webgpuLabel(): string {
  return `webgpu on ${adapter ? adapterLabel(adapter) : 'an unknown adapter'}`;
}

function describe(r: BackendMeasurement): string {
  const adapterNote = r.backend === 'webgpu' && adapter ? ` (${adapterLabel(adapter)})` : '';
  if (r.status === 'measured') return `${r.backend}: ${r.msPerStep!.toFixed(1)} ms${r.tokensPerS ? `, ${Math.round(r.tokensPerS).toLocaleString('en-US')} tokens/s` : ''}${adapterNote}`;
  const why = r.reason?.startsWith(r.status) ? r.reason : `${r.status}${r.reason ? ` — ${r.reason}` : ''}`;
  return `${r.backend}: ${why}${adapterNote}`;
}

/**
 * The model's forward over one sequence on each candidate: a fresh copy of the weights on it, a
 * warm-up pass (shader compilation), then the median of three, each read back — or one, when it
 * alone takes over twice the fastest so far (a software GPU adapter is then not waited for three
 * times). cpu is skipped once wasm is measured, as for the SAE.
 */
async function timeForwards(candidates: readonly BackendName[], weights: TransformerWeights): Promise<BackendMeasurement[]> {
  const results: BackendMeasurement[] = [];
  for (const backend of candidates) {
    const skip = backend === 'cpu' ? skipCpuOnceWasmMeasured(results) : null;
    if (skip) { results.push({ backend, status: 'skipped', reason: skip }); continue; }
    try {
      if (!(await tf.setBackend(backend))) { results.push({ backend, status: 'failed', reason: 'did not start' }); continue; }
      await tf.ready();
      const model = new TransformerModel(weights);
      try {
        const T = Math.min(FORWARD_TOKENS, model.config.seqLen);
        const tokens = Int32Array.from({ length: T }, (_, i) => (i * 7 + 1) % model.config.vocabSize);
        const pass = async () => {
          const t0 = performance.now();
          const out = model.forward(tokens, 1, T);
          await out.logits!.data();
          tf.dispose([out.logits!, ...out.captured.values()]);
          return performance.now() - t0;
        };
        const first = await pass();
        const one = await pass();
        const best = Math.min(...results.filter((r) => r.status === 'measured').map((r) => r.msPerStep!));
        if (one > 2 * best) {
          results.push({ backend, status: 'too slow', msPerStep: one, tokensPerS: (1000 * T) / one, steps: 1, firstStepMs: first, reason: `too slow: one forward took ${one.toFixed(0)} ms, over twice the fastest (${best.toFixed(0)} ms)` });
          continue;
        }
        const times = [one, await pass(), await pass()].sort((a, b) => a - b);
        results.push({ backend, status: 'measured', msPerStep: times[1], tokensPerS: (1000 * T) / times[1], steps: 3, firstStepMs: first });
      } finally {
        model.dispose();
      }
    } catch (e) {
      results.push({ backend, status: 'failed', reason: e instanceof Error ? e.message : String(e) });
    }
  }
  return results;
}
