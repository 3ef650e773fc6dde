// Text → documents → token ids → residual-stream activations of a language model: a dataset with
// its tokens, positions, document ids and vocabulary, ready to train on.
import * as tf from '@tensorflow/tfjs';
import { batchTokenBudget, padBatch, planBatches } from '../engine/lm/batching';
import { siteProblem } from '../engine/lm/hooks';
import type { TransformerModel } from '../engine/lm/transformer';
import type { TextTokenizer } from '../io/tokenizer';
import type { Dataset } from './dataset';
import { siteName } from './sites';

export const DOCUMENT_SEPARATOR = '<|endoftext|>';

/**
 * Documents of a text: pieces between lines that read `<|endoftext|>` (TinyStories), or, when no
 * such line exists, one document per non-empty line. Each is stripped of surrounding whitespace.
 */
export function splitDocuments(text: string): string[] {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const separated = lines.some((l) => l.trim() === DOCUMENT_SEPARATOR);
  const docs = separated ? joinBetweenSeparators(lines) : lines;
  return docs.map((d) => d.trim()).filter((d) => d.length > 0);
}

function joinBetweenSeparators(lines: string[]): string[] {
  const docs: string[] = [];
  let current: string[] = [];
  for (const line of lines) {
    if (line.trim() === DOCUMENT_SEPARATOR) { docs.push(current.join('\n')); current = []; } else current.push(line);
  }
  docs.push(current.join('\n'));
  return docs;
}

/**
 * Documents are cut to the model's context, and to at most this many tokens: attention costs T²
 * per head, and long-context models (8k and more) would take gigabytes for one document. SAEs are
 * trained on contexts of 128–1,024 tokens (gpt2-small-res-jb: 128).
 */
export const MAX_DOCUMENT_TOKENS = 1024;

export function documentLimit(seqLen: number): number {
  return Math.min(seqLen, MAX_DOCUMENT_TOKENS);
}

export interface TokenizedCorpus {
  name: string;
  /** Token ids per document (BOS first when `bos`), at most `limit` long. */
  documents: Int32Array[];
  /** Whether every document starts with BOS (TransformerLens's prepend_bos). */
  bos: boolean;
  /** Documents cut to the context length. */
  truncated: number;
  /** The length they were cut to. */
  limit: number;
  tokens: number;
}

/**
 * Each document as [BOS] + its tokens (as llama2.c and TransformerLens's prepend_bos do; its
 * tokens alone with `bos` false), cut to `maxLength` tokens.
 */
export function tokenizeCorpus(tok: TextTokenizer, text: string, name: string, maxLength: number, bos = true): TokenizedCorpus {
  const documents: Int32Array[] = [];
  let truncated = 0;
  let tokens = 0;
  for (const doc of splitDocuments(text)) {
    let ids = tok.encode(doc, { bos });
    if (ids.length > maxLength) { ids = ids.slice(0, maxLength); truncated += 1; }
    documents.push(ids);
    tokens += ids.length;
  }
  return { name, documents, truncated, tokens, limit: maxLength, bos };
}

export interface ExtractOptions {
  /** Residual sites (0 … n_layers) to record, in the order the dataset's layers take. */
  sites: number[];
  /** Keep the BOS position's rows (default false: its residual is the same large vector in every document). */
  includeBos?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface ExtractedActivations {
  dataset: Dataset;
  tokens: Int32Array;
  positions: Int32Array;
  docIds: Int32Array;
  vocab: string[];
  /** Forward-pass tokens per second (BOS and padding excluded from the count, as real work). */
  tokensPerSecond: number;
}

/**
 * Run the model over the corpus and record the residuals at `sites` for every position (BOS
 * dropped by default): rows in document order, each [sites·d] layer-major.
 */
export async function extractActivations(model: TransformerModel, tok: TextTokenizer, corpus: TokenizedCorpus, opts: ExtractOptions): Promise<ExtractedActivations> {
  const { sites } = opts;
  const D = model.config.dim;
  const L = sites.length;
  if (L === 0) throw new Error('choose at least one layer to record');
  for (const s of sites) {
    const problem = siteProblem(s, model.config);
    if (problem) throw new Error(Number.isInteger(s) || !Number.isFinite(s) ? `layer ${s} does not exist: the model's residual sites are 0 … ${model.config.nLayers} (${model.config.nLayers} = after the last block)` : problem);
  }
  // Without BOS, position 0 is a token of the text: kept.
  const skip = opts.includeBos || !corpus.bos ? 0 : 1;
  const docs = corpus.documents;
  const rowStart: number[] = [];
  let rows = 0;
  for (const d of docs) { rowStart.push(rows); rows += Math.max(0, d.length - skip); }
  if (rows < 2) throw new Error(`${corpus.name} gives ${rows} activation row(s); give more text (at least a few sentences).`);
  const data = new Float32Array(rows * L * D);
  const tokens = new Int32Array(rows);
  const positions = new Int32Array(rows);
  const docIds = new Int32Array(rows);
  docs.forEach((d, i) => {
    for (let p = skip; p < d.length; p++) {
      const r = rowStart[i] + p - skip;
      tokens[r] = d[p];
      positions[r] = p;
      docIds[r] = i;
    }
  });
  // The pass runs through the block of the deepest site.
  const last = Math.ceil(Math.max(...sites));
  const batches = planBatches(docs.map((d) => d.length), batchTokenBudget(model));
  const t0 = performance.now();
  let done = 0;
  for (const batch of batches) {
    const { tokens: ids, B, T } = padBatch(docs, batch);
    const { captured } = model.forward(ids, B, T, { capture: sites, until: last });
    const values = await Promise.all(sites.map((s) => captured.get(s)!.data() as Promise<Float32Array>));
    tf.dispose([...captured.values()]);
    batch.forEach((doc, b) => {
      for (let p = skip; p < docs[doc].length; p++) {
        const r = rowStart[doc] + p - skip;
        values.forEach((v, l) => data.set(v.subarray((b * T + p) * D, (b * T + p + 1) * D), (r * L + l) * D));
      }
      done += 1;
    });
    opts.onProgress?.(done, docs.length);
  }
  const seconds = (performance.now() - t0) / 1000;
  const siteNames = sites.map((s) => siteName(s, model.config.nLayers)).join(', ');
  const dataset: Dataset = {
    name: `${corpus.name} @ ${siteNames}`,
    rows, dIn: D, nLayers: L, data, dtype: 'float32',
    description: `${L === 1 ? `[${rows}, ${D}]` : `[${L}, ${rows}, ${D}]`} residuals (${siteNames}) of ${docs.length} documents of ${corpus.name}${opts.includeBos ? '' : ', BOS dropped'}`,
    sites: sites.slice(),
  };
  return { dataset, tokens, positions, docIds, vocab: tok.display.slice(0, model.config.vocabSize), tokensPerSecond: corpus.tokens / Math.max(seconds, 1e-9) };
}
