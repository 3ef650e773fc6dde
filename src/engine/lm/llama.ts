// The llama2.c transformer (Karpathy's run.c) in tfjs, batched over sequences:
//   x₀ = embedding[token]
//   per block l:  x += Wo · attn(RoPE(Wq·h), RoPE(Wk·h), Wv·h),   h = rmsnorm(x) ⊙ rms_att[l]
//                 x += W2 · (silu(W1·h) ⊙ W3·h),                   h = rmsnorm(x) ⊙ rms_ffn[l]
//   logits = W_cls · (rmsnorm(x) ⊙ rms_final),     rmsnorm(x) = x / √(mean(x²) + 1e-5)
// Attention is causal with grouped query heads (query head h reads key/value head ⌊h·KV/H⌋);
// RoPE rotates the pairs (2i, 2i+1) of each head by pos · 10000^(−2i/head_size).
//
// Residual "sites": site l (0 ≤ l < n_layers) is resid_pre of block l (site 0 = the embedding);
// site n_layers is the final residual before the last norm. A forward pass can start at any site
// from a given residual, capture residuals, and replace them (splicing) on the way.
//
// Weights are stored transposed ([in, out]) once at load, so every matmul is a plain x·W: tfjs's
// transpose flags are many times slower on the wasm and cpu kernels (docs/benchmark.md). Q, K, V share
// one matmul, and so do W1 and W3. Attention runs head by head on wasm / cpu (see block()).
import * as tf from '@tensorflow/tfjs';
import type { LlamaCheckpoint, LlamaConfig } from '../../io/llama2c';

export const RMS_EPS = 1e-5;

interface Block {
  rmsAtt: tf.Tensor1D; // [D]
  wqkv: tf.Tensor2D; // [D, D + 2·KV]
  wo: tf.Tensor2D; // [D, D]
  rmsFfn: tf.Tensor1D; // [D]
  w13: tf.Tensor2D; // [D, 2·H]
  w2: tf.Tensor2D; // [H, D]
}

export interface ForwardOptions {
  /** Site the pass starts at (0 = from the token embeddings). */
  from?: number;
  /** The residual at `from` [B·T, D] when from > 0. Not disposed. */
  start?: tf.Tensor2D;
  /** Sites whose residual [B·T, D] is returned (kept; the caller disposes them). */
  capture?: readonly number[];
  /** Called at each site ≥ from: a returned tensor [B·T, D] replaces the residual there (returning x itself keeps it). */
  splice?: (site: number, x: tf.Tensor2D) => tf.Tensor2D | null;
  /** Stop at this site (no logits) when the logits are not needed. */
  until?: number;
}

export interface ForwardResult {
  /** [B·T, V], absent when `until` stopped the pass early. */
  logits?: tf.Tensor2D;
  captured: Map<number, tf.Tensor2D>;
}

export class LlamaModel {
  readonly config: LlamaConfig;
  readonly headSize: number;
  readonly kvDim: number;
  private readonly embedding: tf.Tensor2D; // [V, D]
  private readonly classifier: tf.Tensor2D; // [D, V]
  private readonly rmsFinal: tf.Tensor1D; // [D]
  private readonly blocks: Block[] = [];
  /**
   * cos / signed sin per position for the query width [seq_len, D] and the key width
   * [seq_len, KV], and the pair swaps [D, D], [KV, KV].
   */
  private readonly rope: { cosQ: tf.Tensor2D; sinQ: tf.Tensor2D; cosK: tf.Tensor2D; sinK: tf.Tensor2D; swapQ: tf.Tensor2D; swapK: tf.Tensor2D };

  /** 'auto' = head by head on wasm / cpu, batched elsewhere (both compute the same thing). */
  attention: 'auto' | 'per_head' | 'batched' = 'auto';

  constructor(ckpt: LlamaCheckpoint) {
    const c = ckpt.config;
    const w = ckpt.weights;
    this.config = c;
    const D = c.dim, H = c.hiddenDim, V = c.vocabSize;
    this.headSize = D / c.nHeads;
    this.kvDim = c.nKvHeads * this.headSize;
    const KV = this.kvDim;
    // [out, in] row-major → [in, out]
    const transposed = (src: Float32Array, out: number, inn: number) => {
      const t = new Float32Array(out * inn);
      for (let o = 0; o < out; o++) for (let i = 0; i < inn; i++) t[i * out + o] = src[o * inn + i];
      return t;
    };
    /** Several [out_k, in] matrices side by side as one [in, Σ out_k]. */
    const stacked = (parts: { src: Float32Array; out: number }[], inn: number) => {
      const width = parts.reduce((s, p) => s + p.out, 0);
      const t = new Float32Array(inn * width);
      let col = 0;
      for (const p of parts) {
        for (let o = 0; o < p.out; o++) for (let i = 0; i < inn; i++) t[i * width + col + o] = p.src[o * inn + i];
        col += p.out;
      }
      return tf.tensor2d(t, [inn, width]);
    };
    this.embedding = tf.tensor2d(w.tokenEmbedding, [V, D]);
    this.classifier = tf.tensor2d(transposed(w.wcls, V, D), [D, V]);
    this.rmsFinal = tf.tensor1d(w.rmsFinal);
    for (let l = 0; l < c.nLayers; l++) {
      const slice = (a: Float32Array, n: number) => a.subarray(l * n, (l + 1) * n);
      this.blocks.push({
        rmsAtt: tf.tensor1d(slice(w.rmsAtt, D)),
        wqkv: stacked([{ src: slice(w.wq, D * D), out: D }, { src: slice(w.wk, KV * D), out: KV }, { src: slice(w.wv, KV * D), out: KV }], D),
        wo: tf.tensor2d(transposed(slice(w.wo, D * D), D, D), [D, D]),
        rmsFfn: tf.tensor1d(slice(w.rmsFfn, D)),
        w13: stacked([{ src: slice(w.w1, H * D), out: H }, { src: slice(w.w3, H * D), out: H }], D),
        w2: tf.tensor2d(transposed(slice(w.w2, D * H), D, H), [H, D]),
      });
    }
    this.rope = {
      ...ropeTables('Q', c.seqLen, D, this.headSize),
      ...ropeTables('K', c.seqLen, KV, this.headSize),
      swapQ: pairSwap(D),
      swapK: pairSwap(KV),
    } as LlamaModel['rope'];
  }

  get nSites(): number { return this.config.nLayers + 1; }

  /**
   * Logit lens of a residual-stream direction [D]: (direction ⊙ rms_final) · W_clsᵀ [V], what the
   * direction adds to each token's logit with the final norm's weight folded in (TransformerLens's
   * fold_ln, as SAEDashboard's logit tables use).
   */
  directionLogits(direction: Float32Array): Float32Array {
    if (direction.length !== this.config.dim) throw new Error(`a direction of ${direction.length} values; the model's width is ${this.config.dim}`);
    const out = tf.tidy(() => tf.matMul(tf.mul(tf.tensor2d(direction, [1, this.config.dim]), this.rmsFinal), this.classifier));
    const values = out.dataSync() as Float32Array;
    out.dispose();
    return values;
  }

  dispose(): void {
    const all: tf.Tensor[] = [this.embedding, this.classifier, this.rmsFinal, ...Object.values(this.rope)];
    for (const b of this.blocks) all.push(...Object.values(b));
    tf.dispose(all);
  }

  /**
   * One pass over B sequences of T tokens (row-major [B·T]; pad short sequences at the end — the
   * causal mask keeps padding from reaching earlier positions).
   */
  forward(tokens: Int32Array, B: number, T: number, opts: ForwardOptions = {}): ForwardResult {
    const c = this.config;
    if (tokens.length !== B * T) throw new Error(`forward: ${tokens.length} tokens for ${B} × ${T}`);
    if (T > c.seqLen) throw new Error(`a sequence of ${T} tokens is longer than the model's context (${c.seqLen})`);
    const from = opts.from ?? 0;
    const until = opts.until ?? c.nLayers;
    const capture = new Set(opts.capture ?? []);
    const captured = new Map<number, tf.Tensor2D>();
    if (from < 0 || from > c.nLayers) throw new Error(`forward: site ${from} is outside 0…${c.nLayers}`);
    if (until < from || until > c.nLayers) throw new Error(`forward: site ${until} is outside ${from}…${c.nLayers}`);
    if (from > 0 && !opts.start) throw new Error('forward from a later site needs the residual there');
    let x: tf.Tensor2D;
    if (from === 0) {
      x = tf.tidy(() => tf.gather(this.embedding, tf.tensor1d(tokens, 'int32')) as tf.Tensor2D);
    } else {
      x = tf.clone(opts.start!);
    }
    const mask = until > from ? causalMask(T) : null;
    try {
      for (let site = from; site <= until; site++) {
        const replaced = opts.splice?.(site, x);
        if (replaced && replaced !== x) {
          x.dispose();
          x = replaced;
        }
        if (capture.has(site)) captured.set(site, tf.clone(x));
        if (site === until) break;
        const prev = x;
        x = tf.tidy(() => this.block(this.blocks[site], prev, B, T, mask!));
        prev.dispose();
      }
      if (opts.until !== undefined) {
        x.dispose();
        return { captured };
      }
      const logits = tf.tidy(() => tf.matMul(rmsNorm(x, this.rmsFinal), this.classifier) as tf.Tensor2D);
      x.dispose();
      return { logits, captured };
    } finally {
      mask?.dispose();
    }
  }

  private block(b: Block, x: tf.Tensor2D, B: number, T: number, mask: tf.Tensor2D): tf.Tensor2D {
    const { nHeads, nKvHeads, dim: D } = this.config;
    const hs = this.headSize;
    const KV = this.kvDim;
    const h = rmsNorm(x, b.rmsAtt);
    const qkv = tf.matMul(h, b.wqkv); // [B·T, D + 2·KV]
    const [q0, k0, v0] = tf.split(qkv, [D, KV, KV], 1) as tf.Tensor2D[];
    // The 1/√hs of the scores is folded into q.
    const q = tf.mul(this.rotate(q0, this.rope.cosQ, this.rope.sinQ, this.rope.swapQ, T), 1 / Math.sqrt(hs)) as tf.Tensor2D; // [B·T, D]
    const k = this.rotate(k0, this.rope.cosK, this.rope.sinK, this.rope.swapK, T); // [B·T, KV]
    const q3 = tf.reshape(tf.transpose(tf.reshape(q, [B, T, nHeads, hs]), [0, 2, 1, 3]), [B * nHeads, T, hs]);
    const kT = tf.reshape(tf.transpose(tf.reshape(k, [B, T, nKvHeads, hs]), [0, 2, 3, 1]), [B * nKvHeads, hs, T]);
    const v3 = tf.reshape(tf.transpose(tf.reshape(v0, [B, T, nKvHeads, hs]), [0, 2, 1, 3]), [B * nKvHeads, T, hs]);
    const group = nHeads / nKvHeads;
    /** Key/value slice of query head i (sequence b, head h): sequence b's kv head ⌊h / group⌋. */
    const kvOf = (i: number) => Math.floor(i / nHeads) * nKvHeads + Math.floor((i % nHeads) / group);
    let att: tf.Tensor; // [B·H, T, hs]
    if (this.attention === 'per_head' || (this.attention === 'auto' && perHeadAttention())) {
      // wasm / cpu: batched matmuls run a slow generic kernel (BatchMatMul of 40 heads × 384² ×
      // 8 takes ~50 ms where the same 40 2-D matmuls take ~3 ms), so attend head by head.
      const qs = tf.unstack(q3) as tf.Tensor2D[];
      const ks = tf.unstack(kT) as tf.Tensor2D[];
      const vs = tf.unstack(v3) as tf.Tensor2D[];
      att = tf.stack(qs.map((qi, i) => tf.matMul(tf.softmax(tf.add(tf.matMul(qi, ks[kvOf(i)]), mask)) as tf.Tensor2D, vs[kvOf(i)])));
    } else {
      const index = tf.tensor1d(Int32Array.from({ length: B * nHeads }, (_, i) => kvOf(i)), 'int32');
      const scores = tf.add(tf.matMul(q3, tf.gather(kT, index)), mask); // [B·H, T, T]
      att = tf.matMul(tf.softmax(scores), tf.gather(v3, index));
    }
    const merged = tf.reshape(tf.transpose(tf.reshape(att, [B, nHeads, T, hs]), [0, 2, 1, 3]), [B * T, D]) as tf.Tensor2D;
    const x1 = tf.add(x, tf.matMul(merged, b.wo)) as tf.Tensor2D;
    const h2 = rmsNorm(x1, b.rmsFfn);
    const [a, g] = tf.split(tf.matMul(h2, b.w13), 2, 1) as tf.Tensor2D[]; // [B·T, H] each
    const ffn = tf.matMul(tf.mul(tf.mul(a, tf.sigmoid(a)), g), b.w2);
    return tf.add(x1, ffn);
  }

  /**
   * RoPE on rows [B·T, width] (position = row mod T): (a, b) → (a·c − b·s, a·s + b·c), written
   * x·cos + (x·P)·sin with P the pair-swapping permutation (a matmul is far cheaper than tf.reverse
   * on wasm) and sin signed (−s, s) per pair.
   */
  private rotate(x: tf.Tensor2D, cosTable: tf.Tensor2D, sinTable: tf.Tensor2D, swap: tf.Tensor2D, T: number): tf.Tensor2D {
    const width = x.shape[1];
    const rows = x.shape[0];
    const cos = tf.slice(cosTable, [0, 0], [T, width]);
    const sin = tf.slice(sinTable, [0, 0], [T, width]);
    const x3 = tf.reshape(x, [rows / T, T, width]);
    const swapped = tf.reshape(tf.matMul(x, swap), [rows / T, T, width]);
    return tf.reshape(tf.add(tf.mul(x3, cos), tf.mul(swapped, sin)), [rows, width]);
  }
}

/** Attention head by head where batched matmuls are slow (see block()). */
export function perHeadAttention(): boolean {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu';
}

/** [width, width]: x·P swaps each pair (2i, 2i+1) of x. */
function pairSwap(width: number): tf.Tensor2D {
  const p = new Float32Array(width * width);
  for (let i = 0; i < width; i++) p[(i ^ 1) * width + i] = 1;
  return tf.tensor2d(p, [width, width]);
}

export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), RMS_EPS));
    return tf.mul(tf.mul(x, inv), weight);
  });
}

/** [T, T]: 0 on and below the diagonal, a large negative number above (future positions). */
function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return tf.tensor2d(m, [T, T]);
}

/** cos and signed sin tables [seqLen, width]: pair (2i, 2i+1) turns by pos · 10000^(−(2i mod hs)/hs). */
function ropeTables(suffix: 'Q' | 'K', seqLen: number, width: number, hs: number): Record<string, tf.Tensor2D> {
  const cos = new Float32Array(seqLen * width);
  const sin = new Float32Array(seqLen * width);
  for (let pos = 0; pos < seqLen; pos++) {
    for (let i = 0; i < width; i += 2) {
      const freq = 1 / Math.pow(10000, (i % hs) / hs);
      const angle = pos * freq;
      const c = Math.cos(angle), s = Math.sin(angle);
      cos[pos * width + i] = c;
      cos[pos * width + i + 1] = c;
      // (a, b) → (a·c − b·s, a·s + b·c) = (a, b)·c + (b, a)·(−s, s)
      sin[pos * width + i] = -s;
      sin[pos * width + i + 1] = s;
    }
  }
  return { [`cos${suffix}`]: tf.tensor2d(cos, [seqLen, width]), [`sin${suffix}`]: tf.tensor2d(sin, [seqLen, width]) };
}
