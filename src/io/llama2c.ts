// llama2.c checkpoints and tokenizers (Karpathy's run.c formats), and run.c's BPE encoding.
//
// Checkpoint, legacy "version 0" (what run.c reads): 7 × int32 header
//   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
// (vocab_size > 0: the classifier is the token embedding; < 0: a separate classifier follows),
// then float32 arrays, each [out, in] row-major (y = W·x): token_embedding [V, D], rms_att [L, D],
// wq [L, D, D], wk [L, KV, D], wv [L, KV, D], wo [L, D, D], rms_ffn [L, D], w1 [L, H, D],
// w2 [L, D, H], w3 [L, H, D], rms_final [D], the unused RoPE tables freq_cis_real/imag
// [seq_len, head_size/2] each, and wcls [V, D] when not shared.
// Checkpoint "version 1" (export.py --version 1): a 256-byte header (magic "ak42", version 1, the
// same 7 ints, a shared-classifier byte), then rms_att, rms_ffn, rms_final, token_embedding, wq,
// wk, wv, wo, w1, w2, w3 (same shapes), and wcls when not shared.
//
// Tokenizer (tokenizer.bin): uint32 max_token_length, then per token float32 score, uint32 byte
// length, the piece's UTF-8 bytes (SentencePiece's ▁ already a space).
import type { TextTokenizer } from './tokenizer';
import { transpose, type BlockWeights, type TransformerWeights } from './transformerWeights';

export class Llama2cError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Llama2cError';
  }
}

export interface LlamaConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

/** Weights as run.c lays them out (per-layer arrays stacked along the first axis). */
export interface LlamaWeights {
  tokenEmbedding: Float32Array; // [V, D]
  rmsAtt: Float32Array; // [L, D]
  wq: Float32Array; // [L, D, D]
  wk: Float32Array; // [L, KV, D]
  wv: Float32Array; // [L, KV, D]
  wo: Float32Array; // [L, D, D]
  rmsFfn: Float32Array; // [L, D]
  w1: Float32Array; // [L, H, D]
  w2: Float32Array; // [L, D, H]
  w3: Float32Array; // [L, H, D]
  rmsFinal: Float32Array; // [D]
  /** The classifier [V, D]; the token embedding itself when shared. */
  wcls: Float32Array;
}

export interface LlamaCheckpoint {
  config: LlamaConfig;
  weights: LlamaWeights;
  format: 'llama2c-v0' | 'llama2c-v1';
  parameters: number;
}

const V1_MAGIC = 0x616b3432; // "ak42" read as a little-endian uint32
const V1_HEADER_BYTES = 256;
const HOW_TO_EXPORT = 'write it with llama2.c export.py (--version 0 or 1, float32)';

/** Whether the first bytes look like a llama2.c checkpoint header (cheap, for recognising files). */
export function looksLikeLlama2cCheckpoint(head: Uint8Array, fileSize: number): boolean {
  try {
    const { config, headerBytes, version } = readHeader(head);
    return expectedBytes(config, headerBytes, version).some((n) => n === fileSize);
  } catch {
    return false;
  }
}

/**
 * Whether the first bytes hold a plausible llama2.c header, whatever the file size (so that a
 * truncated checkpoint is reported as one rather than taken for raw data).
 */
export function hasLlama2cHeader(head: Uint8Array): boolean {
  try {
    readHeader(head);
    return true;
  } catch {
    return false;
  }
}

function readHeader(head: Uint8Array): { config: LlamaConfig; headerBytes: number; version: 0 | 1 } {
  if (head.byteLength < 28) throw new Llama2cError('the file is shorter than the 28-byte header');
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let version: 0 | 1 = 0;
  let at = 0;
  let headerBytes = 28;
  if (view.getUint32(0, true) === V1_MAGIC) {
    if (head.byteLength < 37) throw new Llama2cError('the version-1 header is cut short');
    const v = view.getInt32(4, true);
    if (v !== 1) throw new Llama2cError(`it is llama2.c export version ${v}; only version 0 (legacy) and 1 (float32) hold float32 weights — ${HOW_TO_EXPORT}`);
    version = 1;
    at = 8;
    headerBytes = V1_HEADER_BYTES;
  }
  const ints = Array.from({ length: 7 }, (_, i) => view.getInt32(at + 4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSigned, seqLen] = ints;
  const sharedClassifier = version === 1 ? view.getUint8(36) === 1 : vocabSigned > 0;
  const config: LlamaConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabSigned), seqLen, sharedClassifier };
  const problem = !(dim > 0 && dim <= 65536) ? `dim ${dim} is not in 1–65,536`
    : !(hiddenDim > 0 && hiddenDim <= 1 << 20) ? `hidden_dim ${hiddenDim} is not in 1–1,048,576`
    : !(nLayers > 0 && nLayers <= 1024) ? `n_layers ${nLayers} is not in 1–1,024`
    : !(nHeads > 0 && dim % nHeads === 0) ? `n_heads ${nHeads} does not divide dim ${dim}`
    : (dim / nHeads) % 2 !== 0 ? `the head size dim / n_heads = ${dim / nHeads} is odd (RoPE needs it even)`
    : !(nKvHeads > 0 && nHeads % nKvHeads === 0) ? `n_kv_heads ${nKvHeads} does not divide n_heads ${nHeads}`
    : !(config.vocabSize > 0 && config.vocabSize <= 1 << 22) ? `vocab_size ${vocabSigned} is not in 1–4,194,304`
    : !(seqLen > 0 && seqLen <= 1 << 20) ? `seq_len ${seqLen} is not in 1–1,048,576` : null;
  if (problem) throw new Llama2cError(`the header [${ints.join(', ')}] (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len) is not a llama2.c model: ${problem}`);
  return { config, headerBytes, version };
}

/**
 * Whether the first bytes are shaped like a llama2.c header even if its values are not a model:
 * the "ak42" magic of version 1, or seven int32 that are all small non-zero integers. Float data
 * read as int32 is never that small (those bit patterns are denormals below 1e-38), so a .bin with
 * such a start is a damaged checkpoint rather than raw activations.
 */
export function looksLikeLlama2cHeader(head: Uint8Array): boolean {
  if (head.byteLength < 28) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0, true) === V1_MAGIC) return true;
  for (let i = 0; i < 7; i++) {
    const v = Math.abs(view.getInt32(4 * i, true));
    if (v < 1 || v > 1 << 24) return false;
  }
  return true;
}

/** Float counts of the arrays in file order. */
function layoutOf(c: LlamaConfig, version: 0 | 1): [keyof LlamaWeights | 'freqCis', number][] {
  const { dim: D, hiddenDim: H, nLayers: L, vocabSize: V } = c;
  const hs = D / c.nHeads;
  const kv = c.nKvHeads * hs;
  const blocks: [keyof LlamaWeights, number][] = [
    ['wq', L * D * D], ['wk', L * kv * D], ['wv', L * kv * D], ['wo', L * D * D],
  ];
  const ffn: [keyof LlamaWeights, number][] = [['w1', L * H * D], ['w2', L * D * H], ['w3', L * H * D]];
  const cls: [keyof LlamaWeights, number][] = c.sharedClassifier ? [] : [['wcls', V * D]];
  if (version === 1) {
    return [['rmsAtt', L * D], ['rmsFfn', L * D], ['rmsFinal', D], ['tokenEmbedding', V * D], ...blocks, ...ffn, ...cls];
  }
  return [['tokenEmbedding', V * D], ['rmsAtt', L * D], ...blocks, ['rmsFfn', L * D], ...ffn, ['rmsFinal', D], ['freqCis', c.seqLen * hs], ...cls];
}

function expectedBytes(c: LlamaConfig, headerBytes: number, version: 0 | 1): number[] {
  const floats = layoutOf(c, version).reduce((s, [, n]) => s + n, 0);
  return [headerBytes + 4 * floats];
}

/** Parse a whole checkpoint file. Errors name the file, what is wrong and how to fix it. */
export function parseLlama2cCheckpoint(bytes: Uint8Array, name: string): LlamaCheckpoint {
  let header;
  try {
    header = readHeader(bytes);
  } catch (e) {
    throw new Llama2cError(`${name} is not a llama2.c checkpoint: ${(e as Error).message}. Give a model .bin that llama2.c's run.c reads (${HOW_TO_EXPORT}).`);
  }
  const { config, headerBytes, version } = header;
  const [expected] = expectedBytes(config, headerBytes, version);
  if (bytes.byteLength !== expected) {
    const how = bytes.byteLength < expected ? 'the file is truncated; copy it again' : 'extra bytes follow the weights; it may be a quantised (version 2) or another format';
    throw new Llama2cError(`${name} has ${bytes.byteLength.toLocaleString('en-US')} bytes, but a llama2.c model with dim ${config.dim}, hidden ${config.hiddenDim}, ${config.nLayers} layers, ${config.nHeads}/${config.nKvHeads} heads, vocab ${config.vocabSize}, seq_len ${config.seqLen}${config.sharedClassifier ? '' : ' and a separate classifier'} has ${expected.toLocaleString('en-US')}: ${how}.`);
  }
  // Copy out of the file so that the weights are 4-byte aligned whatever the header length.
  const floats = new Float32Array(bytes.slice(headerBytes).buffer);
  const out: Partial<LlamaWeights> = {};
  let at = 0;
  let parameters = 0;
  for (const [key, n] of layoutOf(config, version)) {
    const arr = floats.subarray(at, at + n);
    at += n;
    if (key === 'freqCis') continue;
    out[key] = arr;
    parameters += n;
  }
  if (config.sharedClassifier) out.wcls = out.tokenEmbedding;
  const weights = out as LlamaWeights;
  for (const [key, arr] of Object.entries(weights)) {
    const bad = (arr as Float32Array).findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Llama2cError(`${name}: weight ${key} holds a non-finite value (${(arr as Float32Array)[bad]}) at index ${bad}; the checkpoint is damaged.`);
  }
  return { config, weights, format: version === 0 ? 'llama2c-v0' : 'llama2c-v1', parameters };
}

// ---- tokenizer ---------------------------------------------------------------------------------

export interface Llama2cTokenizer extends TextTokenizer {
  kind: 'llama2c';
  maxTokenLength: number;
  /** Each piece's bytes as a "binary" string (one char per byte), as run.c compares them. */
  pieces: string[];
  scores: Float32Array;
  /** Pieces for display: UTF-8 text; BOS/EOS as `<s>` / `</s>`. */
  display: string[];
  /** Piece bytes → id (the first id when a piece repeats, like run.c's sorted lookup). */
  lookup: Map<string, number>;
  bos: number;
  eos: number;
}

/** Whether a file parses as a tokenizer.bin (entries end exactly at the end of the file). */
export function looksLikeLlama2cTokenizer(bytes: Uint8Array): boolean {
  try {
    parseLlama2cTokenizer(bytes, 'tokenizer');
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a file starts like a tokenizer.bin (a plausible max token length, then at least three
 * entries of a finite score, a length within it and the bytes), even if it is cut short or damaged
 * further on: such a file gets the tokenizer's own message rather than being taken for raw data.
 * With `anyMaxLength` the max token length itself may be damaged (the entries decide).
 */
export function looksLikeLlama2cTokenizerStart(bytes: Uint8Array, opts: { anyMaxLength?: boolean } = {}): boolean {
  if (bytes.byteLength < 4) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getUint32(0, true);
  if (!opts.anyMaxLength && (declared < 1 || declared > 4096)) return false;
  const maxTokenLength = opts.anyMaxLength ? 64 : declared;
  let at = 4;
  for (let i = 0; i < 3; i++) {
    if (at + 8 > bytes.byteLength) return false;
    const len = view.getUint32(at + 4, true);
    if (!Number.isFinite(view.getFloat32(at, true)) || len < 1 || len > maxTokenLength || at + 8 + len > bytes.byteLength) return false;
    at += 8 + len;
  }
  return true;
}

/**
 * A tokenizer.bin. Without `vocabSize`, entries are read to the end of the file (so trailing bytes
 * read as a token cut short); with it, as run.c does, only that many (trailing data is ignored).
 */
export function parseLlama2cTokenizer(bytes: Uint8Array, name: string, vocabSize?: number): Llama2cTokenizer {
  const fail = (why: string) => new Llama2cError(`${name} is not a llama2.c tokenizer: ${why}. Give the tokenizer.bin written by llama2.c's tokenizer.py export() for this model.`);
  if (bytes.byteLength < 4) throw fail('it is shorter than its 4-byte header');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const maxTokenLength = view.getUint32(0, true);
  if (maxTokenLength < 1 || maxTokenLength > 4096) throw fail(`the max token length ${maxTokenLength} is implausible`);
  const pieces: string[] = [];
  const scores: number[] = [];
  let at = 4;
  while (at < bytes.byteLength && (vocabSize === undefined || pieces.length < vocabSize)) {
    if (at + 8 > bytes.byteLength) throw fail(`token ${pieces.length} is cut short at byte ${at}: the file (${bytes.byteLength} bytes) ends inside it, so it is truncated or has extra bytes; copy it again`);
    const score = view.getFloat32(at, true);
    const len = view.getUint32(at + 4, true);
    if (!Number.isFinite(score)) throw fail(`token ${pieces.length} has score ${score} (at byte ${at}), so the file is damaged`);
    if (len > maxTokenLength + 16) throw fail(`token ${pieces.length} declares ${len} bytes at byte ${at}, more than the max token length ${maxTokenLength}, so the file is damaged`);
    if (at + 8 + len > bytes.byteLength) throw fail(`token ${pieces.length} declares ${len} bytes at byte ${at} but the file ends at byte ${bytes.byteLength}, so it is truncated; copy it again`);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(bytes[at + 8 + i]);
    pieces.push(s);
    scores.push(score);
    at += 8 + len;
  }
  if (pieces.length === 0) throw fail('it holds no tokens');
  if (vocabSize !== undefined && pieces.length < vocabSize) throw fail(`it has ${pieces.length} tokens but the model's vocabulary has ${vocabSize}`);
  const lookup = new Map<string, number>();
  pieces.forEach((p, i) => { if (!lookup.has(p)) lookup.set(p, i); });
  const decoder = new TextDecoder('utf-8');
  const display = pieces.map((p) => {
    const text = decoder.decode(Uint8Array.from(p, (c) => c.charCodeAt(0)));
    return text.trim() === '<s>' || text.trim() === '</s>' ? text.trim() : text;
  });
  const bos = display.indexOf('<s>');
  const eos = display.indexOf('</s>');
  const tok: Llama2cTokenizer = {
    kind: 'llama2c', maxTokenLength, pieces, scores: Float32Array.from(scores), display, lookup, bos: bos >= 0 ? bos : 1, eos: eos >= 0 ? eos : 2,
    bosId: bos >= 0 ? bos : 1,
    encode: (text, opts) => encodeLlama2c(tok, text, opts),
    decode: (ids) => decodeLlama2c(tok, ids),
  };
  return tok;
}

/** The tokenizer with the model's vocabulary size checked (extra trailing entries are ignored). */
export function checkTokenizerFits(tok: Llama2cTokenizer, vocabSize: number, name: string): void {
  if (tok.pieces.length < vocabSize) {
    throw new Llama2cError(`${name} has ${tok.pieces.length} tokens but the model's vocabulary has ${vocabSize}; give the tokenizer the model was trained with.`);
  }
}

const utf8 = new TextEncoder();

/**
 * Token ids of `text` exactly as run.c's encode(text, bos=1, eos=0): BOS, then (for non-empty
 * text) the dummy-prefix piece " ", then each code point's piece or, lacking one, its UTF-8 bytes
 * as byte-fallback tokens (id = byte + 3), then repeatedly the adjacent pair whose concatenation
 * is a piece with the highest score is merged (leftmost on ties) until none merges.
 *
 * run.c rescans the whole sequence per merge (quadratic); a heap of candidate pairs keyed by
 * (score, left position) with stale entries skipped makes the same merges in n·log n.
 */
export function encodeLlama2c(tok: Llama2cTokenizer, text: string, opts: { bos?: boolean } = {}): Int32Array {
  const ids: number[] = [];
  if (text.length > 0) {
    const space = tok.lookup.get(' ');
    if (space !== undefined) ids.push(space);
    for (const ch of text) {
      const bytes = utf8.encode(ch);
      let key = '';
      for (const b of bytes) key += String.fromCharCode(b);
      const id = tok.lookup.get(key);
      if (id !== undefined) ids.push(id);
      else for (const b of bytes) ids.push(b + 3);
    }
  }
  const merged = mergePairs(tok, ids);
  const out = new Int32Array(merged.length + (opts.bos === false ? 0 : 1));
  if (opts.bos !== false) out[0] = tok.bos;
  out.set(merged, opts.bos === false ? 0 : 1);
  return out;
}

function mergePairs(tok: Llama2cTokenizer, ids: number[]): number[] {
  const n = ids.length;
  if (n < 2) return ids;
  const id = Int32Array.from(ids);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
  // Heap entries: [score, left, right, leftId, rightId, mergedId]; stale when either side changed.
  const heap: number[][] = [];
  const better = (a: number[], b: number[]) => a[0] > b[0] || (a[0] === b[0] && a[1] < b[1]);
  const push = (e: number[]) => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!better(heap[i], heap[p])) break;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  const pop = (): number[] => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < heap.length && better(heap[l], heap[m])) m = l;
        if (r < heap.length && better(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  };
  const consider = (left: number) => {
    const right = next[left];
    if (left < 0 || right < 0) return;
    const m = tok.lookup.get(tok.pieces[id[left]] + tok.pieces[id[right]]);
    if (m !== undefined) push([tok.scores[m], left, right, id[left], id[right], m]);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.length > 0) {
    const [, left, right, leftId, rightId, m] = pop();
    if (!alive[left] || !alive[right] || next[left] !== right || id[left] !== leftId || id[right] !== rightId) continue;
    id[left] = m;
    alive[right] = 0;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    if (prev[left] >= 0) consider(prev[left]);
    consider(left);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(id[i]);
  return out;
}

/** Text of token ids as run.c's decode prints it (a piece `<0xNN>` is byte NN; the space after BOS dropped). */
export function decodeLlama2c(tok: Llama2cTokenizer, ids: ArrayLike<number>): string {
  const bytes: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (t === tok.bos || t === tok.eos) continue;
    let piece = tok.pieces[t] ?? '';
    if (i > 0 && ids[i - 1] === tok.bos && piece.startsWith(' ')) piece = piece.slice(1);
    const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (byte) bytes.push(parseInt(byte[1], 16));
    else for (const c of piece) bytes.push(c.charCodeAt(0));
  }
  return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
}

/** The checkpoint as the engine's transformer description (matrices [in, out]; RoPE on pairs (2i, 2i+1), as run.c). */
export function llama2cTransformer(ckpt: LlamaCheckpoint): TransformerWeights {
  const c = ckpt.config;
  const w = ckpt.weights;
  const D = c.dim, H = c.hiddenDim, V = c.vocabSize;
  const hs = D / c.nHeads;
  const KV = c.nKvHeads * hs;
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const slice = (a: Float32Array, n: number) => a.subarray(l * n, (l + 1) * n);
    /** A run.c matrix [out, in] as [in, out]. */
    const linear = (a: Float32Array, out: number, inn: number) => ({ w: transpose(slice(a, out * inn), out, inn) });
    blocks.push({
      ln1: { weight: slice(w.rmsAtt, D) },
      ln2: { weight: slice(w.rmsFfn, D) },
      q: linear(w.wq, D, D),
      k: linear(w.wk, KV, D),
      v: linear(w.wv, KV, D),
      o: linear(w.wo, D, D),
      gate: linear(w.w1, H, D),
      up: linear(w.w3, H, D),
      down: linear(w.w2, D, H),
    });
  }
  return {
    arch: {
      family: 'llama2c', modelType: 'llama2c', dim: D, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headSize: hs,
      hiddenDim: H, vocabSize: V, seqLen: c.seqLen, norm: 'rmsnorm', normEps: 1e-5, positions: 'rotary',
      rotary: { dims: hs, theta: 10000, layout: 'interleaved' }, mlp: 'swiglu', parallelResidual: false,
    },
    embedding: w.tokenEmbedding,
    blocks,
    lnFinal: { weight: w.rmsFinal },
    unembed: { w: transpose(w.wcls, V, D) },
    unembedTied: c.sharedClassifier,
  };
}
