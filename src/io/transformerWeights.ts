// One description of a decoder-only transformer's weights, whatever file they came from (a llama2.c
// .bin, a Hugging Face GPT-2, GPT-NeoX / Pythia or Llama-family folder): the architecture's choices
// as fields, every matrix laid out [in, out] row-major so that the forward is plain x·W. The engine
// (src/engine/lm/transformer.ts) builds its tensors from it; readers in src/io fill it.

export type ModelFamily = 'llama2c' | 'gpt2' | 'gpt_neox' | 'llama';

export interface TransformerArch {
  family: ModelFamily;
  /** config.json's model_type (llama, qwen2, mistral, …), or "llama2c". */
  modelType: string;
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headSize: number;
  /** The MLP's inner width. */
  hiddenDim: number;
  vocabSize: number;
  /** The longest context the model takes (its position table or max_position_embeddings). */
  seqLen: number;
  norm: 'rmsnorm' | 'layernorm';
  normEps: number;
  positions: 'learned' | 'rotary';
  /**
   * Rotary embedding: `dims` leading dimensions of each head turn (the rest pass through, as
   * GPT-NeoX's rotary_pct has it); `layout` says which dimensions pair up — 'interleaved' (2i, 2i+1)
   * as llama2.c / Meta's checkpoints, 'half' (i, i + dims/2) as Hugging Face's rotate_half.
   */
  rotary?: { dims: number; theta: number; layout: 'interleaved' | 'half' };
  /** gelu_tanh = GPT-2's gelu_new; gelu = the exact (erf) GELU; swiglu = down(silu(gate·x) ⊙ up·x). */
  mlp: 'gelu_tanh' | 'gelu' | 'swiglu';
  /** GPT-NeoX's use_parallel_residual: x + attn(ln1(x)) + mlp(ln2(x)), no resid_mid. */
  parallelResidual: boolean;
}

export interface NormWeights {
  weight: Float32Array; // [D]
  bias?: Float32Array; // [D] (LayerNorm)
}

export interface LinearWeights {
  /** [in, out] row-major. */
  w: Float32Array;
  bias?: Float32Array; // [out]
}

export interface BlockWeights {
  ln1: NormWeights;
  /** The MLP's norm (post_attention_layernorm / ln_2). */
  ln2: NormWeights;
  q: LinearWeights; // [D, H·hs]
  k: LinearWeights; // [D, KV·hs]
  v: LinearWeights; // [D, KV·hs]
  o: LinearWeights; // [H·hs, D]
  /** gelu MLPs: up = the input projection, down = the output; swiglu also has gate. */
  up: LinearWeights; // [D, F]
  gate?: LinearWeights; // [D, F]
  down: LinearWeights; // [F, D]
}

export interface TransformerWeights {
  arch: TransformerArch;
  embedding: Float32Array; // [V, D]
  /** Learned positions [seqLen, D] (GPT-2). */
  positions?: Float32Array;
  blocks: BlockWeights[];
  lnFinal: NormWeights;
  /** The unembedding [D, V] (for tied models a transposed copy of the embedding). */
  unembed: LinearWeights;
  /** The unembedding is the embedding's transpose (not counted twice in parameters). */
  unembedTied?: boolean;
}

/** [rows, cols] row-major → [cols, rows]. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  // Blocked so that both sides stay in cache at GPT-2's 768 × 3,072.
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = src[r * cols + c];
    }
  }
  return out;
}

export function parameterCount(w: TransformerWeights): number {
  let n = w.embedding.length + (w.positions?.length ?? 0) + normCount(w.lnFinal);
  for (const b of w.blocks) {
    n += normCount(b.ln1) + normCount(b.ln2);
    for (const l of [b.q, b.k, b.v, b.o, b.up, b.gate, b.down]) if (l) n += l.w.length + (l.bias?.length ?? 0);
  }
  if (!w.unembedTied) n += w.unembed.w.length + (w.unembed.bias?.length ?? 0);
  return n;
}

function normCount(n: NormWeights): number {
  return n.weight.length + (n.bias?.length ?? 0);
}

/** A loaded language model's weights with where they came from. */
export interface ModelCheckpoint {
  format: 'llama2c-v0' | 'llama2c-v1' | 'huggingface';
  config: TransformerArch;
  weights: TransformerWeights;
  parameters: number;
  /** Stored dtypes of the weights (F32 for llama2.c). */
  dtypes: string[];
}

/**
 * TransformerLens's center_writing_weights: every weight that writes into the residual stream
 * (token and position embeddings, the attention output W_O and b_O, the MLP output W_out and
 * b_out) has its mean across d_model removed, so every residual (and every attn_out / mlp_out) is
 * the original minus its mean across d_model. Only for LayerNorm models, where the next norm
 * removes that mean anyway: the logits do not change.
 */
export function centreWritingWeights(w: TransformerWeights): TransformerWeights {
  if (w.arch.norm !== 'layernorm') throw new Error(`center_writing_weights needs a LayerNorm model; ${w.arch.modelType} uses RMSNorm, which does not remove the mean (TransformerLens refuses it too).`);
  const D = w.arch.dim;
  /** Rows [n, D] each minus its mean. */
  const centredRows = (a: Float32Array) => {
    const out = new Float32Array(a.length);
    for (let r = 0; r < a.length / D; r++) {
      let mean = 0;
      for (let j = 0; j < D; j++) mean += a[r * D + j];
      mean /= D;
      for (let j = 0; j < D; j++) out[r * D + j] = a[r * D + j] - mean;
    }
    return out;
  };
  const writer = (l: LinearWeights): LinearWeights => ({ w: centredRows(l.w), bias: l.bias ? centredRows(l.bias) : undefined });
  return {
    ...w,
    embedding: centredRows(w.embedding),
    positions: w.positions ? centredRows(w.positions) : undefined,
    blocks: w.blocks.map((b) => ({ ...b, o: writer(b.o), down: writer(b.down) })),
    // The unembedding reads the residual: it stays as it was (tied models keep their own copy).
    unembed: w.unembed,
  };
}

/** Bytes of float32 the description holds (a tied unembedding's transposed copy included). */
export function float32Bytes(w: TransformerWeights): number {
  return 4 * (parameterCount(w) + (w.unembedTied ? w.unembed.w.length + (w.unembed.bias?.length ?? 0) : 0));
}
