// Helpers for the language-model tests, written from llama2.c (export.py, tokenizer.py, run.c)
// rather than from src/io/llama2c.ts or ./llama.ts: random weights, the v0 and v1 checkpoint
// layouts and tokenizer.bin byte by byte, and run.c's forward pass token by token with a KV cache
// in float64 — the reference the tfjs model is checked against. Also a PCA splice source (a
// plain-array PCA of residuals), the baseline both real-data tests compare loss recovered with.
import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig, LlamaWeights } from '../../io/llama2c';
import type { SpliceSource } from './splice';

/** Weights as export.py writes them, each [out, in] row-major, per-layer arrays stacked; wcls only when not shared. */
export type RawWeights = Omit<LlamaWeights, 'wcls'> & { wcls?: Float32Array };

export const WEIGHT_NAMES = ['tokenEmbedding', 'rmsAtt', 'wq', 'wk', 'wv', 'wo', 'rmsFfn', 'w1', 'w2', 'w3', 'rmsFinal'] as const;

export function tinyConfig(over: Partial<LlamaConfig> = {}): LlamaConfig {
  return { dim: 16, hiddenDim: 24, nLayers: 3, nHeads: 4, nKvHeads: 2, vocabSize: 40, seqLen: 32, sharedClassifier: true, ...over };
}

/** Uniform draws in [0, 1) from a seeded mulberry32 (independent of src/engine/rng). */
export function uniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws (Box–Muller). */
export function gaussian(seed: number): () => number {
  const u = uniform(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Matrices ~ N(0, scale²); the norm weights 1 + N(0, scale²) so that no channel is switched off. */
export function randomWeights(c: LlamaConfig, seed: number, scale = 0.3): RawWeights {
  const g = gaussian(seed);
  const { dim: D, hiddenDim: H, nLayers: L, vocabSize: V } = c;
  const KV = (D / c.nHeads) * c.nKvHeads;
  const normal = (n: number) => Float32Array.from({ length: n }, () => scale * g());
  const norm = (n: number) => Float32Array.from({ length: n }, () => 1 + scale * g());
  return {
    tokenEmbedding: normal(V * D), rmsAtt: norm(L * D), wq: normal(L * D * D), wk: normal(L * KV * D), wv: normal(L * KV * D),
    wo: normal(L * D * D), rmsFfn: norm(L * D), w1: normal(L * H * D), w2: normal(L * D * H), w3: normal(L * H * D), rmsFinal: norm(D),
    wcls: c.sharedClassifier ? undefined : normal(V * D),
  };
}

function concatBytes(parts: ArrayBufferView[]): Uint8Array {
  const bytes = parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  const out = new Uint8Array(bytes.reduce((s, b) => s + b.length, 0));
  let at = 0;
  for (const b of bytes) { out.set(b, at); at += b.length; }
  return out;
}

/**
 * export.py legacy_export (version 0): 7 int32 (vocab_size negated when the classifier is
 * separate), the weights, RoPE tables freqs_cos / freqs_sin [seq_len, head_size/2], then wcls.
 */
export function serializeV0(c: LlamaConfig, w: RawWeights): Uint8Array {
  const header = new Int32Array([c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.sharedClassifier ? c.vocabSize : -c.vocabSize, c.seqLen]);
  const hs = c.dim / c.nHeads;
  const cos = new Float32Array(c.seqLen * (hs / 2));
  const sin = new Float32Array(c.seqLen * (hs / 2));
  for (let p = 0; p < c.seqLen; p++) {
    for (let i = 0; i < hs / 2; i++) {
      const angle = p / Math.pow(10000, (2 * i) / hs);
      cos[p * (hs / 2) + i] = Math.cos(angle);
      sin[p * (hs / 2) + i] = Math.sin(angle);
    }
  }
  return concatBytes([header, w.tokenEmbedding, w.rmsAtt, w.wq, w.wk, w.wv, w.wo, w.rmsFfn, w.w1, w.w2, w.w3, w.rmsFinal, cos, sin, ...(c.sharedClassifier ? [] : [w.wcls!])]);
}

/**
 * export.py version 1: a 256-byte header (uint32 0x616b3432, int32 version, the 7 ints, a
 * shared-classifier byte, zero padding), the norms first, then the matrices, then wcls.
 */
export function serializeV1(c: LlamaConfig, w: RawWeights, version = 1): Uint8Array {
  const header = new Uint8Array(256);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, 0x616b3432, true);
  dv.setInt32(4, version, true);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.seqLen].forEach((v, i) => dv.setInt32(8 + 4 * i, v, true));
  header[36] = c.sharedClassifier ? 1 : 0;
  return concatBytes([header, w.rmsAtt, w.rmsFfn, w.rmsFinal, w.tokenEmbedding, w.wq, w.wk, w.wv, w.wo, w.w1, w.w2, w.w3, ...(c.sharedClassifier ? [] : [w.wcls!])]);
}

/** Replaces the residual at (site, position) when it returns a vector. */
export type ResidualHook = (site: number, pos: number, x: Float64Array) => Float64Array | undefined;

export interface ReferenceResult {
  /** [T][V] */
  logits: Float64Array[];
  /** [site][pos][D]: the residual at each site (after the hook), sites 0 … n_layers. */
  residuals: Float64Array[][];
}

/** run.c's forward(), one token after another with a KV cache, in float64. */
export function referenceForward(c: LlamaConfig, w: RawWeights, tokens: ArrayLike<number>, hook?: ResidualHook): ReferenceResult {
  const { dim: D, hiddenDim: H, nLayers: L, nHeads, nKvHeads, vocabSize: V } = c;
  const hs = D / nHeads;
  const kvDim = hs * nKvHeads;
  const kvMul = nHeads / nKvHeads;
  const wcls = c.sharedClassifier ? w.tokenEmbedding : w.wcls!;
  const T = tokens.length;
  const keyCache = Array.from({ length: L }, () => [] as Float64Array[]);
  const valueCache = Array.from({ length: L }, () => [] as Float64Array[]);
  const residuals = Array.from({ length: L + 1 }, () => [] as Float64Array[]);
  const logits: Float64Array[] = [];

  const rmsnorm = (x: Float64Array, weight: Float32Array, offset: number) => {
    let ss = 0;
    for (let j = 0; j < D; j++) ss += x[j] * x[j];
    const inv = 1 / Math.sqrt(ss / D + 1e-5);
    return Float64Array.from(x, (v, j) => weight[offset + j] * (inv * v));
  };
  /** out = W x for W [rows, n] at `offset`. */
  const matvec = (W: Float32Array, offset: number, x: Float64Array, rows: number) => {
    const n = x.length;
    const out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += W[offset + r * n + j] * x[j];
      out[r] = s;
    }
    return out;
  };
  const visit = (site: number, pos: number, x: Float64Array) => {
    const replaced = hook?.(site, pos, x);
    const y = replaced ? Float64Array.from(replaced) : x;
    residuals[site][pos] = Float64Array.from(y);
    return y;
  };

  for (let pos = 0; pos < T; pos++) {
    let x: Float64Array = Float64Array.from(w.tokenEmbedding.subarray(tokens[pos] * D, (tokens[pos] + 1) * D));
    for (let l = 0; l < L; l++) {
      x = visit(l, pos, x);
      const xb = rmsnorm(x, w.rmsAtt, l * D);
      const q = matvec(w.wq, l * D * D, xb, D);
      const k = matvec(w.wk, l * kvDim * D, xb, kvDim);
      const v = matvec(w.wv, l * kvDim * D, xb, kvDim);
      for (let i = 0; i < D; i += 2) {
        const freq = 1 / Math.pow(10000, (i % hs) / hs);
        const fcr = Math.cos(pos * freq), fci = Math.sin(pos * freq);
        const vecs = i < kvDim ? [q, k] : [q];
        for (const vec of vecs) {
          const v0 = vec[i], v1 = vec[i + 1];
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      keyCache[l][pos] = k;
      valueCache[l][pos] = v;
      const att = new Float64Array(D);
      for (let h = 0; h < nHeads; h++) {
        const kvOff = Math.floor(h / kvMul) * hs;
        const scores = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[h * hs + i] * keyCache[l][t][kvOff + i];
          scores[t] = s / Math.sqrt(hs);
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let t = 0; t <= pos; t++) { scores[t] = Math.exp(scores[t] - max); sum += scores[t]; }
        for (let t = 0; t <= pos; t++) for (let i = 0; i < hs; i++) att[h * hs + i] += (scores[t] / sum) * valueCache[l][t][kvOff + i];
      }
      const o = matvec(w.wo, l * D * D, att, D);
      for (let j = 0; j < D; j++) x[j] += o[j];
      const xb2 = rmsnorm(x, w.rmsFfn, l * D);
      const hb = matvec(w.w1, l * H * D, xb2, H);
      const hb2 = matvec(w.w3, l * H * D, xb2, H);
      for (let i = 0; i < H; i++) hb[i] = (hb[i] / (1 + Math.exp(-hb[i]))) * hb2[i];
      const f = matvec(w.w2, l * D * H, hb, D);
      for (let j = 0; j < D; j++) x[j] += f[j];
    }
    x = visit(L, pos, x);
    logits.push(matvec(wcls, 0, rmsnorm(x, w.rmsFinal, 0), V));
  }
  return { logits, residuals };
}

export function logSoftmax(z: Float64Array): Float64Array {
  const max = Math.max(...z);
  let sum = 0;
  for (const v of z) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(z, (v) => v - lse);
}

/** Token ids [BOS = 1, then uniform in 3 … V−1] of the given lengths. */
export function randomDocuments(lengths: number[], vocabSize: number, seed: number): Int32Array[] {
  const u = uniform(seed);
  return lengths.map((n) => Int32Array.from({ length: n }, (_, p) => (p === 0 ? 1 : 3 + Math.floor(u() * (vocabSize - 3)))));
}

/** tokenizer.bin: uint32 max_token_length, then per piece float32 score, uint32 length, bytes. */
export function tokenizerBytes(entries: [string | Uint8Array, number][], maxTokenLength?: number): Uint8Array {
  const pieces = entries.map(([p]) => (typeof p === 'string' ? new TextEncoder().encode(p) : p));
  const out = new Uint8Array(4 + pieces.reduce((s, p) => s + 8 + p.length, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, maxTokenLength ?? Math.max(...pieces.map((p) => p.length)), true);
  let at = 4;
  pieces.forEach((p, i) => {
    dv.setFloat32(at, entries[i][1], true);
    dv.setUint32(at + 4, p.length, true);
    out.set(p, at + 8);
    at += 8 + p.length;
  });
  return out;
}

const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** <unk>, BOS, EOS and the 256 byte pieces <0x00> … <0xFF> (ids 3 … 258), as tokenizer.py writes them. */
export function baseTokenizerEntries(): [string, number][] {
  return [['<unk>', 0], ['\n<s>\n', 0], ['\n</s>\n', 0], ...Array.from({ length: 256 }, (_, b): [string, number] => [hex(b), 0])];
}

/** Splice x̂ = mean + V_k V_kᵀ (x − mean) at one site. */
export function pcaSource(mean: Float32Array, components: Float64Array[], k: number, site: number): SpliceSource {
  const d = mean.length;
  const vk = new Float32Array(d * k);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) vk[j * k + c] = components[c][j];
  return {
    sites: [site],
    together: false,
    reconstruct: (x) => tf.tidy(() => {
      const V = tf.tensor2d(vk, [d, k]);
      const m = tf.tensor1d(mean);
      const centred = tf.sub(x, m);
      const xHat = tf.add(tf.matMul(tf.matMul(centred, V), V, false, true), m) as tf.Tensor2D;
      return { xHat, replace: tf.ones([x.shape[0], 1]) as tf.Tensor2D };
    }),
  };
}

/** Mean and principal directions (by decreasing variance) of rows [n, d], by Jacobi rotations of the covariance. */
export function pca(data: Float32Array, n: number, d: number): { mean: Float32Array; components: Float64Array[] } {
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j] += data[r * d + j] / n;
  const a = Array.from({ length: d }, () => new Float64Array(d));
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      const xi = data[r * d + i] - mean[i];
      for (let j = i; j < d; j++) a[i][j] += xi * (data[r * d + j] - mean[j]);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) a[i][j] = a[j][i];
  const v = Array.from({ length: d }, (_, i) => Float64Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p][q] ** 2;
    if (off < 1e-18) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        if (Math.abs(a[p][q]) < 1e-30) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: d }, (_, i) => i).sort((x, y) => a[y][y] - a[x][x]);
  return { mean: Float32Array.from(mean), components: order.map((c) => Float64Array.from({ length: d }, (_, j) => v[j][c])) };
}
