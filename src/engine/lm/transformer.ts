// A decoder-only transformer in tfjs, batched over sequences, for every family the workbench reads
// (src/io/transformerWeights.ts describes them: llama2.c, GPT-2, GPT-NeoX / Pythia, Llama / Qwen2 /
// Mistral). Per block l, as Hugging Face runs these models:
//   sequential:  attn_out = attn(norm₁(x)),  resid_mid = x + attn_out,
//                mlp_out = mlp(norm₂(resid_mid)),  resid_post = resid_mid + mlp_out
//   parallel (GPT-NeoX use_parallel_residual):  resid_post = x + attn(norm₁(x)) + mlp(norm₂(x))
//   logits = norm_final(x) · W_U (+ b_U)
// Norms are RMSNorm (x / √(mean x² + ε) ⊙ w) or LayerNorm ((x − μ) / √(var + ε) ⊙ w + b); the MLP
// is GELU (tanh approximation for GPT-2's gelu_new, erf for "gelu") between two linear maps, or
// SwiGLU down(silu(gate·h) ⊙ up·h). Attention is causal with grouped query heads (query head h reads
// key/value head ⌊h·KV/H⌋), positions are learned (added to the embedding) or rotary.
//
// Sites (./hooks.ts): residual site l is blocks.l.hook_resid_pre (site 0 = the embedding), site
// n_layers the final residual before the last norm, and block l's hook_attn_out, hook_resid_mid and
// hook_mlp_out sit at l + 0.25, l + 0.5, l + 0.75. A forward pass can start at any residual site
// from a given residual, capture any site, and replace any site's value (splicing) on the way.
//
// Weights arrive [in, out], so every matmul is a plain x·W: tfjs's transpose flags are many times
// slower on the wasm and cpu kernels (docs/benchmark.md). Q, K, V share one matmul, and so do the
// SwiGLU gate and up projections. Attention runs head by head on wasm / cpu (see attend()).
import * as tf from '@tensorflow/tfjs';
import type { LinearWeights, NormWeights, TransformerArch, TransformerWeights } from '../../io/transformerWeights';
import { INNER_HOOKS, modelSites, siteProblem } from './hooks';

export type { TransformerArch } from '../../io/transformerWeights';

interface Linear {
  w: tf.Tensor2D;
  b?: tf.Tensor1D;
}

interface Norm {
  w: tf.Tensor1D;
  b?: tf.Tensor1D;
}

interface Block {
  ln1: Norm;
  ln2: Norm;
  qkv: Linear; // [D, H·hs + 2·KV·hs]
  o: Linear; // [H·hs, D]
  /** gelu: [D, F]; swiglu: gate and up side by side [D, 2F]. */
  up: Linear;
  down: Linear; // [F, D]
}

export interface ForwardOptions {
  /** Residual site the pass starts at (0 = from the token embeddings). */
  from?: number;
  /** The residual at `from` [B·T, D] when from > 0. Not disposed. */
  start?: tf.Tensor2D;
  /** Sites (residual or inside blocks) whose value [B·T, D] is returned (kept; the caller disposes them). */
  capture?: readonly number[];
  /**
   * Called at each site ≥ from (the points inside blocks too): a returned tensor [B·T, D] replaces
   * the value there (returning x itself keeps it). Not called at resid_mid of parallel blocks.
   */
  splice?: (site: number, x: tf.Tensor2D) => tf.Tensor2D | null;
  /** Stop at this residual site (no logits) when the logits are not needed. */
  until?: number;
}

export interface ForwardResult {
  /** [B·T, V], absent when `until` stopped the pass early. */
  logits?: tf.Tensor2D;
  captured: Map<number, tf.Tensor2D>;
}

interface RopeTables {
  cosQ: tf.Tensor2D; sinQ: tf.Tensor2D; cosK: tf.Tensor2D; sinK: tf.Tensor2D;
}

export class TransformerModel {
  readonly config: TransformerArch;
  readonly headSize: number;
  readonly kvDim: number;
  /** Query heads' total width (H·hs; d_model for every family read so far). */
  readonly qDim: number;
  private readonly embedding: tf.Tensor2D; // [V, D]
  private readonly positions?: tf.Tensor2D; // [seqLen, D]
  private readonly unembed: Linear; // [D, V]
  private readonly lnFinal: Norm;
  private readonly blocks: Block[] = [];
  /** The rotary partner permutations [width, width] (x·P puts each dimension's partner in its place). */
  private readonly swap?: { q: tf.Tensor2D; k: tf.Tensor2D };

  /** 'auto' = head by head on wasm / cpu, batched elsewhere (both compute the same thing). */
  attention: 'auto' | 'per_head' | 'batched' = 'auto';

  constructor(weights: TransformerWeights) {
    const a = weights.arch;
    this.config = a;
    this.headSize = a.headSize;
    this.qDim = a.nHeads * a.headSize;
    this.kvDim = a.nKvHeads * a.headSize;
    const D = a.dim;
    const F = a.hiddenDim;
    this.embedding = tf.tensor2d(weights.embedding, [a.vocabSize, D]);
    if (a.positions === 'learned') {
      if (!weights.positions) throw new Error('a model with learned positions needs its position table');
      this.positions = tf.tensor2d(weights.positions, [a.seqLen, D]);
    }
    this.unembed = linear(weights.unembed, D, a.vocabSize);
    this.lnFinal = norm(weights.lnFinal);
    for (const b of weights.blocks) {
      const qkvParts = [b.q, b.k, b.v];
      const widths = [this.qDim, this.kvDim, this.kvDim];
      const upParts = b.gate ? [b.gate, b.up] : [b.up];
      this.blocks.push({
        ln1: norm(b.ln1),
        ln2: norm(b.ln2),
        qkv: sideBySide(qkvParts, widths, D),
        o: linear(b.o, this.qDim, D),
        up: sideBySide(upParts, upParts.map(() => F), D),
        down: linear(b.down, F, D),
      });
    }
    if (a.positions === 'rotary') {
      if (!a.rotary) throw new Error('a rotary model needs its rotary settings');
      this.swap = { q: partnerMatrix(this.qDim, a.headSize, a.rotary), k: partnerMatrix(this.kvDim, a.headSize, a.rotary) };
    }
  }

  get nSites(): number { return this.config.nLayers + 1; }

  /** Every site of the model in forward order (./hooks.ts; no resid_mid in parallel-residual blocks). */
  sites(): number[] {
    return modelSites(this.config);
  }

  /**
   * Logit lens of a residual-stream direction [D]: (direction ⊙ w_final) · W_U [V], what the
   * direction adds to each token's logit with the final norm's weight folded in (TransformerLens's
   * fold_ln, as SAEDashboard's logit tables use).
   */
  async directionLogits(direction: Float32Array): Promise<Float32Array> {
    if (direction.length !== this.config.dim) throw new Error(`a direction of ${direction.length} values; the model's width is ${this.config.dim}`);
    const out = tf.tidy(() => tf.matMul(tf.mul(tf.tensor2d(direction, [1, this.config.dim]), this.lnFinal.w), this.unembed.w));
    // Read with data(): a GPU backend in Node cannot read synchronously.
    const values = (await out.data()) as Float32Array;
    out.dispose();
    return values;
  }

  dispose(): void {
    const all: (tf.Tensor | undefined)[] = [this.embedding, this.positions, this.unembed.w, this.unembed.b, this.lnFinal.w, this.lnFinal.b, this.swap?.q, this.swap?.k];
    for (const b of this.blocks) {
      for (const n of [b.ln1, b.ln2]) all.push(n.w, n.b);
      for (const l of [b.qkv, b.o, b.up, b.down]) all.push(l.w, l.b);
    }
    tf.dispose(all.filter((t): t is tf.Tensor => t !== undefined));
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
    if (!Number.isInteger(from) || from < 0 || from > c.nLayers) throw new Error(`forward: the pass starts at residual site ${from}, outside 0…${c.nLayers}`);
    if (!Number.isInteger(until) || until < from || until > c.nLayers) throw new Error(`forward: the pass stops at residual site ${until}, outside ${from}…${c.nLayers}`);
    if (from > 0 && !opts.start) throw new Error('forward from a later site needs the residual there');
    for (const site of capture) {
      const problem = siteProblem(site, c);
      if (problem) throw new Error(`forward: ${problem}`);
      if (site < from || site > until) throw new Error(`forward: site ${site} is outside the part this pass runs (${from}…${until})`);
    }
    let x: tf.Tensor2D;
    if (from === 0) {
      x = tf.tidy(() => {
        const ids = tf.tensor1d(tokens, 'int32');
        const e = tf.gather(this.embedding, ids) as tf.Tensor2D;
        if (!this.positions) return e;
        const pos = tf.tile(tf.slice(this.positions, [0, 0], [T, c.dim]), [B, 1]);
        return tf.add(e, pos) as tf.Tensor2D;
      });
    } else {
      x = tf.clone(opts.start!);
    }
    const mask = until > from ? causalMask(T) : null;
    const rope = until > from && this.swap ? this.ropeTables(T) : null;
    // Inside a block (and so inside its tf.tidy): captured values are kept past the tidy.
    const hookAt = (site: number, t: tf.Tensor2D): tf.Tensor2D => {
      const replaced = opts.splice?.(site, t);
      const out = replaced ?? t;
      if (capture.has(site)) captured.set(site, tf.keep(tf.clone(out)));
      return out;
    };
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
        x = tf.tidy(() => this.block(site, this.blocks[site], prev, B, T, mask!, rope, hookAt));
        prev.dispose();
      }
      if (opts.until !== undefined) {
        x.dispose();
        return { captured };
      }
      const logits = tf.tidy(() => applyLinear(applyNorm(x, this.lnFinal, c), this.unembed));
      x.dispose();
      return { logits, captured };
    } catch (e) {
      tf.dispose([...captured.values()]);
      throw e;
    } finally {
      mask?.dispose();
      if (rope) tf.dispose(Object.values(rope));
    }
  }

  private block(l: number, b: Block, x: tf.Tensor2D, B: number, T: number, mask: tf.Tensor2D, rope: RopeTables | null, hookAt: (site: number, t: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
    const c = this.config;
    const attnOut = hookAt(l + INNER_HOOKS.hook_attn_out, applyLinear(this.attend(b, applyNorm(x, b.ln1, c), B, T, mask, rope), b.o));
    if (c.parallelResidual) {
      const mlpOut = hookAt(l + INNER_HOOKS.hook_mlp_out, this.mlp(b, applyNorm(x, b.ln2, c)));
      return tf.add(tf.add(x, attnOut), mlpOut);
    }
    const mid = hookAt(l + INNER_HOOKS.hook_resid_mid, tf.add(x, attnOut) as tf.Tensor2D);
    const mlpOut = hookAt(l + INNER_HOOKS.hook_mlp_out, this.mlp(b, applyNorm(mid, b.ln2, c)));
    return tf.add(mid, mlpOut);
  }

  private mlp(b: Block, h: tf.Tensor2D): tf.Tensor2D {
    const up = applyLinear(h, b.up);
    const kind = this.config.mlp;
    if (kind === 'swiglu') {
      const [g, u] = tf.split(up, 2, 1) as tf.Tensor2D[];
      return applyLinear(tf.mul(tf.mul(g, tf.sigmoid(g)), u), b.down);
    }
    const act = kind === 'gelu'
      ? tf.mul(tf.mul(up, 0.5), tf.add(1, tf.erf(tf.mul(up, Math.SQRT1_2))))
      // gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      : tf.mul(tf.mul(up, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(up, tf.mul(tf.pow(up, 3), 0.044715)), Math.sqrt(2 / Math.PI)))));
    return applyLinear(act as tf.Tensor2D, b.down);
  }

  /** Causal multi-head attention of the normed residual h [B·T, D] → merged heads [B·T, H·hs]. */
  private attend(b: Block, h: tf.Tensor2D, B: number, T: number, mask: tf.Tensor2D, rope: RopeTables | null): tf.Tensor2D {
    const { nHeads, nKvHeads } = this.config;
    const hs = this.headSize;
    const qkv = applyLinear(h, b.qkv); // [B·T, H·hs + 2·KV]
    let [q, k, v] = tf.split(qkv, [this.qDim, this.kvDim, this.kvDim], 1) as tf.Tensor2D[];
    if (rope) {
      q = this.rotate(q, rope.cosQ, rope.sinQ, this.swap!.q, T);
      k = this.rotate(k, rope.cosK, rope.sinK, this.swap!.k, T);
    }
    // The 1/√hs of the scores is folded into q.
    q = tf.mul(q, 1 / Math.sqrt(hs));
    const q3 = tf.reshape(tf.transpose(tf.reshape(q, [B, T, nHeads, hs]), [0, 2, 1, 3]), [B * nHeads, T, hs]);
    const kT = tf.reshape(tf.transpose(tf.reshape(k, [B, T, nKvHeads, hs]), [0, 2, 3, 1]), [B * nKvHeads, hs, T]);
    const v3 = tf.reshape(tf.transpose(tf.reshape(v, [B, T, nKvHeads, hs]), [0, 2, 1, 3]), [B * nKvHeads, T, hs]);
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
    return tf.reshape(tf.transpose(tf.reshape(att, [B, nHeads, T, hs]), [0, 2, 1, 3]), [B * T, this.qDim]) as tf.Tensor2D;
  }

  /**
   * Rotary embedding on rows [B·T, width] (position = row mod T): each rotating pair (a, b) →
   * (a·c − b·s, a·s + b·c), written x·cos + (x·P)·sin with P the partner permutation (a matmul is
   * far cheaper than gathers or tf.reverse on wasm) and sin signed (−s on a pair's first, +s on its
   * second); dimensions past the rotary ones have cos 1, sin 0.
   */
  private rotate(x: tf.Tensor2D, cos: tf.Tensor2D, sin: tf.Tensor2D, swap: tf.Tensor2D, T: number): tf.Tensor2D {
    const [rows, width] = x.shape;
    const x3 = tf.reshape(x, [rows / T, T, width]);
    const swapped = tf.reshape(tf.matMul(x, swap), [rows / T, T, width]);
    return tf.reshape(tf.add(tf.mul(x3, cos), tf.mul(swapped, sin)), [rows, width]);
  }

  /** The tables for one pass (made per pass, as the mask is: the caller's tensor count stays as it was). */
  private ropeTables(T: number): RopeTables {
    const r = this.config.rotary!;
    const [cosQ, sinQ] = rotaryTables(T, this.qDim, this.headSize, r);
    const [cosK, sinK] = rotaryTables(T, this.kvDim, this.headSize, r);
    return { cosQ, sinQ, cosK, sinK };
  }
}

/** Attention head by head where batched matmuls are slow (see attend()). */
export function perHeadAttention(): boolean {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu';
}

function linear(l: LinearWeights, inn: number, out: number): Linear {
  return { w: tf.tensor2d(l.w, [inn, out]), b: l.bias ? tf.tensor1d(l.bias) : undefined };
}

function norm(n: NormWeights): Norm {
  return { w: tf.tensor1d(n.weight), b: n.bias ? tf.tensor1d(n.bias) : undefined };
}

/** Several [in, out_k] linear maps side by side as one [in, Σ out_k] (zero biases where one has none). */
function sideBySide(parts: LinearWeights[], widths: number[], inn: number): Linear {
  if (parts.length === 1) return linear(parts[0], inn, widths[0]);
  const total = widths.reduce((s, w) => s + w, 0);
  const w = new Float32Array(inn * total);
  let col = 0;
  parts.forEach((p, k) => {
    const width = widths[k];
    for (let i = 0; i < inn; i++) w.set(p.w.subarray(i * width, (i + 1) * width), i * total + col);
    col += width;
  });
  let bias: Float32Array | undefined;
  if (parts.some((p) => p.bias)) {
    bias = new Float32Array(total);
    col = 0;
    parts.forEach((p, k) => {
      if (p.bias) bias!.set(p.bias, col);
      col += widths[k];
    });
  }
  return { w: tf.tensor2d(w, [inn, total]), b: bias ? tf.tensor1d(bias) : undefined };
}

function applyLinear(x: tf.Tensor2D, l: Linear): tf.Tensor2D {
  const y = tf.matMul(x, l.w);
  return (l.b ? tf.add(y, l.b) : y) as tf.Tensor2D;
}

function applyNorm(x: tf.Tensor2D, n: Norm, c: TransformerArch): tf.Tensor2D {
  return c.norm === 'rmsnorm' ? rmsNorm(x, n.w, c.normEps) : layerNorm(x, n, c.normEps);
}

export const RMS_EPS = 1e-5;

export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps = RMS_EPS): tf.Tensor2D {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), eps));
    return tf.mul(tf.mul(x, inv), weight);
  });
}

function layerNorm(x: tf.Tensor2D, n: Norm, eps: number): tf.Tensor2D {
  return tf.tidy(() => {
    const centred = tf.sub(x, tf.mean(x, 1, true));
    const inv = tf.rsqrt(tf.add(tf.mean(tf.square(centred), 1, true), eps));
    const y = tf.mul(tf.mul(centred, inv), n.w);
    return (n.b ? tf.add(y, n.b) : y) as tf.Tensor2D;
  });
}

/** [T, T]: 0 on and below the diagonal, a large negative number above (future positions). */
function causalMask(T: number): tf.Tensor2D {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -1e9;
  return tf.tensor2d(m, [T, T]);
}

/**
 * The rotary pairs within one head of size hs: partner[j] and the frequency index of j's pair
 * (angle = pos · θ^(−2·index/dims)), and whether j is its pair's first member; dimensions ≥ dims
 * do not turn (partner = itself).
 */
function rotaryPairs(hs: number, r: { dims: number; layout: 'interleaved' | 'half' }): { partner: number; index: number; first: boolean }[] {
  const out = [];
  const half = r.dims / 2;
  for (let j = 0; j < hs; j++) {
    if (j >= r.dims) out.push({ partner: j, index: -1, first: true });
    else if (r.layout === 'interleaved') out.push({ partner: j ^ 1, index: j >> 1, first: (j & 1) === 0 });
    else out.push(j < half ? { partner: j + half, index: j, first: true } : { partner: j - half, index: j - half, first: false });
  }
  return out;
}

/** [width, width]: x·P puts each dimension's rotary partner in its place (per head). */
function partnerMatrix(width: number, hs: number, r: { dims: number; layout: 'interleaved' | 'half' }): tf.Tensor2D {
  const pairs = rotaryPairs(hs, r);
  const p = new Float32Array(width * width);
  for (let i = 0; i < width; i++) {
    const head = Math.floor(i / hs) * hs;
    p[(head + pairs[i % hs].partner) * width + i] = 1;
  }
  return tf.tensor2d(p, [width, width]);
}

/** cos and signed sin tables [T, width] for positions 0 … T − 1. */
function rotaryTables(T: number, width: number, hs: number, r: { dims: number; theta: number; layout: 'interleaved' | 'half' }): [tf.Tensor2D, tf.Tensor2D] {
  const pairs = rotaryPairs(hs, r);
  const cos = new Float32Array(T * width);
  const sin = new Float32Array(T * width);
  for (let pos = 0; pos < T; pos++) {
    for (let i = 0; i < width; i++) {
      const pr = pairs[i % hs];
      if (pr.index < 0) {
        cos[pos * width + i] = 1;
        continue;
      }
      const freq = 1 / Math.pow(r.theta, (2 * pr.index) / r.dims);
      const angle = pos * freq;
      cos[pos * width + i] = Math.cos(angle);
      // (a, b) → (a·c − b·s, a·s + b·c) = (a, b)·c + (b, a)·(−s, s)
      sin[pos * width + i] = pr.first ? -Math.sin(angle) : Math.sin(angle);
    }
  }
  return [tf.tensor2d(cos, [T, width]), tf.tensor2d(sin, [T, width])];
}
