// The llama2.c transformer (Karpathy's run.c): the engine's transformer (./transformer.ts) with
// the weights of a llama2.c checkpoint — RMSNorm (ε 1e-5), RoPE on the pairs (2i, 2i+1) of each
// head at θ 10,000, SwiGLU, grouped query heads.
import type { LlamaCheckpoint } from '../../io/llama2c';
import { llama2cTransformer } from '../../io/llama2c';
import { TransformerModel } from './transformer';

export { RMS_EPS, perHeadAttention, rmsNorm, type ForwardOptions, type ForwardResult } from './transformer';

export class LlamaModel extends TransformerModel {
  constructor(ckpt: LlamaCheckpoint) {
    super(llama2cTransformer(ckpt));
  }
}
