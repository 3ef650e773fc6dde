// One language-model benchmark measurement on whatever tfjs backend is active: tokens/s of the
// llama2.c model's forward pass over a tokenised corpus, batched as the app batches it
// (planBatches with batchTokenBudget), two ways:
//   - full: every batch to the logits, each batch synchronised by reading one logit back (the
//     pass is computed but its [B·T, V] logits are not copied out);
//   - extract: extractActivations to one site (what "extract activations" in the app runs: the
//     pass stops at that site and its residuals are read back into the dataset).
// One warm-up pass of each (shader compilation, kernel set-up) and then timed passes until either
// the pass count or the time budget runs out. Used by `npm run bench:lm` in Node and by the
// bench page's LM worker in the browser, so both measure the same code. Pure tfjs, no DOM.
import * as tf from '@tensorflow/tfjs';
import { extractActivations, tokenizeCorpus, type TokenizedCorpus } from '../data/textCorpus';
import { parseLlama2cCheckpoint, parseLlama2cTokenizer } from '../io/llama2c';
import { batchTokenBudget, padBatch, planBatches } from '../engine/lm/batching';
import { LlamaModel, perHeadAttention } from '../engine/lm/llama';

export interface LmBenchSpec {
  /** Residual site the extraction pass stops at (default 3). */
  site?: number;
  /** At most this many timed passes of each kind (after one warm-up pass). */
  maxPasses: number;
  /** Stop timing a kind once its timed passes have taken this long (at least one pass runs). */
  budgetMs: number;
  /**
   * Time a subset of about this many tokens when the corpus is larger (every k-th document, so
   * the mix of lengths stays alike): for the slow software backends, where one pass over
   * everything takes minutes.
   */
  maxTokens?: number;
}

export interface LmPassTiming {
  passes: number;
  msPerPass: number;
  /** Corpus tokens (BOS included, padding excluded) per second. */
  tokensPerS: number;
  /** The warm-up pass, for comparison (includes compilation). */
  warmupMs: number;
}

export interface LmBenchResult {
  backend: string;
  model: { dim: number; nLayers: number; nHeads: number; nKvHeads: number; vocabSize: number; seqLen: number; parameters: number };
  /** Documents of one pass (fewer than the text's when `maxTokens` cut it). */
  documents: number;
  documentsInText: number;
  /** Tokens of one pass (BOS included). */
  tokens: number;
  /** Padded tokens of one pass (what the kernels process). */
  paddedTokens: number;
  batches: number;
  batchTokenBudget: number;
  attention: 'per_head' | 'batched';
  site: number;
  full: LmPassTiming;
  extract: LmPassTiming;
  /** tf.memory().numTensors with the model loaded, before the warm-up passes and after the timed ones (equal when nothing leaks). */
  numTensorsBefore: number;
  numTensorsAfter: number;
  /** numTensors before the model was made and after it was disposed. */
  numTensorsAtStart: number;
  numTensorsAtEnd: number;
}

export interface LmBenchInput {
  modelBytes: Uint8Array;
  tokenizerBytes: Uint8Array;
  text: string;
  name?: string;
}

/** Parse the model, tokenizer and text, then time the passes on the active backend. */
export async function benchLmForward(input: LmBenchInput, spec: LmBenchSpec): Promise<LmBenchResult> {
  const ckpt = parseLlama2cCheckpoint(input.modelBytes, 'model.bin');
  const tok = parseLlama2cTokenizer(input.tokenizerBytes, 'tokenizer.bin', ckpt.config.vocabSize);
  const corpus = subset(tokenizeCorpus(tok, input.text, input.name ?? 'text', ckpt.config.seqLen), spec.maxTokens);
  const site = spec.site ?? 3;
  const c = ckpt.config;
  if (site < 0 || site > c.nLayers) throw new Error(`site ${site} does not exist: the model's sites are 0 … ${c.nLayers}`);

  const numTensorsAtStart = tf.memory().numTensors;
  const model = new LlamaModel(ckpt);
  let result: LmBenchResult;
  try {
    const docs = corpus.documents;
    const budget = batchTokenBudget(model);
    const batches = planBatches(docs.map((d) => d.length), budget).map((b) => padBatch(docs, b));
    const paddedTokens = batches.reduce((s, b) => s + b.B * b.T, 0);

    const fullPass = async () => {
      for (const { tokens, B, T } of batches) {
        const { logits } = model.forward(tokens, B, T);
        // Wait for this batch's work without copying the logits out: read the last row's first logit.
        const probe = tf.slice(logits!, [B * T - 1, 0], [1, 1]);
        await probe.data();
        tf.dispose([probe, logits!]);
      }
    };
    const extractPass = async () => {
      await extractActivations(model, tok, corpus, { sites: [site] });
    };

    const time = async (pass: () => Promise<void>): Promise<LmPassTiming> => {
      let t0 = performance.now();
      await pass();
      const warmupMs = performance.now() - t0;
      let passes = 0;
      let elapsed = 0;
      while (passes < spec.maxPasses && (passes === 0 || elapsed < spec.budgetMs)) {
        t0 = performance.now();
        await pass();
        elapsed += performance.now() - t0;
        passes += 1;
      }
      const msPerPass = elapsed / passes;
      return { passes, msPerPass, tokensPerS: corpus.tokens / (msPerPass / 1000), warmupMs };
    };

    const numTensorsBefore = tf.memory().numTensors;
    const full = await time(fullPass);
    const extract = await time(extractPass);
    const numTensorsAfter = tf.memory().numTensors;
    result = {
      backend: tf.getBackend(),
      model: { dim: c.dim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, vocabSize: c.vocabSize, seqLen: c.seqLen, parameters: ckpt.parameters },
      documents: docs.length,
      documentsInText: corpus.documentsInText,
      tokens: corpus.tokens,
      paddedTokens,
      batches: batches.length,
      batchTokenBudget: budget,
      attention: model.attention === 'auto' ? (perHeadAttention() ? 'per_head' : 'batched') : model.attention,
      site,
      full,
      extract,
      numTensorsBefore,
      numTensorsAfter,
      numTensorsAtStart,
      numTensorsAtEnd: numTensorsAtStart,
    };
  } finally {
    model.dispose();
  }
  result.numTensorsAtEnd = tf.memory().numTensors;
  return result;
}

/** Every k-th document when the corpus has more than `maxTokens` tokens. */
function subset(corpus: TokenizedCorpus, maxTokens?: number): TokenizedCorpus & { documentsInText: number } {
  const documentsInText = corpus.documents.length;
  if (!maxTokens || corpus.tokens <= maxTokens) return { ...corpus, documentsInText };
  const k = Math.ceil(corpus.tokens / maxTokens);
  const documents = corpus.documents.filter((_, i) => i % k === 0);
  return { ...corpus, documents, tokens: documents.reduce((s, d) => s + d.length, 0), documentsInText };
}
