// The classic sparse autoencoder (2-layer encoder and decoder): its declaration (the math is
// ./classic.ts). No SAELens equivalent: exported under our own name with every tensor by its name.
import { booleanField, choiceField, declareVariant, numberField, type DeclaredConfig } from './declaration';

export const classicDeclaration = declareVariant({
  architecture: 'classic',
  label: 'Classic (2-layer, L1/KL/Hoyer)',
  description: 'A 2-layer encoder and decoder (a hidden layer on each side of the latents) with an L1, KL or Hoyer sparsity penalty.',
  sparsity: { kind: 'penalty', lambdaKey: 'sparsity_coefficient' },
  fields: {
    /** Width of the hidden layer between input and latents (and latents and output). */
    hidden_dim: numberField({
      default: null, compute: ({ dIn }) => 2 * dIn, integer: true, min: 1,
      form: { label: 'Hidden width', help: 'width of the hidden layer on each side of the latents (default 2 × d_in)' },
    }),
    sparsity_type: choiceField(['l1', 'kl', 'hoyer'], {
      default: 'l1',
      form: {
        label: 'Sparsity penalty', optionLabels: { l1: 'L1', kl: 'KL', hoyer: 'Hoyer' },
        help: "L1: Σ|f|; KL: divergence of each latent's mean activation from ρ; Hoyer: L1/L2 ratio",
      },
    }),
    /** λ of the sparsity term. */
    sparsity_coefficient: numberField({ default: 0.1, min: 0, form: { label: 'Sparsity coefficient λ' } }),
    /** Target mean activation ρ of the KL penalty. */
    kl_target: numberField({
      default: 0.05, min: 0, minExclusive: true, max: 1, maxExclusive: true, rule: 'in (0, 1), such as 0.05',
      form: { label: 'KL target ρ', showIf: (v) => v.sparsity_type === 'kl' },
    }),
    /** Decoder weights are the encoder's transposes. */
    tied_weights: booleanField({ default: false, form: { label: 'Tied weights (decoder = encoderᵀ)' } }),
  },
  commonDefaults: { early_stopping_patience: 10 },
  saelens: {
    architecture: 'classic',
    config: (c) => ({ hidden_dim: c.hidden_dim, sparsity_type: c.sparsity_type, tied_weights: c.tied_weights }),
    script: (c) => ({
      cls: 'StandardTrainingSAEConfig', notes: [],
      fields: [
        ['l1_coefficient', c.sparsity_coefficient, 'workbench sparsity_coefficient; the scales differ, tune it'],
        ['lp_norm', 1.0],
        ['l1_warm_up_steps', c.lambda_warmup_steps],
      ],
      substitute: `the classic SAE (2-layer encoder and decoder, hidden_dim ${c.hidden_dim}, ${c.sparsity_type} sparsity${c.tied_weights ? ', tied weights' : ''}) has no SAELens counterpart; the closest is the standard one-layer ReLU SAE with an L1 penalty. The workbench penalty (${c.sparsity_type === 'l1' ? 'mean |z|' : c.sparsity_type === 'kl' ? `KL to ρ = ${c.kl_target}` : 'Hoyer'}) is not SAELens's Σ f_i·‖W_dec,i‖, so λ does not carry over.`,
    }),
  },
  parameterShapes: (c, dIn) => {
    const H = c.hidden_dim, S = c.d_sae;
    const p: Record<string, number[]> = { W1: [dIn, H], b1: [H], W_enc: [H, S], b_enc: [S] };
    if (!c.tied_weights) p.W_dec = [S, H];
    p.b2 = [H];
    if (!c.tied_weights) p.W_out = [H, dIn];
    p.b_dec = [dIn];
    return p;
  },
  // Tied or not, the export holds the decoder the forward pass uses.
  exportShapes: (c, dIn) => ({ W1: [dIn, c.hidden_dim], b1: [c.hidden_dim], W_enc: [c.hidden_dim, c.d_sae], b_enc: [c.d_sae], W_dec: [c.d_sae, c.hidden_dim], b2: [c.hidden_dim], W_out: [c.hidden_dim, dIn], b_dec: [dIn] }),
  memory: { act: 14, tape: 5, io: 32 },
});

export type ClassicConfig = DeclaredConfig<typeof classicDeclaration>;
