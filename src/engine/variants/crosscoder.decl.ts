// Sparse crosscoder: its declaration (the math is ./crosscoder.ts). Our own export layout:
// W_enc [L, d_in, d_sae], W_dec [d_sae, L, d_in], b_dec [L, d_in].
import { declareVariant, type DeclaredConfig } from './declaration';
import { l1Field, l1ScriptFields, lambdaNotes, layerCount } from './shared';

export const crosscoderDeclaration = declareVariant({
  architecture: 'crosscoder',
  label: 'Crosscoder',
  description: 'Per-layer encoders and decoders around one shared latent space; L1 penalty weighted by the decoder norms across layers.',
  sparsity: { kind: 'penalty', lambdaKey: 'l1_coefficient' },
  multiLayer: {},
  fields: {
    /** λ of the L1 penalty Σ_i f_i·Σ_l ||W_dec,l,i||. */
    l1_coefficient: l1Field,
  },
  saelens: {
    architecture: 'crosscoder',
    config: (c) => ({ n_layers: layerCount(c) }),
    script: (c) => ({
      cls: 'StandardTrainingSAEConfig', notes: lambdaNotes(c), fields: l1ScriptFields(c.l1_coefficient, c),
      substitute: `the crosscoder reads ${layerCount(c)} layers (${c.layer_start}..${c.layer_end}) with one encoder and decoder per layer; SAELens trains on one hook, so this is the closest single-layer equivalent: a standard ReLU SAE with an L1 penalty on one layer (HOOK_NAME).`,
    }),
  },
  parameterShapes: (c, dIn) => {
    const L = layerCount(c), S = c.d_sae;
    return { W_enc: [L, dIn, S], b_enc: [S], W_dec: [S, L, dIn], b_dec: [L, dIn] };
  },
  memory: { act: 15, tape: 6, io: 16 },
  charts: { layers: () => ({ prefix: 'decoder_norm_share', title: 'Decoder norm share per layer (mean over latents)', yTitle: 'share of ‖W_dec‖', stacked: true }) },
});

export type CrosscoderConfig = DeclaredConfig<typeof crosscoderDeclaration>;
