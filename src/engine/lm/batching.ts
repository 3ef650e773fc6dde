// Documents of different lengths grouped into padded batches for the model's forward pass.
import { perHeadAttention, type TransformerModel } from './transformer';

/**
 * Batches of document indices, longest first, each padded to its longest member: at most
 * `maxTokens` padded tokens per batch (and at least one document).
 */
export function planBatches(lengths: readonly number[], maxTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b] - lengths[a] || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const i of order) {
    const T = current.length ? lengths[current[0]] : lengths[i];
    if (current.length && (current.length + 1) * T > maxTokens) { batches.push(current); current = []; }
    current.push(i);
  }
  if (current.length) batches.push(current);
  return batches;
}

/** Documents of one batch as row-major [B·T] token ids, padded with 0 after each document's end. */
export function padBatch(documents: readonly Int32Array[], batch: readonly number[]): { tokens: Int32Array; B: number; T: number } {
  const T = Math.max(...batch.map((i) => documents[i].length));
  const tokens = new Int32Array(batch.length * T);
  batch.forEach((doc, b) => tokens.set(documents[doc], b * T));
  return { tokens, B: batch.length, T };
}

/** Padded tokens per forward batch: attention scores are B·heads·T² floats, so bound both. */
export function batchTokenBudget(model: TransformerModel): number {
  const c = model.config;
  // Head-by-head attention (wasm, cpu) is fastest on small batches: measured on stories260K,
  // 15k tokens/s at 512 padded tokens per batch, 13k at 2,048, 8k at 8,192.
  // The logits take B·T·V floats: near 64 MiB of them, and never fewer than 512 tokens (or the
  // context) so that a long document still fits one batch.
  const floor = Math.min(c.seqLen, 512);
  const logitRows = Math.floor(2 ** 24 / c.vocabSize);
  if (perHeadAttention()) return Math.max(floor, Math.min(c.seqLen, logitRows));
  // Scores take B·heads·T² floats: keep them near 64 MiB too.
  return Math.max(floor, Math.min(8192, Math.floor(2 ** 24 / (c.nHeads * c.seqLen)), logitRows));
}

