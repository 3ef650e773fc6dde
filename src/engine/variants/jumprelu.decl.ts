// JumpReLU SAE: its declaration (the math is ./jumprelu.ts). It learns a threshold θ per latent:
// the Live panel's threshold slider sets them, and its bandwidth slider the STE's kernel width.
import { declareVariant, numberField, type DeclaredConfig } from './declaration';
import { lambdaNotes, linearShapes } from './shared';

export const jumpreluDeclaration = declareVariant({
  architecture: 'jumprelu',
  label: 'JumpReLU',
  description: 'Per-latent learned thresholds θ, trained through straight-through estimators, with an L0 penalty.',
  sparsity: { kind: 'penalty', lambdaKey: 'l0_coefficient' },
  fields: {
    /** λ of the L0 penalty λ·Σ_i H(z_i − θ_i). */
    l0_coefficient: numberField({ default: 0.1, min: 0, form: { label: 'L0 coefficient λ', help: 'coefficient of the L0 penalty' } }),
    /** Width ε of the rectangle kernel of the straight-through estimators. */
    bandwidth: numberField({ default: 0.05, min: 0, minExclusive: true, rule: 'a positive number (try 0.05)', form: { label: 'Initial bandwidth ε' } }),
    /** Initial value of every latent's threshold θ (θ is trained directly, kept > 0). */
    init_threshold: numberField({ default: 0.05, min: 0, minExclusive: true, rule: 'a positive number (try 0.05)', form: { label: 'Initial threshold θ' } }),
  },
  live: {
    bandwidth: 'bandwidth',
    bandwidthHelp: 'small: exact but noisy threshold gradients; large: smooth but biased',
    learnedThreshold: 'init_threshold',
  },
  saelens: {
    architecture: 'jumprelu',
    affineLayout: true,
    importFrom: ['jumprelu'],
    script: (c) => ({
      cls: 'JumpReLUTrainingSAEConfig',
      notes: [
        ...lambdaNotes(c),
        'SAELens trains log θ; the workbench trains θ itself. With a small jumprelu_init_threshold, log θ moves slowly (about lr per step), so start it near the scale of your activations if thresholds stay frozen.',
      ],
      fields: [
        ['l0_coefficient', c.l0_coefficient, 'λ of λ·L0'],
        ['l0_warm_up_steps', c.lambda_warmup_steps],
        ['jumprelu_bandwidth', c.bandwidth],
        ['jumprelu_init_threshold', c.init_threshold],
      ],
    }),
  },
  parameterShapes: (c, dIn) => ({ ...linearShapes(c.d_sae, dIn), threshold: [c.d_sae] }),
  memory: { act: 15.5, tape: 3, io: 16 },
});

export type JumpReluConfig = DeclaredConfig<typeof jumpreluDeclaration>;
