// How much device memory a training run needs, how much a backend offers, and what to say when a
// run does not fit or runs out. Pure arithmetic on the resolved config: no tfjs, no DOM, so the
// Model panel can show the figure as the user types and the worker can refuse a run before it
// allocates anything (an over-sized run otherwise freezes the tab, loses the GPU device, or — on
// wasm, whose malloc failure tfjs does not check — writes over the heap).
//
// What a run holds, in float32 values (P = trainable parameters, S = d_sae, R = latent rows of a
// batch: the batch size, times the layers for MLSAE):
//   parameters P, Adam moments 2P, two dead/dense counters 2S      (for the whole run)
//   early stopping's best weights P
//   where reads wait for a device (webgpu, webgl): the last-good copy the trainer rolls back to,
//     3P + 2S (trainer.ts `lastGood`), and the autosave's device copy while it is read back, the
//     same again (the worker, every few seconds). On wasm and cpu both are read into arrays at once
//     (trainerState.ts readStateNow): outside wasm's memory; in the JS heap the cpu backend shares.
//   one step: the larger of
//     the backward pass — the tape's activations, ≈ a·R·S, with the transposed weights ≈ g·P
//       (the sparse steps of the k-sparse variants: z alone, freed once selected, and their
//       sparse gradients: their declaration's `memory.sparse`; a dense step with its backward
//       written out, on wasm and cpu: `memory.written`) —
//     and the optimiser — the kept f and z (2R·S; none in a sparse step), the gradients P, and for
//       the parameter being updated its clipped gradient and new values (adam.ts: a tidy per
//       parameter, each gradient freed once used): 4 of the largest parameter with the fused
//       kernels of webgpu, 3 on wasm (its kernel takes the clipping factor), 11 with tfjs's ops
//   plus the batch in and out, ≈ c·B·(layers·d_in).
// a, g and c per variant were measured with tf.profile's peakBytes (see memoryBudget.test.ts and
// the figures in its header). On wasm the estimate is of its memory: the allocator and the heap's
// growth steps add ~10 % and up to 96 MiB to the buffers held (WASM_HEAP_FACTOR; a dense step's
// clones share theirs: WASM_DENSE_STEP_SHARING), measured in Node at
// d_in 768 and d_sae 16,384–32,768 (docs/benchmark.md, "Memory"). Each variant's factors and
// parameter shapes are in its declaration (`memory`, `parameterShapes`, src/engine/variants/*.decl.ts).
import { configRecord, layersUsed, type SaeConfig } from './config';
import { declarationFor } from './variants/catalog';

export const MiB = 2 ** 20;
export const GiB = 2 ** 30;
const FLOAT = 4;

/** Copies of the parameter being updated in the optimiser phase: its clipped gradient and Adam's new p, m and v (fused kernels)… */
const OPTIMISER_FUSED_COPIES = 4;
/** …on wasm, whose Adam kernel takes the clipping factor itself: no clipped copy, only p, m and v. */
const OPTIMISER_WASM_COPIES = 3;
/** …or those and tfjs's intermediates of Adam's arithmetic (cpu, webgl). */
const OPTIMISER_OPS_COPIES = 11;
/** Latent-sized tensors the dense step keeps through the optimiser phase (f and z). */
const OPTIMISER_KEPT_ACTS = 2;
/** The backends with sparse products (ops/sparse.ts registers them on wasm and webgpu). */
const SPARSE_BACKENDS = new Set(['wasm', 'webgpu']);
/** The backends where the variants with a written dense step take it (variants/denseLinear.ts denseStepApplies). */
const WRITTEN_DENSE_BACKENDS = new Set(['wasm', 'cpu']);
/** Backends whose Adam is one fused kernel per tensor (adam.ts). */
const FUSED_ADAM_BACKENDS = new Set(['wasm', 'webgpu']);
/** Where the trainer's copies of the state are arrays outside the backend's memory (trainerState.ts readsWithoutWaiting). */
const STATE_COPIES_OFF_DEVICE = new Set(['wasm']);
/**
 * wasm's memory against its tensors: the allocator's overhead and the holes freed tensors leave
 * (measured 9–14 % at d_in 768, d_sae 16,384–32,768), and emscripten growing the heap by 20 % of
 * its size but at most 96 MiB more than it was asked for (tfjs-backend-wasm's emscripten_resize_heap).
 */
export const WASM_HEAP_FACTOR = 1.1;
/**
 * The dense step's buffers on wasm against its tensors as tfjs counts them (the factors above): its
 * clones share their input's buffer, so wasm holds about two thirds (measured 0.65–0.69 for ReLU and
 * JumpReLU at d_in 768, d_sae 16,384, batch 1,024).
 */
const WASM_DENSE_STEP_SHARING = 0.67;
const WASM_HEAP_GROWTH_FRACTION = 0.2;
const WASM_HEAP_GROWTH_BYTES = 96 * 2 ** 20;

/** Trainable tensors of a config and their shapes (SAELens names), as its variant's declaration gives them. */
export function parameterShapes(cfg: SaeConfig, dIn: number): Record<string, number[]> {
  return declarationFor(cfg.architecture).parameterShapes(cfg, dIn);
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function parameterCount(cfg: SaeConfig, dIn: number): number {
  return Object.values(parameterShapes(cfg, dIn)).reduce((a, s) => a + sizeOf(s), 0);
}

export interface MemoryEstimate {
  /** Peak bytes of the run on the device. */
  bytes: number;
  /**
   * Where they go (bytes), the tensors as tfjs counts them; on wasm `allocator` is its memory beyond
   * them (the allocator, growth steps) less what shared buffers save (negative for a dense step).
   */
  parts: { parameters: number; optimizer: number; snapshots: number; step: number; allocator: number };
  /** Whether the step counted is the sparse one (from the first step on). */
  sparseStep: boolean;
  /** The largest single tensor (what a buffer or texture size limit must hold). */
  largestTensor: { name: string; shape: number[]; bytes: number };
}

export interface EstimateOptions {
  /** The worker keeps an autosave copy on the device while it reads it back (default true; the CLI has none). */
  autosave?: boolean;
  /**
   * The backend the run trains on ('wasm', 'webgpu', …): whether the step is sparse, where the
   * state's copies live, and on wasm the heap's overhead. Unknown: a dense step, copies on the device.
   */
  backend?: string;
}

/** Whether the run takes a sparse step from its first step on (trainStep.ts, variants/sparseLinear.ts sparseStepApplies). */
function sparseFromTheStart(cfg: SaeConfig, dIn: number, backend: string | undefined): boolean {
  return backend !== undefined && SPARSE_BACKENDS.has(backend) && cfg.sparse !== 'off' && cfg.guidance.length === 0
    && layersUsed(cfg) === 1 && dIn % 4 === 0 && cfg.d_sae % 4 === 0 && declarationFor(cfg.architecture).memory.sparse !== undefined;
}

/** Whether the run's dense steps are the written ones (trainStep.ts Variant.denseStep), not autodiff's. */
function writtenDenseStep(cfg: SaeConfig, backend: string | undefined): boolean {
  return backend !== undefined && WRITTEN_DENSE_BACKENDS.has(backend) && cfg.guidance.length === 0 && declarationFor(cfg.architecture).memory.written !== undefined;
}

/** Bytes a training run of `cfg` on activations of width `dIn` needs on the device at its peak. */
export function estimateTrainingMemory(cfg: SaeConfig, dIn: number, opts: EstimateOptions = {}): MemoryEstimate {
  const S = cfg.d_sae;
  const L = layersUsed(cfg);
  const B = cfg.batch_size;
  const { backend } = opts;
  const prof = declarationFor(cfg.architecture).memory;
  const R = B * (prof.rowsPerInput?.(cfg) ?? 1);
  const shapes = Object.values(parameterShapes(cfg, dIn));
  const P = shapes.reduce((a, s) => a + sizeOf(s), 0);
  const largestParam = Math.max(...shapes.map(sizeOf));
  const best = cfg.early_stopping_patience > 0 ? P : 0;
  const counters = 2 * S;
  const parameters = P + counters;
  const optimizer = 2 * P;
  const stateCopy = 3 * P + counters + best;
  const stateCopies = backend !== undefined && STATE_COPIES_OFF_DEVICE.has(backend) ? 0 : stateCopy * (opts.autosave === false ? 1 : 2);
  const snapshots = best + stateCopies;
  const io = prof.io + (prof.extraIo?.(cfg) ?? 0);
  const sparse = sparseFromTheStart(cfg, dIn, backend) ? prof.sparse : undefined;
  const written = !sparse && writtenDenseStep(cfg, backend) ? prof.written : undefined;
  const stepProfile = sparse ?? (written && (backend === 'wasm' ? written : { act: written.opsAct, tape: written.opsTape })) ?? prof;
  const backward = stepProfile.act * R * S + stepProfile.tape * P;
  const adamCopies = backend === 'wasm' ? OPTIMISER_WASM_COPIES : backend !== undefined && FUSED_ADAM_BACKENDS.has(backend) ? OPTIMISER_FUSED_COPIES : OPTIMISER_OPS_COPIES;
  const optimiserPhase = (sparse ? 0 : OPTIMISER_KEPT_ACTS * R * S) + P + adamCopies * largestParam;
  const step = Math.max(backward, optimiserPhase) + io * B * L * dIn;
  const tensorBytes = (parameters + optimizer + snapshots + step) * FLOAT;
  // On wasm, its memory: what the heap grows to for those tensors. tfjs counts a buffer once per
  // tensor that shares it, and the dense step's autodiff shares many (clones, ops/wasm/identity.ts);
  // the sparse and written steps make no clones.
  const heldBytes = (parameters + optimizer + snapshots + step * (sparse || written ? 1 : WASM_DENSE_STEP_SHARING)) * FLOAT;
  const allocated = heldBytes * WASM_HEAP_FACTOR;
  const allocator = backend === 'wasm' ? allocated - tensorBytes + Math.min(allocated * WASM_HEAP_GROWTH_FRACTION, WASM_HEAP_GROWTH_BYTES) : 0;
  return {
    bytes: tensorBytes + allocator,
    parts: { parameters: parameters * FLOAT, optimizer: optimizer * FLOAT, snapshots: snapshots * FLOAT, step: step * FLOAT, allocator },
    largestTensor: largestTensor(cfg, dIn, R),
    sparseStep: sparse !== undefined,
  };
}

function largestTensor(cfg: SaeConfig, dIn: number, rows: number): MemoryEstimate['largestTensor'] {
  let out = { name: `activations [${rows}, ${cfg.d_sae}]`, shape: [rows, cfg.d_sae], bytes: rows * cfg.d_sae * FLOAT };
  for (const [name, shape] of Object.entries(parameterShapes(cfg, dIn))) {
    const bytes = sizeOf(shape) * FLOAT;
    if (bytes > out.bytes) out = { name: `${name} [${shape.join(', ')}]`, shape, bytes };
  }
  return out;
}

// ---- what a backend offers ------------------------------------------------------------------------

export interface BackendLimits {
  backend: string;
  /** Bytes a run may use in all (already less any safety margin). */
  totalBytes: number;
  /** How to name that total in a message, e.g. "the 3.6 GiB that wasm memory (4 GiB at most) leaves for tensors". */
  totalLabel: string;
  /**
   * True when the total is a real ceiling (wasm memory, the JS heap); false when it is a guess
   * (browsers do not tell a page how much GPU memory there is). A guess only warns.
   */
  hard: boolean;
  /** Largest single tensor in bytes (WebGPU buffer and binding limits). */
  maxTensorBytes?: number;
  /** WebGL: the largest texture side; a tensor of n floats fits when n ≤ side² (tfjs squarifies). */
  maxTextureSize?: number;
}

/** What the environment says about a backend (each optional; missing ones get safe defaults). */
export interface BackendFacts {
  /** WebGPU device limits. */
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  /** WebGL MAX_TEXTURE_SIZE (tfjs's WEBGL_MAX_TEXTURE_SIZE). */
  maxTextureSize?: number;
  /** navigator.deviceMemory (GiB of RAM, rounded and capped by the browser). */
  deviceMemoryGiB?: number;
  /** performance.memory.jsHeapSizeLimit (Chromium). */
  jsHeapSizeLimit?: number;
}

/**
 * tfjs-backend-wasm 4.22 is built with a 4 GiB ceiling (emscripten getHeapMax() = 4294901760 B),
 * and when its malloc fails tfjs does not notice: the tensor is written at address 0 and the next
 * kernel fails with "memory access out of bounds" (measured in Node), or the module aborts.
 * Measured (relu, d_in 64, batch 256, Node): a run whose tensors peak at 3.33 GiB grew the heap to
 * 3.82 GiB (the allocator, kernels' scratch memory, emscripten's growth steps). The wasm estimate
 * is of the heap itself (WASM_HEAP_FACTOR); a run may plan for 85 % of the ceiling, which leaves
 * room for the estimate's own error (measured from −12 % to +2 % of the heap: docs/benchmark.md).
 */
export const WASM_MAX_BYTES = 4294901760;
export const WASM_USABLE_FRACTION = 0.85;
/** The cpu backend keeps tensors as JS typed arrays: a conservative 4 GiB for a browser tab. */
export const CPU_MAX_BYTES = 4 * GiB;
/** Without a figure for GPU memory: half the RAM the browser reports (at least 2 GiB), a guess. */
const GPU_GUESS_MIN = 2 * GiB;

export function limitsFor(backend: string, facts: BackendFacts = {}): BackendLimits {
  switch (backend) {
    case 'wasm':
      return {
        backend, hard: true, totalBytes: Math.floor(WASM_MAX_BYTES * WASM_USABLE_FRACTION),
        totalLabel: `the ${formatBytes(WASM_MAX_BYTES * WASM_USABLE_FRACTION)} of wasm memory (4 GiB at most) a run may plan for`,
      };
    case 'cpu': {
      const heap = facts.jsHeapSizeLimit && facts.jsHeapSizeLimit > 0 ? Math.min(facts.jsHeapSizeLimit, CPU_MAX_BYTES) : CPU_MAX_BYTES;
      return { backend, hard: true, totalBytes: heap, totalLabel: `the ${formatBytes(heap)} the cpu backend may use of this tab's memory`, maxTensorBytes: 2 * GiB };
    }
    case 'webgpu':
    case 'webgl': {
      const guess = Math.max(GPU_GUESS_MIN, ((facts.deviceMemoryGiB ?? 4) * GiB) / 2);
      const out: BackendLimits = { backend, hard: false, totalBytes: guess, totalLabel: `about ${formatBytes(guess)} of GPU memory (a guess: browsers do not report it)` };
      if (backend === 'webgpu') {
        const limits = [facts.maxBufferSize, facts.maxStorageBufferBindingSize].filter((v): v is number => typeof v === 'number' && v > 0);
        // WebGPU's defaults when the adapter says nothing: 256 MiB buffers, 128 MiB bindings.
        out.maxTensorBytes = limits.length ? Math.min(...limits) : 128 * MiB;
      } else {
        // tfjs's fallback when it cannot ask the context.
        out.maxTextureSize = facts.maxTextureSize && facts.maxTextureSize > 0 ? facts.maxTextureSize : 4096;
      }
      return out;
    }
    default:
      return { backend, hard: false, totalBytes: CPU_MAX_BYTES, totalLabel: `a conservative ${formatBytes(CPU_MAX_BYTES)}` };
  }
}

/**
 * The limits of the backend tfjs is running: `tfBackend` is `tf.backend()` (for WebGPU its
 * `device.limits`), `env` is `tf.env()` (WebGL's WEBGL_MAX_TEXTURE_SIZE). Duck-typed so this file
 * needs no tfjs import.
 */
export function limitsOfBackend(backend: string, tfBackend: unknown, env?: { getNumber(key: string): number }): BackendLimits {
  const facts: BackendFacts = environmentFacts();
  if (backend === 'webgpu') {
    const limits = (tfBackend as { device?: { limits?: { maxBufferSize?: number; maxStorageBufferBindingSize?: number } } } | null)?.device?.limits;
    facts.maxBufferSize = limits?.maxBufferSize;
    facts.maxStorageBufferBindingSize = limits?.maxStorageBufferBindingSize;
  }
  if (backend === 'webgl' && env) {
    try { facts.maxTextureSize = env.getNumber('WEBGL_MAX_TEXTURE_SIZE'); } catch { /* tfjs's default then */ }
  }
  return limitsFor(backend, facts);
}

/** RAM and JS-heap figures of the page or worker, when the browser gives them. */
export function environmentFacts(): BackendFacts {
  const g = globalThis as { navigator?: { deviceMemory?: number }; performance?: { memory?: { jsHeapSizeLimit?: number } } };
  return { deviceMemoryGiB: g.navigator?.deviceMemory, jsHeapSizeLimit: g.performance?.memory?.jsHeapSizeLimit };
}

// ---- does it fit ------------------------------------------------------------------------------------

export interface FitReport {
  estimate: MemoryEstimate;
  /** Total bytes over the limit. */
  tooBig: boolean;
  /** The largest tensor over a buffer or texture limit: what, and the limit in words. */
  tensorTooBig: string | null;
}

/** Why the largest tensor does not fit a backend's per-tensor limit, or null. */
function tensorProblem(est: MemoryEstimate, limits: BackendLimits): string | null {
  const t = est.largestTensor;
  if (limits.maxTensorBytes !== undefined && t.bytes > limits.maxTensorBytes) {
    return `its largest tensor, ${t.name} (${formatBytes(t.bytes)}), is over ${limits.backend}'s ${formatBytes(limits.maxTensorBytes)} limit on one ${limits.backend === 'webgpu' ? 'buffer' : 'array'}`;
  }
  if (limits.maxTextureSize !== undefined && t.bytes / FLOAT > limits.maxTextureSize ** 2) {
    const side = limits.maxTextureSize;
    return `its largest tensor, ${t.name}, has more values than one WebGL texture of ${side.toLocaleString('en-US')} × ${side.toLocaleString('en-US')} holds`;
  }
  return null;
}

export function fitReport(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): FitReport {
  const estimate = estimateTrainingMemory(cfg, dIn, { backend: limits.backend, ...opts });
  return { estimate, tooBig: estimate.bytes > limits.totalBytes, tensorTooBig: tensorProblem(estimate, limits) };
}

/** True when the run fits: under the total (hard or guessed) and every tensor under its limit. */
export function fits(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): boolean {
  const r = fitReport(cfg, dIn, limits, opts);
  return !r.tooBig && r.tensorTooBig === null;
}

/** Sizes are suggested in multiples of this. */
export const D_SAE_STEP = 256;

/**
 * The largest d_sae (a multiple of 256) that fits with the rest of `cfg` unchanged, or 0 when not
 * even 256 fits (then the batch is too large). The estimate grows with d_sae, so a binary search.
 */
export function largestDSaeThatFits(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): number {
  const ok = (units: number) => fits(withDSae(cfg, units * D_SAE_STEP), dIn, limits, opts);
  if (!ok(1)) return 0;
  let lo = 1, hi = 2;
  while (ok(hi)) { lo = hi; hi *= 2; if (hi > 2 ** 24) return lo * D_SAE_STEP; }
  while (hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (ok(mid)) lo = mid; else hi = mid; }
  return lo * D_SAE_STEP;
}

/**
 * The largest batch size that fits with this d_sae (a multiple of 256 from 256 up, a power of two
 * below), or 0 when not even a batch of 1 does (the weights alone are too large).
 */
export function largestBatchThatFits(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): number {
  const ok = (b: number) => fits({ ...cfg, batch_size: b }, dIn, limits, opts);
  if (!ok(1)) return 0;
  let lo = 1, hi = 2;
  while (ok(hi)) { lo = hi; hi *= 2; if (hi > 2 ** 24) break; }
  while (hi - lo > 1) { const mid = Math.floor((lo + hi) / 2); if (ok(mid)) lo = mid; else hi = mid; }
  return lo >= 256 ? lo - (lo % 256) : 2 ** Math.floor(Math.log2(lo));
}

/** The config with another d_sae (a k above it is clamped; the declaration's withDSae does the rest, e.g. Matryoshka's prefixes). */
function withDSae(cfg: SaeConfig, dSae: number): SaeConfig {
  const out = configRecord({ ...cfg, d_sae: dSae });
  if (typeof out.k === 'number' && out.k > dSae) out.k = dSae;
  const resize = declarationFor(cfg.architecture).withDSae;
  return resize ? resize(out as unknown as SaeConfig, dSae) : (out as unknown as SaeConfig);
}

/** "d_sae 262,144 × d_in 512 (topk, batch 4,096)" */
function describeRun(cfg: SaeConfig, dIn: number): string {
  const L = layersUsed(cfg);
  return `d_sae ${n(cfg.d_sae)} × d_in ${n(dIn)}${L > 1 ? ` × ${L} layers` : ''} (${cfg.architecture}, batch ${n(cfg.batch_size)})`;
}

/** What fits instead: "the largest d_sae that fits is 98,304 (or batch 1,024 for this d_sae)". */
function suggestion(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions): string {
  const dSae = largestDSaeThatFits(cfg, dIn, limits, opts);
  const batch = largestBatchThatFits(cfg, dIn, limits, opts);
  const batchText = batch > 0 ? `batch ${n(batch)} for this d_sae` : '';
  if (dSae > 0) return `the largest d_sae that fits is ${n(dSae)}${batchText ? ` (or ${batchText})` : ''}`;
  return batchText ? `no d_sae fits at batch ${n(cfg.batch_size)}; ${batchText} fits` : `lower the batch size and d_sae`;
}

/**
 * Null when the run fits `limits`, else a message naming the need, the limit and the largest
 * d_sae (and batch) that fit, e.g. "d_sae 262,144 × d_in 512 (topk, batch 4,096) needs about
 * 9.1 GiB on wasm, more than the 3.6 GiB …; the largest d_sae that fits is 98,304 (or batch 1,024
 * for this d_sae)". Guessed GPU totals are checked too; callers that only refuse on hard limits
 * look at `limits.hard` (a tensor over a buffer or texture limit is always hard).
 */
export function checkFits(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): string | null {
  const r = fitReport(cfg, dIn, limits, opts);
  if (!r.tooBig && !r.tensorTooBig) return null;
  const need = `${describeRun(cfg, dIn)} needs about ${formatBytes(r.estimate.bytes)} on ${limits.backend}`;
  const why = r.tensorTooBig ? `, but ${r.tensorTooBig}` : `, more than ${limits.totalLabel}`;
  return `${need}${why}; ${suggestion(cfg, dIn, limits, opts)}.`;
}

/** A check the worker acts on: the message when the run cannot work (hard limit or a tensor limit), else null. */
export function refusal(cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): string | null {
  const r = fitReport(cfg, dIn, limits, opts);
  if (!r.tensorTooBig && !(r.tooBig && limits.hard)) return null;
  return checkFits(cfg, dIn, limits, opts);
}

/**
 * The Model panel's one line: "≈ 1.2 GiB to train on wasm", and when it does not fit, why and the
 * largest d_sae that does. `ok` is false then (the panel colours it as a warning).
 */
export function estimateLine(cfg: SaeConfig, dIn: number, limits: BackendLimits): { text: string; ok: boolean } {
  const r = fitReport(cfg, dIn, limits);
  const head = `≈ ${formatBytes(r.estimate.bytes)} to train on ${limits.backend}`;
  if (!r.tooBig && !r.tensorTooBig) return { text: head, ok: true };
  const why = r.tensorTooBig ?? `more than ${limits.totalLabel}`;
  const verdict = r.tensorTooBig || limits.hard ? 'too large' : 'probably too large';
  return { text: `${head}: ${verdict} (${why}); ${suggestion(cfg, dIn, limits, {})}.`, ok: false };
}

// ---- out-of-memory errors ------------------------------------------------------------------------

/** Messages of the ways each backend runs out (tfjs, WebGPU, WebGL, wasm, the JS engine). */
const OOM_PATTERNS: RegExp[] = [
  /out of memory/i, // WebGPU GPUOutOfMemoryError, WebGL OUT_OF_MEMORY, "JavaScript heap out of memory"
  /OutOfMemory|OUT_OF_MEMORY/, // GPUOutOfMemoryError as a name; WebGL's gl.OUT_OF_MEMORY
  /\bOOM\b/, // emscripten's abort("OOM")
  /failed to allocate/i, // "Failed to allocate buffer", tfjs-webgpu / Dawn
  /allocation failed/i, // RangeError: Array buffer allocation failed
  /Cannot enlarge memory/i, // emscripten without growth
  /memory access out of bounds/i, // tfjs-wasm after its malloc failed silently
  /Invalid typed array length/i, // RangeError for an over-long Float32Array (cpu)
  /Array buffer allocation/i,
  /Requested texture size .* greater than WebGL maximum/i, // tfjs-webgl texture shape
  /CONTEXT_LOST_WEBGL|context lost/i,
  /device (was |is )?lost|GPUDevice.*lost|Device is lost/i, // WebGPU device loss (often the OOM's aftermath)
  /(buffer|binding) size .*(exceeds|larger than|greater than).*(max|limit)/i, // WebGPU validation of a buffer size
  /maxBufferSize|maxStorageBufferBindingSize/,
];

/** True when `e` looks like running out of memory (or over a size limit) on some backend. */
export function isOomError(e: unknown): boolean {
  const text = errorText(e);
  return OOM_PATTERNS.some((p) => p.test(text));
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

/**
 * The clear message for an out-of-memory error of a run (null when `e` is something else): what
 * ran out, the estimate, and the size that would fit, followed by the original error in brackets.
 */
export function describeOomError(e: unknown, cfg: SaeConfig, dIn: number, limits: BackendLimits, opts: EstimateOptions = {}): string | null {
  if (!isOomError(e)) return null;
  const original = errorText(e).replace(/\s+/g, ' ').slice(0, 160);
  const est = estimateTrainingMemory(cfg, dIn, { backend: limits.backend, ...opts });
  const need = `${describeRun(cfg, dIn)} needs about ${formatBytes(est.bytes)}`;
  const fitsNow = fits(cfg, dIn, limits, opts);
  // The estimate says it fits (another tab, another run or a small GPU took the rest): suggest half.
  const advice = fitsNow
    ? `that is within ${limits.totalLabel}, but not within what ${limits.backend} could get now; try d_sae ${n(Math.max(D_SAE_STEP, Math.floor(cfg.d_sae / 2 / D_SAE_STEP) * D_SAE_STEP))} or batch ${n(Math.max(1, Math.floor(cfg.batch_size / 2)))}, or close other GPU-heavy tabs`
    : `more than ${limits.totalLabel}; ${suggestion(cfg, dIn, limits, opts)}`;
  return `Out of memory on ${limits.backend}: ${need}, ${advice}. (${original})`;
}

// ---- formatting -----------------------------------------------------------------------------------

const n = (v: number) => v.toLocaleString('en-US');

/** "9.1 GiB", "4 GiB", "512 MiB", "12 KiB". */
export function formatBytes(bytes: number): string {
  const unit = (v: number, u: string) => `${v >= 10 ? Math.round(v) : Number(v.toFixed(1))} ${u}`;
  if (bytes >= GiB) return unit(bytes / GiB, 'GiB');
  if (bytes >= MiB) return unit(bytes / MiB, 'MiB');
  return unit(Math.max(0, bytes) / 1024, 'KiB');
}
