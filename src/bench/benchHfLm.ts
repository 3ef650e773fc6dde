// One Hugging Face model benchmark measurement on whatever tfjs backend is active (`npm run bench:lm
// -- --model gpt2`): how long the folder takes to load — reading its files, parseHfModel, building
// the TransformerModel (its tensors made) — the memory it takes, and tokens/s of the forward pass
// over seeded random-token documents, batched as the app batches (planBatches with
// batchTokenBudget), two ways:
//   - extract: forward({ capture: [site], until: site }) and the captured residuals read back, as
//     extractActivations does;
//   - full: every batch to the logits, synchronised by reading one logit back (the [B·T, V] logits
//     are computed, not copied out).
// A warm-up of the first batch of each kind (kernel set-up, shader compilation, the first upload of
// the weights on GPU backends), then timed passes until the pass count or the time budget runs
// out. The weights are kept in JS beside the tensors while the model runs, as the app keeps its
// checkpoint; the file bytes are dropped after parsing. Used in Node by scripts/bench-lm.ts and in
// the browser by the bench page's LM worker (./lm.worker.ts). Pure tfjs, no DOM.
import * as tf from '@tensorflow/tfjs';
import { parseHfModel } from '../io/hfModel';
import { createRng } from '../engine/rng';
import { batchTokenBudget, padBatch, planBatches } from '../engine/lm/batching';
import { TransformerModel, perHeadAttention } from '../engine/lm/transformer';
import type { LmPassTiming } from './benchLm';

export type HfPassKind = 'extract' | 'full';

export interface HfPassTiming extends LmPassTiming {
  /** The fastest timed pass (on a shared machine, the least disturbed one). */
  fastestMsPerPass: number;
  /** CPU seconds the process used over the timed passes, when the environment can tell (Node). */
  cpuS?: number;
}

export interface HfLmBenchSpec {
  /** Residual site the extraction stops at (blocks.site.hook_resid_pre). */
  site: number;
  /** Random-token documents of `docTokens` tokens each, from `seed` (the same on every side). */
  documents: number;
  docTokens: number;
  seed: number;
  /** The passes to time, in this order. */
  kinds: HfPassKind[];
  /** At most this many timed passes of each kind (after the warm-up batch). */
  maxPasses: number;
  /** Stop timing a kind once its timed passes have taken this long (at least one pass runs). */
  budgetMs: number;
  /** Time only the first this-many documents (slow backends). */
  maxDocuments?: number;
  /** Skip the warm-up batch (slow backends: the first timed pass then includes the set-up). */
  noWarmup?: boolean;
  /**
   * Return document 0's last-token residual at `site` and its logits (to compare with NumPy), read
   * from the first full-pass batch that holds document 0 (the warm-up batch, or the first timed
   * pass without warm-up: [D] + [V] floats read back besides the one logit).
   */
  probe?: boolean;
}

/** Memory figures at one moment, in bytes, by name (what the environment offers). */
export type MemorySample = Record<string, number>;

export interface HfLmBenchResult {
  backend: string;
  model: { modelType: string; dim: number; nLayers: number; nHeads: number; vocabSize: number; seqLen: number; parameters: number; dtypes: string[]; fileBytes: number };
  documents: number;
  tokens: number;
  paddedTokens: number;
  batches: number;
  batchTokenBudget: number;
  attention: 'per_head' | 'batched';
  site: number;
  /** Milliseconds: reading the files, parseHfModel, new TransformerModel. */
  load: { readMs: number; parseMs: number; buildMs: number; totalMs: number };
  extract?: HfPassTiming;
  full?: HfPassTiming;
  /** Peaks of each figure over the samples of the load (start … model built) and of the passes. */
  memory: { source: string; load: MemorySample; forward: MemorySample; samples: number };
  numTensorsAtStart: number;
  /** With the model built (its weights), before the passes and after them (equal when nothing leaks). */
  numTensorsBefore: number;
  numTensorsAfter: number;
  numTensorsAtEnd: number;
  /** Document 0's last token: the residual at `site` [D] and the logits [V]. */
  probe?: { residual: number[]; logits: number[] };
}

export interface HfLmBenchEnv {
  /** The folder's files by base name (config.json, model.safetensors …), timed as "read". */
  read: () => Promise<Map<string, Uint8Array>>;
  /** Environment memory figures (process RSS, JS heap …); tf's and the wasm heap's are added here. */
  memory: () => MemorySample;
  /** What `memory` measures, for the report. */
  memorySource: string;
  /** CPU seconds used by the process so far (all its threads), where known. */
  cpuSeconds?: () => number;
  folder?: string;
}

/** Seeded random token ids: `n` documents of `T` tokens in [0, vocab) (the engine's generator, src/engine/rng.ts). */
export function randomDocuments(seed: number, n: number, T: number, vocab: number): Int32Array[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => Int32Array.from({ length: T }, () => rng.int(vocab)));
}

/** The tfjs figures every side reports: tensor bytes and, on wasm, the module's heap. */
export function tfMemory(): MemorySample {
  const out: MemorySample = { tfBytes: tf.memory().numBytes };
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength;
  if (heap) out.wasmHeap = heap;
  return out;
}

function peaks(into: MemorySample, sample: MemorySample): void {
  for (const [k, v] of Object.entries(sample)) if (Number.isFinite(v)) into[k] = Math.max(into[k] ?? 0, v);
}

/** Load the folder, then time the passes on the active backend. */
export async function benchHfForward(env: HfLmBenchEnv, spec: HfLmBenchSpec): Promise<HfLmBenchResult> {
  const load: MemorySample = {};
  const forward: MemorySample = {};
  let samples = 0;
  const sample = (into: MemorySample) => {
    peaks(into, { ...env.memory(), ...tfMemory() });
    samples += 1;
  };
  const numTensorsAtStart = tf.memory().numTensors;
  sample(load);
  const t0 = performance.now();
  let files: Map<string, Uint8Array> | null = await env.read();
  const t1 = performance.now();
  sample(load);
  const fileBytes = [...files.values()].reduce((s, b) => s + b.byteLength, 0);
  const hf = parseHfModel(files, env.folder);
  files = null; // the app drops the file bytes once parsed
  const t2 = performance.now();
  sample(load);
  const model = new TransformerModel(hf.weights);
  const t3 = performance.now();
  sample(load);
  const c = model.config;
  let result: HfLmBenchResult;
  try {
    if (spec.site < 0 || spec.site > c.nLayers) throw new Error(`site ${spec.site} does not exist: the model's sites are 0 … ${c.nLayers}`);
    const docs = randomDocuments(spec.seed, spec.documents, spec.docTokens, c.vocabSize).slice(0, spec.maxDocuments ?? spec.documents);
    const tokens = docs.reduce((s, d) => s + d.length, 0);
    const budget = batchTokenBudget(model);
    const planned = planBatches(docs.map((d) => d.length), budget);
    const batches = planned.map((b) => padBatch(docs, b));
    const paddedTokens = batches.reduce((s, b) => s + b.B * b.T, 0);

    const batchOfDoc0 = planned.findIndex((b) => b.includes(0));
    const rowOfDoc0 = planned[batchOfDoc0].indexOf(0) * batches[batchOfDoc0].T + docs[0].length - 1;
    let probe: HfLmBenchResult['probe'];
    const runBatch: Record<HfPassKind, (b: { tokens: Int32Array; B: number; T: number }, index: number) => Promise<void>> = {
      extract: async ({ tokens: ids, B, T }) => {
        const { captured } = model.forward(ids, B, T, { capture: [spec.site], until: spec.site });
        const x = captured.get(spec.site)!;
        await x.data();
        x.dispose();
      },
      full: async ({ tokens: ids, B, T }, index) => {
        if (spec.probe && !probe && index === batchOfDoc0) {
          const { logits, captured } = model.forward(ids, B, T, { capture: [spec.site] });
          const rows = [tf.slice(captured.get(spec.site)!, [rowOfDoc0, 0], [1, c.dim]), tf.slice(logits!, [rowOfDoc0, 0], [1, c.vocabSize])];
          const [res, lg] = await Promise.all(rows.map((t) => t.data()));
          probe = { residual: Array.from(res), logits: Array.from(lg) };
          tf.dispose([...rows, logits!, ...captured.values()]);
          return;
        }
        const { logits } = model.forward(ids, B, T);
        const one = tf.slice(logits!, [B * T - 1, 0], [1, 1]);
        await one.data();
        tf.dispose([one, logits!]);
      },
    };
    const time = async (kind: HfPassKind): Promise<HfPassTiming> => {
      let warmupMs = 0;
      if (!spec.noWarmup) {
        const w0 = performance.now();
        await runBatch[kind](batches[0], 0);
        warmupMs = performance.now() - w0;
        sample(forward);
      }
      let passes = 0;
      let elapsed = 0;
      let fastest = Infinity;
      const cpu0 = env.cpuSeconds?.();
      while (passes < spec.maxPasses && (passes === 0 || elapsed < spec.budgetMs)) {
        let pass = 0;
        for (const [i, b] of batches.entries()) {
          const b0 = performance.now();
          await runBatch[kind](b, i);
          pass += performance.now() - b0;
          sample(forward);
        }
        elapsed += pass;
        fastest = Math.min(fastest, pass);
        passes += 1;
      }
      const msPerPass = elapsed / passes;
      const cpuS = cpu0 === undefined ? undefined : env.cpuSeconds!() - cpu0;
      return { passes, msPerPass, tokensPerS: tokens / (msPerPass / 1000), warmupMs, fastestMsPerPass: fastest, ...(cpuS === undefined ? {} : { cpuS }) };
    };

    const numTensorsBefore = tf.memory().numTensors;
    const timings: Partial<Record<HfPassKind, HfPassTiming>> = {};
    for (const kind of spec.kinds) timings[kind] = await time(kind);
    const numTensorsAfter = tf.memory().numTensors;
    result = {
      backend: tf.getBackend(),
      model: { modelType: c.modelType, dim: c.dim, nLayers: c.nLayers, nHeads: c.nHeads, vocabSize: c.vocabSize, seqLen: c.seqLen, parameters: hf.parameters, dtypes: hf.dtypes, fileBytes },
      documents: docs.length,
      tokens,
      paddedTokens,
      batches: batches.length,
      batchTokenBudget: budget,
      attention: model.attention === 'auto' ? (perHeadAttention() ? 'per_head' : 'batched') : model.attention,
      site: spec.site,
      load: { readMs: t1 - t0, parseMs: t2 - t1, buildMs: t3 - t2, totalMs: t3 - t0 },
      ...timings,
      memory: { source: env.memorySource, load, forward, samples },
      numTensorsAtStart,
      numTensorsBefore,
      numTensorsAfter,
      numTensorsAtEnd: numTensorsAtStart,
      probe,
    };
  } finally {
    model.dispose();
  }
  result.numTensorsAtEnd = tf.memory().numTensors;
  return result;
}
